/**
 * One time budget per turn of the event loop, shared by every room that slices long work
 * (controller passes, speaker reconciles, state saves, write queues, snapshot builds).
 *
 * Each slicer used to keep its own 20 ms clock: when several were due in the same timer
 * phase, each ran its own slice back to back and a timer waiting behind them (a BGP
 * keepalive, the lag probe) waited for the sum. Here the slicers ask one question, "has
 * this turn already run {@linkcode TURN_MS}?", and take turns when it has, so a turn runs
 * one budget of sliced work whoever does it. It lives in `addr/`, the one room every other
 * room may import; it knows nothing of addresses and imports nothing.
 */

/** Sliced work one turn of the event loop may run before it lets timers and I/O in. */
export const TURN_MS = 15;

/** When the current turn's budget started: when its slicer was handed the turn. */
let turnStart = Number.NEGATIVE_INFINITY;
/** Slicers waiting for a turn of their own, first come first served. */
const waiting: (() => void)[] = [];
/** Whether the timer that starts the next turn is set. */
let armed = false;
/** Clock; tests replace it. */
let clock: () => number = () => performance.now();

/**
 * Whether sliced work must yield now: this turn already ran {@linkcode TURN_MS} of it.
 * A plain check (one clock read), cheap enough to ask per item. A turn that did not start
 * from {@linkcode nextTurn} (an I/O callback, a notification) counts from the last one, so
 * its work may yield at once: never longer than a budget, at worst one turn sooner.
 */
export function turnDue(): boolean {
  return clock() - turnStart >= TURN_MS;
}

/**
 * Resolves in a later macrotask with a fresh budget for the caller. Slicers waiting at once
 * get one turn each, in the order they asked (had they all resumed in the same turn, each
 * would run a step before it could see the budget spent), and between two of them the event
 * loop runs whatever timers and I/O are due.
 */
export function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => {
    waiting.push(resolve);
    arm();
  });
}

/**
 * Sets the timer of the next turn, `delayMs` from now. A slicer that yields arms it at 0 then:
 * its deadline is the end of that slice, after every timer that fell due during the slice.
 */
function arm(delayMs = 0): void {
  if (armed) return;
  armed = true;
  setTimeout(startNext, delayMs);
}

/** Starts a turn's budget and hands it to the first waiting slicer. */
function startNext(): void {
  armed = false;
  turnStart = clock();
  const first = waiting.shift();
  // Armed now at 0, the next slicer's timer would be due before the timers that fall due
  // during this slice and run right after it. Its turn comes when this one yields again
  // (nextTurn arms at 0 then), or a budget from now should this one finish instead.
  if (waiting.length > 0) arm(TURN_MS);
  first?.();
}

/** Awaits {@linkcode nextTurn} when {@linkcode turnDue}; for loops that may await per item. */
export function yieldIfDue(): Promise<void> | undefined {
  return turnDue() ? nextTurn() : undefined;
}

/** Replaces the clock (tests); returns a function that restores the real one. */
export function setTurnClockForTest(now: () => number): () => void {
  clock = now;
  turnStart = Number.NEGATIVE_INFINITY;
  return () => {
    clock = () => performance.now();
    turnStart = Number.NEGATIVE_INFINITY;
  };
}
