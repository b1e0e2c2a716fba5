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

/** A serial queue of writes. */
export class WriteQueue {
  readonly #log: Logger;
  #what: string[] = [];
  #fns: WriteFn<unknown, unknown, unknown>[] = [];
  #a: unknown[] = [];
  #b: unknown[] = [];
  #c: unknown[] = [];
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
    this.#what.push(what);
    this.#fns.push(fn as WriteFn<unknown, unknown, unknown>);
    this.#a.push(a);
    this.#b.push(b);
    this.#c.push(c);
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
      for (let i = 0; i < this.#fns.length; i++) {
        // Writes that resolve at once would keep the microtask queue busy for 100,000s of
        // them: a turn now and then lets timers and I/O in.
        if (slice.due()) await slice.next();
        const a = this.#a[i];
        const b = this.#b[i];
        const c = this.#c[i];
        this.#a[i] = this.#b[i] = this.#c[i] = undefined;
        try {
          await this.#fns[i](a, b, c);
        } catch (err) {
          this.#log.error(`writing ${this.#what[i]} failed`, { error: err });
        }
      }
    } finally {
      this.#what = [];
      this.#fns = [];
      this.#a = [];
      this.#b = [];
      this.#c = [];
      this.#draining = false;
    }
  }
}
