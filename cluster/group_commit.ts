/**
 * The write side of file mode: Service states staged by writers and group-committed to the
 * state store. Every write made while a save is running (or in the same tick) goes into the
 * next save, and becomes visible only once that save is durable, so a crash never loses an
 * address a reader has already seen.
 */
import { Slice } from "../addr/turn_budget.ts";
import type { Logger } from "../api/log.ts";
import { sameState, type SavedState } from "./service_view.ts";
import type { StateStore } from "./state_store.ts";

/** Options for {@linkcode GroupCommit}. */
export interface GroupCommitOptions {
  logger: Logger;
  /** The durable states as loaded. */
  initial: ReadonlyMap<string, SavedState>;
  /** The other fields of the loaded state file, saved again as they were. */
  extra: Record<string, unknown>;
  /** Called (from a microtask, like a watch event) after each save became visible. */
  onCommit: () => void;
}

/** Staged Service states and their group commit to a {@linkcode StateStore}. */
export class GroupCommit {
  readonly #store: StateStore;
  readonly #log: Logger;
  readonly #extra: Record<string, unknown>;
  readonly #onCommit: () => void;
  /** Durable state; what snapshots show. Replaced (never mutated) by each save. */
  #committed: ReadonlyMap<string, SavedState>;
  /** Changes waiting for the next save: the new state, or null when the entry goes. */
  #staged = new Map<string, SavedState | null>();
  #waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  #flushTimer: ReturnType<typeof setTimeout> | undefined;
  #flushing = false;
  /** Batches being staged: the save waits for them, so each batch lands in one save. */
  #staging = 0;
  #revision = 0;

  constructor(store: StateStore, options: GroupCommitOptions) {
    this.#store = store;
    this.#log = options.logger;
    this.#extra = options.extra;
    this.#onCommit = options.onCommit;
    this.#committed = options.initial;
  }

  /** The durable states by `namespace/name`. */
  get committed(): ReadonlyMap<string, SavedState> {
    return this.#committed;
  }

  /** Saves made visible so far; grows by one per save. */
  get revision(): number {
    return this.#revision;
  }

  /** The state a new write builds on: staged if any, else durable. */
  latest(key: string): SavedState | undefined {
    const s = this.#staged.get(key);
    return s === undefined ? this.#committed.get(key) : s ?? undefined;
  }

  /** Stages `next` for `key`; resolves when durable. A no-op write resolves at once. */
  stage(key: string, next: SavedState | null): Promise<void> | undefined {
    return this.#stageOnly(key, next) ? this.#afterFlush() : undefined;
  }

  /**
   * Stages the state `next` makes of each item's latest one, in slices so a batch of
   * 100,000 never stalls the event loop; the save waits until the whole batch is staged, so
   * it is one save and one change. Resolves when durable.
   */
  async stageAll<T>(
    items: readonly T[],
    step: {
      key: (item: T) => string;
      next: (prev: SavedState | undefined, item: T) => SavedState | null;
    },
  ): Promise<void> {
    let wait = false;
    this.#staging++;
    try {
      const slice = new Slice();
      for (const item of items) {
        if (slice.due()) await slice.next();
        const key = step.key(item);
        if (this.#stageOnly(key, step.next(this.latest(key), item))) wait = true;
      }
    } finally {
      this.#staging--;
      // Writes of others that came in meanwhile wait for a save too.
      if (!wait && this.#pending()) this.#scheduleFlush();
    }
    if (wait) return await this.#afterFlush();
  }

  /** Saves what writers already handed over, so it is durable before the state dir goes. */
  async drain(): Promise<void> {
    if (this.#staged.size > 0 || this.#flushing) await this.#afterFlush().catch(() => {});
  }

  /** Stages `next` for `key`; true when the caller must wait for a save to be durable. */
  #stageOnly(key: string, next: SavedState | null): boolean {
    const cur = this.latest(key);
    if (next === null ? cur === undefined : cur !== undefined && sameState(cur, next)) {
      // Equal to what is staged: still wait for it, so the caller's write is durable.
      return this.#staged.has(key);
    }
    this.#staged.set(key, next);
    return true;
  }

  #pending(): boolean {
    return this.#staged.size > 0 || this.#waiters.length > 0;
  }

  /** Resolves once everything staged so far is durable (and visible). */
  #afterFlush(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#waiters.push({ resolve, reject });
      this.#scheduleFlush();
    });
  }

  #scheduleFlush(): void {
    if (this.#flushTimer !== undefined || this.#flushing || this.#staging > 0) return;
    // A macrotask first, so every write of the same tick lands in one save.
    this.#flushTimer = setTimeout(() => {
      this.#flushTimer = undefined;
      this.#flush();
    }, 0);
  }

  async #flush(): Promise<void> {
    const batch = this.#staged;
    const done = this.#waiters;
    this.#staged = new Map();
    this.#waiters = [];
    if (batch.size === 0) {
      for (const w of done) w.resolve();
      return;
    }
    this.#flushing = true;
    try {
      await this.#save(batch);
      for (const w of done) w.resolve();
      // Deferred like a watch event, so a writer is never re-entered from its own write.
      queueMicrotask(this.#onCommit);
    } catch (err) {
      // Nothing of the batch became visible; the writers see the error and retry.
      this.#log.error("could not persist service state", { services: batch.size, error: err });
      for (const w of done) w.reject(err);
    } finally {
      this.#flushing = false;
      if (this.#pending()) this.#scheduleFlush();
    }
  }

  /** Saves `batch` over the durable states, then makes the result visible. */
  async #save(batch: Map<string, SavedState | null>): Promise<void> {
    const next = this.#merged(batch);
    // `next` is never changed: it becomes the durable states, which are replaced, not changed.
    await this.#store.save({ ...this.#extra, version: 1, services: next }, { unchanged: true });
    // Readers see it only now that it is durable; the Services are laid over as read.
    this.#committed = next;
    this.#revision++;
    this.#log.debug("service state saved", {
      services: batch.size,
      generation: this.#store.generation(),
    });
  }

  /**
   * The durable states with `batch` applied, as a new map. With none durable yet (a first
   * start: the batch is every Service) the batch itself becomes it, its few removals taken
   * out: a copy would hold a second table of 100,000 entries (and the garbage of growing it)
   * beside the batch's while the state is saved. The batch is the flush's own, used by no
   * one else, and its order is what the copy's would be.
   */
  #merged(batch: Map<string, SavedState | null>): Map<string, SavedState> {
    if (this.#committed.size === 0) {
      for (const [key, state] of batch) if (state === null) batch.delete(key);
      return batch as Map<string, SavedState>;
    }
    const next = new Map(this.#committed);
    for (const [key, state] of batch) {
      if (state) next.set(key, state);
      else next.delete(key);
    }
    return next;
  }
}
