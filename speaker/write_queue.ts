/**
 * The speaker's writes (ServiceBGPStatus, Events, ConfigurationState) run one at a time, in
 * order, never inside the reconcile that queued them. A plain queue of data rather than a
 * promise chain of closures: the first reconcile with 100,000s of Services queues two writes
 * for each.
 */
import type { Logger } from "../api/log.ts";
import { Slice } from "../addr/turn_budget.ts";

/** One kind of write: shared by every queued item of that kind (no closure per item). */
export type WriteFn<A, B, C = undefined> = (a: A, b: B, c: C) => Promise<void>;

/** Fields of one queued write in a chunk: what, fn, a, b, c. */
const STRIDE = 5;
/** Writes per chunk. */
const CHUNK_WRITES = 512;

/**
 * A run of queued writes, each {@linkcode STRIDE} slots of `items`. Writes sit in small chunks
 * that go once written, not in arrays that grow to every write queued since the queue was
 * last empty (two per Service at a start: large arrays copied as they grow, kept until the
 * last write is out).
 */
class Chunk {
  /** Made at its full size: not copied as it fills. */
  readonly items: unknown[] = new Array(CHUNK_WRITES * STRIDE);
  /** Slots of `items` in use. */
  length = 0;
  next: Chunk | undefined;
}

/** A serial queue of writes. */
export class WriteQueue {
  readonly #log: Logger;
  /** The chunk being written, and the one writes are added to. */
  #head: Chunk | undefined;
  #tail: Chunk | undefined;
  #draining = false;
  #done: Promise<void> = Promise.resolve();

  /** An empty queue; failures are logged on `log`. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /**
   * Queues `fn(a, b, c)`; `what` names it in the log when it fails. The arguments are kept
   * as they are (no tuple or closure per write): `fn` builds what it writes when it runs.
   */
  push<A, B, C = undefined>(what: string, fn: WriteFn<A, B, C>, a: A, b: B, c?: C): void {
    let tail = this.#tail;
    if (tail === undefined || tail.length === tail.items.length) {
      const chunk = new Chunk();
      if (tail) tail.next = chunk;
      else this.#head = chunk;
      this.#tail = tail = chunk;
    }
    const items = tail.items, at = tail.length;
    items[at] = what;
    items[at + 1] = fn;
    items[at + 2] = a;
    items[at + 3] = b;
    items[at + 4] = c;
    tail.length = at + STRIDE;
    if (this.#draining) return;
    this.#draining = true;
    this.#done = this.#drain();
  }

  /** Resolves when every write queued so far has finished. */
  idle(): Promise<void> {
    return this.#done;
  }

  async #drain(): Promise<void> {
    // Never run a write inside the reconcile that queued it.
    await Promise.resolve();
    const slice = new Slice();
    try {
      for (let chunk = this.#head; chunk !== undefined; chunk = this.#head) {
        const items = chunk.items;
        // The tail chunk may take more writes while this one runs: its length is read anew.
        for (let i = 0; i < chunk.length; i += STRIDE) {
          // Writes that resolve at once would keep the microtask queue busy for 100,000s of
          // them: a turn now and then lets timers and I/O in.
          if (slice.due()) await slice.next();
          const fn = items[i + 1] as WriteFn<unknown, unknown, unknown>;
          const a = items[i + 2], b = items[i + 3], c = items[i + 4];
          items[i + 2] = items[i + 3] = items[i + 4] = undefined;
          try {
            await fn(a, b, c);
          } catch (err) {
            this.#log.error(`writing ${items[i]} failed`, { error: err });
          }
        }
        // Written: the chunk goes (the tail too, so the next write starts a new one).
        this.#head = chunk.next;
        if (this.#head === undefined) this.#tail = undefined;
      }
    } finally {
      this.#head = this.#tail = undefined;
      this.#draining = false;
    }
  }
}
