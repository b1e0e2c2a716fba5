/**
 * `ferrolb speaker`: the per-node role against the Kubernetes API. Reads the metallb.io
 * objects, Services, EndpointSlices and Nodes, announces over BGP, serves /metrics,
 * /healthz, /readyz and /status, and on SIGTERM sends Cease to every peer within the
 * grace period before exiting.
 */
import type { ClusterConnection } from "../cluster/connect.ts";
import { boundedShutdown, type SignalWait, waitForSignal } from "./signals.ts";
import type { ParsedArgs } from "./args.ts";
import { type AdminServer, startAdminServer } from "./admin.ts";
import type { StatusDocument } from "./status.ts";
import { createLogger, type Logger, parseLogLevel } from "../api/log.ts";
import {
  createRegistry,
  defineMetallbMetrics,
  type MetallbMetrics,
  type Registry,
} from "../api/metrics.ts";
import type { ObjectSource, ObjectWriter } from "../cluster/types.ts";
import { createSpeaker, type Speaker, type SpeakerOptions } from "../speaker/speaker.ts";
import { DEFAULT_GRACEFUL_SHUTDOWN_SECONDS } from "../speaker/drain.ts";

/** Options of {@linkcode startSpeaker}: the speaker's options without the injected seams. */
export type StartSpeakerOptions = SpeakerOptions;

/** Creates a speaker on `source` and starts it (waits for the source's caches). */
export async function startSpeaker(
  source: ObjectSource,
  writer: ObjectWriter,
  options: StartSpeakerOptions,
): Promise<Speaker> {
  const speaker = createSpeaker(source, writer, options);
  await speaker.start();
  return speaker;
}

/** The /status document of a speaker-only process. */
export function speakerStatusDocument(speaker: Speaker, node: string): StatusDocument {
  const s = speaker.status();
  return {
    role: "speaker",
    node,
    config: speaker.configStatus(),
    sessions: s.sessions,
    pools: [],
    services: s.services,
  };
}

/** `--graceful-shutdown-seconds` in ms (the RFC 8326 drain), or a usage problem. */
export function gracefulShutdownMs(args: ParsedArgs): number | string {
  const gs = String(args.flags["graceful-shutdown-seconds"] ?? DEFAULT_GRACEFUL_SHUTDOWN_SECONDS);
  if (!/^\d{1,4}$/.test(gs) || Number(gs) > 3600) {
    return `--graceful-shutdown-seconds: "${gs}" is not a whole number of seconds (0-3600)`;
  }
  return Number(gs) * 1000;
}

/** Values of the speaker role's flags, or a usage problem. */
export interface SpeakerFlags {
  nodeName: string;
  namespace: string;
  adminAddr: string;
  level: string;
  kubeconfig?: string;
  lbClass?: string;
  routerId?: string;
  weightedEcmp: boolean;
  /** Bound on sending Cease at shutdown. */
  stopGraceMs: number;
  /** RFC 8326 drain before withdrawing (`--graceful-shutdown-seconds`); 0 = off. */
  gracefulShutdownMs: number;
}

/** The speaker's options from its flags, for the cluster role and for file mode alike. */
export function speakerOptions(
  flags: SpeakerFlags,
  ctx: { logger: Logger; metrics: MetallbMetrics },
): SpeakerOptions {
  return {
    nodeName: flags.nodeName,
    namespace: flags.namespace,
    logger: ctx.logger,
    metrics: ctx.metrics,
    weightedEcmp: flags.weightedEcmp,
    stopGraceMs: flags.stopGraceMs,
    gracefulShutdownMs: flags.gracefulShutdownMs,
    ...(flags.lbClass ? { loadBalancerClass: flags.lbClass } : {}),
    ...(flags.routerId ? { defaultRouterId: flags.routerId } : {}),
  };
}

/** Reads the speaker's flags; a string is a usage error. */
export function speakerFlags(args: ParsedArgs): SpeakerFlags | string {
  const f = args.flags;
  const nodeName = typeof f["node-name"] === "string" ? f["node-name"] : "";
  if (!nodeName) return "--node-name (or NODE_NAME) is required: the speaker runs per node";
  const level = String(f["log-level"] ?? "info");
  if (!parseLogLevel(level)) return `--log-level: "${level}" is not debug, info, warn or error`;
  const out: SpeakerFlags = {
    nodeName,
    namespace: String(f.namespace ?? "metallb-system"),
    adminAddr: String(f["admin-addr"] ?? "127.0.0.1:7472"),
    level,
    weightedEcmp: f["weighted-ecmp"] === true,
    stopGraceMs: 5_000,
    gracefulShutdownMs: 0,
  };
  const drainMs = gracefulShutdownMs(args);
  if (typeof drainMs === "string") return drainMs;
  out.gracefulShutdownMs = drainMs;
  if (typeof f.kubeconfig === "string" && f.kubeconfig) out.kubeconfig = f.kubeconfig;
  if (typeof f["lb-class"] === "string") out.lbClass = f["lb-class"];
  // Only a fallback: the BGPPeer's routerID and then the Node's InternalIP come first.
  if (typeof f["router-id"] === "string") out.routerId = f["router-id"];
  return out;
}

/**
 * Connects a speaker to the API server: a source that reads only this node's ServiceBGPStatus
 * objects (stale ones are deleted), and a writer. A string is why the kubeconfig failed.
 */
export async function connectSpeaker(
  flags: SpeakerFlags,
  logger: Logger,
): Promise<ClusterConnection | string> {
  // Loaded late: the Kubernetes client is heavy (its modules confine process.env first).
  const { connectCluster } = await import("../cluster/connect.ts");
  try {
    return connectCluster(flags.kubeconfig, {
      namespace: flags.namespace,
      logger,
      labelSelectors: { ServiceBGPStatus: `metallb.io/node=${flags.nodeName}` },
    });
  } catch (err) {
    return (err as Error).message;
  }
}

/** The running speaker role and what it shares with the admin server and the stop. */
interface SpeakerParts {
  flags: SpeakerFlags;
  logger: Logger;
  conn: ClusterConnection;
  registry: Registry;
  metrics: MetallbMetrics;
  speaker: Speaker;
}

/** The client's gauges, read when probed: loaded, and stale as MetalLB means it. */
function updateClientMetrics(parts: SpeakerParts): void {
  const m = parts.conn.source.metrics();
  parts.metrics.configLoaded.set({}, m.configLoaded ? 1 : 0);
  // As MetalLB: stale means the latest configuration failed to load, not a watch hiccup.
  parts.metrics.configStale.set({}, parts.speaker.configStatus().valid ? 0 : 1);
}

/** The admin server: ready once the caches synced and the configuration is valid. */
function speakerAdmin(parts: SpeakerParts): AdminServer {
  const { speaker } = parts;
  return startAdminServer(parts.flags.adminAddr, {
    registry: parts.registry,
    health: () => true,
    ready: () => {
      updateClientMetrics(parts);
      return speaker.ready()
        ? { ready: true }
        : { ready: false, reason: "waiting for caches and a valid configuration" };
    },
    status: () => speakerStatusDocument(speaker, parts.flags.nodeName),
    logger: parts.logger,
  });
}

/** Starts the speaker and waits for a signal; resolves to the failed start's error, if any. */
async function runUntilSignal(
  parts: SpeakerParts,
  ctx: { signal: SignalWait; admin: AdminServer },
): Promise<Error | undefined> {
  const { logger, flags } = parts;
  const signalled = ctx.signal.promise;
  logger.info("speaker starting", { node: flags.nodeName, namespace: flags.namespace });
  const started = parts.speaker.start().then(() => "started" as const, (err) => err as Error);
  const first = await Promise.race([started, signalled]);
  if (first instanceof Error) {
    logger.error("speaker failed to start", { error: first });
    return first;
  }
  if (first === "started") {
    logger.info("speaker running", { admin: ctx.admin.addr });
    const sig = await signalled;
    logger.info("stopping: sending Cease to every peer", { signal: sig });
  }
  return undefined;
}

/** The stop: withdraw (Cease, or the RFC 8326 drain first), then close, under a deadline. */
async function stopSpeakerRole(
  parts: SpeakerParts,
  ctx: { signal: SignalWait; admin: AdminServer },
): Promise<void> {
  const { flags } = parts;
  await boundedShutdown(ctx.signal, [
    ["withdraw routes", () => parts.speaker.stop()],
    ["close the API source", () => parts.conn.source.close()],
    ["close the admin server", () => ctx.admin.close()],
  ], {
    logger: parts.logger,
    deadlineMs: Math.max(10_000, flags.stopGraceMs + 5_000) + flags.gracefulShutdownMs,
  });
}

/** Runs `ferrolb speaker` until SIGTERM/SIGINT; resolves to the exit code. */
export async function runSpeakerRole(args: ParsedArgs): Promise<number> {
  const flags = speakerFlags(args);
  if (typeof flags === "string") {
    console.error(`ferrolb speaker: ${flags}`);
    return 2;
  }
  const logger: Logger = createLogger({ level: parseLogLevel(flags.level), component: "ferrolb" });
  const conn = await connectSpeaker(flags, logger);
  if (typeof conn === "string") {
    console.error(`ferrolb speaker: ${conn}`);
    return 1;
  }
  const registry = createRegistry();
  const metrics: MetallbMetrics = defineMetallbMetrics(registry);
  const speaker = createSpeaker(
    conn.source,
    conn.writer,
    speakerOptions(flags, { logger, metrics }),
  );
  const parts: SpeakerParts = { flags, logger, conn, registry, metrics, speaker };
  let admin: AdminServer;
  try {
    admin = speakerAdmin(parts);
  } catch (err) {
    console.error(`ferrolb speaker: --admin-addr: ${(err as Error).message}`);
    await conn.source.close();
    return 1;
  }
  const signal = waitForSignal({ logger });
  const failed = await runUntilSignal(parts, { signal, admin });
  await stopSpeakerRole(parts, { signal, admin });
  return failed ? 1 : 0;
}

if (import.meta.main) {
  const { parseCommandLine } = await import("./args.ts");
  const { readEnv } = await import("../cluster/node_env.ts");
  Deno.exit(await runSpeakerRole(parseCommandLine(["speaker", ...Deno.args], readEnv)));
}
