/**
 * The signals that end a role (SIGINT from Ctrl-C, SIGTERM from Kubernetes) and the bounded
 * shutdown that follows. The listeners stay installed until the shutdown is over: without a
 * listener Deno dies on the next SIGTERM, and a second SIGTERM during a graceful stop would
 * then skip the Lease release and the withdraw.
 */
import type { Logger } from "../api/log.ts";

const SIGNALS = ["SIGINT", "SIGTERM"] as const;

/** Default bound of a whole shutdown, in ms: below Kubernetes' 30 s grace period. */
export const DEFAULT_SHUTDOWN_DEADLINE_MS = 10_000;
/** Exit code when the shutdown overran its deadline. */
export const EXIT_SHUTDOWN_TIMEOUT = 3;

/** The first signal, and what came after it. */
export interface SignalWait {
  /** Resolves with the first SIGINT/SIGTERM. */
  promise: Promise<Deno.Signal>;
  /** Signals received after the first one (ignored: the stop already runs). */
  repeats(): number;
  /** Removes the listeners; call once the shutdown is complete. */
  cancel(): void;
}

/** Options for {@linkcode waitForSignal}. */
export interface WaitForSignalOptions {
  /** Told of each signal after the first. */
  logger?: Logger;
}

/**
 * Resolves with the first of SIGINT/SIGTERM. The listeners stay until `cancel()`, so later
 * signals are logged and ignored instead of killing the process mid-shutdown.
 */
export function waitForSignal(options: WaitForSignalOptions = {}): SignalWait {
  const { promise, resolve } = Promise.withResolvers<Deno.Signal>();
  let first: Deno.Signal | undefined;
  let repeats = 0;
  const handlers = SIGNALS.map((sig) => {
    const fn = () => {
      if (first === undefined) {
        first = sig;
        resolve(sig);
        return;
      }
      repeats++;
      options.logger?.warn("already stopping; signal ignored until the shutdown completes", {
        signal: sig,
        first,
      });
    };
    Deno.addSignalListener(sig, fn);
    return [sig, fn] as const;
  });
  let cancelled = false;
  return {
    promise,
    repeats: () => repeats,
    cancel() {
      if (cancelled) return;
      cancelled = true;
      for (const [s, fn] of handlers) Deno.removeSignalListener(s, fn);
    },
  };
}

/** Options for {@linkcode boundedShutdown}. */
export interface ShutdownOptions {
  logger: Logger;
  /** Bound of the whole stop, in ms. Default {@linkcode DEFAULT_SHUTDOWN_DEADLINE_MS}. */
  deadlineMs?: number;
  /** Ends the process when the deadline passes. Default `Deno.exit`. */
  exit?: (code: number) => void;
}

/** One stop step: its name (for logs), the work, and time kept for it from earlier steps. */
export type ShutdownStep = [
  name: string,
  step: () => Promise<unknown> | unknown,
  reserveMs?: number,
];

/**
 * Runs the ordered stop steps (withdraw, release the Lease, close) with the signal listeners
 * still installed and under a hard deadline: the process exits with
 * {@linkcode EXIT_SHUTDOWN_TIMEOUT} and a log line naming the step when the whole stop
 * overruns. A step that throws is logged and the next one still runs. A step may keep time
 * (`reserveMs`) from the steps before it: an earlier step that hangs past its share is left
 * behind so that, say, the Lease is still released in time. Removes the listeners at the end.
 */
export async function boundedShutdown(
  signal: SignalWait,
  steps: ShutdownStep[],
  options: ShutdownOptions,
): Promise<void> {
  const deadlineMs = options.deadlineMs ?? DEFAULT_SHUTDOWN_DEADLINE_MS;
  const exit = options.exit ?? ((code: number) => Deno.exit(code));
  const end = Date.now() + deadlineMs;
  let current = "starting";
  const timer = setTimeout(() => {
    options.logger.error("shutdown did not finish in time; exiting", {
      deadlineMs,
      step: current,
      exitCode: EXIT_SHUTDOWN_TIMEOUT,
    });
    exit(EXIT_SHUTDOWN_TIMEOUT);
  }, deadlineMs);
  try {
    for (let i = 0; i < steps.length; i++) {
      const [name, step] = steps[i];
      current = name;
      const kept = steps.slice(i + 1).reduce((sum, s) => sum + (s[2] ?? 0), 0);
      const shareMs = end - Date.now() - kept;
      let shareTimer: ReturnType<typeof setTimeout> | undefined;
      const overran = new Promise<"overran">((resolve) => {
        if (kept > 0) shareTimer = setTimeout(() => resolve("overran"), Math.max(0, shareMs));
      });
      try {
        const r = await Promise.race([Promise.resolve().then(step), overran]);
        if (r === "overran") {
          options.logger.warn("shutdown step overran its share; going on", {
            step: name,
            shareMs,
          });
        }
      } catch (err) {
        options.logger.warn("shutdown step failed", { step: name, error: err });
      } finally {
        clearTimeout(shareTimer);
      }
    }
  } finally {
    clearTimeout(timer);
    signal.cancel();
  }
}
