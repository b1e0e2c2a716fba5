/**
 * The speaker's decision, pure: given the configuration and the cluster's Services,
 * EndpointSlices and Nodes, which routes this node announces to which BGPPeer, and why a
 * Service is not announced. Follows the reference's "Which node announces" rules.
 */
import type { AdvertisementConfig, Config, PeerConfig } from "../api/config.ts";
import { parseIP } from "../api/ip.ts";
import type { EndpointSliceView, NodeView, ServiceView } from "../api/objects.ts";
import { matchesAnySelector } from "../api/selectors.ts";
import type { Route, RouteAttributes } from "../bgp/mod.ts";
import { parsePrefix, prefixKey } from "../bgp/mod.ts";
import type { LargeCommunity, Prefix } from "../bgp/types.ts";

/** Annotation the controller writes with the pool an IP came from. */
export const POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool";
/** The older spelling of {@linkcode POOL_ANNOTATION}, read when the newer is absent. */
export const LEGACY_POOL_ANNOTATION = "metallb.universe.tf/ip-allocated-from-pool";
/** Node label that keeps a node from announcing anything. */
export const EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers";
/**
 * Link bandwidth one ready local endpoint stands for, in bytes per second (1 Gbit/s ÷ 8).
 * Only ratios matter to routers, so the unit is a convention, documented in README.md.
 */
export const BANDWIDTH_PER_ENDPOINT = 125_000_000;
/** AS_TRANS (RFC 6793), used in two-octet AS fields when the real AS does not fit. */
export const AS_TRANS = 23456;

/** Inputs of {@linkcode computeAnnouncements}. */
export interface AnnounceInput {
  nodeName: string;
  services: readonly ServiceView[];
  endpointSlices: readonly EndpointSliceView[];
  nodes: readonly NodeView[];
  /** Attach the link-bandwidth extended community to `externalTrafficPolicy: Local` routes. */
  weightedEcmp?: boolean;
  /** Handle only Services of this `loadBalancerClass`; unset = only Services without one. */
  loadBalancerClass?: string;
  /** Peers this node must not use (e.g. fields we cannot honour), by name, with the reason. */
  rejectedPeers?: ReadonlyMap<string, string>;
  /** Memo kept across calls (see {@linkcode AnnounceCache}); a fresh one when absent. */
  cache?: AnnounceCache;
}

/** One Service's outcome on this node. */
export interface ServiceAnnouncement {
  namespace: string;
  name: string;
  ips: string[];
  /** Pool of the first IP, when known. */
  pool?: string;
  /** BGPPeer names announced to, sorted. */
  peers: string[];
  /** Why it is not announced (to no peer at all); absent when announced. */
  reason?: string;
}

/** What {@linkcode computeAnnouncements} decided. */
export interface Announcements {
  /** Routes by BGPPeer name, for every peer selecting this node (possibly empty), sorted. */
  routes: Map<string, Route[]>;
  /** Every LoadBalancer Service handled, sorted by namespace/name. */
  services: ServiceAnnouncement[];
  /** BGPPeers that select this node and are not rejected, sorted by name. */
  peers: PeerConfig[];
  /** Why this node announces nothing at all (excluded, network unavailable). */
  nodeReason?: string;
}

/**
 * Memo shared by successive calls so that unchanged routes come out as the same Prefix and
 * attribute objects: callers can then compare route lists by identity, and a session's
 * Adj-RIB-Out sees one attribute object per attribute set.
 */
export interface AnnounceCache {
  /** Map key of a masked prefix to the one Prefix object every decision shares for it. */
  prefixes: Map<string, Prefix>;
  attributes: Map<string, RouteAttributes>;
  /** Interned `ServiceAnnouncement.peers` lists. */
  peerLists: Map<string, string[]>;
  perAdvertisement: WeakMap<AdvertisementConfig, { attrs: RouteAttributes; key: string }>;
  /** Per Service view: its decision, valid while the context token and counts are the same. */
  services: WeakMap<ServiceView, Decision>;
  /** What the per-Service decisions depend on besides the Service and its endpoints. */
  context?: { config: Config; sig: string; token: object };
  /** Endpoint counts of the last call, patched when only some EndpointSlices changed. */
  endpoints?: EndpointState;
  /** The last merge of decisions into routes, patched when only some decisions changed. */
  aggregate?: Aggregate;
  /** The Services of the last call and where each one's decision sits in the aggregate. */
  inputs?: {
    services: ServiceView[];
    loadBalancerClass?: string;
    /** The handled Services, in the order of `aggregate.decisions`. */
    views: ServiceView[];
    /** `namespace/name` to index in `views`; undefined when two Services share one. */
    index?: Map<string, number>;
  };
}

/** One Service's decision and what it was made from. */
interface Decision {
  token: object;
  any: number;
  local: number;
  ready: number;
  /** `namespace/name`. */
  key: string;
  out: ServiceAnnouncement;
  contributions: Contribution[];
}

interface Counts {
  any: number;
  local: number;
  localReady: number;
}

interface SliceCounts {
  key: string;
  any: number;
  local: number;
  ready: number;
}

/** The slices last counted, with each one's counts (no memo object per slice). */
interface EndpointState {
  node: string;
  slices: EndpointSliceView[];
  /** `namespace/service` of each slice. */
  keys: string[];
  /** Per slice: serving endpoints, those on the node, the ready ones of those. */
  nums: Int32Array;
  counts: Map<string, Counts>;
}

/** One announced prefix: who asks for it and the Route each peer gets. */
interface PrefixState {
  prefix: Prefix;
  key: string;
  /** Usually one: then held alone, not in an array (one per prefix saved). */
  contribs: Contribution | Contribution[];
  /**
   * By index in {@linkcode Aggregate.peers} (undefined = not sent to that peer), or the one
   * Route every peer gets, which is the usual case.
   */
  routes: PeerRoutes;
}

type PeerRoutes = Route | readonly (Route | undefined)[];

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

interface Aggregate {
  token: object;
  peers: readonly PeerConfig[];
  decisions: Decision[];
  prefixes: Map<string, PrefixState>;
  /** `prefixes` in prefix order. */
  sorted: PrefixState[];
  /** Decisions' outcomes by namespace/name. */
  services: ServiceAnnouncement[];
  routes: Map<string, Route[]>;
}

/** Creates an empty {@linkcode AnnounceCache}. */
export function createAnnounceCache(): AnnounceCache {
  return {
    prefixes: new Map(),
    attributes: new Map(),
    peerLists: new Map(),
    perAdvertisement: new WeakMap(),
    services: new WeakMap(),
  };
}

/** Beyond this many entries a cache map is dropped and refilled (IPs come and go). */
const CACHE_LIMIT = 1_000_000;

/** The pool an IP belongs to: the controller's annotation first, else the containing range. */
export function poolOf(config: Config, svc: ServiceView, ip: string): string | undefined {
  return lookupPool(config, new Set(config.pools.map((p) => p.name)), svc, ip);
}

function lookupPool(
  config: Config,
  names: ReadonlySet<string>,
  svc: ServiceView,
  ip: string,
): string | undefined {
  const annotated = svc.annotations[POOL_ANNOTATION] ?? svc.annotations[LEGACY_POOL_ANNOTATION];
  if (annotated && names.has(annotated)) return annotated;
  const parsed = parseIP(ip);
  if (!parsed.ok) return undefined;
  const { family, value } = parsed.value;
  for (const p of config.pools) {
    for (const r of p.ranges) {
      if (r.family === family && r.start <= value && value <= r.end) return p.name;
    }
  }
  return undefined;
}

/**
 * The link-bandwidth extended community (draft-ietf-idr-link-bandwidth): type 0x40
 * (two-octet AS specific, non-transitive), subtype 0x04, the AS (AS_TRANS when it needs
 * four octets), then the bandwidth in bytes per second as an IEEE-754 single.
 */
export function linkBandwidthCommunity(asn: number, bytesPerSecond: number): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  out[0] = 0x40;
  out[1] = 0x04;
  dv.setUint16(2, asn > 0xffff ? AS_TRANS : asn);
  dv.setFloat32(4, bytesPerSecond);
  return out;
}

/**
 * Address families a session to `peer` carries: the family of its address, both with
 * `dualStackAddressFamily` (as in MetalLB, where the other family needs that opt-in).
 */
export function peerFamilies(peer: PeerConfig): ("ipv4" | "ipv6")[] {
  if (peer.dualStackAddressFamily) return ["ipv4", "ipv6"];
  return [peer.address?.includes(":") ? "ipv6" : "ipv4"];
}

/** The local AS a session to `peer` uses. */
export function localAsnOf(peer: PeerConfig): number {
  return peer.localASN ?? peer.myASN;
}

/** One slice's serving endpoints, and those on `nodeName` (ready ones apart). */
function sliceCounts(s: EndpointSliceView, nodeName: string): SliceCounts {
  const n = { key: `${s.namespace}/${s.serviceName}`, any: 0, local: 0, ready: 0 };
  for (const e of s.endpoints) {
    if (!e.serving) continue;
    n.any++;
    if (e.nodeName === nodeName) {
      n.local++;
      if (e.ready !== false) n.ready++;
    }
  }
  return n;
}

function addCounts(counts: Map<string, Counts>, n: SliceCounts, sign: 1 | -1): void {
  if (n.any === 0) return;
  const c = counts.get(n.key);
  if (!c) counts.set(n.key, { any: n.any, local: n.local, localReady: n.ready });
  else {
    c.any += sign * n.any;
    c.local += sign * n.local;
    c.localReady += sign * n.ready;
  }
}

/**
 * Serving endpoints per Service. A list of the same length as last time is compared by
 * identity and only the slices that differ are counted again; `touched` then names the
 * Services whose counts may have changed (undefined: counted from scratch).
 */
function endpointCounts(
  cache: AnnounceCache,
  slices: readonly EndpointSliceView[],
  nodeName: string,
): { counts: Map<string, Counts>; touched?: Set<string> } {
  const last = cache.endpoints;
  if (last && last.node === nodeName && last.slices.length === slices.length) {
    const { slices: prev, keys, nums } = last;
    const touched = new Set<string>();
    for (let i = 0; i < slices.length; i++) {
      if (slices[i] === prev[i]) continue;
      const before = {
        key: keys[i],
        any: nums[3 * i],
        local: nums[3 * i + 1],
        ready: nums[3 * i + 2],
      };
      const after = sliceCounts(slices[i], nodeName);
      addCounts(last.counts, before, -1);
      addCounts(last.counts, after, 1);
      touched.add(before.key).add(after.key);
      prev[i] = slices[i];
      keys[i] = after.key;
      nums[3 * i] = after.any;
      nums[3 * i + 1] = after.local;
      nums[3 * i + 2] = after.ready;
    }
    return { counts: last.counts, touched };
  }
  const counts = new Map<string, Counts>();
  const keys = new Array<string>(slices.length);
  const nums = new Int32Array(3 * slices.length);
  slices.forEach((s, i) => {
    const n = sliceCounts(s, nodeName);
    addCounts(counts, n, 1);
    keys[i] = n.key;
    nums[3 * i] = n.any;
    nums[3 * i + 1] = n.local;
    nums[3 * i + 2] = n.ready;
  });
  cache.endpoints = { node: nodeName, slices: slices.slice(), keys, nums, counts };
  return { counts };
}

/** Bytes of one slab the addresses of cached prefixes are cut from. */
const SLAB_BYTES = 4096;
let slab = new Uint8Array(0);
let slabUsed = 0;

/**
 * The prefix with its address in a shared slab: a view on a common buffer costs far less
 * than a buffer of its own, times 100,000s of prefixes. Slabs are small so that a few
 * long-lived prefixes cannot keep much memory alive.
 */
function compact(p: Prefix): Prefix {
  const n = p.addr.length;
  if (slabUsed + n > slab.length) {
    slab = new Uint8Array(SLAB_BYTES);
    slabUsed = 0;
  }
  const addr = slab.subarray(slabUsed, slabUsed + n);
  addr.set(p.addr);
  slabUsed += n;
  return { afi: p.afi, addr, length: p.length };
}

function cachedPrefix(
  cache: AnnounceCache,
  ip: string,
  length: number,
): { prefix: Prefix; key: string } {
  const parsed = parsePrefix(`${ip}/${length}`);
  const key = prefixKey(parsed);
  let prefix = cache.prefixes.get(key);
  if (!prefix) {
    if (cache.prefixes.size >= CACHE_LIMIT) cache.prefixes.clear();
    prefix = compact(parsed);
    cache.prefixes.set(key, prefix);
  }
  return { prefix, key };
}

function attributesKey(a: RouteAttributes): string {
  let key = a.localPref === undefined ? "" : `L${a.localPref}`;
  if (a.communities) key += `C${a.communities.join(",")}`;
  if (a.largeCommunities) key += `G${a.largeCommunities.map((l) => l.join(":")).join(",")}`;
  if (a.extendedCommunities) {
    key += `E${a.extendedCommunities.map((e) => e.join(".")).join(",")}`;
  }
  return key;
}

function intern(cache: AnnounceCache, a: RouteAttributes): RouteAttributes {
  const key = attributesKey(a);
  const found = cache.attributes.get(key);
  if (found) return found;
  if (cache.attributes.size >= CACHE_LIMIT) cache.attributes.clear();
  cache.attributes.set(key, a);
  return a;
}

function buildAttributes(
  ads: readonly AdvertisementConfig[],
  extended?: Uint8Array,
): RouteAttributes {
  const attributes: RouteAttributes = {};
  // Validation rejects real localPref conflicts; when two still meet, the higher wins so
  // the result does not depend on the order advertisements were listed in.
  let localPref: number | undefined;
  const communities = new Set<number>();
  const large = new Map<string, LargeCommunity>();
  for (const ad of ads) {
    if (ad.localPref !== undefined) localPref = Math.max(localPref ?? 0, ad.localPref);
    for (const c of ad.communities) {
      if (c.kind === "standard") communities.add(c.value);
      else large.set(`${c.global}:${c.local1}:${c.local2}`, [c.global, c.local1, c.local2]);
    }
  }
  if (localPref !== undefined) attributes.localPref = localPref;
  if (communities.size) attributes.communities = [...communities].sort((a, b) => a - b);
  if (large.size) {
    attributes.largeCommunities = [...large.values()].sort((a, b) =>
      a[0] - b[0] || a[1] - b[1] || a[2] - b[2]
    );
  }
  if (extended) attributes.extendedCommunities = [extended];
  return attributes;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

function comparePrefix(a: Prefix, b: Prefix): number {
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
function routesOf(
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

/** One array per distinct peer list: most Services go to the same peers. */
function internPeers(cache: AnnounceCache, names: string[]): string[] {
  if (names.length === 0) return names;
  const key = names.join("\n");
  const found = cache.peerLists.get(key);
  if (found) return found;
  if (cache.peerLists.size >= CACHE_LIMIT) cache.peerLists.clear();
  cache.peerLists.set(key, names);
  return names;
}

/** The decision for a Service: the cached one while its context and counts are the same. */
function decisionFor(
  svc: ServiceView,
  counts: ReadonlyMap<string, Counts>,
  token: object,
  ctx: DecideContext,
): Decision {
  const cache = ctx.cache;
  let d = cache.services.get(svc);
  const svcKey = d?.key ?? `${svc.namespace}/${svc.name}`;
  const c = counts.get(svcKey) ?? NO_ENDPOINTS;
  if (
    !d || d.token !== token || d.any !== c.any || d.local !== c.local || d.ready !== c.localReady
  ) {
    const { out, contributions } = decideService(svc, svcKey, c, ctx);
    d = { token, any: c.any, local: c.local, ready: c.localReady, key: svcKey, out, contributions };
    cache.services.set(svc, d);
  }
  return d;
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function samePeers(a: readonly PeerConfig[], b: readonly PeerConfig[]): boolean {
  return a.length === b.length && a.every((p, i) => p === b[i]);
}

function compareServices(a: ServiceAnnouncement, b: ServiceAnnouncement): number {
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

function perPeerRoutes(
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

/** Merges every decision's contributions into per-prefix, per-peer routes from scratch. */
function aggregateAll(
  cache: AnnounceCache,
  token: object,
  peers: readonly PeerConfig[],
  decisions: Decision[],
): Aggregate {
  const old = cache.aggregate?.prefixes;
  const prefixes = new Map<string, PrefixState>();
  for (const d of decisions) {
    for (const k of d.contributions) {
      const st = prefixes.get(k.key);
      if (st) addContrib(st, k);
      else prefixes.set(k.key, { prefix: k.prefix, key: k.key, contribs: k, routes: [] });
    }
  }
  const sorted = [...prefixes.values()].sort((a, b) => comparePrefix(a.prefix, b.prefix));
  for (const st of sorted) st.routes = routesOf(cache, st, peers, old?.get(st.key)?.routes);
  const services = decisions.map((d) => d.out).sort(compareServices);
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
function aggregateChanges(
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

interface DecideContext {
  config: Config;
  nodeName: string;
  nodeReason?: string;
  peers: readonly PeerConfig[];
  v4Peers: readonly PeerConfig[];
  v6Peers: readonly PeerConfig[];
  poolNames: ReadonlySet<string>;
  adsByPool: ReadonlyMap<string, AdvertisementConfig[]>;
  weightedEcmp: boolean;
  cache: AnnounceCache;
}

/** One prefix a Service asks for through one advertisement, and the peers it goes to. */
interface Contribution {
  prefix: Prefix;
  key: string;
  ad: AdvertisementConfig;
  /** BGPPeer names; null = every peer selecting this node. */
  peers: readonly string[] | null;
  weight: number;
  /** `namespace/name` of the Service asking. */
  svc: string;
}

const NO_ENDPOINTS = { any: 0, local: 0, localReady: 0 };

function decideService(
  svc: ServiceView,
  svcKey: string,
  c: Counts,
  ctx: DecideContext,
): { out: ServiceAnnouncement; contributions: Contribution[] } {
  const { config, poolNames, peers, cache } = ctx;
  const contributions: Contribution[] = [];
  const out: ServiceAnnouncement = {
    namespace: svc.namespace,
    name: svc.name,
    ips: [...svc.ingressIPs],
    peers: [],
  };
  const done = { out, contributions };
  if (svc.ingressIPs.length > 0) {
    const pool = lookupPool(config, poolNames, svc, svc.ingressIPs[0]);
    if (pool) out.pool = pool;
  }
  if (svc.ingressIPs.length === 0) {
    out.reason = "no IP assigned yet";
    return done;
  }
  if (ctx.nodeReason) {
    out.reason = ctx.nodeReason;
    return done;
  }
  const local = svc.externalTrafficPolicy === "Local";
  if (local ? !c.local : !c.any) {
    out.reason = local
      ? `externalTrafficPolicy Local and no serving endpoint on node ${ctx.nodeName}`
      : "no serving endpoint";
    return done;
  }
  if (peers.length === 0) {
    out.reason = `no BGPPeer selects node ${ctx.nodeName}`;
    return done;
  }
  const weight = ctx.weightedEcmp && local ? (c.localReady || c.local) : 0;
  const announcedTo = new Set<string>();
  const reasons: string[] = [];
  for (const ip of svc.ingressIPs) {
    const pool = lookupPool(config, poolNames, svc, ip);
    if (!pool) {
      reasons.push(`IP ${ip} is in no IPAddressPool`);
      continue;
    }
    const v6 = ip.includes(":");
    let matched = false;
    let familyless: string | undefined;
    for (const ad of ctx.adsByPool.get(pool) ?? []) {
      if (!matchesAnySelector(ad.serviceSelectors, svc.labels)) continue;
      let prefix: Prefix, key: string;
      try {
        ({ prefix, key } = cachedPrefix(
          cache,
          ip,
          v6 ? ad.aggregationLengthV6 : ad.aggregationLength,
        ));
      } catch (err) {
        reasons.push(`IP ${ip}: ${(err as Error).message}`);
        break;
      }
      const family = v6 ? "ipv6" : "ipv4";
      const carriers = v6 ? ctx.v6Peers : ctx.v4Peers;
      const all = carriers.length === peers.length;
      const targets = ad.peers.length === 0 && all
        ? null
        : carriers.filter((p) => ad.peers.length === 0 || ad.peers.includes(p.name)).map((p) =>
          p.name
        );
      if (targets?.length === 0) {
        if (carriers.length === 0) familyless = family;
        continue;
      }
      matched = true;
      contributions.push({ prefix, key, ad, peers: targets, weight, svc: svcKey });
      for (const p of targets ?? peers.map((x) => x.name)) announcedTo.add(p);
    }
    if (!matched && familyless) {
      reasons.push(
        `IP ${ip}: no BGPPeer of this node carries ${familyless} (set dualStackAddressFamily)`,
      );
    } else if (!matched) {
      reasons.push(
        `no BGPAdvertisement selects pool "${pool}" for this node, Service and its peers`,
      );
    }
  }
  out.peers = internPeers(cache, [...announcedTo].sort());
  if (out.peers.length === 0) out.reason = reasons.join("; ");
  // Exact size: a pushed-to array keeps room for 16 more, times 100,000s of Services.
  return { out, contributions: contributions.slice() };
}

/** Decides every route this node announces, per peer, and each Service's outcome. */
export function computeAnnouncements(config: Config, input: AnnounceInput): Announcements {
  const node = input.nodes.find((n) => n.name === input.nodeName);
  // Without a Node object (file mode) the node has no labels and counts as available.
  const nodeLabels = node?.labels ?? {};
  let nodeReason: string | undefined;
  if (node?.networkUnavailable) nodeReason = `node ${input.nodeName} is NetworkUnavailable`;
  else if (Object.hasOwn(nodeLabels, EXCLUDE_LABEL)) {
    nodeReason = `node ${input.nodeName} has label ${EXCLUDE_LABEL}`;
  }
  const rejected = input.rejectedPeers ?? new Map<string, string>();
  const peers = config.peers
    .filter((p) => !rejected.has(p.name) && matchesAnySelector(p.nodeSelectors, nodeLabels))
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const cache = input.cache ?? createAnnounceCache();
  const { counts, touched } = endpointCounts(cache, input.endpointSlices, input.nodeName);
  const ads = config.advertisements.filter((a) => matchesAnySelector(a.nodeSelectors, nodeLabels));
  const poolNames = new Set(config.pools.map((p) => p.name));
  const adsByPool = new Map<string, AdvertisementConfig[]>();
  for (const ad of ads) {
    for (const pool of ad.pools) {
      let list = adsByPool.get(pool);
      if (!list) adsByPool.set(pool, list = []);
      list.push(ad);
    }
  }

  const sig = JSON.stringify([
    input.nodeName,
    nodeLabels,
    nodeReason ?? "",
    [...rejected.keys()].sort(),
    !!input.weightedEcmp,
  ]);
  if (cache.context?.config !== config || cache.context.sig !== sig) {
    cache.context = { config, sig, token: {} };
  }
  const ctx: DecideContext = {
    config,
    nodeName: input.nodeName,
    nodeReason,
    peers,
    v4Peers: peers.filter((p) => peerFamilies(p).includes("ipv4")),
    v6Peers: peers.filter((p) => peerFamilies(p).includes("ipv6")),
    poolNames,
    adsByPool,
    weightedEcmp: !!input.weightedEcmp,
    cache,
  };
  const token = cache.context.token;
  const last = cache.aggregate;
  const prevIn = cache.inputs;
  let agg: Aggregate | undefined;
  if (
    touched && prevIn?.index && last && last.token === token && samePeers(last.peers, peers) &&
    prevIn.loadBalancerClass === input.loadBalancerClass &&
    sameItems(prevIn.services, input.services)
  ) {
    // The same Services as last time: only those whose endpoints changed are decided again.
    const decisions = last.decisions.slice();
    const changed: number[] = [];
    for (const key of touched) {
      const i = prevIn.index.get(key);
      if (i === undefined) continue;
      const d = decisionFor(prevIn.views[i], counts, token, ctx);
      if (d === decisions[i]) continue;
      decisions[i] = d;
      changed.push(i);
    }
    agg = changed.length ? aggregateChanges(cache, last, decisions, changed) : last;
  } else {
    const decisions: Decision[] = [];
    const views: ServiceView[] = [];
    let index: Map<string, number> | undefined = new Map();
    for (const svc of input.services) {
      if (svc.type !== "LoadBalancer") continue;
      if ((svc.loadBalancerClass ?? undefined) !== input.loadBalancerClass) continue;
      const d = decisionFor(svc, counts, token, ctx);
      if (index?.has(d.key)) index = undefined;
      else index?.set(d.key, decisions.length);
      decisions.push(d);
      views.push(svc);
    }
    cache.inputs = {
      services: input.services.slice(),
      loadBalancerClass: input.loadBalancerClass,
      views,
      index,
    };
    if (
      last && last.token === token && samePeers(last.peers, peers) &&
      last.decisions.length === decisions.length
    ) {
      const changed: number[] = [];
      for (let i = 0; i < decisions.length; i++) {
        if (decisions[i] !== last.decisions[i]) changed.push(i);
      }
      // Past a quarter of the table, starting over costs no more than patching.
      if (changed.length * 4 <= decisions.length) {
        agg = aggregateChanges(cache, last, decisions, changed);
      }
    }
    agg ??= aggregateAll(cache, token, peers, decisions);
  }
  cache.aggregate = agg;
  // Callers get their own containers: the aggregate is patched in place next time.
  const routes = new Map<string, Route[]>();
  for (const [name, list] of agg.routes) routes.set(name, list);
  const services = agg.services.slice();
  const result: Announcements = { routes, services, peers };
  if (nodeReason) result.nodeReason = nodeReason;
  return result;
}
