/**
 * Bounded concurrency with per-key order: at most `limit` tasks run at once, and tasks that
 * share a key run one after another in the order they were submitted. The API writer keys by
 * object, so writes to different objects are pipelined while two writes to one object (its
 * status, then its annotations) still reach the server in the order the caller made them.
 */

/** Runs tasks under a concurrency bound, serialised per key. */
export interface KeyedLimiter {
  /** Runs `task` once the previous task of `key` settled and a slot is free. */
  run<T>(key: string, task: () => Promise<T>): Promise<T>;
  /** Tasks running now. */
  active(): number;
  /** Tasks submitted and not yet settled (running or waiting). */
  pending(): number;
}

/** Creates a limiter allowing `limit` (at least 1) tasks in flight. */
export function createKeyedLimiter(limit: number): KeyedLimiter {
  const bound = Math.max(1, Math.floor(limit));
  const tails = new Map<string, Promise<void>>();
  const waiting: (() => void)[] = [];
  let running = 0;
  let submitted = 0;

  function acquire(): Promise<void> {
    if (running < bound) {
      running++;
      return Promise.resolve();
    }
    // The releasing task hands its slot over directly, so `running` stays counted.
    return new Promise((resolve) => waiting.push(resolve));
  }

  function release(): void {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }

  async function runInSlot<T>(task: () => Promise<T>): Promise<T> {
    await acquire();
    try {
      return await task();
    } finally {
      release();
    }
  }

  return {
    run<T>(key: string, task: () => Promise<T>): Promise<T> {
      submitted++;
      const previous = tails.get(key);
      const result = previous ? previous.then(() => runInSlot(task)) : runInSlot(task);
      const tail = result.then(() => {}, () => {});
      tails.set(key, tail);
      void tail.then(() => {
        submitted--;
        if (tails.get(key) === tail) tails.delete(key);
      });
      return result;
    },
    active: () => running,
    pending: () => submitted,
  };
}
