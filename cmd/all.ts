/**
 * `ferrolb all`: controller and speaker in one process. With `--config-dir` it runs on a
 * directory of the manifests a user would `kubectl apply`, filling in what a cluster would
 * supply (this node, endpoints), keeping assignments in `--state-dir`; without it, it runs
 * both roles against the Kubernetes API.
 */
import { boundedShutdown, waitForSignal } from "./signals.ts";
import "../cluster/node_env.ts";
import type { ParsedArgs } from "./args.ts";
import {
  CONTROLLER_LEASE,
  followLeadership,
  leaseIdentity,
  startController,
} from "./controller.ts";
import { connectSpeaker, gracefulShutdownMs, speakerFlags, speakerOptions } from "./speaker.ts";
import { type AdminServer, startAdminServer } from "./admin.ts";
import type { ServiceStatus, StatusDocument } from "./status.ts";
import { createLogger, type Logger, parseLogLevel } from "../api/log.ts";
import { createRegistry, defineMetallbMetrics, type Registry } from "../api/metrics.ts";
import { createFileSource, type FileSource } from "../cluster/file_source.ts";
import { withClusterDefaults } from "../cluster/cluster_defaults.ts";
import { createOverlaySource, type OverlaySource } from "../cluster/overlay_source.ts";
import { openStateStore, type StateStore } from "../cluster/state_store.ts";
import { acquireStateLock, type StateLock, StateLockError } from "../cluster/state_lock.ts";
import { type Controller, createController } from "../controller/controller.ts";
import { createSpeaker, type Speaker } from "../speaker/speaker.ts";
import { fileHistoryBackend, HistoryKeeper } from "../cluster/ip_history_store.ts";
import { historyForQuery } from "../api/ip_history_view.ts";

/** Default `--state-dir` in file mode, relative to the working directory. */
export const DEFAULT_STATE_DIR = ".ferrolb-state";

/** Configuration validity as /status shows it. */
export interface ConfigReport {
  valid: boolean;
  errors: string[];
  warnings: string[];
}

/** Where `Kind ns/name` is defined: the file source's index, or any map of it. */
export interface FileIndex {
  get(object: string): string | undefined;
}

/** Prefixes a `Kind ns/name: …` problem with the file that defines the object. */
export function attributeToFile(problem: string, index: FileIndex): string {
  const m = problem.match(/^(\S+ \S+?):/);
  const file = m ? index.get(m[1]) : undefined;
  return file ? `${file}: ${problem}` : problem;
}

/** Parts of {@linkcode mergeStatus}'s input. */
export interface StatusParts {
  node: string;
  controller: StatusDocument;
  speaker: { sessions: StatusDocument["sessions"]; services: ServiceStatus[] };
  /** Speaker's view of the configuration (peer problems the controller does not see). */
  speakerConfig: ConfigReport;
  /** Files that do not parse. */
  fileErrors: { file: string; reason: string }[];
  /** `Kind ns/name` → file. */
  fileIndex: FileIndex;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/**
 * One /status document for `all`: the controller's pools and addresses, the speaker's
 * sessions and peers, and every configuration problem with the file it is in.
 */
export function mergeStatus(parts: StatusParts): StatusDocument {
  const c = parts.controller;
  const spoken = new Map<string, ServiceStatus>();
  for (const s of parts.speaker.services) spoken.set(`${s.namespace}/${s.name}`, s);
  const services = c.services.map((s) => {
    const sp = spoken.get(`${s.namespace}/${s.name}`);
    // The speaker's reason for announcing to no peer (its `pending` before notAnnounced).
    const why = sp?.notAnnounced ?? sp?.pending;
    const path = sp?.path ? { path: sp.path } : {};
    return { ...s, peers: sp?.peers ?? s.peers, ...(why ? { notAnnounced: why } : {}), ...path };
  });
  return {
    role: "all",
    node: parts.node,
    config: configOf(parts),
    sessions: parts.speaker.sessions,
    pools: c.pools,
    services,
  };
}

/** Options for {@linkcode startFileMode}. */
export interface FileModeOptions {
  configDir: string;
  stateDir: string;
  nodeName: string;
  namespace: string;
  /** `HOST:PORT` of the admin server; port 0 picks a free one. */
  adminAddr: string;
  logger: Logger;
  lbClass?: string;
  /** Router ID when neither BGPPeer `routerID` nor the Node gives one. */
  routerId?: string;
  /** `--weighted-ecmp`: link-bandwidth communities on `externalTrafficPolicy: Local` routes. */
  weightedEcmp?: boolean;
  /** Rescan interval of the config directory (default: the file source's). */
  pollMs?: number;
  /** RFC 8326 drain at stop (`--graceful-shutdown-seconds`), in ms; 0 or absent = Cease at once. */
  gracefulShutdownMs?: number;
}

/** `all` running on a directory. */
export interface FileMode {
  /** Where the admin server listens. */
  readonly adminAddr: string;
  /** The /status document. */
  status(): StatusDocument;
  /** True once assignments were restored and the first pass is done. */
  ready(): boolean;
  /** Stops the speaker (Cease to peers), the controller, the admin server and the watch. */
  close(): Promise<void>;
}

/** A `--config-dir`, `--state-dir` or state problem that stops file mode from starting. */
export class FileModeError extends Error {
  override name = "FileModeError";
}

/** Checks `--config-dir` before anything is created. */
async function checkConfigDir(dir: string): Promise<void> {
  try {
    const st = await Deno.stat(dir);
    if (!st.isDirectory) throw new FileModeError(`--config-dir ${dir}: not a directory`);
  } catch (err) {
    if (err instanceof FileModeError) throw err;
    const hint =
      err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied
        ? " (the binary reads only the paths in its --allow-read: run it from a directory " +
          "that holds the manifests, or put them under /etc/ferrolb)"
        : "";
    throw new FileModeError(
      `--config-dir ${dir}: ${(err as Error).message.split("\n")[0]}${hint}`,
    );
  }
}

/** The state directory, locked for this process, and its store. */
interface OpenedState {
  store: StateStore;
  lock: StateLock;
  /** Undoes what opening made: the lock, and the directory when this call created it. */
  abandon(): void;
}

/** Creates (if needed) and locks `--state-dir`, then loads nothing yet: see the overlay. */
function openState(options: FileModeOptions): OpenedState {
  const dir = options.stateDir;
  let created = false;
  try {
    try {
      created = !Deno.statSync(dir).isDirectory;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err;
      created = true;
    }
    Deno.mkdirSync(dir, { recursive: true });
    // Before the store looks at the directory: it removes leftovers of unfinished writes,
    // which must not be another running instance's write in progress.
    const lock = acquireStateLock(dir, { adminAddr: options.adminAddr });
    const abandon = () => {
      lock.release();
      if (!created) return;
      try {
        Deno.removeSync(lock.path);
        Deno.removeSync(dir);
      } catch {
        // Not empty after all: something else uses it, so it stays.
      }
    };
    try {
      return { store: openStateStore(dir, { logger: options.logger }), lock, abandon };
    } catch (err) {
      abandon();
      throw err;
    }
  } catch (err) {
    if (created && !(err instanceof StateLockError)) {
      try {
        Deno.removeSync(dir);
      } catch {
        // Partly made or not empty; leave it.
      }
    }
    throw new FileModeError(`--state-dir ${dir}: ${(err as Error).message}`);
  }
}

/** The config part of {@linkcode mergeStatus}, without the per-Service work. */
function configOf(
  parts: Omit<StatusParts, "speaker" | "node" | "controller"> & {
    controller: Pick<StatusDocument, "config">;
  },
): ConfigReport {
  const c = parts.controller;
  const errors = unique([
    ...parts.fileErrors.map((e) => `${e.file}: ${e.reason}`),
    ...c.config.errors.map((e) => attributeToFile(e, parts.fileIndex)),
    ...parts.speakerConfig.errors.map((e) => attributeToFile(e, parts.fileIndex)),
  ]);
  const warnings = unique([
    ...c.config.warnings.map((e) => attributeToFile(e, parts.fileIndex)),
    ...parts.speakerConfig.warnings.map((e) => attributeToFile(e, parts.fileIndex)),
  ]);
  return {
    valid: errors.length === 0 && c.config.valid && parts.speakerConfig.valid,
    errors,
    warnings,
  };
}

/** `/readyz` in file mode: not ready, and why, until the controller's first pass is done. */
function readiness(controller: Controller): { ready: boolean; reason?: string } {
  if (controller.ready()) return { ready: true };
  return { ready: false, reason: controller.progress() ?? "starting" };
}

/** The stop of a start interrupted by a signal: not a failure. */
export class StartAborted extends Error {
  override name = "StartAborted";
}

/**
 * Starts controller and speaker on `configDir`, keeping assignments in `stateDir`. When
 * `options.signal` aborts before the start is done, everything started is stopped and
 * {@linkcode StartAborted} is thrown.
 */
export async function startFileMode(
  options: FileModeOptions & { signal?: AbortSignal },
): Promise<FileMode> {
  const log = options.logger.child({ component: "all" });
  await checkConfigDir(options.configDir);
  const state = openState(options);
  let overlay: OverlaySource;
  const files: FileSource = createFileSource(options.configDir, {
    logger: options.logger,
    defaults: { installNamespace: options.namespace },
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
  });
  try {
    overlay = createOverlaySource(
      withClusterDefaults(files, { nodeName: options.nodeName }),
      state.store,
      { logger: options.logger },
    );
  } catch (err) {
    state.abandon();
    throw new FileModeError(`--state-dir ${options.stateDir}: ${(err as Error).message}`);
  }
  const registry: Registry = createRegistry();
  const metrics = defineMetallbMetrics(registry);
  let failedLoadsSeen = 0;
  registry.addCollector(() => {
    // A manifest that does not parse leaves the last good objects in force: that is running
    // on a stale configuration, and each failed load is an update error, as MetalLB counts.
    const failed = files.failedLoads();
    if (failed > failedLoadsSeen) metrics.k8sUpdateErrors.inc(undefined, failed - failedLoadsSeen);
    failedLoadsSeen = failed;
    // configReport(), not status(): a scrape must not build a row for every Service.
    const stale = files.fileErrors().length > 0 || !controller.configReport().valid;
    metrics.configStale.set({}, stale ? 1 : 0);
  });
  // IP history beside the assignments, saved in batches.
  const history = new HistoryKeeper(fileHistoryBackend(options.stateDir), {
    logger: options.logger,
  });
  await history.start();
  const controller: Controller = createController(overlay, overlay, {
    namespace: options.namespace,
    logger: options.logger,
    metrics,
    ...(options.lbClass ? { lbClass: options.lbClass } : {}),
    onAddressChanges: history.record,
  });
  const speaker: Speaker = createSpeaker(overlay, overlay, {
    nodeName: options.nodeName,
    namespace: options.namespace,
    logger: options.logger,
    metrics,
    ...(options.lbClass ? { loadBalancerClass: options.lbClass } : {}),
    ...(options.routerId ? { defaultRouterId: options.routerId } : {}),
    weightedEcmp: options.weightedEcmp === true,
    gracefulShutdownMs: options.gracefulShutdownMs ?? 0,
  });

  const fileIndex: FileIndex = { get: (object) => files.fileOf(object) };
  let reporting: Promise<void> = Promise.resolve();
  let lastReported = "";
  let closed = false;

  function status(query?: URLSearchParams): StatusDocument {
    const doc = mergeStatus({
      node: options.nodeName,
      controller: controller.status(),
      speaker: speaker.status(),
      speakerConfig: speaker.configStatus(),
      fileErrors: files.fileErrors(),
      fileIndex,
    });
    const entries = historyForQuery(query, history);
    return entries ? { ...doc, history: entries } : doc;
  }

  /** Logs the configuration's problems once each time they change, naming the files. */
  function reportConfig(): void {
    const cfg = configOf({
      controller: { config: controller.configReport() },
      speakerConfig: speaker.configStatus(),
      fileErrors: files.fileErrors(),
      fileIndex,
    });
    const key = JSON.stringify(cfg);
    if (key === lastReported) return;
    lastReported = key;
    if (cfg.valid) {
      log.info("configuration valid", { warnings: cfg.warnings });
    } else {
      log.error("configuration invalid; the last good configuration stays in force", {
        errors: cfg.errors,
      });
    }
  }

  function scheduleReport(): void {
    reporting = reporting.then(async () => {
      if (closed) return;
      // The roles react to the same change in a macrotask; report after them.
      await new Promise((r) => setTimeout(r, 10));
      await controller.idle();
      if (!closed) reportConfig();
    }).catch((err) => log.warn("reporting the configuration failed", { error: err }));
  }

  let admin: AdminServer;
  try {
    admin = startAdminServer(options.adminAddr, {
      registry,
      health: () => !closed,
      ready: () => readiness(controller),
      status,
      logger: options.logger,
    });
  } catch (err) {
    await overlay.close();
    state.abandon();
    const why = err instanceof Deno.errors.AddrInUse
      ? "address in use (another ferrolb running? choose another with --admin-addr)"
      : (err as Error).message.split("\n")[0];
    throw new FileModeError(`--admin-addr ${options.adminAddr}: ${why}`);
  }

  state.lock.setAdminAddr(admin.addr);
  log.info("starting on a directory of manifests", {
    configDir: options.configDir,
    stateDir: options.stateDir,
    node: options.nodeName,
  });
  const unsubscribe = files.subscribe(() => scheduleReport());

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    unsubscribe();
    await speaker.stop();
    await controller.stop();
    await history.close();
    await reporting;
    await admin.close();
    await overlay.close();
    state.lock.release();
  }

  const aborted = new Promise<"aborted">((resolve) => {
    if (options.signal?.aborted) resolve("aborted");
    options.signal?.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
  try {
    const first = await Promise.race([
      Promise.all([controller.start(), speaker.start()]).then(() => "started" as const),
      aborted,
    ]);
    if (first === "aborted") {
      await close();
      throw new StartAborted("stopped while starting");
    }
  } catch (err) {
    await close();
    throw err;
  }
  scheduleReport();
  await reporting;
  // Changes made while nothing ran (state edited, Services gone) end or start entries now.
  await history.reconcile(controller.status().services, { save: true });
  log.info("controller and speaker running", { admin: admin.addr });

  return {
    adminAddr: admin.addr,
    status,
    ready: () => controller.ready(),
    close,
  };
}

/** The flags of `all` in file mode, checked; a string is a usage problem. */
export function fileModeFlags(
  args: ParsedArgs,
): Omit<FileModeOptions, "logger"> & { level: string } | string {
  const f = args.flags;
  const nodeName = typeof f["node-name"] === "string" ? f["node-name"] : "";
  if (!nodeName) return "--node-name (or NODE_NAME) is required: the node this process is";
  const level = String(f["log-level"] ?? "info");
  if (!parseLogLevel(level)) return `--log-level: "${level}" is not debug, info, warn or error`;
  const drainMs = gracefulShutdownMs(args);
  if (typeof drainMs === "string") return drainMs;
  return {
    configDir: String(f["config-dir"]),
    gracefulShutdownMs: drainMs,
    stateDir: typeof f["state-dir"] === "string" ? f["state-dir"] : DEFAULT_STATE_DIR,
    nodeName,
    namespace: String(f.namespace ?? "metallb-system"),
    adminAddr: String(f["admin-addr"] ?? "127.0.0.1:7472"),
    level,
    ...(typeof f["lb-class"] === "string" ? { lbClass: f["lb-class"] } : {}),
    ...(typeof f["router-id"] === "string" ? { routerId: f["router-id"] } : {}),
    weightedEcmp: f["weighted-ecmp"] === true,
  };
}

/** Runs `ferrolb all`; resolves to the exit code. */
export async function runAll(args: ParsedArgs): Promise<number> {
  if (typeof args.flags["config-dir"] !== "string") return await runAllInCluster(args);
  const flags = fileModeFlags(args);
  if (typeof flags === "string") {
    console.error(`ferrolb all: ${flags}`);
    return 2;
  }
  const logger = createLogger({ level: parseLogLevel(flags.level), component: "ferrolb" });
  const signal = waitForSignal({ logger });
  // A signal during a long start (a large state to restore) stops it there.
  const abort = new AbortController();
  signal.promise.then(() => abort.abort());
  let mode: FileMode;
  try {
    mode = await startFileMode({ ...flags, logger, signal: abort.signal });
  } catch (err) {
    signal.cancel();
    if (err instanceof StartAborted) {
      logger.info("stopped while starting", { signal: await signal.promise });
      return 0;
    }
    console.error(`ferrolb all: cannot start: ${(err as Error).message}`);
    return 1;
  }
  const sig = await signal.promise;
  logger.info("stopping", { signal: sig });
  await boundedShutdown(signal, [["stop", () => mode.close()]], {
    logger,
    deadlineMs: 10_000 + (flags.gracefulShutdownMs ?? 0),
  });
  return 0;
}

/** `all` against the Kubernetes API: the controller (leader-elected) and this node's speaker. */
async function runAllInCluster(args: ParsedArgs): Promise<number> {
  const flags = speakerFlags(args);
  if (typeof flags === "string") {
    console.error(`ferrolb all: ${flags}`);
    return 2;
  }
  const logger = createLogger({ level: parseLogLevel(flags.level), component: "ferrolb" });
  const conn = await connectSpeaker(flags, logger);
  if (typeof conn === "string") {
    console.error(`ferrolb all: ${conn}`);
    return 1;
  }
  const { source, writer } = conn;
  const identity = leaseIdentity(flags.nodeName);
  const elector = conn.elector(CONTROLLER_LEASE, identity);
  const registry = createRegistry();
  const metrics = defineMetallbMetrics(registry);
  const { configMapHistoryBackend } = await import("../cluster/ip_history_configmap.ts");
  const clusterHistory = new HistoryKeeper(
    configMapHistoryBackend(conn.kc, { namespace: flags.namespace }),
    { logger },
  );
  await clusterHistory.start();
  const running = startController(source, writer, {
    namespace: flags.namespace,
    logger,
    metrics,
    isLeader: () => elector.isLeader(),
    ...(flags.lbClass ? { lbClass: flags.lbClass } : {}),
    onAddressChanges: clusterHistory.record,
  });
  const unwatch = followLeadership(elector, { running, history: clusterHistory, logger, identity });
  const speaker = createSpeaker(source, writer, speakerOptions(flags, { logger, metrics }));
  const signal = waitForSignal({ logger });
  let admin: AdminServer | undefined;
  let code = 0;
  try {
    admin = startAdminServer(flags.adminAddr, {
      registry,
      health: () => true,
      ready: () =>
        running.controller.ready()
          ? { ready: true }
          : { ready: false, reason: "waiting for the API server caches to sync" },
      status: (query) => {
        const doc = mergeStatus({
          node: flags.nodeName,
          controller: running.controller.status(),
          speaker: speaker.status(),
          speakerConfig: speaker.configStatus(),
          fileErrors: [],
          fileIndex: new Map(),
        });
        const entries = historyForQuery(query, clusterHistory);
        return entries ? { ...doc, history: entries } : doc;
      },
      logger,
    });
    elector.start().catch((err) => logger.error("leader election failed", { error: err }));
    const started = Promise.all([running.ready, speaker.start()]).then(() => undefined);
    const first = await Promise.race([
      started.then(() => ({ ok: true as const }), (error) => ({ error })),
      signal.promise.then((sig) => ({ sig })),
    ]);
    if ("error" in first) {
      logger.error("failed to start", { error: first.error });
      code = 1;
    } else {
      const sig = "sig" in first ? first.sig : await signal.promise;
      logger.info("stopping: sending Cease to every peer", { signal: sig });
    }
  } catch (err) {
    console.error(`ferrolb all: ${(err as Error).message}`);
    code = 1;
  } finally {
    // Every step runs even when one fails or another signal arrives; a deadline bounds them.
    await boundedShutdown(signal, [
      ["withdraw routes", () => (unwatch(), speaker.stop())],
      ["stop the controller", () => running.stop()],
      ["save the IP history", () => clusterHistory.close()],
      // Kept time: a Lease GET and PUT (2 s request bound each) even if a step above hangs.
      ["release the Lease", () => elector.stop(), 4_000],
      ["close the API source", () => source.close()],
      ["close the admin server", () => admin?.close()],
    ], {
      logger,
      deadlineMs: Math.max(10_000, flags.stopGraceMs + 5_000) + flags.gracefulShutdownMs,
    });
  }
  return code;
}
