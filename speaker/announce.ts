/**
 * The speaker's decision, pure: given the configuration and the cluster's Services,
 * EndpointSlices and Nodes, which routes this node announces to which BGPPeer, and why a
 * Service is not announced. Follows the reference's "Which node announces" rules; one
 * Service's decision is in `announce_decide.ts`, the merge into routes in `announce_merge.ts`.
 */
import type { AdvertisementConfig, Config, PeerConfig } from "../api/config.ts";
import type { ServiceView } from "../api/objects.ts";
import { matchesAnySelector } from "../api/selectors.ts";
import { type DecideContext, lookupPool, redecide } from "./announce_decide.ts";
import { countEndpoints, recordOf } from "./announce_memo.ts";
import { aggregateAll, aggregateChanges } from "./announce_merge.ts";
import {
  type Aggregate,
  type AnnounceCache,
  type AnnounceInput,
  type Announcements,
  anyOf,
  type Change,
  createAnnounceCache,
  type ServiceRecord,
  viewOf,
} from "./announce_types.ts";

export { AS_TRANS, BANDWIDTH_PER_ENDPOINT, linkBandwidthCommunity } from "./announce_memo.ts";
export { LEGACY_POOL_ANNOTATION, POOL_ANNOTATION } from "./announce_decide.ts";
export { localAsnOf } from "./announce_merge.ts";
export {
  type AnnounceCache,
  type AnnounceInput,
  type Announcements,
  createAnnounceCache,
  type ServiceAnnouncement,
} from "./announce_types.ts";

/** Node label that keeps a node from announcing anything. */
export const EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers";

/** The pool an IP belongs to: the controller's annotation first, else the containing range. */
export function poolOf(config: Config, svc: ServiceView, ip: string): string | undefined {
  return lookupPool(config, new Set(config.pools.map((p) => p.name)), { svc, ip });
}

/**
 * Address families a session to `peer` carries: the family of its address, both with
 * `dualStackAddressFamily` (as in MetalLB, where the other family needs that opt-in).
 */
export function peerFamilies(peer: PeerConfig): ("ipv4" | "ipv6")[] {
  if (peer.dualStackAddressFamily) return ["ipv4", "ipv6"];
  return [peer.address?.includes(":") ? "ipv6" : "ipv4"];
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
  const cache = input.cache ?? createAnnounceCache();
  const ctx = contextOf(config, input, cache);
  const touched = yield* countEndpoints(cache, {
    slices: input.endpointSlices,
    nodeName: input.nodeName,
  });
  const last = cache.aggregate;
  const prev = cache.inputs;
  const agg = touched && last && prev?.unique && sameAggregate(last, ctx) &&
      prev.loadBalancerClass === input.loadBalancerClass &&
      sameItems(prev.services, input.services)
    ? yield* patchTouched(cache, ctx, touched)
    : yield* planAll(cache, ctx, input);
  cache.aggregate = agg;
  // Callers get their own map: the aggregate's is patched in place next time. Its list of
  // outcomes is not (a patch makes a new one), so callers share it: no copy, 100,000s long.
  const result: Announcements = {
    routes: new Map(agg.routes),
    services: agg.services,
    peers: ctx.peers.slice(),
  };
  if (ctx.nodeReason) result.nodeReason = ctx.nodeReason;
  return result;
}

/** The same Services as last time: only those whose endpoints changed are decided again. */
function* patchTouched(
  cache: AnnounceCache,
  ctx: DecideContext,
  touched: ReadonlySet<ServiceRecord>,
): Generator<void, Aggregate> {
  const last = cache.aggregate!;
  const changes: Change[] = [];
  for (const rec of touched) {
    // A record without a view is a Service not handled (or gone): nothing to decide.
    const view = viewOf(rec);
    if (view === undefined) continue;
    const c = redecide(rec, view, ctx);
    if (c) changes.push(c);
  }
  if (changes.length === 0) return last;
  return yield* aggregateChanges(cache, last, { records: last.records, changes });
}

/**
 * Decides every handled Service (those whose view, counts or context changed again) and
 * merges: by patching the last aggregate when few changed, from scratch otherwise.
 */
function* planAll(
  cache: AnnounceCache,
  ctx: DecideContext,
  input: AnnounceInput,
): Generator<void, Aggregate> {
  const { records, changes, unique } = yield* decideAll(cache, ctx, input);
  cache.inputs = {
    // A frozen list cannot change under us: kept as it is, not copied (100,000s long).
    services: Object.isFrozen(input.services) ? input.services : input.services.slice(),
    loadBalancerClass: input.loadBalancerClass,
    unique,
  };
  const last = cache.aggregate;
  if (last && changes && sameAggregate(last, ctx) && sameItems(last.records, records)) {
    return changes.length ? yield* aggregateChanges(cache, last, { records, changes }) : last;
  }
  return yield* aggregateAll(cache, records, ctx);
}

/**
 * Every handled Service's record, in input order, with the ones decided again; `changes` is
 * undefined past a quarter of the Services, where starting over costs no more than patching
 * (and a first plan keeps no Change per Service).
 */
function* decideAll(
  cache: AnnounceCache,
  ctx: DecideContext,
  input: AnnounceInput,
): Generator<void, { records: ServiceRecord[]; changes?: Change[]; unique: boolean }> {
  const records: ServiceRecord[] = [];
  // With no aggregate to patch (a first plan) nothing is patched: no Change is kept.
  let changes: Change[] | undefined = cache.aggregate ? [] : undefined;
  const most = input.services.length / 4;
  const handled = new Set<ServiceRecord>();
  let unique = true;
  for (let i = 0; i < input.services.length; i++) {
    if ((i & 1023) === 1023) yield;
    const svc = input.services[i];
    if (svc.type !== "LoadBalancer") continue;
    if ((svc.loadBalancerClass ?? undefined) !== input.loadBalancerClass) continue;
    let rec = recordOf(cache, `${svc.namespace}/${svc.name}`);
    // Two Services of one name (only from callers other than the speaker): the second gets
    // a record of its own, decided afresh every time.
    if (handled.has(rec)) {
      rec = { ...rec, epoch: 0, out: undefined };
      unique = false;
    }
    handled.add(rec);
    const c = redecide(rec, svc, ctx);
    if (c && changes && changes.push(c) > most) changes = undefined;
    records.push(rec);
  }
  yield* forgetUnhandled(cache, handled);
  return { records, changes, unique };
}

/** Drops what records of Services no longer handled decided; keeps their endpoint counts. */
function* forgetUnhandled(
  cache: AnnounceCache,
  handled: ReadonlySet<ServiceRecord>,
): Generator<void, void> {
  let n = 0;
  for (const [key, rec] of cache.records) {
    if ((++n & 4095) === 0) yield;
    if (handled.has(rec)) continue;
    if (anyOf(rec.counts) === 0) cache.records.delete(key);
    else Object.assign(rec, { epoch: 0, out: undefined });
  }
}

function sameItems<T>(a: readonly T[], b: readonly T[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The last aggregate was merged in this context, for the same peers. */
function sameAggregate(agg: Aggregate, ctx: DecideContext): boolean {
  return agg.epoch === ctx.epoch && sameItems(agg.peers, ctx.peers);
}

/** Why this node announces nothing at all, if so. */
function nodeReasonOf(input: AnnounceInput, labels: Record<string, string>): string | undefined {
  const node = input.nodes.find((n) => n.name === input.nodeName);
  if (node?.networkUnavailable) return `node ${input.nodeName} is NetworkUnavailable`;
  if (Object.hasOwn(labels, EXCLUDE_LABEL)) {
    return `node ${input.nodeName} has label ${EXCLUDE_LABEL}`;
  }
  return undefined;
}

/**
 * What this plan's decisions depend on besides each Service: the node, its peers and
 * advertisements; a new epoch when any of it changed.
 */
function contextOf(config: Config, input: AnnounceInput, cache: AnnounceCache): DecideContext {
  const node = input.nodes.find((n) => n.name === input.nodeName);
  // Without a Node object (file mode) the node has no labels and counts as available.
  const labels = node?.labels ?? {};
  const nodeReason = nodeReasonOf(input, labels);
  const rejected = input.rejectedPeers ?? new Map<string, string>();
  const noNextHopV6 = input.noNextHopV6 ?? new Map<string, string>();
  const peers = config.peers
    .filter((p) => !rejected.has(p.name) && matchesAnySelector(p.nodeSelectors, labels))
    .sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const sig = JSON.stringify([
    input.nodeName,
    labels,
    nodeReason ?? "",
    [...rejected.keys()].sort(),
    !!input.weightedEcmp,
    [...noNextHopV6].sort(),
  ]);
  if (cache.context?.config !== config || cache.context.sig !== sig) {
    cache.context = { config, sig, epoch: (cache.context?.epoch ?? 0) + 1 };
  }
  return {
    config,
    nodeName: input.nodeName,
    nodeReason,
    epoch: cache.context.epoch,
    peers,
    v4Peers: peers.filter((p) => peerFamilies(p).includes("ipv4")),
    v6Peers: peers.filter((p) => peerFamilies(p).includes("ipv6") && !noNextHopV6.has(p.name)),
    noNextHopV6,
    poolNames: new Set(config.pools.map((p) => p.name)),
    adsByPool: adsByPool(config.advertisements, labels),
    weightedEcmp: !!input.weightedEcmp,
    cache,
    scratch: [],
    notes: new Map(),
  };
}

/** The advertisements selecting this node, by pool. */
function adsByPool(
  ads: readonly AdvertisementConfig[],
  nodeLabels: Record<string, string>,
): Map<string, AdvertisementConfig[]> {
  const byPool = new Map<string, AdvertisementConfig[]>();
  for (const ad of ads) {
    if (!matchesAnySelector(ad.nodeSelectors, nodeLabels)) continue;
    for (const pool of ad.pools) {
      let list = byPool.get(pool);
      if (!list) byPool.set(pool, list = []);
      list.push(ad);
    }
  }
  return byPool;
}
