/**
 * What a caller says about a route (local preference, communities, prepends) and how that
 * becomes path attributes for one session; normalised so equal sets share one UPDATE.
 */
import { AFI_IPV4, type LargeCommunity, type PathAttributes, type Prefix } from "./types.ts";

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

/** A normalised attribute set and its key (equal keys: same attributes on the wire). */
export interface NormalizedAttributes {
  attrs: RouteAttributes;
  key: string;
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Sorted, deduplicated values of a set attribute, with their keys (in that order). */
function sortedSet<T>(items: readonly T[], keyOf: (item: T) => string): [string[], T[]] {
  const seen = new Map<string, T>();
  for (const item of items) seen.set(keyOf(item), item);
  const keys = [...seen.keys()].sort();
  return [keys, keys.map((k) => seen.get(k)!)];
}

/** Communities are sets: sort and dedupe so equal sets share a key and an UPDATE. */
export function normalizeAttributes(ra: RouteAttributes): NormalizedAttributes {
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
    const [keys, values] = sortedSet(ra.largeCommunities, (lc) => lc.join(":"));
    attrs.largeCommunities = values;
    key += `G${keys.join(",")}`;
  }
  if (ra.extendedCommunities?.length) {
    const [keys, values] = sortedSet(ra.extendedCommunities, hex);
    attrs.extendedCommunities = values;
    key += `E${keys.join(",")}`;
  }
  return { attrs, key };
}
