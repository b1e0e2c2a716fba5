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
import { prefixKey } from "./prefix.ts";
import { familyOfKey, findByKey, findByPrefix, lowerBound, prefixOfKey } from "./prefix_order.ts";
import { type AttributeEnv, buildPathAttributes, type Route } from "./route_attributes.ts";
import { Was } from "./rib_bulk.ts";
import { RibWanted } from "./rib_wanted.ts";
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

/** The first IPv6 prefix (::/0): where the IPv4 part of a table ends. */
const FIRST_V6: Prefix = { afi: AFI_IPV6, addr: "0".repeat(32), length: 0 };

/**
 * One peer's Adj-RIB-Out: wanted routes vs. routes the peer has. Built for a caller that
 * restates its full table on every change: attribute objects are normalised once per object
 * (cached by identity), Route objects are kept as given, and a table ordered by prefix is
 * diffed against the last one by Route identity, so treat Routes, their prefixes and
 * attributes as immutable once passed. Only prefixes whose wanted state changed are looked at
 * when computing UPDATEs. The wanted side (the table, the merge into a diff) is
 * {@linkcode RibWanted}; this is the sending side: UPDATEs, counts and each route's state.
 */
export class AdjRibOut extends RibWanted {
  /** Where the last {@linkcode routeState} found its key. */
  #hint = -1;

  /**
   * Where prefix `k`, or the prefix of key `k` ({@linkcode prefixKey}), stands: `absent` when
   * not wanted, `sent` when the peer has it with the attributes wanted now, else `pending`.
   */
  routeState(k: string | Prefix): RouteState {
    // Status is asked Service by Service, mostly in table order: try the next slot first.
    const hint = { hint: this.#hint + 1 };
    const i = typeof k === "string"
      ? findByKey(this.table, k, hint)
      : findByPrefix(this.table, k, hint);
    if (i < 0) return "absent";
    this.#hint = i;
    const r = this.table[i];
    // A caller holding the prefix has no key: one is made only while some prefix changes.
    const s = this.diff.size === 0
      ? undefined
      : this.diff.get(typeof k === "string" ? k : prefixKey(k));
    if (s === undefined) {
      if (this.replaced?.owed(this.table, i, this.keyOf) !== undefined) return "pending";
      return this.unsent(r.prefix) ? "pending" : "sent";
    }
    return s === this.good(r).key ? "sent" : "pending";
  }

  /** Prefixes the session should advertise, sent or not (MetalLB's pending_prefixes). */
  get wantedCount(): number {
    return this.table.length;
  }

  /** Prefixes the peer has from us. */
  get sentCount(): number {
    return this.sent;
  }

  /** Prefixes still to announce, change or withdraw in `families`. */
  pendingCount(families: Family[] = ["ipv4", "ipv6"]): number {
    let n = 0;
    if (this.unsentFrom !== undefined) {
      // The table is ordered by family first: two binary searches count each family's part.
      const table = this.table;
      const from = lowerBound(table, this.unsentFrom);
      const split = lowerBound(table, FIRST_V6);
      if (families.includes("ipv4")) n += Math.max(0, split - from);
      if (families.includes("ipv6")) n += table.length - Math.max(from, split);
    }
    // Withdrawals, like those of the diff, are owed whatever the families.
    if (this.retired !== undefined) n += this.retired.end - this.retired.at;
    if (this.replaced !== undefined) {
      n += this.replaced.pendingIn(families.includes("ipv4"), families.includes("ipv6"));
    }
    // Elsewhere outside `#diff` the peer has exactly what is wanted: only those keys need a
    // look, so polling the count stays cheap with 100,000s of routes.
    for (const [k, s] of this.diff) {
      const i = findByKey(this.table, k);
      if (i < 0) {
        if (s !== null) n++;
      } else if (families.includes(familyOfKey(k)) && s !== this.good(this.table[i]).key) n++;
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
    for (const [k, s] of this.diff) {
      if (taken >= limit) return true;
      const i = findByKey(this.table, k);
      if (i < 0) {
        if (s !== null) {
          into.withdrawn.push(prefixOfKey(k));
          this.sent--;
          taken++;
        }
        this.diff.delete(k);
        continue;
      }
      const r = this.table[i];
      // Families the peer did not negotiate stay pending.
      if (!(r.prefix.afi === AFI_IPV4 ? v4 : v6)) continue;
      if (s === this.good(r).key) {
        this.diff.delete(k);
        continue;
      }
      this.#group(r, { ...want, groups: into.groups }).keys.push(k);
      taken++;
    }
    taken = this.#withdrawRetired(into.withdrawn, { taken, limit });
    if (this.retired !== undefined) return true;
    taken = this.#walkReplaced({ ...want, taken }, into.groups);
    if (this.replaced !== undefined) return true;
    return this.#walkUnsent({ ...want, taken }, into.groups);
  }

  /**
   * Withdraws the retired table's routes in order, with their own Prefix objects, up to the
   * limit; returns the count taken so far. The retired table is gone once walked.
   */
  #withdrawRetired(withdrawn: Prefix[], at: { taken: number; limit: number }): number {
    const r = this.retired;
    if (r === undefined) return at.taken;
    let taken = at.taken;
    let i = r.at;
    for (; i < r.end && taken < at.limit; i++, taken++) withdrawn.push(r.routes[i].prefix);
    this.sent -= i - r.at;
    r.at = i;
    if (i >= r.end) this.retired = undefined;
    return taken;
  }

  /** The group of `r`'s family and attribute set, with `r`'s prefix added. */
  #group(
    r: Route,
    at: { env: AttributeEnv; ctx: CodecContext; groups: Map<string, Pending>[] },
  ): Pending {
    const afi = r.prefix.afi;
    const n = this.good(r);
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
    const x = this.replaced;
    if (x === undefined) return want.taken;
    const limit = want.limit ?? Infinity;
    const v4 = want.families.includes("ipv4");
    const v6 = want.families.includes("ipv6");
    const table = this.table;
    const was = new Map<string, Was>();
    let taken = want.taken;
    let i = x.at;
    for (; i < x.end && taken < limit; i++) {
      const key = x.owed(table, i, this.keyOf);
      if (key === undefined) continue;
      const r = table[i];
      x.settle(r);
      if (!(r.prefix.afi === AFI_IPV4 ? v4 : v6)) {
        this.diff.set(prefixKey(r.prefix), key);
        continue;
      }
      let w = was.get(key);
      if (w === undefined) was.set(key, w = new Was(key));
      this.#group(r, { ...want, groups }).keys.push(w);
      taken++;
    }
    x.at = i;
    if (i >= x.end) this.replaced = undefined;
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
    if (this.unsentFrom === undefined) return false;
    const table = this.table;
    const limit = want.limit ?? Infinity;
    let taken = want.taken;
    let i = lowerBound(table, this.unsentFrom);
    for (; i < table.length && taken < limit; i++) {
      const r = table[i];
      if (!want.families.includes(r.prefix.afi === AFI_IPV4 ? "ipv4" : "ipv6")) {
        this.diff.set(prefixKey(r.prefix), null);
        continue;
      }
      this.#group(r, { ...want, groups }).keys.push(undefined);
      taken++;
    }
    this.unsentFrom = i < table.length ? table[i].prefix : undefined;
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
        if (i >= keep) this.diff.set(prefixKey(held[i - keep]), k.key);
        continue;
      }
      if (i >= keep) {
        if (k === undefined) this.diff.set(prefixKey(held[i - keep]), null);
        continue;
      }
      if (k === undefined || this.diff.get(k) === null) this.sent++;
      if (k !== undefined) this.diff.delete(k);
    }
  }
}
