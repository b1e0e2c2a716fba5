/**
 * How every room that slices long work (controller passes, speaker reconciles, state saves,
 * write queues, snapshot builds) gives the event loop back: a slice runs at most
 * {@linkcode TURN_MS}, and the slicers that yielded take turns, one per macrotask.
 *
 * Each slicer used to wait on its own `setTimeout(0)`: when several were due in the same
 * timer phase, their slices ran back to back, and a timer waiting behind them (a BGP
 * keepalive, the lag probe) waited for the sum. Here they queue for one timer, which hands
 * the next turn to one slicer only and is set again only when that slicer's slice ends, so
 * every timer that fell due during a slice runs before the next slice starts. It lives in
 * `addr/`, the one room every other room may import; it knows nothing of addresses.
 */

/** Longest a slice of sliced work runs before it lets timers and I/O in. */
export const TURN_MS = 15;

/** Slicers waiting for a turn, first come first served. */
const waiting: (() => void)[] = [];
/** The timer that starts the next turn, and whether it waits a slice (see startNext). */
let timer: ReturnType<typeof setTimeout> | undefined;
let timerDelayed = false;
/** Clock; tests replace it. */
let clock: () => number = () => performance.now();

/**
 * Resolves in a later macrotask, in a turn of the caller's own: slicers waiting at once get
 * one turn each, in the order they asked, with due timers and I/O between two of them.
 */
export function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => {
    waiting.push(resolve);
    // The slice in progress (if any) ends here: the next turn may start as soon as the
    // timers that fell due during it have run.
    if (timerDelayed) {
      clearTimeout(timer);
      timer = undefined;
    }
    arm(0);
  });
}

/**
 * Sets the timer of the next turn, `delayMs` from now. A slicer that yields arms it at 0 then:
 * its deadline is the end of that slice, after every timer that fell due during the slice.
 */
function arm(delayMs: number): void {
  if (timer !== undefined) return;
  timerDelayed = delayMs > 0;
  timer = setTimeout(startNext, delayMs);
}

/** Hands the turn to the first waiting slicer. */
function startNext(): void {
  timer = undefined;
  const first = waiting.shift();
  // Armed now at 0, the next slicer's timer would be due before the timers that fall due
  // during this slice, and its slice would run right after this one. Its turn comes when
  // this one yields again (nextTurn arms at 0 then), or a slice from now should this one
  // finish instead.
  if (waiting.length > 0) arm(TURN_MS);
  first?.();
}

/** One slicer's clock: a slice starts when the slicer starts and after each yield. */
export class Slice {
  #start = clock();

  /**
   * Whether this slice has run {@linkcode TURN_MS}; then the caller awaits
   * {@linkcode Slice.next}. A plain check (one clock read), cheap enough per item.
   */
  due(): boolean {
    return clock() - this.#start >= TURN_MS;
  }

  /** Waits for this slicer's next turn; a new slice starts then. */
  async next(): Promise<void> {
    await nextTurn();
    this.#start = clock();
  }

  /** A new slice starts now: the slicer resumed in a macrotask of its own (after I/O). */
  restart(): void {
    this.#start = clock();
  }
}

/** Replaces the clock (tests); returns a function that restores the real one. */
export function setTurnClockForTest(now: () => number): () => void {
  clock = now;
  return () => {
    clock = () => performance.now();
  };
}

/**
 * Runs `work` (long work written as a generator that yields now and then) to its end, letting
 * timers and I/O in whenever a slice is used up, in turns with every other slicer.
 */
export async function drive<T>(work: Generator<unknown, T>): Promise<T> {
  const slice = new Slice();
  for (;;) {
    const r = work.next();
    if (r.done) return r.value;
    if (slice.due()) await slice.next();
  }
}
