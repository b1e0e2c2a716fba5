/**
 * `ferrolb controller`: the controller role against the Kubernetes API. One replica is
 * active at a time (Lease `ferrolb-controller` in the install namespace); standbys keep
 * their caches warm and compute, but write nothing until they lead.
 */
import { boundedShutdown, type SignalWait, waitForSignal } from "./signals.ts";
import type { ClusterConnection } from "../cluster/connect.ts";
import type { ParsedArgs } from "./args.ts";
import { createLogger, type Logger, parseLogLevel } from "../api/log.ts";
import { createRegistry, defineMetallbMetrics, type Registry } from "../api/metrics.ts";
import {
  CONFIG_KINDS,
  type ObjectSource,
  type ObjectWriter,
  type ReadKind,
} from "../cluster/types.ts";
import { Controller, type ControllerOptions } from "../controller/controller.ts";
import { type AdminServer, startAdminServer } from "./admin.ts";
import type { StatusDocument } from "./status.ts";
import { historyForQuery } from "../api/ip_history_view.ts";
import type { HistoryKeeper } from "../cluster/ip_history_store.ts";

/** Name of the Lease the controller replicas campaign for. */
export const CONTROLLER_LEASE = "ferrolb-controller";

/**
 * What the controller reads: the configuration (Secrets included, because a BGPPeer whose
 * `passwordSecret` cannot be found makes the configuration invalid), Services and Namespaces
 * (serviceAllocation selectors). Nodes, EndpointSlices and ServiceBGPStatuses are the
 * speaker's business; the controller's RBAC grants no access to them.
 */
export const CONTROLLER_READ_KINDS: readonly ReadKind[] = [
  ...CONFIG_KINDS,
  "Service",
  "Namespace",
];

/** The controller's /status document: the controller's view plus its leader election. */
export interface ControllerStatusDocument extends StatusDocument {
  leaderElection: {
    /** This replica's Lease identity. */
    identity: string;
    /** `leader` writes; a `standby` computes the same but writes nothing until it leads. */
    state: "leader" | "standby";
  };
}

/** Options for {@linkcode startController}. */
export interface StartControllerOptions extends Omit<ControllerOptions, "metrics"> {
  /** Registry for MetalLB's metrics; the controller defines them there when given. */
  registry?: Registry;
  metrics?: ControllerOptions["metrics"];
}

/** A started controller. */
export interface RunningController {
  controller: Controller;
  /** Resolves once the source synced and the first pass ran; rejects if the source fails. */
  ready: Promise<void>;
  /** Stops the controller (the caller closes the source it passed in). */
  stop(): Promise<void>;
}

/**
 * Starts a controller over any source and writer: the cluster role uses the kube source and
 * writer, file mode (`all`) an overlay source that is both.
 */
export function startController(
  source: ObjectSource,
  writer: ObjectWriter,
  options: StartControllerOptions,
): RunningController {
  const metrics = options.metrics ??
    (options.registry ? defineMetallbMetrics(options.registry) : undefined);
  const controller = new Controller(source, writer, { ...options, metrics });
  const ready = controller.start();
  // A failed start is reported through `ready`; keep it from being an unhandled rejection.
  ready.catch(() => {});
  return {
    controller,
    ready,
    stop: () => controller.stop(),
  };
}

/**
 * A Lease identity unique to this process. Deno.hostname() (the pod name) would need
 * --allow-sys and HOSTNAME is outside the binary's --allow-env list, so a random UUID keeps
 * replicas apart; with two replicas sharing an identity both would renew "their" lease and
 * both would write. NODE_NAME, when set, only makes the holder easier to find.
 */
export function leaseIdentity(nodeName?: string): string {
  return `${nodeName ? nodeName : "controller"}-${crypto.randomUUID()}`;
}

/** What {@linkcode followLeadership} tells about a change of leader. */
export interface LeadershipContext {
  running: RunningController;
  history: HistoryKeeper;
  logger: Logger;
  identity: string;
}

/**
 * Tells the controller when this replica gains or loses the Lease; on gaining it, picks up the
 * IP history the previous leader saved and aligns it with what Services hold (changes made
 * while no controller led). Returns the unsubscribe.
 */
export function followLeadership(
  elector: { on(event: "change", fn: (leader: boolean) => void): () => void },
  ctx: LeadershipContext,
): () => void {
  const { running, history, logger } = ctx;
  return elector.on("change", (leader) => {
    logger.info(leader ? "became leader" : "lost leadership", {
      lease: CONTROLLER_LEASE,
      identity: ctx.identity,
    });
    running.controller.leadershipChanged();
    if (!leader) return;
    // After the first pass only: before it no Service is known to hold anything.
    Promise.all([history.start(), running.ready]).then(() =>
      history.reconcile(running.controller.heldAddresses(), { save: true })
    ).catch((err) => logger.warn("ip history not reconciled", { error: err }));
  });
}

/** The flags of the controller role, checked; a string is a usage problem. */
interface ControllerFlags {
  level: NonNullable<ReturnType<typeof parseLogLevel>>;
  namespace: string;
  lbClass: string | undefined;
  adminAddr: string;
  kubeconfig: string | undefined;
  nodeName: string | undefined;
}

function controllerFlags(args: ParsedArgs): ControllerFlags | string {
  const f = args.flags;
  const levelText = String(f["log-level"] ?? "info");
  const level = parseLogLevel(levelText);
  if (!level) return `--log-level: "${levelText}" is not debug, info, warn or error`;
  return {
    level,
    namespace: String(f.namespace ?? "metallb-system"),
    lbClass: typeof f["lb-class"] === "string" && f["lb-class"] !== "" ? f["lb-class"] : undefined,
    adminAddr: String(f["admin-addr"] ?? "127.0.0.1:7472"),
    kubeconfig: typeof f.kubeconfig === "string" && f.kubeconfig ? f.kubeconfig : undefined,
    nodeName: typeof f["node-name"] === "string" ? f["node-name"] : undefined,
  };
}

/** The API connection; undefined (logged) when the kubeconfig cannot be used. */
async function connectController(
  flags: ControllerFlags,
  logger: Logger,
): Promise<ClusterConnection | undefined> {
  // Loaded here, not at the top, so `--help` and flag errors do not load the client.
  const { KubeConfigError } = await import("../cluster/kube_config.ts");
  const { connectCluster } = await import("../cluster/connect.ts");
  try {
    return connectCluster(flags.kubeconfig, {
      namespace: flags.namespace,
      logger,
      kinds: CONTROLLER_READ_KINDS,
    });
  } catch (err) {
    if (err instanceof KubeConfigError) {
      logger.error("cannot reach the API server", { error: err.message });
      return undefined;
    }
    throw err;
  }
}

/** What {@linkcode startLeasedController} starts. */
export interface LeasedController {
  identity: string;
  elector: ReturnType<ClusterConnection["elector"]>;
  history: HistoryKeeper;
  running: RunningController;
  /** Stops following the Lease. */
  unwatch: () => void;
}

/**
 * The controller as it runs against the API server (the controller role and `all` in a
 * cluster alike): behind the Lease, with its IP history in a ConfigMap of the install
 * namespace written by the leader in batches, following leadership changes.
 */
export async function startLeasedController(
  conn: ClusterConnection,
  o: {
    namespace: string;
    nodeName?: string;
    lbClass?: string;
    logger: Logger;
    metrics: ControllerOptions["metrics"];
  },
): Promise<LeasedController> {
  const { logger } = o;
  const identity = leaseIdentity(o.nodeName);
  const elector = conn.elector(CONTROLLER_LEASE, identity);
  // Loaded late, as every module that pulls in the Kubernetes client.
  const { HistoryKeeper } = await import("../cluster/ip_history_store.ts");
  const { configMapHistoryBackend } = await import("../cluster/ip_history_configmap.ts");
  const history = new HistoryKeeper(
    configMapHistoryBackend(conn.kc, { namespace: o.namespace }),
    { logger },
  );
  await history.start();
  const running = startController(conn.source, conn.writer, {
    namespace: o.namespace,
    logger,
    metrics: o.metrics,
    isLeader: () => elector.isLeader(),
    ...(o.lbClass ? { lbClass: o.lbClass } : {}),
    onAddressChanges: history.record,
  });
  const unwatch = followLeadership(elector, { running, history, logger, identity });
  return { identity, elector, history, running, unwatch };
}

/** The running controller role and what it shares with the admin server and the stop. */
interface ControllerParts {
  flags: ControllerFlags;
  logger: Logger;
  conn: ClusterConnection;
  registry: Registry;
  identity: string;
  elector: ReturnType<ClusterConnection["elector"]>;
  history: HistoryKeeper;
  running: RunningController;
  /** Stops following the Lease. */
  unwatch: () => void;
}

/** Metrics, the Lease, the IP history and the controller, started and following the Lease. */
async function createControllerParts(
  conn: ClusterConnection,
  deps: { flags: ControllerFlags; logger: Logger },
): Promise<ControllerParts> {
  const { flags, logger } = deps;
  const registry = createRegistry();
  const metrics = defineMetallbMetrics(registry);
  const parts = await startLeasedController(conn, { ...flags, logger, metrics });
  return { flags, logger, conn, registry, ...parts };
}

/** What /status shows for the controller: its document, the Lease state, `?history`. */
function controllerStatus(parts: ControllerParts, query?: URLSearchParams) {
  const entries = historyForQuery(query, parts.history);
  const doc: ControllerStatusDocument = {
    ...parts.running.controller.status(),
    leaderElection: {
      identity: parts.identity,
      state: parts.elector.isLeader() ? "leader" : "standby",
    },
    ...(entries ? { history: entries } : {}),
  };
  return doc;
}

/** The admin server; when it cannot listen, the controller is stopped and undefined returned. */
async function controllerAdmin(parts: ControllerParts): Promise<AdminServer | undefined> {
  const { running, logger } = parts;
  try {
    return startAdminServer(parts.flags.adminAddr, {
      registry: parts.registry,
      health: () => true,
      // Leadership is not part of readiness: a standby with synced caches is healthy and can
      // take over at once, and a Deployment rollout waits for every replica to be ready.
      ready: () =>
        running.controller.ready()
          ? { ready: true }
          : { ready: false, reason: "waiting for the API server caches to sync" },
      status: (query) => controllerStatus(parts, query),
      logger,
    });
  } catch (err) {
    logger.error("cannot start the admin server", { addr: parts.flags.adminAddr, error: err });
    parts.unwatch();
    await running.stop();
    await parts.conn.source.close();
    return undefined;
  }
}

/** Campaigns for the Lease and runs until a signal or a failed start; resolves to the code. */
async function runUntilStop(parts: ControllerParts, signal: SignalWait): Promise<number> {
  const { logger } = parts;
  parts.elector.start().catch((err) => logger.error("leader election failed", { error: err }));
  const outcome = await Promise.race([
    signal.promise.then((sig) => ({ sig })),
    parts.running.ready.then(() => new Promise<never>(() => {}), (error) => ({ error })),
  ]);
  if ("error" in outcome) {
    logger.error("controller failed to start", { error: outcome.error });
    return 1;
  }
  logger.info("stopping controller", { signal: outcome.sig });
  return 0;
}

/** The stop: every step runs, in this order, under the default deadline. */
async function stopControllerRole(
  parts: ControllerParts,
  signal: SignalWait,
  admin: AdminServer,
): Promise<void> {
  // A second SIGTERM must not skip the release: the standby would wait for the Lease to expire.
  await boundedShutdown(signal, [
    ["stop the controller", () => (parts.unwatch(), parts.running.stop())],
    ["save the IP history", () => parts.history.close()],
    // Kept time: a Lease GET and PUT (2 s request bound each) even if the stop above hangs.
    ["release the Lease", () => parts.elector.stop(), 4_000],
    ["close the API source", () => parts.conn.source.close()],
    ["close the admin server", () => admin.close()],
  ], { logger: parts.logger });
}

/** Runs the controller role in cluster mode; resolves to the exit code. */
export async function runControllerRole(args: ParsedArgs): Promise<number> {
  const flags = controllerFlags(args);
  if (typeof flags === "string") {
    console.error(`ferrolb controller: ${flags}`);
    return 2;
  }
  const logger: Logger = createLogger({ level: flags.level, component: "controller" });
  const conn = await connectController(flags, logger);
  if (!conn) return 1;
  const parts = await createControllerParts(conn, { flags, logger });
  const admin = await controllerAdmin(parts);
  if (!admin) return 1;
  const signal = waitForSignal({ logger });
  const code = await runUntilStop(parts, signal);
  await stopControllerRole(parts, signal, admin);
  return code;
}
