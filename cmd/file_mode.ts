/**
 * `ferrolb all --config-dir`: controller and speaker on a directory of manifests, filling in
 * what a cluster would supply (this node, endpoints), keeping assignments in `--state-dir`.
 * Each step of the start, /status, /readyz, the metrics and the stop is one function below.
 */
import { type AdminServer, startAdminServer } from "./admin.ts";
import { configOf, type FileIndex, mergeStatus } from "./all_status.ts";
import { checkConfigDir, FileModeError, type OpenedState, openState } from "./file_state.ts";
import type { StatusDocument } from "./status.ts";
import type { Logger } from "../api/log.ts";
import {
  createRegistry,
  defineMetallbMetrics,
  type MetallbMetrics,
  type Registry,
} from "../api/metrics.ts";
import { createFileSource, type FileSource } from "../cluster/file_source.ts";
import { withClusterDefaults } from "../cluster/cluster_defaults.ts";
import { createOverlaySource, type OverlaySource } from "../cluster/overlay_source.ts";
import { type Controller, createController } from "../controller/controller.ts";
import { createSpeaker, type Speaker } from "../speaker/speaker.ts";
import { fileHistoryBackend, HistoryKeeper } from "../cluster/ip_history_store.ts";
import { historyForQuery } from "../api/ip_history_view.ts";

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

/** The stop of a start interrupted by a signal: not a failure. */
export class StartAborted extends Error {
  override name = "StartAborted";
}

/** Everything file mode runs, shared by the steps below. */
interface Parts {
  options: FileModeOptions;
  log: Logger;
  state: OpenedState;
  files: FileSource;
  overlay: OverlaySource;
  registry: Registry;
  history: HistoryKeeper;
  controller: Controller;
  speaker: Speaker;
  fileIndex: FileIndex;
  /** Set by the stop: health turns false and no report is logged after it. */
  life: { closed: boolean };
}

/** Logs configuration problems as they change; {@linkcode Parts.life} ends it. */
interface ConfigReporter {
  /** Reports once the roles have reacted to the latest change. */
  schedule(): void;
  /** The report in progress, if any. */
  settled(): Promise<void>;
}

/** The file source, wrapped in cluster defaults and the state overlay the roles read. */
function openSources(
  options: FileModeOptions,
  state: OpenedState,
): { files: FileSource; overlay: OverlaySource } {
  const files: FileSource = createFileSource(options.configDir, {
    logger: options.logger,
    defaults: { installNamespace: options.namespace },
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
  });
  try {
    const overlay = createOverlaySource(
      withClusterDefaults(files, { nodeName: options.nodeName }),
      state.store,
      { logger: options.logger },
    );
    return { files, overlay };
  } catch (err) {
    state.abandon();
    throw new FileModeError(`--state-dir ${options.stateDir}: ${(err as Error).message}`);
  }
}

/** IP history beside the assignments, saved in batches. */
async function startHistory(options: FileModeOptions): Promise<HistoryKeeper> {
  const history = new HistoryKeeper(fileHistoryBackend(options.stateDir), {
    logger: options.logger,
  });
  await history.start();
  return history;
}

/** The controller and the speaker, both on the overlay (created, not started). */
function createRoles(
  overlay: OverlaySource,
  deps: { options: FileModeOptions; metrics: MetallbMetrics; history: HistoryKeeper },
): { controller: Controller; speaker: Speaker } {
  const { options, metrics } = deps;
  const controller = createController(overlay, overlay, {
    namespace: options.namespace,
    logger: options.logger,
    metrics,
    ...(options.lbClass ? { lbClass: options.lbClass } : {}),
    onAddressChanges: deps.history.record,
  });
  const speaker = createSpeaker(overlay, overlay, {
    nodeName: options.nodeName,
    namespace: options.namespace,
    logger: options.logger,
    metrics,
    ...(options.lbClass ? { loadBalancerClass: options.lbClass } : {}),
    ...(options.routerId ? { defaultRouterId: options.routerId } : {}),
    weightedEcmp: options.weightedEcmp === true,
    gracefulShutdownMs: options.gracefulShutdownMs ?? 0,
  });
  return { controller, speaker };
}

/** Per-scrape metrics of file mode: failed loads and whether the configuration is stale. */
function addFileCollectors(parts: Parts, metrics: MetallbMetrics): void {
  let failedLoadsSeen = 0;
  parts.registry.addCollector(() => {
    // A manifest that does not parse leaves the last good objects in force: that is running
    // on a stale configuration, and each failed load is an update error, as MetalLB counts.
    const failed = parts.files.failedLoads();
    if (failed > failedLoadsSeen) metrics.k8sUpdateErrors.inc(undefined, failed - failedLoadsSeen);
    failedLoadsSeen = failed;
    // configReport(), not status(): a scrape must not build a row for every Service.
    const stale = parts.files.fileErrors().length > 0 || !parts.controller.configReport().valid;
    metrics.configStale.set({}, stale ? 1 : 0);
  });
}

/** What /status shows in file mode; `?history` adds the IP history. */
function fileStatus(parts: Parts, query?: URLSearchParams): StatusDocument {
  const doc = mergeStatus({
    node: parts.options.nodeName,
    controller: parts.controller.status(),
    speaker: parts.speaker.status(),
    speakerConfig: parts.speaker.configStatus(),
    fileErrors: parts.files.fileErrors(),
    fileIndex: parts.fileIndex,
  });
  const entries = historyForQuery(query, parts.history);
  return entries ? { ...doc, history: entries } : doc;
}

/** `/readyz` in file mode: not ready, and why, until the controller's first pass is done. */
function readiness(controller: Controller): { ready: boolean; reason?: string } {
  if (controller.ready()) return { ready: true };
  return { ready: false, reason: controller.progress() ?? "starting" };
}

/** Logs the configuration's problems once each time they change, naming the files. */
function createConfigReporter(parts: Parts): ConfigReporter {
  let reporting: Promise<void> = Promise.resolve();
  let lastReported = "";
  function report(): void {
    const cfg = configOf({
      controller: { config: parts.controller.configReport() },
      speakerConfig: parts.speaker.configStatus(),
      fileErrors: parts.files.fileErrors(),
      fileIndex: parts.fileIndex,
    });
    const key = JSON.stringify(cfg);
    if (key === lastReported) return;
    lastReported = key;
    if (cfg.valid) {
      parts.log.info("configuration valid", { warnings: cfg.warnings });
    } else {
      parts.log.error("configuration invalid; the last good configuration stays in force", {
        errors: cfg.errors,
      });
    }
  }
  function schedule(): void {
    reporting = reporting.then(async () => {
      if (parts.life.closed) return;
      // The roles react to the same change in a macrotask; report after them.
      await new Promise((r) => setTimeout(r, 10));
      await parts.controller.idle();
      if (!parts.life.closed) report();
    }).catch((err) => parts.log.warn("reporting the configuration failed", { error: err }));
  }
  return { schedule, settled: () => reporting };
}

/** The admin server (/metrics, /healthz, /readyz, /status); a bad address undoes the start. */
async function openAdmin(parts: Parts): Promise<AdminServer> {
  try {
    return startAdminServer(parts.options.adminAddr, {
      registry: parts.registry,
      health: () => !parts.life.closed,
      ready: () => readiness(parts.controller),
      status: (query) => fileStatus(parts, query),
      logger: parts.options.logger,
    });
  } catch (err) {
    await parts.overlay.close();
    parts.state.abandon();
    const why = err instanceof Deno.errors.AddrInUse
      ? "address in use (another ferrolb running? choose another with --admin-addr)"
      : (err as Error).message.split("\n")[0];
    throw new FileModeError(`--admin-addr ${parts.options.adminAddr}: ${why}`);
  }
}

/**
 * The stop (SIGTERM, or a failed or aborted start): routes withdrawn first, then the controller,
 * the history, the last report, the admin server, the sources, and the state lock last.
 */
function fileModeStop(
  parts: Parts,
  running: { admin: AdminServer; reporter: ConfigReporter; unsubscribe: () => void },
): () => Promise<void> {
  return async () => {
    if (parts.life.closed) return;
    parts.life.closed = true;
    running.unsubscribe();
    await parts.speaker.stop();
    await parts.controller.stop();
    await parts.history.close();
    await running.reporter.settled();
    await running.admin.close();
    await parts.overlay.close();
    parts.state.lock.release();
  };
}

/** Starts both roles; a failure or `signal` stops everything started. */
async function startRoles(
  parts: Parts,
  stop: () => Promise<void>,
  signal?: AbortSignal,
): Promise<void> {
  const aborted = new Promise<"aborted">((resolve) => {
    if (signal?.aborted) resolve("aborted");
    signal?.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
  try {
    const first = await Promise.race([
      Promise.all([parts.controller.start(), parts.speaker.start()]).then(() => "started" as const),
      aborted,
    ]);
    if (first === "aborted") {
      await stop();
      throw new StartAborted("stopped while starting");
    }
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Sources, metrics, history and both roles, before anything listens or starts. */
async function assemble(options: FileModeOptions, state: OpenedState): Promise<Parts> {
  // Read and parsed in slices before the overlay loads it (100,000 Services at a restart).
  await state.store.preload?.();
  const { files, overlay } = openSources(options, state);
  const registry: Registry = createRegistry();
  const metrics = defineMetallbMetrics(registry);
  const history = await startHistory(options);
  const parts: Parts = {
    options,
    log: options.logger.child({ component: "all" }),
    state,
    files,
    overlay,
    registry,
    history,
    ...createRoles(overlay, { options, metrics, history }),
    fileIndex: { get: (object) => files.fileOf(object) },
    life: { closed: false },
  };
  addFileCollectors(parts, metrics);
  return parts;
}

/**
 * Starts controller and speaker on `configDir`, keeping assignments in `stateDir`. When
 * `options.signal` aborts before the start is done, everything started is stopped and
 * {@linkcode StartAborted} is thrown.
 */
export async function startFileMode(
  options: FileModeOptions & { signal?: AbortSignal },
): Promise<FileMode> {
  await checkConfigDir(options.configDir);
  const parts = await assemble(options, openState(options));
  const reporter = createConfigReporter(parts);
  const admin = await openAdmin(parts);
  parts.state.lock.setAdminAddr(admin.addr);
  parts.log.info("starting on a directory of manifests", {
    configDir: options.configDir,
    stateDir: options.stateDir,
    node: options.nodeName,
  });
  const unsubscribe = parts.files.subscribe(() => reporter.schedule());
  const close = fileModeStop(parts, { admin, reporter, unsubscribe });
  await startRoles(parts, close, options.signal);
  reporter.schedule();
  await reporter.settled();
  // Changes made while nothing ran (state edited, Services gone) end or start entries now.
  await parts.history.reconcile(parts.controller.heldAddresses(), { save: true });
  parts.log.info("controller and speaker running", { admin: admin.addr });
  return {
    adminAddr: admin.addr,
    status: (query?: URLSearchParams) => fileStatus(parts, query),
    ready: () => parts.controller.ready(),
    close,
  };
}
