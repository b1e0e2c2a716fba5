/**
 * One Service's decision on this node: why it is not announced, or the prefixes it asks for
 * through which advertisements and to which peers (the reference's "Which node announces").
 */
import type { AdvertisementConfig, Config, PeerConfig } from "../api/config.ts";
import { parseIP } from "../api/ip.ts";
import type { ServiceView } from "../api/objects.ts";
import { matchesAnySelector } from "../api/selectors.ts";
import { mergePathControl } from "../api/path_control.ts";
import { parsePrefix, prefixEquals } from "../bgp/mod.ts";
import type { Prefix } from "../bgp/types.ts";
import { internPeers } from "./announce_memo.ts";
import { sourceOf } from "./announce_routes.ts";
import {
  type AnnounceCache,
  anyOf,
  type Change,
  contribsOf,
  Contribution,
  contributionList,
  type Contributions,
  localOf,
  Outcome,
  type OutcomeNote,
  readyOf,
  type ServiceRecord,
  viewOf,
} from "./announce_types.ts";

/** Annotation the controller writes with the pool an IP came from. */
export const POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool";
/** The older spelling of {@linkcode POOL_ANNOTATION}, read when the newer is absent. */
export const LEGACY_POOL_ANNOTATION = "metallb.universe.tf/ip-allocated-from-pool";

/** The peers of a Service announced nowhere: one list for all of them (often 10,000s). */
const NO_PEERS = Object.freeze([]) as unknown as string[];

/** What every decision of one plan depends on besides the Service and its endpoints. */
export interface DecideContext {
  config: Config;
  nodeName: string;
  nodeReason?: string;
  /** Bumped whenever anything here changes: decisions of another epoch are redone. */
  epoch: number;
  peers: readonly PeerConfig[];
  v4Peers: readonly PeerConfig[];
  v6Peers: readonly PeerConfig[];
  noNextHopV6: ReadonlyMap<string, string>;
  poolNames: ReadonlySet<string>;
  adsByPool: ReadonlyMap<string, AdvertisementConfig[]>;
  weightedEcmp: boolean;
  cache: AnnounceCache;
  /**
   * One list every decision of the plan pushes its contributions to and leaves empty: not
   * an array (with room for 16 more) made and dropped per Service.
   */
  scratch: Contribution[];
  /** The interned names of `peers`, once a decision asked for them all. */
  allPeers?: string[];
  /** Outcome notes of this plan that name no Service, by peer list, then pool and reason. */
  notes: Map<readonly string[], Map<string, OutcomeNote>>;
}

/** The peers the IPs of one Service reach so far: all of them, or those in `some`. */
interface Reach {
  all: boolean;
  some: Set<string> | undefined;
}

/** The pool an IP belongs to: the controller's annotation first, else the containing range. */
export function lookupPool(
  config: Config,
  names: ReadonlySet<string>,
  at: { svc: ServiceView; ip: string },
): string | undefined {
  const { annotations } = at.svc;
  const annotated = annotations[POOL_ANNOTATION] ?? annotations[LEGACY_POOL_ANNOTATION];
  if (annotated && names.has(annotated)) return annotated;
  const parsed = parseIP(at.ip);
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
 * Decides `rec` again for `view` unless its decision still holds (same view, same epoch,
 * counts unchanged); returns what changed, for the aggregate.
 */
export function redecide(
  rec: ServiceRecord,
  view: ServiceView,
  ctx: DecideContext,
): Change | undefined {
  if (viewOf(rec) === view && rec.epoch === ctx.epoch) return undefined;
  const change: Change = { rec, old: contribsOf(rec), oldOut: rec.out };
  const contribs = ctx.scratch;
  contribs.length = 0;
  rec.epoch = ctx.epoch;
  rec.out = decideService({ rec, svc: view }, contribs, ctx);
  contribs.length = 0;
  return change;
}

/**
 * Puts back the old contributions equal to the new ones at the same place: a Service decided
 * again for the same routes (its endpoint count changed) then changes no Route's identity,
 * and the merge and the sessions skip it.
 */
function keepEqual(contribs: Contribution[], old: Contributions): void {
  const list = contributionList(old);
  for (let i = 0; i < contribs.length && i < list.length; i++) {
    const a = contribs[i], b = list[i];
    if (
      prefixEquals(a.prefix, b.prefix) && a.source === b.source && a.svc === b.svc
    ) contribs[i] = b;
  }
}

/** Why a Service waits or is not announced at all, before looking at its IPs. */
interface Blocked {
  reason: string;
  cause: "waiting" | "config";
}

const NO_IP: Blocked = Object.freeze({ reason: "no IP assigned yet", cause: "waiting" });

/** Why `rec` waits or is not announced at all, before looking at its IPs. */
function blocker(
  at: { rec: ServiceRecord; svc: ServiceView },
  ctx: DecideContext,
): Blocked | undefined {
  const { rec, svc } = at;
  if (svc.ingressIPs.length === 0) return NO_IP;
  if (ctx.nodeReason) return { reason: ctx.nodeReason, cause: "config" };
  const local = svc.externalTrafficPolicy === "Local";
  if (local ? !localOf(rec.counts) : !anyOf(rec.counts)) {
    const reason = local
      ? `externalTrafficPolicy Local and no serving endpoint on node ${ctx.nodeName}`
      : "no serving endpoint";
    return { reason, cause: "waiting" };
  }
  if (ctx.peers.length === 0) {
    return { reason: `no BGPPeer selects node ${ctx.nodeName}`, cause: "config" };
  }
  return undefined;
}

/**
 * The plan's one note for `pool`, `peers` (an interned list) and a reason that names no
 * Service: most Services share one, often 10,000s.
 */
function sharedNote(
  ctx: DecideContext,
  at: { pool: string | undefined; peers: string[]; blocked?: Blocked },
): OutcomeNote {
  const { pool, peers, blocked } = at;
  let byPeers = ctx.notes.get(peers);
  if (!byPeers) ctx.notes.set(peers, byPeers = new Map());
  const key = `${pool ?? ""}\n${blocked?.cause ?? ""}\n${blocked?.reason ?? ""}`;
  let hit = byPeers.get(key);
  if (!hit) byPeers.set(key, hit = Object.freeze({ pool, peers, ...blocked }));
  return hit;
}

/** Packs a decision's contributions: one alone rather than a list of one, else a copy. */
function packed(contribs: readonly Contribution[]): Contributions {
  return contribs.length === 0 ? undefined : contribs.length === 1 ? contribs[0] : contribs.slice();
}

/** The outcome of `rec`; its contributions are pushed to `contribs`. */
function decideService(
  of: { rec: ServiceRecord; svc: ServiceView },
  contribs: Contribution[],
  ctx: DecideContext,
): Outcome {
  const { rec, svc } = of;
  // The record's key string, so that the status reporter needs no copy of its own.
  const { key } = rec;
  const ip0 = svc.ingressIPs[0];
  const pool = ip0 === undefined
    ? undefined
    : lookupPool(ctx.config, ctx.poolNames, { svc, ip: ip0 });
  const blocked = blocker(of, ctx);
  if (blocked) {
    const note = sharedNote(ctx, { pool, peers: NO_PEERS, blocked });
    return new Outcome(svc, { key, contribs: undefined, note });
  }
  const local = svc.externalTrafficPolicy === "Local";
  const weight = ctx.weightedEcmp && local ? (readyOf(rec.counts) || localOf(rec.counts)) : 0;
  const reach: Reach = { all: false, some: undefined };
  const reasons: string[] = [];
  for (const ip of svc.ingressIPs) {
    decideIp({ rec, svc, ip, weight }, { contribs, reach, reasons }, ctx);
  }
  keepEqual(contribs, contribsOf(rec));
  const peers = peersReached(reach, ctx);
  // Reasons here name the Service's IPs, and a path its own advertisements: its own note.
  let note: OutcomeNote | undefined;
  if (peers.length === 0) note = { pool, peers, reason: reasons.join("; "), cause: "config" };
  else if (reasons.length > 0) note = { pool, peers, partial: reasons.join("; ") };
  // Most advertisements set neither: then no list and merge per Service.
  if (contribs.some((k) => k.ad.med !== undefined || k.ad.asPathPrepend !== undefined)) {
    note = { pool, peers, ...note, path: mergePathControl(contribs.map((k) => k.ad)) };
  }
  note ??= sharedNote(ctx, { pool, peers });
  return new Outcome(svc, { key, contribs: packed(contribs), note });
}

/** The sorted, interned names of the peers `reach` holds. */
function peersReached(reach: Reach, ctx: DecideContext): string[] {
  // Every peer (the usual case): one list for the plan, no set and sort per Service.
  if (reach.all) return ctx.allPeers ??= internPeers(ctx.cache, ctx.peers.map((p) => p.name));
  return reach.some ? internPeers(ctx.cache, [...reach.some].sort()) : NO_PEERS;
}

/** Why the IPv6 peers `ad` would reach get no IPv6 route (no next hop), if that is why. */
function noNextHopFor(ctx: DecideContext, ad: AdvertisementConfig): string | undefined {
  for (const [name, why] of ctx.noNextHopV6) {
    if (ad.peers.length === 0 || ad.peers.includes(name)) return `BGPPeer ${name}: ${why}`;
  }
  return undefined;
}

/**
 * The contributions of one IP of a Service and the peers they reach; why the IP is not
 * announced, if it is not, goes to `to.reasons`.
 */
function decideIp(
  at: { rec: ServiceRecord; svc: ServiceView; ip: string; weight: number },
  to: { contribs: Contribution[]; reach: Reach; reasons: string[] },
  ctx: DecideContext,
): void {
  const { rec, svc, ip } = at;
  const pool = lookupPool(ctx.config, ctx.poolNames, { svc, ip });
  if (!pool) {
    to.reasons.push(`IP ${ip} is in no IPAddressPool`);
    return;
  }
  const v6 = ip.includes(":");
  const carriers = v6 ? ctx.v6Peers : ctx.v4Peers;
  let matched = false;
  let familyless = false;
  let hopless: string | undefined;
  for (const ad of ctx.adsByPool.get(pool) ?? []) {
    if (!matchesAnySelector(ad.serviceSelectors, svc.labels)) continue;
    let found: Prefix;
    try {
      const length = v6 ? ad.aggregationLengthV6 : ad.aggregationLength;
      found = parsePrefix(`${ip}/${length}`);
    } catch (err) {
      to.reasons.push(`IP ${ip}: ${(err as Error).message}`);
      break;
    }
    const targets = targetsOf(ad, carriers, ctx.peers);
    if (targets?.length === 0) {
      hopless ??= noNextHopFor(ctx, ad);
      if (carriers.length === 0) familyless = true;
      continue;
    }
    matched = true;
    const source = sourceOf(ctx.cache, ad, { peers: targets, weight: at.weight });
    const k = new Contribution(found, { source, svc: rec.key });
    // Two advertisements of one Service asking for one prefix share its object.
    const same = to.contribs.find((o) => prefixEquals(o.prefix, found));
    if (same) k.prefix = same.prefix;
    to.contribs.push(k);
    if (targets === null) to.reach.all = true;
    else for (const p of targets) (to.reach.some ??= new Set()).add(p);
  }
  if (matched) return;
  const family = v6 ? "ipv6" : "ipv4";
  to.reasons.push(
    v6 && hopless
      ? `IP ${ip}: ${hopless}`
      : familyless
      ? `IP ${ip}: no BGPPeer of this node carries ${family} (set dualStackAddressFamily)`
      : `no BGPAdvertisement selects pool "${pool}" for this node, Service and its peers`,
  );
}

/** The peers an advertisement reaches among `carriers`; null = every peer of this node. */
function targetsOf(
  ad: AdvertisementConfig,
  carriers: readonly PeerConfig[],
  peers: readonly PeerConfig[],
): readonly string[] | null {
  if (ad.peers.length === 0 && carriers.length === peers.length) return null;
  return carriers.filter((p) => ad.peers.length === 0 || ad.peers.includes(p.name)).map((p) =>
    p.name
  );
}
