/**
 * `ferrolb all` without `--config-dir`: the controller (leader-elected) and this node's speaker
 * against the Kubernetes API, one admin server for both.
 */
import type { ClusterConnection } from "../cluster/connect.ts";
import { boundedShutdown, type SignalWait, waitForSignal } from "./signals.ts";
import type { ParsedArgs } from "./args.ts";
import { type RunningController, startLeasedController } from "./controller.ts";
import { connectSpeaker, type SpeakerFlags, speakerFlags, speakerOptions } from "./speaker.ts";
import { type AdminServer, startAdminServer } from "./admin.ts";
import { mergeStatus } from "./all_status.ts";
import type { StatusDocument } from "./status.ts";
import { createLogger, type Logger, parseLogLevel } from "../api/log.ts";
import { createRegistry, defineMetallbMetrics, type Registry } from "../api/metrics.ts";
import type { Speaker } from "../speaker/speaker.ts";
import { createSpeaker } from "../speaker/speaker.ts";
import type { HistoryKeeper } from "../cluster/ip_history_store.ts";
import { historyForQuery } from "../api/ip_history_view.ts";

/** Both roles on one connection, and what they share. */
interface ClusterParts {
  flags: SpeakerFlags;
  logger: Logger;
  conn: ClusterConnection;
  elector: ReturnType<ClusterConnection["elector"]>;
  registry: Registry;
  history: HistoryKeeper;
  running: RunningController;
  speaker: Speaker;
  /** Stops following the Lease. */
  unwatch: () => void;
}

/** Metrics, the IP history (a ConfigMap), the controller behind the Lease, and the speaker. */
async function createClusterRoles(
  flags: SpeakerFlags,
  deps: { conn: ClusterConnection; logger: Logger },
): Promise<ClusterParts> {
  const { conn, logger } = deps;
  const registry = createRegistry();
  const metrics = defineMetallbMetrics(registry);
  const { elector, history, running, unwatch } = await startLeasedController(conn, {
    ...flags,
    logger,
    metrics,
  });
  const speaker = createSpeaker(
    conn.source,
    conn.writer,
    speakerOptions(flags, { logger, metrics }),
  );
  return { flags, logger, conn, elector, registry, history, running, speaker, unwatch };
}

/** What /status shows in a cluster: both roles merged; `?history` adds the IP history. */
function clusterStatus(parts: ClusterParts, query?: URLSearchParams): StatusDocument {
  const doc = mergeStatus({
    node: parts.flags.nodeName,
    controller: parts.running.controller.status(),
    speaker: parts.speaker.status(),
    speakerConfig: parts.speaker.configStatus(),
    fileErrors: [],
    fileIndex: new Map(),
  });
  const entries = historyForQuery(query, parts.history);
  return entries ? { ...doc, history: entries } : doc;
}

/** The admin server: ready once the controller's caches have synced. */
function clusterAdmin(parts: ClusterParts): AdminServer {
  return startAdminServer(parts.flags.adminAddr, {
    registry: parts.registry,
    health: () => true,
    ready: () =>
      parts.running.controller.ready()
        ? { ready: true }
        : { ready: false, reason: "waiting for the API server caches to sync" },
    status: (query) => clusterStatus(parts, query),
    logger: parts.logger,
  });
}

/** Starts the election and both roles, then waits for a signal; resolves to the exit code. */
async function runUntilSignal(parts: ClusterParts, signal: SignalWait): Promise<number> {
  const { logger } = parts;
  parts.elector.start().catch((err) => logger.error("leader election failed", { error: err }));
  const started = Promise.all([parts.running.ready, parts.speaker.start()]).then(() => undefined);
  const first = await Promise.race([
    started.then(() => ({ ok: true as const }), (error) => ({ error })),
    signal.promise.then((sig) => ({ sig })),
  ]);
  if ("error" in first) {
    logger.error("failed to start", { error: first.error });
    return 1;
  }
  const sig = "sig" in first ? first.sig : await signal.promise;
  logger.info("stopping: sending Cease to every peer", { signal: sig });
  return 0;
}

/** The stop on SIGTERM or a failed start: every step runs, in this order, under a deadline. */
async function stopCluster(
  parts: ClusterParts,
  signal: SignalWait,
  admin: AdminServer | undefined,
): Promise<void> {
  const { flags } = parts;
  // Every step runs even when one fails or another signal arrives; a deadline bounds them.
  await boundedShutdown(signal, [
    ["withdraw routes", () => (parts.unwatch(), parts.speaker.stop())],
    ["stop the controller", () => parts.running.stop()],
    ["save the IP history", () => parts.history.close()],
    // Kept time: a Lease GET and PUT (2 s request bound each) even if a step above hangs.
    ["release the Lease", () => parts.elector.stop(), 4_000],
    ["close the API source", () => parts.conn.source.close()],
    ["close the admin server", () => admin?.close()],
  ], {
    logger: parts.logger,
    deadlineMs: Math.max(10_000, flags.stopGraceMs + 5_000) + flags.gracefulShutdownMs,
  });
}

/** `all` against the Kubernetes API: the controller (leader-elected) and this node's speaker. */
export async function runAllInCluster(args: ParsedArgs): Promise<number> {
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
  const parts = await createClusterRoles(flags, { conn, logger });
  const signal = waitForSignal({ logger });
  let admin: AdminServer | undefined;
  let code = 0;
  try {
    admin = clusterAdmin(parts);
    code = await runUntilSignal(parts, signal);
  } catch (err) {
    console.error(`ferrolb all: ${(err as Error).message}`);
    code = 1;
  } finally {
    await stopCluster(parts, signal, admin);
  }
  return code;
}
