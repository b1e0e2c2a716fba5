/**
 * The wanted side of an Adj-RIB-Out (adj_rib_out.ts): the table a caller states, merged
 * against the last one into what may differ from what the peer has. A prefix gets a diff
 * entry only while its state changes; a table that grows past its end, one emptied at once
 * and one restated with many new attribute sets are kept whole instead (the unsent part,
 * `retired`, `replaced`), so 100,000s of routes cost no entry each. The sending side, which
 * turns that state into UPDATEs, is the subclass {@linkcode AdjRibOut}.
 */
import { formatPrefix, prefixKey } from "./prefix.ts";
import { comparePrefix, prefixOfKey } from "./prefix_order.ts";
import {
  normalizeAttributes,
  type NormalizedAttributes,
  type Route,
  type RouteAttributes,
  validateAttributes,
} from "./route_attributes.ts";
import { type Replaced, replacement, type Retired, sentEnd } from "./rib_bulk.ts";
import type { Prefix } from "./types.ts";

/** A normalised attribute set, or why it cannot be encoded. */
type Normalized = (NormalizedAttributes & { bad?: undefined }) | { bad: string };

/** Routes a table left out, with the reason. */
export type Rejected = { prefix: string; reason: string }[];

/** Before every prefix: "the peer has none of the table". */
export const FIRST: Prefix = { afi: 0 as 1, addr: 0, length: 0 };
/** Diff entries a merge looks through before it lets a new tail join the unsent part. */
const TAIL_DIFF_SCAN = 4096;

/**
 * What one peer is wanted to have against what it has, as far as the wanted side keeps it.
 * Attribute objects are normalised once per object (cached by identity), Route objects are
 * kept as given, and a table ordered by prefix is diffed against the last one by Route
 * identity, so treat Routes, their prefixes and attributes as immutable once passed.
 */
export class RibWanted {
  /** The wanted routes, as given: strictly ordered by prefix, one per prefix, all valid. */
  protected table: readonly Route[] = [];
  /**
   * Prefix key to the attribute key the peer has (null: nothing), for prefixes whose wanted
   * state may differ from that. Any other prefix of the table the peer has exactly as
   * wanted, unless it lies in the unsent part.
   */
  protected diff = new Map<string, string | null>();
  /**
   * Table routes from this prefix on were never sent (after a reset, the whole table): they
   * go out by walking the table, so a full announcement needs no diff entry per prefix.
   * Such prefixes never have a diff entry. Undefined: no unsent part.
   */
  protected unsentFrom: Prefix | undefined = FIRST;
  /** Prefixes the peer has from us. */
  protected sent = 0;
  /**
   * Set by a merge: the first new route past the end of the old table, when the peer has
   * nothing from there on, so that tail becomes the unsent part instead of one diff entry
   * per prefix (a start that grows the table batch by batch appends 100,000s of prefixes).
   */
  #tail: Prefix | undefined;
  /**
   * The last table, when the wanted set became empty while the diff was: its routes go out
   * as withdrawals by walking it, as the unsent part goes out, so a stop that withdraws
   * 100,000s of prefixes from several peers makes no diff entry (key string, Map slot) and
   * no new Prefix per prefix. The diff stays empty while it is set.
   */
  protected retired: Retired | undefined;
  /**
   * The last table, when one of the same prefixes replaced it with many attribute sets
   * changed while the diff was empty (see rib_bulk.ts): walked for the changed routes.
   */
  protected replaced: Replaced | undefined;
  /** The attribute key of a route accepted into the table. */
  protected readonly keyOf = (r: Route): string => this.good(r).key;
  #norm = new WeakMap<RouteAttributes, Normalized>();
  readonly #bulkMin: number | undefined;

  /**
   * `bulkMinChanged`: fewest changed routes for which a table of the same prefixes is kept
   * whole instead of diffed (default rib_bulk.ts `BULK_MIN_CHANGED`; tests set it low).
   */
  constructor(options: { bulkMinChanged?: number } = {}) {
    this.#bulkMin = options.bulkMinChanged;
  }

  /**
   * Replaces the wanted set (the full table; later routes for one prefix win). Routes whose
   * attributes cannot be encoded are left out and returned with the reason. With `owned`
   * (the caller never changes the list again) a list in prefix order is kept, not copied.
   */
  setWanted(routes: readonly Route[], options: { owned?: boolean } = {}): Rejected {
    if (routes.length === 0 && this.#retire()) return [];
    if (this.retired !== undefined) this.#unretire();
    if (this.replaced !== undefined) this.#unreplace();
    if (this.diff.size === 0 && this.#replace(routes, options)) return [];
    const rejected: Rejected = [];
    this.#tail = undefined;
    if (this.#merge(routes, rejected)) {
      this.#takeTail();
      // The caller's array when handed over (peers then share one table), else one copy
      // (the caller may reuse it), without the refused routes.
      if (rejected.length > 0) {
        this.table = routes.filter((r) => this.#normalized(r.attributes).bad === undefined);
      } else this.table = options.owned ? routes : routes.slice();
      return rejected;
    }
    rejected.length = 0;
    const sorted = this.#sorted(routes, rejected);
    this.#tail = undefined;
    this.#merge(sorted, []);
    this.#takeTail();
    this.table = sorted;
    return rejected;
  }

  /**
   * Walks the new table beside the current one, noting what changed: identical Route objects
   * cost a comparison, the rest is merged by prefix order. False when `routes` turns out not
   * to be strictly ordered (notes so far are harmless).
   */
  #merge(routes: readonly Route[], rejected: Rejected): boolean {
    const old = this.table;
    const n = routes.length;
    const m = old.length;
    let i = 0;
    let j = 0;
    let matched = true;
    while (i < n || j < m) {
      const r = routes[i];
      if (i < n && j < m && r === old[j]) {
        // A run of identical routes is ordered because the old table is.
        if (!matched && i > 0 && comparePrefix(routes[i - 1].prefix, r.prefix) >= 0) return false;
        matched = true;
        i++;
        j++;
        continue;
      }
      if (i < n && i > 0 && comparePrefix(routes[i - 1].prefix, r.prefix) >= 0) return false;
      const c = i >= n ? 1 : j >= m ? -1 : comparePrefix(r.prefix, old[j].prefix);
      if (c > 0) {
        this.#note(old[j].prefix, old[j]);
        j++;
        continue;
      }
      matched = false;
      i++;
      if (j >= m && this.#tail === undefined && this.#tailIsUnsent(r.prefix)) this.#tail = r.prefix;
      this.#take(r, { before: c === 0 ? old[j++] : undefined, rejected });
    }
    return true;
  }

  /**
   * Empties the table by setting it aside whole (see {@linkcode #retired}). False when that
   * cannot be done (the diff holds entries: what the peer has is then per prefix), and the
   * table is emptied by a merge instead.
   */
  #retire(): boolean {
    if (this.table.length === 0) return this.retired !== undefined;
    if (this.diff.size > 0 || this.replaced !== undefined) return false;
    const table = this.table;
    const end = sentEnd(table, this.unsentFrom);
    this.table = [];
    this.#tail = undefined;
    if (end > 0) this.retired = { routes: table, at: 0, end };
    return true;
  }

  /** Before a table is wanted again: what the peer has of the retired one as diff entries. */
  #unretire(): void {
    const r = this.retired!;
    this.retired = undefined;
    for (let i = r.at; i < r.end; i++) {
      const route = r.routes[i];
      this.diff.set(prefixKey(route.prefix), this.good(route).key);
    }
  }

  /** Keeps `routes` as a replacement of the table when rib_bulk.ts says so (see #replaced). */
  #replace(routes: readonly Route[], options: { owned?: boolean }): boolean {
    const old = this.table;
    const x = replacement(old, routes, {
      end: sentEnd(old, this.unsentFrom),
      min: this.#bulkMin,
      keyOf: (r) => {
        const n = this.#normalized(r.attributes);
        return n.bad === undefined ? n.key : undefined;
      },
    });
    if (x === undefined) return false;
    this.table = options.owned ? routes : routes.slice();
    this.replaced = x;
    this.#tail = undefined;
    return true;
  }

  /** Before another table is wanted: what the peer has of the replaced one as diff entries. */
  #unreplace(): void {
    const x = this.replaced!;
    this.replaced = undefined;
    for (let i = x.at; i < x.end; i++) {
      const was = x.owed(this.table, i, this.keyOf);
      if (was !== undefined) this.diff.set(prefixKey(this.table[i].prefix), was);
    }
  }

  /** Makes the new tail a merge found the unsent part. */
  #takeTail(): void {
    if (this.#tail !== undefined) this.unsentFrom = this.#tail;
    this.#tail = undefined;
  }

  /**
   * Whether routes from `prefix` on, all new past the old table's end, can join the unsent
   * part: there is none yet, and no diff entry lies at or after it (a withdrawal still owed
   * there must go out through the diff). Small diffs only: a scan must stay cheap.
   */
  #tailIsUnsent(prefix: Prefix): boolean {
    if (this.unsentFrom !== undefined || this.diff.size > TAIL_DIFF_SCAN) return false;
    for (const k of this.diff.keys()) {
      if (comparePrefix(prefixOfKey(k), prefix) >= 0) return false;
    }
    return true;
  }

  /** One route of a merge that is not the old table's object for its prefix. */
  #take(r: Route, at: { before: Route | undefined; rejected: Rejected }): void {
    const n = this.#normalized(r.attributes);
    const before = at.before;
    if (n.bad !== undefined) {
      // A refused route drops whatever was wanted for its prefix.
      at.rejected.push({ prefix: formatPrefix(r.prefix), reason: `invalid ${n.bad}` });
      if (before !== undefined) this.#note(before.prefix, before);
      return;
    }
    if (before === undefined || this.good(before).key !== n.key) this.#note(r.prefix, before);
  }

  /** The valid routes sorted by prefix, the last of each prefix kept. */
  #sorted(routes: readonly Route[], rejected: Rejected): Route[] {
    const valid: Route[] = [];
    for (const r of routes) {
      const n = this.#normalized(r.attributes);
      if (n.bad === undefined) valid.push(r);
      else rejected.push({ prefix: formatPrefix(r.prefix), reason: `invalid ${n.bad}` });
    }
    // Array sort is stable: among equal prefixes the later route stays later.
    valid.sort((a, b) => comparePrefix(a.prefix, b.prefix));
    const out: Route[] = [];
    for (const r of valid) {
      const last = out.length - 1;
      if (last >= 0 && comparePrefix(out[last].prefix, r.prefix) === 0) out[last] = r;
      else out.push(r);
    }
    return out;
  }

  /** Before the wanted route of `prefix` changes from `before`: remember what the peer has. */
  #note(prefix: Prefix, before: Route | undefined): void {
    // In the unsent part the peer has nothing, before and after.
    if (this.unsent(prefix)) return;
    const k = prefixKey(prefix);
    if (this.diff.has(k)) return;
    this.diff.set(k, before === undefined ? null : this.good(before).key);
  }

  /** Whether `prefix` lies in the unsent part (or the tail a merge is making it). */
  protected unsent(prefix: Prefix): boolean {
    if (this.#tail !== undefined && comparePrefix(prefix, this.#tail) >= 0) return true;
    return this.unsentFrom !== undefined && comparePrefix(prefix, this.unsentFrom) >= 0;
  }

  /** The normalised attributes of a route already accepted into the table. */
  protected good(r: Route): NormalizedAttributes {
    return this.#normalized(r.attributes) as NormalizedAttributes;
  }

  #normalized(ra: RouteAttributes): Normalized {
    let n = this.#norm.get(ra);
    if (n === undefined) {
      const bad = validateAttributes(ra);
      n = bad === undefined ? normalizeAttributes(ra) : { bad };
      this.#norm.set(ra, n);
    }
    return n;
  }

  /** Forgets what the peer has (session dropped, or route refresh: send everything again). */
  reset(): void {
    this.diff = new Map();
    this.retired = undefined;
    this.replaced = undefined;
    this.sent = 0;
    this.unsentFrom = FIRST;
  }
}
