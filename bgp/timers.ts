/**
 * Clock abstraction for the BGP session layer, so every timer-driven transition (connect
 * retry, hold, keepalive) is testable without sleeping.
 */

/** An opaque timer handle. */
export type TimerHandle = unknown;

/** The time source and timer service the session layer depends on. */
export interface Clock {
  /** Milliseconds since an arbitrary epoch (monotonic in tests, wall time in production). */
  now(): number;
  /** Runs `fn` once after `ms` milliseconds. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; unknown or fired handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock, backed by the runtime's timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as number),
};

interface FakeTimer {
  id: number;
  at: number;
  fn: () => void;
}

/** A manually driven clock: timers fire only inside {@linkcode FakeClock.advance}. */
export class FakeClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers = new Map<number, FakeTimer>();

  /** Starts the fake time at `start` milliseconds. */
  constructor(start = 1_000_000) {
    this.#now = start;
  }

  /** The current fake time. */
  now(): number {
    return this.#now;
  }

  /** Schedules `fn` at now + ms (negative delays count as 0). */
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  /** Cancels a pending timer. */
  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /**
   * Moves time forward by `ms`, firing due timers in time order (ties in scheduling order),
   * including timers that fired timers schedule inside the window.
   */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let due: FakeTimer | undefined;
      for (const t of this.#timers.values()) {
        if (t.at <= target && (!due || t.at < due.at || (t.at === due.at && t.id < due.id))) {
          due = t;
        }
      }
      if (!due) break;
      this.#timers.delete(due.id);
      this.#now = due.at;
      due.fn();
    }
    this.#now = target;
  }

  /** Delays of pending timers from now, sorted; lets tests see what is scheduled. */
  pendingDelays(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((a, b) => a - b);
  }
}
