/**
 * Merges per-Service decisions into one Route per prefix and peer, from scratch or by
 * patching only the prefixes whose contributions changed; unchanged routes keep their
 * identity so that the sessions' Adj-RIB-Out skips them.
 */
import type { AdvertisementConfig, PeerConfig } from "../api/config.ts";
import type { Route } from "../bgp/mod.ts";
import type { Prefix } from "../bgp/types.ts";
import {
  attributesKey,
  BANDWIDTH_PER_ENDPOINT,
  buildAttributes,
  intern,
  linkBandwidthCommunity,
} from "./announce_memo.ts";
import type {
  Aggregate,
  AnnounceCache,
  Contribution,
  Decision,
  PeerRoutes,
  PrefixState,
  ServiceAnnouncement,
} from "./announce_types.ts";

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

/** Prefix order: family, address bytes, length. */
export function comparePrefix(a: Prefix, b: Prefix): number {
  return a.afi - b.afi || compareBytes(a.addr, b.addr) || a.length - b.length;
}

function finish(
  cache: AnnounceCache,
  prefix: Prefix,
  ads: readonly AdvertisementConfig[],
  weights: ReadonlyMap<string, number> | undefined,
  localAsn: number,
): Route {
  if (ads.length === 1 && !weights) {
    const ad = ads[0];
    let memo = cache.perAdvertisement.get(ad);
    if (!memo) {
      const attrs = intern(cache, buildAttributes([ad]));
      memo = { attrs, key: attributesKey(attrs) };
      cache.perAdvertisement.set(ad, memo);
    }
    return { prefix, attributes: memo.attrs };
  }
  let extended: Uint8Array | undefined;
  if (weights) {
    let endpoints = 0;
    for (const n of weights.values()) endpoints += n;
    extended = linkBandwidthCommunity(localAsn, endpoints * BANDWIDTH_PER_ENDPOINT);
  }
  return { prefix, attributes: intern(cache, buildAttributes(ads, extended)) };
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
  let shared: Map<number, Route> | undefined;
  for (let pi = 0; pi < peers.length; pi++) {
    const peer = peers[pi];
    const asn = localAsnOf(peer);
    let route = everyPeer ? shared?.get(weights ? asn : 0) : undefined;
    if (!route) {
      const ads: AdvertisementConfig[] = [];
      for (const i of items) {
        if ((i.peers === null || i.peers.includes(peer.name)) && !ads.includes(i.ad)) {
          ads.push(i.ad);
        }
      }
      if (ads.length === 0) continue;
      route = finish(cache, st.prefix, ads, weights, asn);
      const same = (r: Route | undefined) =>
        r !== undefined && r.prefix === route!.prefix && r.attributes === route!.attributes;
      const old = reuse === undefined
        ? undefined
        : Array.isArray(reuse)
        ? reuse.find(same)
        : same(reuse as Route)
        ? reuse as Route
        : undefined;
      if (old) route = old;
      if (everyPeer) (shared ??= new Map()).set(weights ? asn : 0, route);
    }
    out[pi] = route;
  }
  // `every` would skip the holes of peers without a route: compare each slot.
  for (let pi = 0; pi < out.length; pi++) {
    if (out[pi] === undefined || out[pi] !== out[0]) return out;
  }
  return out.length > 0 ? out[0]! : out;
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
export function perPeerRoutes(
  sorted: readonly PrefixState[],
  peers: readonly PeerConfig[],
): Map<string, Route[]> {
  const routes = new Map<string, Route[]>();
  for (let pi = 0; pi < peers.length; pi++) {
    const list: Route[] = [];
    for (const st of sorted) {
      const r = routeAt(st.routes, pi);
      if (r !== undefined) list.push(r);
    }
    routes.set(peers[pi].name, list);
  }
  return routes;
}

/**
 * Merges every decision's contributions into per-prefix, per-peer routes from scratch;
 * yields now and then so that a caller can slice the work (100,000s of prefixes).
 */
export function* aggregateAll(
  cache: AnnounceCache,
  token: object,
  peers: readonly PeerConfig[],
  decisions: Decision[],
): Generator<void, Aggregate> {
  const old = cache.aggregate?.prefixes;
  const prefixes = new Map<string, PrefixState>();
  for (let i = 0; i < decisions.length; i++) {
    // A chance for the caller to let timers and I/O in (see Slicer).
    if ((i & 1023) === 1023) yield;
    for (const k of decisions[i].contributions) {
      const st = prefixes.get(k.key);
      if (st) addContrib(st, k);
      else prefixes.set(k.key, { prefix: k.prefix, key: k.key, contribs: k, routes: [] });
    }
  }
  const sorted = [...prefixes.values()].sort((a, b) => comparePrefix(a.prefix, b.prefix));
  yield;
  for (let i = 0; i < sorted.length; i++) {
    if ((i & 1023) === 1023) yield;
    const st = sorted[i];
    st.routes = routesOf(cache, st, peers, old?.get(st.key)?.routes);
  }
  const services = decisions.map((d) => d.out).sort(compareServices);
  yield;
  return {
    token,
    peers,
    decisions,
    prefixes,
    sorted,
    services,
    routes: perPeerRoutes(sorted, peers),
  };
}

/**
 * Patches the last aggregate where decisions changed (same Services in the same order):
 * only the prefixes those decisions ask or asked for are merged again.
 */
export function aggregateChanges(
  cache: AnnounceCache,
  agg: Aggregate,
  decisions: Decision[],
  changed: readonly number[],
): Aggregate {
  const { prefixes, peers } = agg;
  const dirty = new Map<string, PrefixState>();
  const created: PrefixState[] = [];
  let removed = false;
  for (const i of changed) {
    for (const k of agg.decisions[i].contributions) {
      const st = prefixes.get(k.key);
      if (!st) continue;
      removeContrib(st, k);
      dirty.set(k.key, st);
    }
  }
  for (const i of changed) {
    for (const k of decisions[i].contributions) {
      let st = prefixes.get(k.key);
      if (!st) {
        st = { prefix: k.prefix, key: k.key, contribs: [], routes: [] };
        prefixes.set(k.key, st);
        created.push(st);
      }
      addContrib(st, k);
      dirty.set(k.key, st);
    }
  }
  const peerChanged = new Array<boolean>(peers.length).fill(false);
  for (const [key, st] of dirty) {
    if (isEmpty(st)) {
      prefixes.delete(key);
      removed = true;
      for (let pi = 0; pi < peers.length; pi++) {
        if (routeAt(st.routes, pi) !== undefined) peerChanged[pi] = true;
      }
      continue;
    }
    st.prefix = contribsOf(st)[0].prefix;
    const routes = routesOf(cache, st, peers, st.routes);
    for (let pi = 0; pi < peers.length; pi++) {
      if (routeAt(routes, pi) !== routeAt(st.routes, pi)) peerChanged[pi] = true;
    }
    st.routes = routes;
  }
  let sorted = agg.sorted;
  if (removed) sorted = sorted.filter((st) => prefixes.get(st.key) === st);
  const born = created.filter((st) => !isEmpty(st));
  if (born.length > 0) {
    sorted = [...sorted, ...born].sort((a, b) => comparePrefix(a.prefix, b.prefix));
  }
  // Few changes: patch the sorted list in place; many: sort again.
  let services: ServiceAnnouncement[] | undefined = changed.length <= 64
    ? agg.services.slice()
    : undefined;
  for (const i of services ? changed : []) {
    const at = services!.indexOf(agg.decisions[i].out);
    if (at < 0 || compareServices(agg.decisions[i].out, decisions[i].out) !== 0) {
      services = undefined;
      break;
    }
    services![at] = decisions[i].out;
  }
  services ??= decisions.map((d) => d.out).sort(compareServices);
  const routes = new Map<string, Route[]>();
  const fresh = peerChanged.some((c) => c) ? perPeerRoutes(sorted, peers) : undefined;
  peers.forEach((p, pi) => {
    routes.set(p.name, peerChanged[pi] ? fresh!.get(p.name)! : agg.routes.get(p.name)!);
  });
  return { ...agg, decisions, sorted, services, routes };
}
