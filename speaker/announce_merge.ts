/**
 * Merges per-Service decisions into one Route per prefix and peer, from scratch or by
 * patching only the prefixes whose contributions changed; unchanged routes keep their
 * identity so that the sessions' Adj-RIB-Out skips them.
 */
import type { AdvertisementConfig, PeerConfig } from "../api/config.ts";
import type { Route, RouteAttributes } from "../bgp/mod.ts";
import type { Prefix } from "../bgp/types.ts";
import {
  attributesKey,
  BANDWIDTH_PER_ENDPOINT,
  buildAttributes,
  intern,
  linkBandwidthCommunity,
} from "./announce_memo.ts";
import {
  type Aggregate,
  type AnnounceCache,
  type Change,
  type Contribution,
  contributionList,
  type PeerRoutes,
  type PrefixState,
  type ServiceAnnouncement,
  type ServiceRecord,
} from "./announce_types.ts";
import { sortSliced } from "./slicer.ts";

/** The local AS a session to `peer` uses. */
export function localAsnOf(peer: PeerConfig): number {
  return peer.localASN ?? peer.myASN;
}

function routeAt(routes: PeerRoutes, pi: number): Route | undefined {
  return Array.isArray(routes) ? routes[pi] : routes as Route;
}

function contribsOf(st: PrefixState): readonly Contribution[] {
  return Array.isArray(st.contribs) ? st.contribs : [st.contribs];
}

function addContrib(st: PrefixState, k: Contribution): void {
  if (!Array.isArray(st.contribs)) st.contribs = [st.contribs, k];
  else if (st.contribs.length === 0) st.contribs = k;
  else st.contribs.push(k);
}

function removeContrib(st: PrefixState, k: Contribution): void {
  if (!Array.isArray(st.contribs)) {
    if (st.contribs === k) st.contribs = [];
    return;
  }
  const at = st.contribs.indexOf(k);
  if (at >= 0) st.contribs.splice(at, 1);
  if (st.contribs.length === 1) st.contribs = st.contribs[0];
}

function isEmpty(st: PrefixState): boolean {
  return Array.isArray(st.contribs) && st.contribs.length === 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

function comparePrefixStates(a: PrefixState, b: PrefixState): number {
  return comparePrefix(a.prefix, b.prefix);
}

/** `sorted` with the sorted `more` merged in, in one pass (no sort of the whole table). */
function mergeSorted(sorted: readonly PrefixState[], more: readonly PrefixState[]): PrefixState[] {
  const out: PrefixState[] = [];
  let j = 0;
  for (const st of sorted) {
    while (j < more.length && comparePrefixStates(more[j], st) < 0) out.push(more[j++]);
    out.push(st);
  }
  while (j < more.length) out.push(more[j++]);
  return out;
}

/** Prefix order: family, address bytes, length. */
export function comparePrefix(a: Prefix, b: Prefix): number {
  return a.afi - b.afi || compareBytes(a.addr, b.addr) || a.length - b.length;
}

/** The interned attributes of one advertisement alone (the usual route). */
function adAttributes(cache: AnnounceCache, ad: AdvertisementConfig): RouteAttributes {
  let memo = cache.perAdvertisement.get(ad);
  if (!memo) {
    const attrs = intern(cache, buildAttributes([ad]));
    memo = { attrs, key: attributesKey(attrs) };
    cache.perAdvertisement.set(ad, memo);
  }
  return memo.attrs;
}

function finish(
  cache: AnnounceCache,
  prefix: Prefix,
  ads: readonly AdvertisementConfig[],
  at: { weights: ReadonlyMap<string, number> | undefined; localAsn: number },
): Route {
  const { weights } = at;
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
  const same = (r: Route | undefined) =>
    r !== undefined && r.prefix === route.prefix && r.attributes === route.attributes;
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
  peers: readonly PeerConfig[],
  reuse: PeerRoutes | undefined,
): PeerRoutes {
  const one = Array.isArray(st.contribs) ? undefined : st.contribs;
  if (one && one.peers === null && one.weight === 0 && peers.length > 0) {
    // The usual case, without the general case's arrays and maps, times 100,000s.
    return reused({ prefix: st.prefix, attributes: adAttributes(cache, one.ad) }, reuse);
  }
  const items: { ad: AdvertisementConfig; peers: readonly string[] | null }[] = [];
  let weights: Map<string, number> | undefined;
  for (const k of contribsOf(st)) {
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
      route = reused(finish(cache, st.prefix, ads, { weights, localAsn: asn }), reuse);
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

/** Order of Services: namespace, then name. */
export function compareServices(a: ServiceAnnouncement, b: ServiceAnnouncement): number {
  return a.namespace < b.namespace
    ? -1
    : a.namespace > b.namespace
    ? 1
    : a.name < b.name
    ? -1
    : a.name > b.name
    ? 1
    : 0;
}

/** Each peer's routes, in prefix order. */
export function* perPeerRoutes(
  sorted: readonly PrefixState[],
  peers: readonly PeerConfig[],
): Generator<void, Map<string, Route[]>> {
  const routes = new Map<string, Route[]>();
  for (let pi = 0; pi < peers.length; pi++) {
    const list: Route[] = [];
    for (let i = 0; i < sorted.length; i++) {
      if ((i & 16383) === 16383) yield;
      const r = routeAt(sorted[i].routes, pi);
      if (r !== undefined) list.push(r);
    }
    routes.set(peers[pi].name, list);
  }
  return routes;
}

/**
 * Merges every record's contributions into per-prefix, per-peer routes from scratch; yields
 * now and then so that a caller can slice the work (100,000s of prefixes).
 */
export function* aggregateAll(
  cache: AnnounceCache,
  at: { epoch: number; peers: readonly PeerConfig[] },
  records: ServiceRecord[],
): Generator<void, Aggregate> {
  const { peers } = at;
  const old = cache.aggregate?.prefixes;
  const prefixes = new Map<string, PrefixState>();
  for (let i = 0; i < records.length; i++) {
    // A chance for the caller to let timers and I/O in (see Slicer).
    if ((i & 1023) === 1023) yield;
    for (const k of contributionList(records[i].contribs)) {
      const st = prefixes.get(k.key);
      if (st) addContrib(st, k);
      else prefixes.set(k.key, { prefix: k.prefix, key: k.key, contribs: k, routes: NO_ROUTES });
    }
  }
  const sorted = yield* sortSliced([...prefixes.values()], comparePrefixStates);
  for (let i = 0; i < sorted.length; i++) {
    if ((i & 1023) === 1023) yield;
    const st = sorted[i];
    st.routes = routesOf(cache, st, peers, old?.get(st.key)?.routes);
  }
  const services = yield* sortSliced(records.map((r) => r.out!), compareServices);
  const routes = yield* perPeerRoutes(sorted, peers);
  return { epoch: at.epoch, peers, records, prefixes, sorted, services, routes };
}

/** Shared by prefix states until their routes are merged (none allocated per prefix). */
const NO_ROUTES: readonly (Route | undefined)[] = Object.freeze([]);

/** Takes back what the changed records asked for before, and adds what they ask for now. */
function moveContributions(
  prefixes: Map<string, PrefixState>,
  changes: readonly Change[],
): { dirty: Map<string, PrefixState>; created: PrefixState[] } {
  const dirty = new Map<string, PrefixState>();
  const created: PrefixState[] = [];
  for (const c of changes) {
    for (const k of contributionList(c.old)) {
      const st = prefixes.get(k.key);
      if (!st) continue;
      removeContrib(st, k);
      dirty.set(k.key, st);
    }
  }
  for (const c of changes) {
    for (const k of contributionList(c.rec.contribs)) {
      let st = prefixes.get(k.key);
      if (!st) {
        st = { prefix: k.prefix, key: k.key, contribs: [], routes: NO_ROUTES };
        prefixes.set(k.key, st);
        created.push(st);
      }
      addContrib(st, k);
      dirty.set(k.key, st);
    }
  }
  return { dirty, created };
}

/** Merges the dirty prefixes again: which peers' route lists changed, and whether any left. */
function remerge(
  cache: AnnounceCache,
  agg: Aggregate,
  dirty: ReadonlyMap<string, PrefixState>,
): { peerChanged: boolean[]; removed: boolean } {
  const { prefixes, peers } = agg;
  const peerChanged = new Array<boolean>(peers.length).fill(false);
  let removed = false;
  for (const [key, st] of dirty) {
    const routes = isEmpty(st) ? NO_ROUTES : routesOf(cache, st, peers, st.routes);
    if (isEmpty(st)) removed = prefixes.delete(key) || removed;
    else st.prefix = contribsOf(st)[0].prefix;
    for (let pi = 0; pi < peers.length; pi++) {
      if (routeAt(routes, pi) !== routeAt(st.routes, pi)) peerChanged[pi] = true;
    }
    st.routes = routes;
  }
  return { peerChanged, removed };
}

/** The sorted outcomes with the changed ones replaced, or sorted again when many changed. */
function* patchServices(
  agg: Aggregate,
  records: readonly ServiceRecord[],
  changes: readonly Change[],
): Generator<void, ServiceAnnouncement[]> {
  if (changes.length <= 64) {
    const services = agg.services.slice();
    let ok = true;
    for (const { rec, oldOut } of changes) {
      const at = oldOut ? services.indexOf(oldOut) : -1;
      if (at < 0 || compareServices(oldOut!, rec.out!) !== 0) {
        ok = false;
        break;
      }
      services[at] = rec.out!;
    }
    if (ok) return services;
  }
  return yield* sortSliced(records.map((r) => r.out!), compareServices);
}

/**
 * Patches the last aggregate for the records decided again (the same Services in the same
 * order): only the prefixes they ask or asked for are merged again.
 */
export function* aggregateChanges(
  cache: AnnounceCache,
  agg: Aggregate,
  at: { records: ServiceRecord[]; changes: readonly Change[] },
): Generator<void, Aggregate> {
  const { records, changes } = at;
  const { prefixes, peers } = agg;
  const { dirty, created } = moveContributions(prefixes, changes);
  const { peerChanged, removed } = remerge(cache, agg, dirty);
  let sorted = agg.sorted;
  if (removed) sorted = sorted.filter((st) => prefixes.get(st.key) === st);
  const born = created.filter((st) => !isEmpty(st));
  if (born.length > 0) sorted = mergeSorted(sorted, born.sort(comparePrefixStates));
  const services = yield* patchServices(agg, records, changes);
  const routes = new Map<string, Route[]>();
  const fresh = peerChanged.some((c) => c) ? yield* perPeerRoutes(sorted, peers) : undefined;
  peers.forEach((p, pi) => {
    routes.set(p.name, peerChanged[pi] ? fresh!.get(p.name)! : agg.routes.get(p.name)!);
  });
  return { ...agg, records, sorted, services, routes };
}
