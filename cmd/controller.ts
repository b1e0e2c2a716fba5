/**
 * `ferrolb controller`: the controller role against the Kubernetes API. One replica is
 * active at a time (Lease `ferrolb-controller` in the install namespace); standbys keep
 * their caches warm and compute, but write nothing until they lead.
 */
import { boundedShutdown, waitForSignal } from "./signals.ts";
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
      history.reconcile(running.controller.status().services, { save: true })
    ).catch((err) => logger.warn("ip history not reconciled", { error: err }));
  });
}

/** Runs the controller role in cluster mode; resolves to the exit code. */
export async function runControllerRole(args: ParsedArgs): Promise<number> {
  const f = args.flags;
  const levelText = String(f["log-level"] ?? "info");
  const level = parseLogLevel(levelText);
  if (!level) {
    console.error(
      `ferrolb controller: --log-level: "${levelText}" is not debug, info, warn or error`,
    );
    return 2;
  }
  const logger: Logger = createLogger({ level, component: "controller" });
  const namespace = String(f.namespace ?? "metallb-system");
  const lbClass = typeof f["lb-class"] === "string" && f["lb-class"] !== ""
    ? f["lb-class"]
    : undefined;
  const adminAddr = String(f["admin-addr"] ?? "127.0.0.1:7472");

  // Loaded here, not at the top, so `--help` and flag errors do not load the client.
  const { KubeConfigError } = await import("../cluster/kube_config.ts");
  const { connectCluster } = await import("../cluster/connect.ts");

  let conn;
  try {
    conn = connectCluster(
      typeof f.kubeconfig === "string" && f.kubeconfig ? f.kubeconfig : undefined,
      { namespace, logger, kinds: CONTROLLER_READ_KINDS },
    );
  } catch (err) {
    if (err instanceof KubeConfigError) {
      logger.error("cannot reach the API server", { error: err.message });
      return 1;
    }
    throw err;
  }

  const registry = createRegistry();
  const metrics = defineMetallbMetrics(registry);
  const { source, writer } = conn;
  const identity = leaseIdentity(
    typeof f["node-name"] === "string" ? f["node-name"] : undefined,
  );
  const elector = conn.elector(CONTROLLER_LEASE, identity);
  // IP history in a ConfigMap of the install namespace, written by the leader in batches.
  const { HistoryKeeper } = await import("../cluster/ip_history_store.ts");
  const { configMapHistoryBackend } = await import("../cluster/ip_history_configmap.ts");
  const history = new HistoryKeeper(configMapHistoryBackend(conn.kc, { namespace }), { logger });
  await history.start();
  const running = startController(source, writer, {
    namespace,
    lbClass,
    logger,
    metrics,
    isLeader: () => elector.isLeader(),
    onAddressChanges: history.record,
  });
  const unwatch = followLeadership(elector, { running, history, logger, identity });
  let admin: AdminServer;
  try {
    admin = startAdminServer(adminAddr, {
      registry,
      health: () => true,
      // Leadership is not part of readiness: a standby with synced caches is healthy and can
      // take over at once, and a Deployment rollout waits for every replica to be ready.
      ready: () =>
        running.controller.ready()
          ? { ready: true }
          : { ready: false, reason: "waiting for the API server caches to sync" },
      status: (query): ControllerStatusDocument => {
        const entries = historyForQuery(query, history);
        return {
          ...running.controller.status(),
          leaderElection: { identity, state: elector.isLeader() ? "leader" : "standby" },
          ...(entries ? { history: entries } : {}),
        };
      },
      logger,
    });
  } catch (err) {
    logger.error("cannot start the admin server", { addr: adminAddr, error: err });
    unwatch();
    await running.stop();
    await source.close();
    return 1;
  }
  const signal = waitForSignal({ logger });
  elector.start().catch((err) => logger.error("leader election failed", { error: err }));
  const outcome = await Promise.race([
    signal.promise.then((sig) => ({ sig })),
    running.ready.then(() => new Promise<never>(() => {}), (error) => ({ error })),
  ]);
  let code = 0;
  if ("error" in outcome) {
    logger.error("controller failed to start", { error: outcome.error });
    code = 1;
  } else {
    logger.info("stopping controller", { signal: outcome.sig });
  }
  // A second SIGTERM must not skip the release: the standby would wait for the Lease to expire.
  await boundedShutdown(signal, [
    ["stop the controller", () => (unwatch(), running.stop())],
    ["save the IP history", () => history.close()],
    // Kept time: a Lease GET and PUT (2 s request bound each) even if the stop above hangs.
    ["release the Lease", () => elector.stop(), 4_000],
    ["close the API source", () => source.close()],
    ["close the admin server", () => admin.close()],
  ], { logger });
  return code;
}
