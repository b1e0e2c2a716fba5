/**
 * A sort written as a generator that yields every few thousand items merged, for
 * `drive` (turn_budget.ts): sorting 100,000s of Services or prefixes in one call would hold
 * the event loop past what BGP keepalives, health checks and signals may wait. Here, below
 * every room, so that the controller and the speaker share it.
 */

/** Below this many items a sort runs at once: it takes well under a slice. */
const SORT_AT_ONCE = 4096;
/** Items merged between two yields of {@linkcode sortSliced} (a millisecond or two). */
const MERGE_STEP = 16384;

/**
 * Sorts `items` in place like `Array.prototype.sort` (stable), yielding every few thousand
 * items merged: sorting 100,000s of prefixes or Services at once would stall the event loop
 * for longer than a BGP keepalive should wait.
 */
export function* sortSliced<T>(items: T[], compare: (a: T, b: T) => number): Generator<void, T[]> {
  const n = items.length;
  if (n <= SORT_AT_ONCE) return items.sort(compare);
  // Often already in order (Services listed by name): then no runs and no second buffer of
  // n items are made.
  let sorted = true;
  for (let i = 1; i < n && sorted; i++) {
    if (compare(items[i], items[i - 1]) < 0) sorted = false;
    if (i % MERGE_STEP === 0) yield;
  }
  if (sorted) return items;
  // Runs sorted natively, then merged bottom-up between two buffers.
  for (let lo = 0; lo < n; lo += SORT_AT_ONCE) {
    const run = items.slice(lo, lo + SORT_AT_ONCE).sort(compare);
    for (let i = 0; i < run.length; i++) items[lo + i] = run[i];
    yield;
  }
  let src = items;
  let dst = new Array<T>(n);
  let merged = 0;
  for (let width = SORT_AT_ONCE; width < n; width *= 2) {
    for (let lo = 0; lo < n; lo += 2 * width) {
      const mid = Math.min(lo + width, n);
      const hi = Math.min(lo + 2 * width, n);
      let i = lo, j = mid, k = lo;
      while (i < mid && j < hi) dst[k++] = compare(src[j], src[i]) < 0 ? src[j++] : src[i++];
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
      merged += hi - lo;
      if (merged >= MERGE_STEP) {
        merged = 0;
        yield;
      }
    }
    [src, dst] = [dst, src];
  }
  if (src !== items) { for (let i = 0; i < n; i++) items[i] = src[i]; }
  return items;
}
