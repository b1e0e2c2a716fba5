/**
 * The speaker's decision, pure: given the configuration and the cluster's Services,
 * EndpointSlices and Nodes, which routes this node announces to which BGPPeer, and why a
 * Service is not announced. Follows the reference's "Which node announces" rules.
 */
import type { AdvertisementConfig, Config, PeerConfig } from "../api/config.ts";
import { parseIP } from "../api/ip.ts";
import type { ServiceView } from "../api/objects.ts";
import { matchesAnySelector } from "../api/selectors.ts";
import { mergePathControl } from "../api/path_control.ts";
import type { Route } from "../bgp/mod.ts";
import type { Prefix } from "../bgp/types.ts";
import { cachedPrefix, endpointCounts, internPeers } from "./announce_memo.ts";
import { aggregateAll, aggregateChanges } from "./announce_merge.ts";
import {
  type Aggregate,
  type AnnounceCache,
  type AnnounceInput,
  type Announcements,
  type Contribution,
  type Counts,
  createAnnounceCache,
  type Decision,
  type ServiceAnnouncement,
} from "./announce_types.ts";

export { AS_TRANS, BANDWIDTH_PER_ENDPOINT, linkBandwidthCommunity } from "./announce_memo.ts";
export { localAsnOf } from "./announce_merge.ts";
export {
  type AnnounceCache,
  type AnnounceInput,
  type Announcements,
  createAnnounceCache,
  type ServiceAnnouncement,
} from "./announce_types.ts";

/** Annotation the controller writes with the pool an IP came from. */
export const POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool";
/** The older spelling of {@linkcode POOL_ANNOTATION}, read when the newer is absent. */
export const LEGACY_POOL_ANNOTATION = "metallb.universe.tf/ip-allocated-from-pool";
/** Node label that keeps a node from announcing anything. */
export const EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers";
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
 * Address families a session to `peer` carries: the family of its address, both with
 * `dualStackAddressFamily` (as in MetalLB, where the other family needs that opt-in).
 */
export function peerFamilies(peer: PeerConfig): ("ipv4" | "ipv6")[] {
  if (peer.dualStackAddressFamily) return ["ipv4", "ipv6"];
  return [peer.address?.includes(":") ? "ipv6" : "ipv4"];
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

interface DecideContext {
  config: Config;
  nodeName: string;
  nodeReason?: string;
  peers: readonly PeerConfig[];
  v4Peers: readonly PeerConfig[];
  v6Peers: readonly PeerConfig[];
  noNextHopV6: ReadonlyMap<string, string>;
  poolNames: ReadonlySet<string>;
  adsByPool: ReadonlyMap<string, AdvertisementConfig[]>;
  weightedEcmp: boolean;
  cache: AnnounceCache;
}

const NO_ENDPOINTS = { any: 0, local: 0, localReady: 0 };

/** Why the IPv6 peers `ad` would reach get no IPv6 route (no next hop), if that is why. */
function noNextHopFor(ctx: DecideContext, ad: AdvertisementConfig): string | undefined {
  for (const [name, why] of ctx.noNextHopV6) {
    if (ad.peers.length === 0 || ad.peers.includes(name)) return `BGPPeer ${name}: ${why}`;
  }
  return undefined;
}

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
    // Views are immutable: share the list rather than copy it, times 100,000s of Services.
    ips: svc.ingressIPs as string[],
    peers: [],
  };
  const done = { out, contributions };
  if (svc.ingressIPs.length > 0) {
    const pool = lookupPool(config, poolNames, svc, svc.ingressIPs[0]);
    if (pool) out.pool = pool;
  }
  if (svc.ingressIPs.length === 0) {
    out.reason = "no IP assigned yet";
    out.cause = "waiting";
    return done;
  }
  if (ctx.nodeReason) {
    out.reason = ctx.nodeReason;
    out.cause = "config";
    return done;
  }
  const local = svc.externalTrafficPolicy === "Local";
  if (local ? !c.local : !c.any) {
    out.reason = local
      ? `externalTrafficPolicy Local and no serving endpoint on node ${ctx.nodeName}`
      : "no serving endpoint";
    out.cause = "waiting";
    return done;
  }
  if (peers.length === 0) {
    out.reason = `no BGPPeer selects node ${ctx.nodeName}`;
    out.cause = "config";
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
    let hopless: string | undefined;
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
        hopless ??= noNextHopFor(ctx, ad);
        if (carriers.length === 0) familyless = family;
        continue;
      }
      matched = true;
      contributions.push({ prefix, key, ad, peers: targets, weight, svc: svcKey });
      for (const p of targets ?? peers.map((x) => x.name)) announcedTo.add(p);
    }
    if (!matched && v6 && hopless) {
      reasons.push(`IP ${ip}: ${hopless}`);
    } else if (!matched && familyless) {
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
  if (out.peers.length === 0) {
    out.reason = reasons.join("; ");
    out.cause = "config";
  } else if (reasons.length > 0) out.partial = reasons.join("; ");
  // One key alone rather than a list of one (the usual case).
  if (contributions.length === 1) out.prefixes = contributions[0].key;
  else if (contributions.length > 1) out.prefixes = [...new Set(contributions.map((k) => k.key))];
  const path = mergePathControl(contributions.map((k) => k.ad));
  if (path.med !== undefined || path.asPathPrepend !== undefined) out.path = path;
  // Exact size: a pushed-to array keeps room for 16 more, times 100,000s of Services.
  return { out, contributions: contributions.slice() };
}

/** Decides every route this node announces, per peer, and each Service's outcome. */
export function computeAnnouncements(config: Config, input: AnnounceInput): Announcements {
  const plan = planAnnouncements(config, input);
  for (;;) {
    const r = plan.next();
    if (r.done) return r.value;
  }
}

/**
 * {@linkcode computeAnnouncements} as a generator that yields every few thousand Services,
 * so that a caller can let timers, I/O and signals in between (100,000s of Services).
 */
export function* planAnnouncements(
  config: Config,
  input: AnnounceInput,
): Generator<void, Announcements> {
  const node = input.nodes.find((n) => n.name === input.nodeName);
  // Without a Node object (file mode) the node has no labels and counts as available.
  const nodeLabels = node?.labels ?? {};
  let nodeReason: string | undefined;
  if (node?.networkUnavailable) nodeReason = `node ${input.nodeName} is NetworkUnavailable`;
  else if (Object.hasOwn(nodeLabels, EXCLUDE_LABEL)) {
    nodeReason = `node ${input.nodeName} has label ${EXCLUDE_LABEL}`;
  }
  const rejected = input.rejectedPeers ?? new Map<string, string>();
  const noNextHopV6 = input.noNextHopV6 ?? new Map<string, string>();
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
    [...noNextHopV6].sort(),
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
    v6Peers: peers.filter((p) => peerFamilies(p).includes("ipv6") && !noNextHopV6.has(p.name)),
    noNextHopV6,
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
    for (let i = 0; i < input.services.length; i++) {
      if ((i & 1023) === 1023) yield;
      const svc = input.services[i];
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
    agg ??= yield* aggregateAll(cache, token, peers, decisions);
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
