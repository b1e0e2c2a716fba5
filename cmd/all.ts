/**
 * `ferrolb all`: controller and speaker in one process. With `--config-dir` it runs on a
 * directory of the manifests a user would `kubectl apply`, filling in what a cluster would
 * supply (this node, endpoints), keeping assignments in `--state-dir` (`file_mode.ts`);
 * without it, it runs both roles against the Kubernetes API (`all_cluster.ts`).
 */
import { boundedShutdown, waitForSignal } from "./signals.ts";
import type { ParsedArgs } from "./args.ts";
import { gracefulShutdownMs } from "./speaker.ts";
import { createLogger, parseLogLevel } from "../api/log.ts";
import { type FileMode, type FileModeOptions, StartAborted, startFileMode } from "./file_mode.ts";

export {
  attributeToFile,
  type ConfigReport,
  type FileIndex,
  mergeStatus,
  type StatusParts,
} from "./all_status.ts";
export { FileModeError } from "./file_state.ts";
export { type FileMode, type FileModeOptions, StartAborted, startFileMode } from "./file_mode.ts";

/** Default `--state-dir` in file mode, relative to the working directory. */
export const DEFAULT_STATE_DIR = ".ferrolb-state";

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
  if (typeof args.flags["config-dir"] !== "string") {
    // Imported here: file mode does not load the cluster roles' wiring (cmd/controller.ts).
    return await (await import("./all_cluster.ts")).runAllInCluster(args);
  }
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
