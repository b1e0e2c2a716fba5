/**
 * Values shared by many slots (one slot per Service, times 100,000s), each slot holding a
 * small id of its value in a typed array instead of a reference: two bytes a slot while
 * there are fewer than 65,536 values (nearly always), four beyond. When the table reaches
 * its limit, the values no slot uses are dropped and the rest numbered again, so values
 * that came and went (peers, nodes) do not pile up.
 */

/** Options of {@linkcode SlotIds}. */
export interface SlotIdsOptions<T, K> {
  /** The key a value is found again by (undefined: never shared, a new id each time). */
  keyOf: (value: T) => K | undefined;
  /** The table is compacted when it grows to this many values (at least). */
  limit: number;
  /** Slots to make room for at first. */
  slots: number;
}

/** Per-slot ids of interned values; id 0 is `none`, the value of a free slot. */
export class SlotIds<T, K> {
  readonly #keyOf: (value: T) => K | undefined;
  readonly #minLimit: number;
  #limit: number;
  #ids: Uint16Array | Uint32Array;
  #values: T[];
  readonly #index = new Map<K, number>();

  constructor(none: T, options: SlotIdsOptions<T, K>) {
    this.#keyOf = options.keyOf;
    this.#limit = this.#minLimit = options.limit;
    this.#ids = new Uint16Array(options.slots);
    this.#values = [none];
    const key = this.#keyOf(none);
    if (key !== undefined) this.#index.set(key, 0);
  }

  /** Slots there is room for. */
  get room(): number {
    return this.#ids.length;
  }

  /** The value of `slot` (`none` for a free one). */
  valueAt(slot: number): T {
    return this.#values[this.#ids[slot]];
  }

  /** Whether `slot` holds `none`. */
  isFree(slot: number): boolean {
    return this.#ids[slot] === 0;
  }

  /** Sets the value of `slot`; `used` slots (0..used-1) are walked if the table compacts. */
  set(slot: number, value: T, used: number): void {
    // The id first: making one may number every slot's again (this one's old id is kept).
    const id = this.#idOf(value, used);
    this.#ids[slot] = id;
  }

  /** Makes `slot` free. */
  clear(slot: number): void {
    this.#ids[slot] = 0;
  }

  /** Room for `size` slots (the ids kept). */
  grow(size: number): void {
    const old = this.#ids;
    if (size <= old.length) return;
    const ids = old instanceof Uint16Array ? new Uint16Array(size) : new Uint32Array(size);
    ids.set(old);
    this.#ids = ids;
  }

  #idOf(value: T, used: number): number {
    const key = this.#keyOf(value);
    const hit = key === undefined ? undefined : this.#index.get(key);
    if (hit !== undefined) return hit;
    if (this.#values.length >= this.#limit) this.#compact(used);
    const id = this.#values.length;
    if (id > 0xffff && this.#ids instanceof Uint16Array) this.#ids = Uint32Array.from(this.#ids);
    this.#values.push(value);
    if (key !== undefined) this.#index.set(key, id);
    return id;
  }

  /** Keeps only the values some slot of `0..used-1` holds, numbered again. */
  #compact(used: number): void {
    const kept = [this.#values[0]];
    const renumbered = new Uint32Array(this.#values.length);
    const ids = this.#ids;
    for (let slot = 0; slot < used; slot++) {
      const id = ids[slot];
      if (id === 0) continue;
      if (renumbered[id] === 0) {
        renumbered[id] = kept.length;
        kept.push(this.#values[id]);
      }
      ids[slot] = renumbered[id];
    }
    this.#values = kept;
    // As many values in use as that (hardly ever): compacting again soon would free none.
    this.#limit = Math.max(this.#minLimit, 2 * kept.length);
    this.#index.clear();
    kept.forEach((v, id) => {
      const key = this.#keyOf(v);
      if (key !== undefined) this.#index.set(key, id);
    });
  }
}
