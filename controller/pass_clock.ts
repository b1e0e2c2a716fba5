/**
 * How a pass shares the event loop: it yields every slice (`addr/turn_budget.ts`, taking
 * turns with the speaker's and the state store's slices), stops at a slice boundary once
 * the controller stops, and says how far a large pass got.
 */
import { Slice } from "../addr/turn_budget.ts";
import type { Logger } from "../api/log.ts";
import { formatCount } from "../api/count_text.ts";
/** Passes handling more Services than this log progress and per-Service lines at debug. */
export const LARGE_PASS = 1000;
/** How often a large pass logs its progress. */
const PROGRESS_MS = 1000;

/** The pass stops at its next slice boundary because the controller is stopping. */
export class PassAborted extends Error {
  override name = "PassAborted";
}

/** What the pass in progress is doing, for logs and /readyz. */
export interface Progress {
  phase: string;
  done: number;
  total: number;
}

/** One controller's slice clock and progress. */
export class PassClock {
  #log: Logger;
  #stopped: () => boolean;
  #slice = new Slice();
  #lastProgressLog = 0;
  /** The phase of the pass in progress, or null between passes. */
  progress: Progress | null = null;

  /** `stopped` is read at every slice boundary. */
  constructor(log: Logger, stopped: () => boolean) {
    this.#log = log;
    this.#stopped = stopped;
  }

  /** A slice starts now (the start of a pass). */
  restart(): void {
    this.#slice.restart();
  }

  /** Starts a phase of `total` steps; the returned record is the one to count on. */
  phase(phase: string, total: number): Progress {
    this.progress = { phase, done: 0, total };
    return this.progress;
  }

  /**
   * Whether this slice of the pass has run long enough; then the caller awaits
   * {@linkcode PassClock.yieldNow}. Asked per Service, so it is a plain check: an async
   * check made a promise and an await per Service and step, 400,000 at a 100,000 start.
   */
  due(): boolean {
    return this.#slice.due();
  }

  /** Yields to the event loop and starts a new slice (throws once the controller stops). */
  async yieldNow(): Promise<void> {
    await this.#slice.next();
    if (this.#stopped()) throw new PassAborted("controller stopping");
  }

  /** The next progress line waits a full {@linkcode PROGRESS_MS} from now. */
  holdProgress(): void {
    this.#lastProgressLog = performance.now();
  }

  /** Logs how far a large pass got, at most once per {@linkcode PROGRESS_MS}. */
  report(force = false): boolean {
    const p = this.progress;
    if (!p || p.total <= LARGE_PASS) return false;
    const t = performance.now();
    if (!force && t - this.#lastProgressLog < PROGRESS_MS) return false;
    this.#lastProgressLog = t;
    this.#log.info(`${p.phase} ${formatCount(p.done)}/${formatCount(p.total)}`, {
      phase: p.phase,
      done: p.done,
      total: p.total,
    });
    return true;
  }
}
