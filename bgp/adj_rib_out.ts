/**
 * Adj-RIB-Out: what one peer has been told. The caller states the full set of routes it
 * wants the peer to have; the difference against what was already sent becomes UPDATEs,
 * with every prefix sharing an attribute set packed into as few messages as 4096 bytes allow
 * (`update_packing.ts`).
 *
 * Memory is what bounds a speaker with 100,000s of Services and several peers, so a peer
 * costs one array slot per wanted route (the caller's Route objects, shared by every peer)
 * plus a Map entry only for prefixes whose state is changing.
 */
import type { Family } from "./fsm.ts";
import { formatPrefix, prefixKey } from "./prefix.ts";
import {
  comparePrefix,
  familyOfKey,
  findByKey,
  findByPrefix,
  lowerBound,
  prefixOfKey,
} from "./prefix_order.ts";
import {
  type AttributeEnv,
  buildPathAttributes,
  normalizeAttributes,
  type NormalizedAttributes,
  type Route,
  type RouteAttributes,
  validateAttributes,
} from "./route_attributes.ts";
import { type Replaced, replacement, type Retired, sentEnd, Was } from "./rib_bulk.ts";
import { ChunkedGroup, packChunks } from "./update_packing.ts";
import { AFI_IPV4, AFI_IPV6, type CodecContext, type Prefix, type UpdateMessage } from "./types.ts";

export {
  type AttributeEnv,
  buildPathAttributes,
  type Route,
  type RouteAttributes,
  validateAttributes,
} from "./route_attributes.ts";
export { type AnnounceGroup, endOfRib, packUpdates } from "./update_packing.ts";

/** A normalised attribute set, or why it cannot be encoded. */
type Normalized = (NormalizedAttributes & { bad?: undefined }) | { bad: string };

/** Whether a wanted prefix reached the peer; see {@linkcode AdjRibOut.routeState}. */
export type RouteState = "absent" | "pending" | "sent";

/**
 * Which announcements {@linkcode AdjRibOut.takeUpdates} may keep for later so that they go
 * out in full UPDATEs with what follows: `none`; `bulky`, the last, partly filled UPDATE of
 * an attribute set that fills more than one; `all`, every partly filled last UPDATE.
 */
export type HoldTails = "none" | "bulky" | "all";

/** Result of {@linkcode AdjRibOut.takeUpdates}. */
export interface TakenUpdates {
  updates: UpdateMessage[];
  announced: number;
  withdrawn: number;
  /** Announcements held back (still pending) by `holdTails`. */
  held: number;
  /** Some attribute set filled more than one UPDATE (a bulk change is under way). */
  bulk: boolean;
  /** `limit` cut the batch: call again for the rest. */
  more: boolean;
}

/**
 * Announcements of one batch that share an attribute set, with their prefix keys (undefined
 * for prefixes of the unsent part of the table, which have no entry in the diff; a
 * {@linkcode Was} for those of a replaced table, which have none either).
 */
interface Pending {
  group: ChunkedGroup;
  keys: (string | undefined | Was)[];
}

/** What a walk of a batch announces with: the session's context, the limit, the count so far. */
interface Walk {
  env: AttributeEnv;
  ctx: CodecContext;
  families: Family[];
  limit?: number;
  taken: number;
}

/** Before every prefix: "the peer has none of the table". */
const FIRST: Prefix = { afi: 0 as 1, addr: 0, length: 0 };
/** Diff entries a merge looks through before it lets a new tail join the unsent part. */
const TAIL_DIFF_SCAN = 4096;
/** The first IPv6 prefix (::/0): where the IPv4 part of a table ends. */
const FIRST_V6: Prefix = { afi: AFI_IPV6, addr: "0".repeat(32), length: 0 };

type Rejected = { prefix: string; reason: string }[];

/**
 * One peer's Adj-RIB-Out: wanted routes vs. routes the peer has. Built for a caller that
 * restates its full table on every change: attribute objects are normalised once per object
 * (cached by identity), Route objects are kept as given, and a table ordered by prefix is
 * diffed against the last one by Route identity, so treat Routes, their prefixes and
 * attributes as immutable once passed. Only prefixes whose wanted state changed are looked at
 * when computing UPDATEs.
 */
export class AdjRibOut {
  /** The wanted routes, as given: strictly ordered by prefix, one per prefix, all valid. */
  #table: readonly Route[] = [];
  /**
   * Prefix key to the attribute key the peer has (null: nothing), for prefixes whose wanted
   * state may differ from that. Any other prefix of the table the peer has exactly as
   * wanted, unless it lies in the unsent part.
   */
  #diff = new Map<string, string | null>();
  /**
   * Table routes from this prefix on were never sent (after a reset, the whole table): they
   * go out by walking the table, so a full announcement needs no diff entry per prefix.
   * Such prefixes never have a diff entry. Undefined: no unsent part.
   */
  #unsentFrom: Prefix | undefined = FIRST;
  #sentCount = 0;
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
  #retired: Retired | undefined;
  /**
   * The last table, when one of the same prefixes replaced it with many attribute sets
   * changed while the diff was empty (see rib_bulk.ts): walked for the changed routes.
   */
  #replaced: Replaced | undefined;
  readonly #keyOf = (r: Route): string => this.#good(r).key;
  /** Where the last {@linkcode routeState} found its key. */
  #hint = -1;
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
    if (this.#retired !== undefined) this.#unretire();
    if (this.#replaced !== undefined) this.#unreplace();
    if (this.#diff.size === 0 && this.#replace(routes, options)) return [];
    const rejected: Rejected = [];
    this.#tail = undefined;
    if (this.#merge(routes, rejected)) {
      this.#takeTail();
      // The caller's array when handed over (peers then share one table), else one copy
      // (the caller may reuse it), without the refused routes.
      if (rejected.length > 0) {
        this.#table = routes.filter((r) => this.#normalized(r.attributes).bad === undefined);
      } else this.#table = options.owned ? routes : routes.slice();
      return rejected;
    }
    rejected.length = 0;
    const sorted = this.#sorted(routes, rejected);
    this.#tail = undefined;
    this.#merge(sorted, []);
    this.#takeTail();
    this.#table = sorted;
    return rejected;
  }

  /**
   * Walks the new table beside the current one, noting what changed: identical Route objects
   * cost a comparison, the rest is merged by prefix order. False when `routes` turns out not
   * to be strictly ordered (notes so far are harmless).
   */
  #merge(routes: readonly Route[], rejected: Rejected): boolean {
    const old = this.#table;
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
    if (this.#table.length === 0) return this.#retired !== undefined;
    if (this.#diff.size > 0 || this.#replaced !== undefined) return false;
    const table = this.#table;
    const end = sentEnd(table, this.#unsentFrom);
    this.#table = [];
    this.#tail = undefined;
    if (end > 0) this.#retired = { routes: table, at: 0, end };
    return true;
  }

  /** Before a table is wanted again: what the peer has of the retired one as diff entries. */
  #unretire(): void {
    const r = this.#retired!;
    this.#retired = undefined;
    for (let i = r.at; i < r.end; i++) {
      const route = r.routes[i];
      this.#diff.set(prefixKey(route.prefix), this.#good(route).key);
    }
  }

  /** Keeps `routes` as a replacement of the table when rib_bulk.ts says so (see #replaced). */
  #replace(routes: readonly Route[], options: { owned?: boolean }): boolean {
    const old = this.#table;
    const x = replacement(old, routes, {
      end: sentEnd(old, this.#unsentFrom),
      min: this.#bulkMin,
      keyOf: (r) => {
        const n = this.#normalized(r.attributes);
        return n.bad === undefined ? n.key : undefined;
      },
    });
    if (x === undefined) return false;
    this.#table = options.owned ? routes : routes.slice();
    this.#replaced = x;
    this.#tail = undefined;
    return true;
  }

  /** Before another table is wanted: what the peer has of the replaced one as diff entries. */
  #unreplace(): void {
    const x = this.#replaced!;
    this.#replaced = undefined;
    for (let i = x.at; i < x.end; i++) {
      const was = x.owed(this.#table, i, this.#keyOf);
      if (was !== undefined) this.#diff.set(prefixKey(this.#table[i].prefix), was);
    }
  }

  /** Makes the new tail a merge found the unsent part. */
  #takeTail(): void {
    if (this.#tail !== undefined) this.#unsentFrom = this.#tail;
    this.#tail = undefined;
  }

  /**
   * Whether routes from `prefix` on, all new past the old table's end, can join the unsent
   * part: there is none yet, and no diff entry lies at or after it (a withdrawal still owed
   * there must go out through the diff). Small diffs only: a scan must stay cheap.
   */
  #tailIsUnsent(prefix: Prefix): boolean {
    if (this.#unsentFrom !== undefined || this.#diff.size > TAIL_DIFF_SCAN) return false;
    for (const k of this.#diff.keys()) {
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
    if (before === undefined || this.#good(before).key !== n.key) this.#note(r.prefix, before);
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
    if (this.#unsent(prefix)) return;
    const k = prefixKey(prefix);
    if (this.#diff.has(k)) return;
    this.#diff.set(k, before === undefined ? null : this.#good(before).key);
  }

  #unsent(prefix: Prefix): boolean {
    if (this.#tail !== undefined && comparePrefix(prefix, this.#tail) >= 0) return true;
    return this.#unsentFrom !== undefined && comparePrefix(prefix, this.#unsentFrom) >= 0;
  }

  /** The normalised attributes of a route already accepted into the table. */
  #good(r: Route): NormalizedAttributes {
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
    this.#diff = new Map();
    this.#retired = undefined;
    this.#replaced = undefined;
    this.#sentCount = 0;
    this.#unsentFrom = FIRST;
  }

  /**
   * Where prefix `k`, or the prefix of key `k` ({@linkcode prefixKey}), stands: `absent` when
   * not wanted, `sent` when the peer has it with the attributes wanted now, else `pending`.
   */
  routeState(k: string | Prefix): RouteState {
    // Status is asked Service by Service, mostly in table order: try the next slot first.
    const hint = { hint: this.#hint + 1 };
    const i = typeof k === "string"
      ? findByKey(this.#table, k, hint)
      : findByPrefix(this.#table, k, hint);
    if (i < 0) return "absent";
    this.#hint = i;
    const r = this.#table[i];
    // A caller holding the prefix has no key: one is made only while some prefix changes.
    const s = this.#diff.size === 0
      ? undefined
      : this.#diff.get(typeof k === "string" ? k : prefixKey(k));
    if (s === undefined) {
      if (this.#replaced?.owed(this.#table, i, this.#keyOf) !== undefined) return "pending";
      return this.#unsent(r.prefix) ? "pending" : "sent";
    }
    return s === this.#good(r).key ? "sent" : "pending";
  }

  /** Prefixes the session should advertise, sent or not (MetalLB's pending_prefixes). */
  get wantedCount(): number {
    return this.#table.length;
  }

  /** Prefixes the peer has from us. */
  get sentCount(): number {
    return this.#sentCount;
  }

  /** Prefixes still to announce, change or withdraw in `families`. */
  pendingCount(families: Family[] = ["ipv4", "ipv6"]): number {
    let n = 0;
    if (this.#unsentFrom !== undefined) {
      // The table is ordered by family first: two binary searches count each family's part.
      const table = this.#table;
      const from = lowerBound(table, this.#unsentFrom);
      const split = lowerBound(table, FIRST_V6);
      if (families.includes("ipv4")) n += Math.max(0, split - from);
      if (families.includes("ipv6")) n += table.length - Math.max(from, split);
    }
    // Withdrawals, like those of the diff, are owed whatever the families.
    if (this.#retired !== undefined) n += this.#retired.end - this.#retired.at;
    if (this.#replaced !== undefined) {
      n += this.#replaced.pendingIn(families.includes("ipv4"), families.includes("ipv6"));
    }
    // Elsewhere outside `#diff` the peer has exactly what is wanted: only those keys need a
    // look, so polling the count stays cheap with 100,000s of routes.
    for (const [k, s] of this.#diff) {
      const i = findByKey(this.#table, k);
      if (i < 0) {
        if (s !== null) n++;
      } else if (families.includes(familyOfKey(k)) && s !== this.#good(this.#table[i]).key) n++;
    }
    return n;
  }

  /**
   * Computes the UPDATEs that bring the peer from what it has to what is wanted, for
   * `families` only, and records them as sent.
   */
  takeUpdates(
    env: AttributeEnv,
    options: { ctx: CodecContext; families: Family[]; holdTails?: HoldTails; limit?: number },
  ): TakenUpdates {
    const withdrawn: Prefix[] = [];
    const groups = [new Map<string, Pending>(), new Map<string, Pending>()];
    const want = { env, ctx: options.ctx, families: options.families, limit: options.limit };
    const more = this.#collect(want, { withdrawn, groups });
    const hold = more ? "bulky" : options.holdTails ?? "none";
    let announced = 0;
    let held = 0;
    let bulk = false;
    const out: ChunkedGroup[] = [];
    for (const byKey of groups) {
      for (const p of byKey.values()) {
        // A batch cut by `limit`: the partial tail of a set that filled whole UPDATEs goes
        // with the next batch, so UPDATEs stay full. Sets smaller than one UPDATE go now:
        // holding them could stall a table of many small sets.
        const several = p.group.chunks.length > 1;
        bulk ||= several;
        const hit = hold === "all" || (hold === "bulky" && several);
        const count = hit ? p.group.lastRun().length : 0;
        const keep = p.keys.length - count;
        this.#markSent(p, keep);
        if (count > 0) p.group.dropLastRun();
        announced += keep;
        if (!more) held += count;
        out.push(p.group);
      }
    }
    const updates = packChunks(withdrawn, out, { nextHopV6: env.nextHopV6 });
    return { updates, announced, withdrawn: withdrawn.length, held, bulk, more };
  }

  /**
   * Goes through the changing prefixes: withdrawals are recorded as done at once, the
   * announcements gathered by family and attribute set. True when `limit` cut it short.
   */
  #collect(
    want: { env: AttributeEnv; ctx: CodecContext; families: Family[]; limit?: number },
    into: { withdrawn: Prefix[]; groups: Map<string, Pending>[] },
  ): boolean {
    const v4 = want.families.includes("ipv4");
    const v6 = want.families.includes("ipv6");
    const limit = want.limit ?? Infinity;
    let taken = 0;
    for (const [k, s] of this.#diff) {
      if (taken >= limit) return true;
      const i = findByKey(this.#table, k);
      if (i < 0) {
        if (s !== null) {
          into.withdrawn.push(prefixOfKey(k));
          this.#sentCount--;
          taken++;
        }
        this.#diff.delete(k);
        continue;
      }
      const r = this.#table[i];
      // Families the peer did not negotiate stay pending.
      if (!(r.prefix.afi === AFI_IPV4 ? v4 : v6)) continue;
      if (s === this.#good(r).key) {
        this.#diff.delete(k);
        continue;
      }
      this.#group(r, { ...want, groups: into.groups }).keys.push(k);
      taken++;
    }
    taken = this.#withdrawRetired(into.withdrawn, { taken, limit });
    if (this.#retired !== undefined) return true;
    taken = this.#walkReplaced({ ...want, taken }, into.groups);
    if (this.#replaced !== undefined) return true;
    return this.#walkUnsent({ ...want, taken }, into.groups);
  }

  /**
   * Withdraws the retired table's routes in order, with their own Prefix objects, up to the
   * limit; returns the count taken so far. The retired table is gone once walked.
   */
  #withdrawRetired(withdrawn: Prefix[], at: { taken: number; limit: number }): number {
    const r = this.#retired;
    if (r === undefined) return at.taken;
    let taken = at.taken;
    let i = r.at;
    for (; i < r.end && taken < at.limit; i++, taken++) withdrawn.push(r.routes[i].prefix);
    this.#sentCount -= i - r.at;
    r.at = i;
    if (i >= r.end) this.#retired = undefined;
    return taken;
  }

  /** The group of `r`'s family and attribute set, with `r`'s prefix added. */
  #group(
    r: Route,
    at: { env: AttributeEnv; ctx: CodecContext; groups: Map<string, Pending>[] },
  ): Pending {
    const afi = r.prefix.afi;
    const n = this.#good(r);
    const byKey = at.groups[afi - 1];
    let p = byKey.get(n.key);
    if (p === undefined) {
      const attributes = buildPathAttributes(n.attrs, afi, at.env);
      p = { group: new ChunkedGroup({ afi, attributes, ctx: at.ctx }), keys: [] };
      byKey.set(n.key, p);
    }
    p.group.add(r.prefix);
    return p;
  }

  /**
   * Announces the changed routes of a replaced table in order, up to the limit left; those
   * of families not negotiated move to the diff, still pending. Returns the count taken.
   */
  #walkReplaced(
    want: Walk,
    groups: Map<string, Pending>[],
  ): number {
    const x = this.#replaced;
    if (x === undefined) return want.taken;
    const limit = want.limit ?? Infinity;
    const v4 = want.families.includes("ipv4");
    const v6 = want.families.includes("ipv6");
    const table = this.#table;
    const was = new Map<string, Was>();
    let taken = want.taken;
    let i = x.at;
    for (; i < x.end && taken < limit; i++) {
      const key = x.owed(table, i, this.#keyOf);
      if (key === undefined) continue;
      const r = table[i];
      x.settle(r);
      if (!(r.prefix.afi === AFI_IPV4 ? v4 : v6)) {
        this.#diff.set(prefixKey(r.prefix), key);
        continue;
      }
      let w = was.get(key);
      if (w === undefined) was.set(key, w = new Was(key));
      this.#group(r, { ...want, groups }).keys.push(w);
      taken++;
    }
    x.at = i;
    if (i >= x.end) this.#replaced = undefined;
    return taken;
  }

  /**
   * Announces the unsent part of the table in order, up to the limit left; prefixes of
   * families not negotiated move to the diff, still pending. True when the limit cut it.
   */
  #walkUnsent(
    want: Walk,
    groups: Map<string, Pending>[],
  ): boolean {
    if (this.#unsentFrom === undefined) return false;
    const table = this.#table;
    const limit = want.limit ?? Infinity;
    let taken = want.taken;
    let i = lowerBound(table, this.#unsentFrom);
    for (; i < table.length && taken < limit; i++) {
      const r = table[i];
      if (!want.families.includes(r.prefix.afi === AFI_IPV4 ? "ipv4" : "ipv6")) {
        this.#diff.set(prefixKey(r.prefix), null);
        continue;
      }
      this.#group(r, { ...want, groups }).keys.push(undefined);
      taken++;
    }
    this.#unsentFrom = i < table.length ? table[i].prefix : undefined;
    return i < table.length;
  }

  /**
   * The first `keep` prefixes of `p` went out: the peer now has them as wanted. The rest,
   * held back, stay pending; those from the unsent part get a diff entry saying so.
   */
  #markSent(p: Pending, keep: number): void {
    const { keys } = p;
    const held = p.group.lastRun();
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (k instanceof Was) {
        // The peer had the prefix (with `k.key`): what it has is counted already.
        if (i >= keep) this.#diff.set(prefixKey(held[i - keep]), k.key);
        continue;
      }
      if (i >= keep) {
        if (k === undefined) this.#diff.set(prefixKey(held[i - keep]), null);
        continue;
      }
      if (k === undefined || this.#diff.get(k) === null) this.#sentCount++;
      if (k !== undefined) this.#diff.delete(k);
    }
  }
}
