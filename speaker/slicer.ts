/**
 * Cooperative time slicing: long work (100,000s of Services) is written as a generator that
 * yields now and then, and {@linkcode drive} runs it in slices of a few milliseconds with a
 * macrotask between them, so that BGP keepalives, health checks and signals are never
 * starved.
 */

/**
 * Default length of one slice. Timers that are due together run back to back (the
 * controller's slices, this one, the write queue's), so each slice stays short.
 */
export const SLICE_MS = 20;

/** Runs `work` to its end, letting timers and I/O run whenever a slice is used up. */
export async function drive<T>(work: Generator<unknown, T>, sliceMs = SLICE_MS): Promise<T> {
  let since = performance.now();
  for (;;) {
    const r = work.next();
    if (r.done) return r.value;
    if (performance.now() - since > sliceMs) {
      await new Promise((resolve) => setTimeout(resolve, 0));
      since = performance.now();
    }
  }
}
