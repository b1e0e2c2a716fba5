/**
 * `ferrolb all`: controller and speaker in one process. With `--config-dir` it runs on a
 * directory of the manifests a user would `kubectl apply`, filling in what a cluster would
 * supply (this node, endpoints), keeping assignments in `--state-dir`; without it, it runs
 * both roles against the Kubernetes API.
 */
import { boundedShutdown, waitForSignal } from "./signals.ts";
import "../cluster/node_env.ts";
import type { ParsedArgs } from "./args.ts";
import { CONTROLLER_LEASE, leaseIdentity, startController } from "./controller.ts";
import { connectSpeaker, speakerFlags } from "./speaker.ts";
import { type AdminServer, startAdminServer } from "./admin.ts";
import type { ServiceStatus, StatusDocument } from "./status.ts";
import { createLogger, type Logger, parseLogLevel } from "../api/log.ts";
import { createRegistry, defineMetallbMetrics, type Registry } from "../api/metrics.ts";
import { SERVICE_NAME_LABEL } from "../api/objects.ts";
import {
  createFileSource,
  type FileSource,
  listManifestFiles,
  parseManifests,
} from "../cluster/file_source.ts";
import { createManifestParser } from "../cluster/manifest_parser.ts";
import { readTextBounded, resolveLimits } from "../cluster/safe_yaml.ts";
import { createOverlaySource, type OverlaySource } from "../cluster/overlay_source.ts";
import { openStateStore } from "../cluster/state_store.ts";
import {
  type KubeObject,
  objectKey,
  type ObjectSource,
  type ReadKind,
  type Snapshot,
} from "../cluster/types.ts";
import { type Controller, createController } from "../controller/controller.ts";
import { createSpeaker, type Speaker } from "../speaker/speaker.ts";

/** Default `--state-dir` in file mode, relative to the working directory. */
export const DEFAULT_STATE_DIR = ".ferrolb-state";

/** Label every Node carries in a cluster; node selectors often use it. */
export const HOSTNAME_LABEL = "kubernetes.io/hostname";

/** Suffix of the EndpointSlices made up for Services that have none in the directory. */
export const SYNTHETIC_SLICE_SUFFIX = "ferrolb-local";

/** Options for {@linkcode withClusterDefaults}. */
export interface ClusterDefaultsOptions {
  /** This node's name (`--node-name`). */
  nodeName: string;
}

/** The Node a cluster would have for `nodeName`: ready, labelled with its hostname. */
export function syntheticNode(nodeName: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: nodeName, labels: { [HOSTNAME_LABEL]: nodeName } },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  };
}

/** An EndpointSlice with one ready endpoint of `service` on `nodeName`. */
export function syntheticEndpointSlice(service: KubeObject, nodeName: string): KubeObject {
  const ns = service.metadata.namespace ?? "default";
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${service.metadata.name}-${SYNTHETIC_SLICE_SUFFIX}`,
      namespace: ns,
      labels: { [SERVICE_NAME_LABEL]: service.metadata.name },
    },
    addressType: "IPv4",
    endpoints: [{ addresses: ["127.0.0.1"], conditions: { ready: true }, nodeName }],
  };
}

/** Adds to `objects` what a cluster would supply and the directory leaves out. */
export function addClusterDefaults(
  objects: ReadonlyMap<ReadKind, ReadonlyMap<string, KubeObject>>,
  options: ClusterDefaultsOptions,
): Map<ReadKind, ReadonlyMap<string, KubeObject>> {
  const out = new Map(objects);
  const nodes = objects.get("Node");
  if (!nodes?.has(options.nodeName)) {
    const merged = new Map(nodes);
    merged.set(options.nodeName, syntheticNode(options.nodeName));
    out.set("Node", merged);
  }
  const services = objects.get("Service");
  if (services && services.size > 0) {
    // A Service is covered when any slice in its namespace names it, as in a cluster.
    const covered = new Set<string>();
    for (const slice of objects.get("EndpointSlice")?.values() ?? []) {
      const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
      if (svc) {
        covered.add(objectKey({ namespace: slice.metadata.namespace ?? "default", name: svc }));
      }
    }
    let slices: Map<string, KubeObject> | undefined;
    for (const [key, svc] of services) {
      if (covered.has(key)) continue;
      slices ??= new Map(objects.get("EndpointSlice"));
      const slice = syntheticEndpointSlice(svc, options.nodeName);
      slices.set(objectKey(slice.metadata), slice);
    }
    if (slices) out.set("EndpointSlice", slices);
  }
  return out;
}

/**
 * Wraps `inner` so its snapshots hold what a cluster would supply: the Node `nodeName`
 * (ready) unless a manifest defines it, and one ready endpoint on this node for every
 * Service without an EndpointSlice. `start` may be called by several users; it starts
 * `inner` once.
 */
export function withClusterDefaults(
  inner: ObjectSource,
  options: ClusterDefaultsOptions,
): ObjectSource {
  let cache: { revision: number; snap: Snapshot } | undefined;
  let starting: Promise<void> | undefined;
  return {
    start() {
      starting ??= inner.start();
      return starting;
    },
    snapshot() {
      const base = inner.snapshot();
      if (cache?.revision === base.revision) return cache.snap;
      // The additions are a pure function of the inner snapshot, so its revision is ours.
      const snap: Snapshot = {
        revision: base.revision,
        objects: addClusterDefaults(base.objects, options),
      };
      cache = { revision: base.revision, snap };
      return snap;
    },
    subscribe(listener) {
      // Synthetic objects change only with Services, EndpointSlices or Nodes, which the
      // inner source reports itself.
      return inner.subscribe((changed) => {
        const kinds = new Set(changed);
        if (kinds.has("Service")) kinds.add("EndpointSlice");
        listener(kinds);
      });
    },
    close: () => inner.close(),
  };
}

/** Configuration validity as /status shows it. */
export interface ConfigReport {
  valid: boolean;
  errors: string[];
  warnings: string[];
}

/**
 * Maps `Kind ns/name` to the manifest file defining it, so problems name the file.
 * Files that do not parse are skipped (the file source reports them).
 */
export async function indexManifestFiles(
  dir: string,
  options: { namespace: string },
): Promise<Map<string, string>> {
  const index = new Map<string, string>();
  let files: string[];
  try {
    files = await listManifestFiles(dir);
  } catch {
    return index;
  }
  // Off the main thread like the file source: this runs on every change of the directory.
  const parser = createManifestParser({ inline: parseManifests });
  for (const file of files) {
    let text: string;
    try {
      text = await readTextBounded(file, resolveLimits());
    } catch {
      continue;
    }
    const r = await parser.parse(text, { installNamespace: options.namespace });
    if (!r.ok) continue;
    for (const o of r.objects) index.set(`${o.kind} ${objectKey(o.metadata)}`, file);
  }
  parser.close();
  return index;
}

/** Prefixes a `Kind ns/name: …` problem with the file that defines the object. */
export function attributeToFile(problem: string, index: ReadonlyMap<string, string>): string {
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
  fileIndex: ReadonlyMap<string, string>;
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
    return { ...s, peers: sp?.peers ?? s.peers, ...(why ? { notAnnounced: why } : {}) };
  });
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
    role: "all",
    node: parts.node,
    config: {
      valid: errors.length === 0 && c.config.valid && parts.speakerConfig.valid,
      errors,
      warnings,
    },
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

/** Starts controller and speaker on `configDir`, keeping assignments in `stateDir`. */
export async function startFileMode(options: FileModeOptions): Promise<FileMode> {
  const log = options.logger.child({ component: "all" });
  try {
    const st = await Deno.stat(options.configDir);
    if (!st.isDirectory) {
      throw new FileModeError(`--config-dir ${options.configDir}: not a directory`);
    }
  } catch (err) {
    if (err instanceof FileModeError) throw err;
    const hint =
      err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied
        ? " (the binary reads only the paths in its --allow-read: run it from a directory " +
          "that holds the manifests, or put them under /etc/ferrolb)"
        : "";
    throw new FileModeError(
      `--config-dir ${options.configDir}: ${(err as Error).message.split("\n")[0]}${hint}`,
    );
  }
  let overlay: OverlaySource;
  const files: FileSource = createFileSource(options.configDir, {
    logger: options.logger,
    defaults: { installNamespace: options.namespace },
    ...(options.pollMs !== undefined ? { pollMs: options.pollMs } : {}),
  });
  try {
    const store = openStateStore(options.stateDir, { logger: options.logger });
    overlay = createOverlaySource(
      withClusterDefaults(files, { nodeName: options.nodeName }),
      store,
      {
        logger: options.logger,
      },
    );
  } catch (err) {
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
    const stale = files.fileErrors().length > 0 || !controller.status().config.valid;
    metrics.configStale.set({}, stale ? 1 : 0);
  });
  const controller: Controller = createController(overlay, overlay, {
    namespace: options.namespace,
    logger: options.logger,
    metrics,
    ...(options.lbClass ? { lbClass: options.lbClass } : {}),
  });
  const speaker: Speaker = createSpeaker(overlay, overlay, {
    nodeName: options.nodeName,
    namespace: options.namespace,
    logger: options.logger,
    metrics,
    ...(options.lbClass ? { loadBalancerClass: options.lbClass } : {}),
    ...(options.routerId ? { defaultRouterId: options.routerId } : {}),
    weightedEcmp: options.weightedEcmp === true,
  });

  let fileIndex: ReadonlyMap<string, string> = new Map();
  let indexing: Promise<void> = Promise.resolve();
  let lastReported = "";
  let closed = false;

  function status(): StatusDocument {
    return mergeStatus({
      node: options.nodeName,
      controller: controller.status(),
      speaker: speaker.status(),
      speakerConfig: speaker.configStatus(),
      fileErrors: files.fileErrors(),
      fileIndex,
    });
  }

  /** Logs the configuration's problems once each time they change, naming the files. */
  function reportConfig(): void {
    const cfg = status().config;
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

  function reindex(): void {
    indexing = indexing.then(async () => {
      if (closed) return;
      fileIndex = await indexManifestFiles(options.configDir, { namespace: options.namespace });
      // The roles react to the same change in a macrotask; report after them.
      await new Promise((r) => setTimeout(r, 10));
      await controller.idle();
      if (!closed) reportConfig();
    }).catch((err) => log.warn("indexing manifest files failed", { error: err }));
  }

  let admin: AdminServer;
  try {
    admin = startAdminServer(options.adminAddr, {
      registry,
      health: () => !closed,
      ready: () =>
        controller.ready() ? { ready: true } : { ready: false, reason: "restoring assignments" },
      status,
      logger: options.logger,
    });
  } catch (err) {
    await overlay.close();
    const why = err instanceof Deno.errors.AddrInUse
      ? "address in use (another ferrolb running? choose another with --admin-addr)"
      : (err as Error).message.split("\n")[0];
    throw new FileModeError(`--admin-addr ${options.adminAddr}: ${why}`);
  }

  log.info("starting on a directory of manifests", {
    configDir: options.configDir,
    stateDir: options.stateDir,
    node: options.nodeName,
  });
  const unsubscribe = files.subscribe(() => reindex());
  try {
    await Promise.all([controller.start(), speaker.start()]);
  } catch (err) {
    unsubscribe();
    await admin.close();
    await overlay.close();
    throw err;
  }
  reindex();
  await indexing;
  log.info("controller and speaker running", { admin: admin.addr });

  return {
    adminAddr: admin.addr,
    status,
    ready: () => controller.ready(),
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      await speaker.stop();
      await controller.stop();
      await indexing;
      await admin.close();
      await overlay.close();
    },
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
  return {
    configDir: String(f["config-dir"]),
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
  let mode: FileMode;
  try {
    mode = await startFileMode({ ...flags, logger });
  } catch (err) {
    signal.cancel();
    console.error(`ferrolb all: cannot start: ${(err as Error).message}`);
    return 1;
  }
  const sig = await signal.promise;
  logger.info("stopping", { signal: sig });
  await boundedShutdown(signal, [["stop", () => mode.close()]], { logger });
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
  const elector = conn.elector(CONTROLLER_LEASE, leaseIdentity(flags.nodeName));
  const registry = createRegistry();
  const metrics = defineMetallbMetrics(registry);
  const running = startController(source, writer, {
    namespace: flags.namespace,
    logger,
    metrics,
    isLeader: () => elector.isLeader(),
    ...(flags.lbClass ? { lbClass: flags.lbClass } : {}),
  });
  const unwatch = elector.on("change", () => running.controller.leadershipChanged());
  const speaker = createSpeaker(source, writer, {
    nodeName: flags.nodeName,
    namespace: flags.namespace,
    logger,
    metrics,
    weightedEcmp: flags.weightedEcmp,
    stopGraceMs: flags.stopGraceMs,
    ...(flags.lbClass ? { loadBalancerClass: flags.lbClass } : {}),
    ...(flags.routerId ? { defaultRouterId: flags.routerId } : {}),
  });
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
      status: () =>
        mergeStatus({
          node: flags.nodeName,
          controller: running.controller.status(),
          speaker: speaker.status(),
          speakerConfig: speaker.configStatus(),
          fileErrors: [],
          fileIndex: new Map(),
        }),
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
      // Kept time: a Lease GET and PUT (2 s request bound each) even if a step above hangs.
      ["release the Lease", () => elector.stop(), 4_000],
      ["close the API source", () => source.close()],
      ["close the admin server", () => admin?.close()],
    ], { logger, deadlineMs: Math.max(10_000, flags.stopGraceMs + 5_000) });
  }
  return code;
}
