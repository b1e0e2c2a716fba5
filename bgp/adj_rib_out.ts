/**
 * Adj-RIB-Out: what one peer has been told. The caller states the full set of routes it
 * wants the peer to have; the difference against what was already sent becomes UPDATEs,
 * with every prefix sharing an attribute set packed into as few messages as 4096 bytes allow.
 */
import type { Family } from "./fsm.ts";
import { encodePathAttributes, MAX_MESSAGE_SIZE, nlriLength } from "./packets.ts";
import { formatPrefix, prefixKey } from "./prefix.ts";
import {
  AFI_IPV4,
  AFI_IPV6,
  type CodecContext,
  type LargeCommunity,
  type PathAttributes,
  type Prefix,
  SAFI_UNICAST,
  type UpdateMessage,
} from "./types.ts";

/** The per-route attributes a caller chooses; ORIGIN, AS_PATH and NEXT_HOP are the session's. */
export interface RouteAttributes {
  localPref?: number;
  /** RFC 1997 communities as 32-bit numbers. */
  communities?: number[];
  largeCommunities?: LargeCommunity[];
  /** 8-byte RFC 4360 extended communities. */
  extendedCommunities?: Uint8Array[];
  med?: number;
  /** Our AS this many more times in AS_PATH; external peers only (iBGP paths stay empty). */
  asPathPrepend?: number;
}

/** A route to announce. */
export interface Route {
  prefix: Prefix;
  attributes: RouteAttributes;
}

/** Session facts that turn {@linkcode RouteAttributes} into path attributes. */
export interface AttributeEnv {
  ibgp: boolean;
  localAsn: number;
  /** NEXT_HOP for IPv4 NLRI. */
  nextHopV4: string;
  /** MP_REACH next hop for IPv6 NLRI. */
  nextHopV6: string;
}

/** Fixed UPDATE overhead: 19-byte header, withdrawn length, attributes length. */
const UPDATE_OVERHEAD = 19 + 2 + 2;
/**
 * MP_REACH_NLRI around its NLRI for one 16-byte next hop, counting a 2-byte (extended)
 * attribute length so the estimate never falls short: flags, code, length(2), AFI(2), SAFI,
 * next-hop length, next hop(16), reserved.
 */
const MP_REACH_V6_OVERHEAD = 4 + 2 + 1 + 1 + 16 + 1;
/** MP_UNREACH_NLRI around its withdrawn routes: flags, code, length(2), AFI(2), SAFI. */
const MP_UNREACH_OVERHEAD = 4 + 2 + 1;

/** Path attributes for `ra` sent for a prefix of `afi` (NLRI are added by packing). */
export function buildPathAttributes(
  ra: RouteAttributes,
  afi: 1 | 2,
  env: AttributeEnv,
): PathAttributes {
  const attrs: PathAttributes = {
    origin: 0,
    // RFC 4271 5.1.2: our own AS is prepended towards external peers only.
    asPath: env.ibgp
      ? []
      : [{ type: 2, asns: new Array(1 + (ra.asPathPrepend ?? 0)).fill(env.localAsn) }],
  };
  // RFC 4760: IPv6 routes carry their next hop inside MP_REACH_NLRI instead.
  if (afi === AFI_IPV4) attrs.nextHop = env.nextHopV4;
  if (ra.med !== undefined) attrs.med = ra.med;
  // LOCAL_PREF must not be sent to external peers (RFC 4271 5.1.5).
  if (env.ibgp) attrs.localPref = ra.localPref ?? 100;
  if (ra.communities?.length) attrs.communities = ra.communities;
  if (ra.largeCommunities?.length) attrs.largeCommunities = ra.largeCommunities;
  if (ra.extendedCommunities?.length) attrs.extendedCommunities = ra.extendedCommunities;
  return attrs;
}

const U32 = (n: unknown) =>
  Number.isInteger(n) && (n as number) >= 0 && (n as number) <= 0xffffffff;

/** Why `ra` cannot be encoded, or undefined when it can. */
export function validateAttributes(ra: RouteAttributes): string | undefined {
  if (ra.localPref !== undefined && !U32(ra.localPref)) return `localPref ${ra.localPref}`;
  if (ra.med !== undefined && !U32(ra.med)) return `med ${ra.med}`;
  const pp = ra.asPathPrepend;
  if (pp !== undefined && !(Number.isInteger(pp) && pp >= 0 && pp <= 254)) {
    return `asPathPrepend ${pp}`;
  }
  for (const c of ra.communities ?? []) if (!U32(c)) return `community ${c}`;
  for (const lc of ra.largeCommunities ?? []) {
    if (lc.length !== 3 || !lc.every(U32)) return `large community ${lc.join(":")}`;
  }
  for (const ec of ra.extendedCommunities ?? []) {
    if (ec.length !== 8) return `extended community of ${ec.length} bytes (want 8)`;
  }
  return undefined;
}

/** Communities are sets: sort and dedupe so equal sets share a key and an UPDATE. */
function normalize(ra: RouteAttributes): { attrs: RouteAttributes; key: string } {
  const attrs: RouteAttributes = {};
  let key = "";
  if (ra.localPref !== undefined) {
    attrs.localPref = ra.localPref;
    key += `L${ra.localPref}`;
  }
  if (ra.med !== undefined) {
    attrs.med = ra.med;
    key += `M${ra.med}`;
  }
  if (ra.asPathPrepend) {
    attrs.asPathPrepend = ra.asPathPrepend;
    key += `P${ra.asPathPrepend}`;
  }
  if (ra.communities?.length) {
    attrs.communities = [...new Set(ra.communities.map((c) => c >>> 0))].sort((a, b) => a - b);
    key += `C${attrs.communities.join(",")}`;
  }
  if (ra.largeCommunities?.length) {
    const seen = new Map<string, LargeCommunity>();
    for (const lc of ra.largeCommunities) seen.set(lc.join(":"), lc);
    const keys = [...seen.keys()].sort();
    attrs.largeCommunities = keys.map((k) => seen.get(k)!);
    key += `G${keys.join(",")}`;
  }
  if (ra.extendedCommunities?.length) {
    const seen = new Map<string, Uint8Array>();
    for (const ec of ra.extendedCommunities) seen.set(hex(ec), ec);
    const keys = [...seen.keys()].sort();
    attrs.extendedCommunities = keys.map((k) => seen.get(k)!);
    key += `E${keys.join(",")}`;
  }
  return { attrs, key };
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** A normalised attribute set, or why it cannot be encoded. */
type Normalized = { attrs: RouteAttributes; key: string; bad?: undefined } | { bad: string };
type Good = Extract<Normalized, { bad?: undefined }>;

/** Family of a {@linkcode prefixKey}: IPv6 keys start with "x". */
function familyOfKey(k: string): Family {
  return k.charCodeAt(0) === 0x78 ? "ipv6" : "ipv4";
}

/**
 * The prefix a {@linkcode prefixKey} stands for. The sent table keeps only keys (no Prefix
 * per entry and peer); withdrawals of prefixes no longer wanted rebuild them from the key.
 */
function prefixOfKey(k: string): Prefix {
  if (k.charCodeAt(0) !== 0x78) {
    const n = Number(k);
    const length = n % 33;
    const v = (n - length) / 33;
    const addr = new Uint8Array([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
    return { afi: AFI_IPV4, addr, length };
  }
  const slash = k.indexOf("/");
  const addr = new Uint8Array(16);
  for (let i = 1, j = 0; i < slash; i += 2, j++) addr[j] = parseInt(k.slice(i, i + 2), 16);
  return { afi: AFI_IPV6, addr, length: Number(k.slice(slash + 1)) };
}

/** Prefix order: family, address bytes, length (the speaker hands routes over in this order). */
function comparePrefix(a: Prefix, b: Prefix): number {
  if (a.afi !== b.afi) return a.afi - b.afi;
  const x = a.addr;
  const y = b.addr;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return a.length - b.length;
}

/**
 * Map keys of prefixes, shared by every Adj-RIB-Out: peers announcing the same Prefix
 * objects then share one key string and one cache entry.
 */
const PREFIX_KEYS = new WeakMap<Prefix, string>();

function keyOf(p: Prefix): string {
  let k = PREFIX_KEYS.get(p);
  if (k === undefined) {
    k = prefixKey(p);
    PREFIX_KEYS.set(p, k);
  }
  return k;
}

/** Prefixes to announce that share one attribute set, and the attributes (without NLRI). */
export interface AnnounceGroup {
  afi: 1 | 2;
  attributes: PathAttributes;
  prefixes: Prefix[];
}

/** Splits `items` into runs whose summed NLRI size stays within `room` bytes. */
function chunkBySize(items: Prefix[], room: number): Prefix[][] {
  const out: Prefix[][] = [];
  let cur: Prefix[] = [];
  let used = 0;
  for (const p of items) {
    const n = nlriLength(p);
    if (used + n > room && cur.length > 0) {
      out.push(cur);
      cur = [];
      used = 0;
    }
    cur.push(p);
    used += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Bytes left for NLRI in one UPDATE of group `g`. */
function nlriRoom(g: AnnounceGroup, ctx: CodecContext): number {
  const attrLen = encodePathAttributes(g.attributes, ctx).length;
  const room = MAX_MESSAGE_SIZE - UPDATE_OVERHEAD - attrLen;
  return g.afi === AFI_IPV4 ? room : room - MP_REACH_V6_OVERHEAD;
}

/**
 * Packs withdrawals and announcements into UPDATEs of at most 4096 bytes: IPv4 in the
 * withdrawn/NLRI fields, IPv6 in MP_UNREACH/MP_REACH. Withdrawals come first.
 */
export function packUpdates(
  withdrawn: Prefix[],
  groups: AnnounceGroup[],
  options: { ctx: CodecContext; nextHopV6: string },
): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  const room = MAX_MESSAGE_SIZE - UPDATE_OVERHEAD;
  const w4 = withdrawn.filter((p) => p.afi === AFI_IPV4);
  const w6 = withdrawn.filter((p) => p.afi === AFI_IPV6);
  for (const chunk of chunkBySize(w4, room)) {
    out.push({ type: 2, withdrawn: chunk, attributes: {}, nlri: [] });
  }
  for (const chunk of chunkBySize(w6, room - MP_UNREACH_OVERHEAD)) {
    out.push({
      type: 2,
      withdrawn: [],
      attributes: { mpUnreach: { afi: AFI_IPV6, safi: SAFI_UNICAST, withdrawn: chunk } },
      nlri: [],
    });
  }
  for (const g of groups) {
    if (g.afi === AFI_IPV4) {
      for (const chunk of chunkBySize(g.prefixes, nlriRoom(g, options.ctx))) {
        out.push({ type: 2, withdrawn: [], attributes: g.attributes, nlri: chunk });
      }
    } else {
      for (const chunk of chunkBySize(g.prefixes, nlriRoom(g, options.ctx))) {
        out.push({
          type: 2,
          withdrawn: [],
          attributes: {
            ...g.attributes,
            mpReach: {
              afi: AFI_IPV6,
              safi: SAFI_UNICAST,
              nextHops: [options.nextHopV6],
              nlri: chunk,
            },
          },
          nlri: [],
        });
      }
    }
  }
  return out;
}

/** The End-of-RIB marker for a family (RFC 4724 2). */
export function endOfRib(family: Family): UpdateMessage {
  if (family === "ipv4") return { type: 2, withdrawn: [], attributes: {}, nlri: [] };
  return {
    type: 2,
    withdrawn: [],
    attributes: { mpUnreach: { afi: AFI_IPV6, safi: SAFI_UNICAST, withdrawn: [] } },
    nlri: [],
  };
}

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
 * One peer's Adj-RIB-Out: wanted routes vs. routes the peer has. Built for a caller that
 * restates its full table on every change: attribute objects are normalised once per object
 * (cached by identity), Route objects are kept as given, and a table ordered by prefix is
 * diffed against the last one by Route identity, so treat Routes, their prefixes and
 * attributes as immutable once passed. Only prefixes whose wanted state changed are looked at
 * when computing UPDATEs.
 */
export class AdjRibOut {
  /**
   * Prefix key to the wanted Route, as given (its attributes known to be valid): no object
   * of our own per route and peer, the caller's Route objects are shared by every peer.
   */
  #wanted = new Map<string, Route>();
  /** Prefix key to the attribute key the peer has. */
  #sent = new Map<string, string>();
  /** Prefixes whose wanted state may differ from what the peer has. */
  #dirty = new Set<string>();
  /** Every wanted prefix must be re-checked (after reset). */
  #allDirty = false;
  #norm = new WeakMap<RouteAttributes, Normalized>();
  /**
   * A copy of the last table when it was strictly ordered by prefix and wholly accepted:
   * the next one is then diffed against it by Route identity, touching only what changed.
   */
  #prev?: Route[];

  /**
   * Replaces the wanted set (the full table; later routes for one prefix win). Routes whose
   * attributes cannot be encoded are left out and returned with the reason.
   */
  setWanted(routes: Route[]): { prefix: string; reason: string }[] {
    const rejected: { prefix: string; reason: string }[] = [];
    const prev = this.#prev;
    this.#prev = undefined;
    const ordered = prev !== undefined && this.#diffAgainst(prev, routes, rejected)
      ? true
      : this.#setAll(routes, rejected);
    if (ordered && rejected.length === 0) this.#prev = routes.slice();
    return rejected;
  }

  /** The normalised attributes of a route already accepted into the wanted set. */
  #good(r: Route): Good {
    return this.#normalized(r.attributes) as Good;
  }

  /** One route of a diff; a refused one drops whatever was wanted for its prefix. */
  #want(r: Route, rejected: { prefix: string; reason: string }[]): void {
    const n = this.#normalized(r.attributes);
    const k = keyOf(r.prefix);
    const e = this.#wanted.get(k);
    if (n.bad !== undefined) {
      rejected.push({ prefix: formatPrefix(r.prefix), reason: `invalid ${n.bad}` });
      if (e !== undefined) {
        this.#wanted.delete(k);
        this.#dirty.add(k);
      }
      return;
    }
    if (e === r) return;
    if (e === undefined || this.#good(e).key !== n.key) this.#dirty.add(k);
    this.#wanted.set(k, r);
  }

  /**
   * Walks the new table beside the previous one: identical Route objects cost a comparison,
   * the rest is merged by prefix order. False (work so far kept, the caller redoes it all)
   * when the new table turns out not to be strictly ordered.
   */
  #diffAgainst(
    prev: readonly Route[],
    routes: readonly Route[],
    rejected: { prefix: string; reason: string }[],
  ): boolean {
    const n = routes.length;
    const m = prev.length;
    let i = 0;
    let j = 0;
    let matched = true;
    while (i < n || j < m) {
      if (i < n && j < m && routes[i] === prev[j]) {
        if (!matched && i > 0 && comparePrefix(routes[i - 1].prefix, routes[i].prefix) >= 0) {
          return false;
        }
        matched = true;
        i++;
        j++;
        continue;
      }
      if (i < n && i > 0 && comparePrefix(routes[i - 1].prefix, routes[i].prefix) >= 0) {
        return false;
      }
      const c = i >= n ? 1 : j >= m ? -1 : comparePrefix(routes[i].prefix, prev[j].prefix);
      if (c > 0) {
        const k = keyOf(prev[j].prefix);
        if (this.#wanted.delete(k)) this.#dirty.add(k);
        j++;
        continue;
      }
      this.#want(routes[i], rejected);
      matched = false;
      i++;
      if (c === 0) j++;
    }
    return true;
  }

  /** Restates every route; true when the table was strictly ordered by prefix. */
  #setAll(routes: readonly Route[], rejected: { prefix: string; reason: string }[]): boolean {
    rejected.length = 0;
    const old = this.#wanted;
    const next = new Map<string, Route>();
    let ordered = true;
    for (let i = 0; i < routes.length; i++) {
      const r = routes[i];
      if (i > 0 && ordered && comparePrefix(routes[i - 1].prefix, r.prefix) >= 0) ordered = false;
      const n = this.#normalized(r.attributes);
      if (n.bad !== undefined) {
        rejected.push({ prefix: formatPrefix(r.prefix), reason: `invalid ${n.bad}` });
        continue;
      }
      next.set(keyOf(r.prefix), r);
    }
    for (const [k, r] of next) {
      const e = old.get(k);
      if (e === undefined || (e !== r && this.#good(e).key !== this.#good(r).key)) {
        this.#dirty.add(k);
      }
    }
    for (const k of old.keys()) if (!next.has(k)) this.#dirty.add(k);
    this.#wanted = next;
    return ordered;
  }

  #normalized(ra: RouteAttributes): Normalized {
    let n = this.#norm.get(ra);
    if (n === undefined) {
      const bad = validateAttributes(ra);
      n = bad === undefined ? normalize(ra) : { bad };
      this.#norm.set(ra, n);
    }
    return n;
  }

  /** Forgets what the peer has (session dropped, or route refresh: send everything again). */
  reset(): void {
    this.#sent = new Map();
    this.#dirty.clear();
    this.#allDirty = true;
  }

  /**
   * Where the prefix of key `k` ({@linkcode prefixKey}) stands: `absent` when not wanted,
   * `sent` when the peer has it with the attributes wanted now, else `pending`.
   */
  routeState(k: string): RouteState {
    const e = this.#wanted.get(k);
    if (e === undefined) return "absent";
    return !this.#allDirty && this.#sent.get(k) === this.#good(e).key ? "sent" : "pending";
  }

  /** Prefixes the session should advertise, sent or not (MetalLB's pending_prefixes). */
  get wantedCount(): number {
    return this.#wanted.size;
  }

  /** Prefixes the peer has from us. */
  get sentCount(): number {
    return this.#sent.size;
  }

  /** Prefixes still to announce, change or withdraw in `families`. */
  pendingCount(families: Family[] = ["ipv4", "ipv6"]): number {
    let n = 0;
    const differs = (k: string): boolean => {
      const r = this.#wanted.get(k);
      const s = this.#sent.get(k);
      if (r === undefined) return s !== undefined;
      return families.includes(familyOfKey(k)) && s !== this.#good(r).key;
    };
    if (this.#allDirty) {
      for (const k of this.#wanted.keys()) if (differs(k)) n++;
      for (const k of this.#sent.keys()) if (!this.#wanted.has(k)) n++;
      return n;
    }
    // Outside `#dirty` the peer has exactly what is wanted: only those keys need a look,
    // so polling the count stays cheap with 100,000s of routes.
    for (const k of this.#dirty) if (differs(k)) n++;
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
    if (this.#allDirty) {
      for (const k of this.#wanted.keys()) this.#dirty.add(k);
      this.#allDirty = false;
    }
    const v4 = options.families.includes("ipv4");
    const v6 = options.families.includes("ipv6");
    const withdrawn: Prefix[] = [];
    const byGroup = new Map<string, { group: AnnounceGroup; keys: string[]; attrKey: string }>();
    const limit = options.limit ?? Infinity;
    let taken = 0;
    let more = false;
    for (const k of this.#dirty) {
      if (taken >= limit) {
        more = true;
        break;
      }
      const e = this.#wanted.get(k);
      const s = this.#sent.get(k);
      if (e === undefined) {
        if (s !== undefined) {
          withdrawn.push(prefixOfKey(k));
          this.#sent.delete(k);
          taken++;
        }
        this.#dirty.delete(k);
        continue;
      }
      // Families the peer did not negotiate stay pending.
      if (!(e.prefix.afi === AFI_IPV4 ? v4 : v6)) continue;
      this.#dirty.delete(k);
      const n = this.#good(e);
      if (s === n.key) continue;
      const gk = `${e.prefix.afi}/${n.key}`;
      let g = byGroup.get(gk);
      if (!g) {
        const attributes = buildPathAttributes(n.attrs, e.prefix.afi, env);
        g = { group: { afi: e.prefix.afi, attributes, prefixes: [] }, keys: [], attrKey: n.key };
        byGroup.set(gk, g);
      }
      g.group.prefixes.push(e.prefix);
      g.keys.push(k);
      taken++;
    }
    let announced = 0;
    let held = 0;
    let bulk = false;
    for (const g of byGroup.values()) {
      // A batch cut by `limit`: the partial tail of a set that filled whole UPDATEs goes with
      // the next batch, so UPDATEs stay full. Sets smaller than one UPDATE go now: holding
      // them could stall a table of many small sets.
      const tail = this.#tail(g.group, options.ctx, more ? "bulky" : options.holdTails ?? "none");
      bulk ||= tail.bulk;
      const keep = g.keys.length - tail.count;
      for (let i = 0; i < g.keys.length; i++) {
        if (i < keep) this.#sent.set(g.keys[i], g.attrKey);
        else this.#dirty.add(g.keys[i]);
      }
      if (tail.count > 0) g.group.prefixes.length = keep;
      announced += keep;
      if (!more) held += tail.count;
    }
    const groups = [...byGroup.values()].map((g) => g.group).filter((g) => g.prefixes.length);
    const updates = packUpdates(withdrawn, groups, {
      ctx: options.ctx,
      nextHopV6: env.nextHopV6,
    });
    return { updates, announced, withdrawn: withdrawn.length, held, bulk, more };
  }

  /**
   * How many prefixes at the end of `g` to hold back: the last, not full UPDATE's, when
   * `hold` says so (`bulky`: only when the group fills more than one UPDATE).
   */
  #tail(g: AnnounceGroup, ctx: CodecContext, hold: HoldTails): { count: number; bulk: boolean } {
    const room = nlriRoom(g, ctx);
    let used = 0;
    let chunks = 1;
    let last = 0;
    for (const p of g.prefixes) {
      const n = nlriLength(p);
      if (used + n > room && used > 0) {
        chunks++;
        used = 0;
        last = 0;
      }
      used += n;
      last++;
    }
    const bulk = chunks > 1;
    if (hold === "none" || (hold === "bulky" && !bulk)) return { count: 0, bulk };
    return { count: last, bulk };
  }
}
