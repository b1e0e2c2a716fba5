/**
 * The Route each peer gets for one prefix, from the contributions asking for it: one
 * advertisement's interned attributes in the usual case, merged communities (and link
 * bandwidth with weighted ECMP) otherwise.
 */
import type { AdvertisementConfig, PeerConfig } from "../api/config.ts";
import { prefixEquals, type Route, type RouteAttributes } from "../bgp/mod.ts";
import type { Prefix } from "../bgp/types.ts";
import {
  attributesKey,
  BANDWIDTH_PER_ENDPOINT,
  buildAttributes,
  intern,
  linkBandwidthCommunity,
} from "./announce_memo.ts";
import {
  type AdMemo,
  type AnnounceCache,
  isShared,
  type PeerRoutes,
  type PrefixState,
  type Source,
} from "./announce_types.ts";

/** The local AS a session to `peer` uses. */
export function localAsnOf(peer: PeerConfig): number {
  return peer.localASN ?? peer.myASN;
}

/** The Route peer number `pi` gets, if any. */
export function routeAt(routes: PeerRoutes, pi: number): Route | undefined {
  return Array.isArray(routes) ? routes[pi] : routes as Route;
}

/** What the planner keeps for advertisement `ad`. */
function memoOf(cache: AnnounceCache, ad: AdvertisementConfig): AdMemo {
  let memo = cache.perAdvertisement.get(ad);
  if (!memo) {
    const attrs = intern(cache, buildAttributes([ad]));
    memo = { attrs, key: attributesKey(attrs), sources: new Map() };
    cache.perAdvertisement.set(ad, memo);
  }
  return memo;
}

/** The interned attributes of one advertisement alone (the usual route). */
function adAttributes(cache: AnnounceCache, ad: AdvertisementConfig): RouteAttributes {
  return memoOf(cache, ad).attrs;
}

/** Distinct sources one advertisement keeps; past it they start again (made ones stay valid). */
const SOURCE_LIMIT = 4096;

/** The one shared {@linkcode Source} for `ad` to `at.peers` with `at.weight`. */
export function sourceOf(
  cache: AnnounceCache,
  ad: AdvertisementConfig,
  at: { peers: readonly string[] | null; weight: number },
): Source {
  const { peers, weight } = at;
  const memo = memoOf(cache, ad);
  // Peer names hold no newline (they are Kubernetes object names).
  const key = peers === null ? `${weight}` : `${weight}\n${peers.join("\n")}`;
  let hit = memo.sources.get(key);
  if (!hit) {
    if (memo.sources.size >= SOURCE_LIMIT) memo.sources.clear();
    hit = Object.freeze({ ad, attributes: memo.attrs, peers, weight });
    memo.sources.set(key, hit);
  }
  return hit;
}

function finish(
  cache: AnnounceCache,
  ads: readonly AdvertisementConfig[],
  at: { prefix: Prefix; weights: ReadonlyMap<string, number> | undefined; localAsn: number },
): Route {
  const { prefix, weights } = at;
  if (ads.length === 1 && !weights) return { prefix, attributes: adAttributes(cache, ads[0]) };
  let extended: Uint8Array | undefined;
  if (weights) {
    let endpoints = 0;
    for (const n of weights.values()) endpoints += n;
    extended = linkBandwidthCommunity(at.localAsn, endpoints * BANDWIDTH_PER_ENDPOINT);
  }
  return { prefix, attributes: intern(cache, buildAttributes(ads, extended)) };
}

/** `route` again as the Route of `reuse` with its prefix and attributes, if there is one. */
function reused(route: Route, reuse: PeerRoutes | undefined): Route {
  // The prefix by value: a Service decided again has a Prefix of its own (see Contribution).
  const same = (r: Route | undefined) =>
    r !== undefined && r.attributes === route.attributes && prefixEquals(r.prefix, route.prefix);
  if (reuse === undefined) return route;
  if (Array.isArray(reuse)) return reuse.find(same) ?? route;
  return same(reuse as Route) ? reuse as Route : route;
}

/**
 * The Route each peer gets for one prefix, from the contributions asking for it. A Route of
 * `reuse` with the same prefix and attributes is returned again, so that unchanged routes
 * keep their identity (the sessions' Adj-RIB-Out then skips them at the cost of a compare).
 */
export function routesOf(
  cache: AnnounceCache,
  st: PrefixState,
  at: { peers: readonly PeerConfig[]; reuse: PeerRoutes | undefined },
): PeerRoutes {
  const { peers, reuse } = at;
  const one = isShared(st) ? undefined : st;
  if (one && one.peers === null && one.weight === 0 && peers.length > 0) {
    // The usual case, without the general case's arrays and maps, times 100,000s: the
    // contribution is the Route itself. Not an equal Route of `reuse`: that may be an old
    // contribution (of another configuration's advertisement), kept alive by the new one.
    // A Service decided again for the same route keeps its contribution (see `keepEqual`).
    return one;
  }
  const items: { ad: AdvertisementConfig; peers: readonly string[] | null }[] = [];
  let weights: Map<string, number> | undefined;
  for (const k of isShared(st) ? st.contribs : [st]) {
    if (!items.some((i) => i.ad === k.ad && i.peers === k.peers)) {
      items.push({ ad: k.ad, peers: k.peers });
    }
    if (k.weight > 0) (weights ??= new Map()).set(k.svc, k.weight);
  }
  const everyPeer = items.every((i) => i.peers === null);
  const out: (Route | undefined)[] = new Array(peers.length);
  // With every peer asked, peers of one local AS get one Route.
  const shared = new Map<number, Route>();
  for (let pi = 0; pi < peers.length; pi++) {
    const asn = localAsnOf(peers[pi]);
    let route = everyPeer ? shared.get(weights ? asn : 0) : undefined;
    if (!route) {
      const ads = adsFor(items, peers[pi].name);
      if (ads.length === 0) continue;
      route = reused(finish(cache, ads, { prefix: st.prefix, weights, localAsn: asn }), reuse);
      if (everyPeer) shared.set(weights ? asn : 0, route);
    }
    out[pi] = route;
  }
  // `every` would skip the holes of peers without a route: compare each slot.
  for (let pi = 0; pi < out.length; pi++) {
    if (out[pi] === undefined || out[pi] !== out[0]) return out;
  }
  return out.length > 0 ? out[0]! : out;
}

/** The distinct advertisements of `items` that reach peer `name`. */
function adsFor(
  items: readonly { ad: AdvertisementConfig; peers: readonly string[] | null }[],
  name: string,
): AdvertisementConfig[] {
  const ads: AdvertisementConfig[] = [];
  for (const i of items) {
    if ((i.peers === null || i.peers.includes(name)) && !ads.includes(i.ad)) ads.push(i.ad);
  }
  return ads;
}
