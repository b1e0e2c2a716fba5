/**
 * One Service's decision on this node: why it is not announced, or the prefixes it asks for
 * through which advertisements and to which peers (the reference's "Which node announces").
 */
import type { AdvertisementConfig, Config, PeerConfig } from "../api/config.ts";
import { parseIPv4 } from "../addr/ip.ts";
import { parseIP } from "../api/ip.ts";
import type { ServiceView } from "../api/objects.ts";
import { matchesAnySelector } from "../api/selectors.ts";
import { mergePathControl } from "../api/path_control.ts";
import { parsePrefix, prefixEquals } from "../bgp/mod.ts";
import { AFI_IPV4, type Prefix } from "../bgp/types.ts";
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
  type Source,
  viewOf,
} from "./announce_types.ts";

/** Annotation the controller writes with the pool an IP came from. */
export const POOL_ANNOTATION = "metallb.io/ip-allocated-from-pool";
/** The older spelling of {@linkcode POOL_ANNOTATION}, read when the newer is absent. */
export const LEGACY_POOL_ANNOTATION = "metallb.universe.tf/ip-allocated-from-pool";

/** A placeholder source for the Decider's argument object before its first use. */
const NO_SOURCE = Object.freeze({}) as Source;

/** No advertisement for a pool. */
const NO_ADS: readonly AdvertisementConfig[] = Object.freeze([]);

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
  /** The interned names of `peers`, once a decision asked for them all. */
  allPeers?: string[];
  /** Outcome notes of this plan that name no Service, by peer list, then pool and reason. */
  notes: Map<readonly string[], Map<string, OutcomeNote>>;
  /** The working state every decision of the plan reuses (see {@linkcode Decider}). */
  decider?: Decider;
}

/** The pool an IP belongs to: the controller's annotation first, else the containing range. */
export function lookupPool(
  config: Config,
  names: ReadonlySet<string>,
  at: { svc: ServiceView; ip: string },
): string | undefined {
  return annotatedPool(at.svc, names) ?? rangePool(config, at.ip);
}

/** The pool the controller's annotation on `svc` names, when it is one of `names`. */
function annotatedPool(svc: ServiceView, names: ReadonlySet<string>): string | undefined {
  const { annotations } = svc;
  const annotated = annotations[POOL_ANNOTATION] ?? annotations[LEGACY_POOL_ANNOTATION];
  return annotated && names.has(annotated) ? annotated : undefined;
}

/** The pool with a range containing `ip`. */
function rangePool(config: Config, ip: string): string | undefined {
  // IPv4 (nearly every address) read as a number, compared with the ranges' bigints as it
  // is: no result objects and no bigint made per lookup, times 100,000s of Services.
  let family: 4 | 6 = 4;
  let value: number | bigint | null = parseIPv4(ip);
  if (value === null) {
    const parsed = parseIP(ip);
    if (!parsed.ok) return undefined;
    family = parsed.value.family;
    value = parsed.value.value;
  }
  const { pools } = config;
  for (let i = 0; i < pools.length; i++) {
    const { ranges } = pools[i];
    for (let j = 0; j < ranges.length; j++) {
      const r = ranges[j];
      if (r.family === family && r.start <= value && value <= r.end) return pools[i].name;
    }
  }
  return undefined;
}

/** Whether `rec`'s decision still holds for `view` (same view, same epoch, counts unchanged). */
export function decidedFor(rec: ServiceRecord, view: ServiceView, ctx: DecideContext): boolean {
  return viewOf(rec) === view && rec.epoch === ctx.epoch;
}

/** Decides `rec` for `view` in `ctx` (its outcome and epoch are set). */
export function decide(rec: ServiceRecord, view: ServiceView, ctx: DecideContext): void {
  const decider = ctx.decider ??= new Decider(ctx);
  rec.epoch = ctx.epoch;
  rec.out = decider.decide(rec, view);
}

/**
 * Decides `rec` again for `view` unless its decision still holds ({@linkcode decidedFor});
 * returns what changed, for the aggregate.
 */
export function redecide(
  rec: ServiceRecord,
  view: ServiceView,
  ctx: DecideContext,
): Change | undefined {
  if (decidedFor(rec, view, ctx)) return undefined;
  const change: Change = { rec, old: contribsOf(rec), oldOut: rec.out };
  decide(rec, view, ctx);
  return change;
}

/**
 * Puts back the old contributions equal to the new ones at the same place: a Service decided
 * again for the same routes (its endpoint count changed) then changes no Route's identity,
 * and the merge and the sessions skip it.
 */
function keepEqual(contribs: Contribution[], old: Contributions): void {
  if (old === undefined) return;
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

/** Packs a decision's contributions: one alone rather than a list of one, else a copy. */
function packed(contribs: readonly Contribution[]): Contributions {
  return contribs.length === 0 ? undefined : contribs.length === 1 ? contribs[0] : contribs.slice();
}

/** Whether an advertisement of a contribution sets a path attribute (most set neither). */
function setsPath(contribs: readonly Contribution[]): boolean {
  for (const k of contribs) {
    if (k.ad.med !== undefined || k.ad.asPathPrepend !== undefined) return true;
  }
  return false;
}

/** Why the IPv6 peers `ad` would reach get no IPv6 route (no next hop), if that is why. */
function noNextHopFor(ctx: DecideContext, ad: AdvertisementConfig): string | undefined {
  for (const [name, why] of ctx.noNextHopV6) {
    if (ad.peers.length === 0 || ad.peers.includes(name)) return `BGPPeer ${name}: ${why}`;
  }
  return undefined;
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

/** The network mask of an IPv4 `/length`. */
function mask4(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/**
 * One plan's decisions, one Service at a time: the working state of a decision (its
 * contributions, the peers reached, the reasons) lives here and is reset for the next one,
 * so that a decision makes no arrays, sets or argument objects of its own, times 100,000s.
 */
export class Decider {
  readonly #ctx: DecideContext;
  /** Contributions of the Service being decided (emptied before and after each). */
  readonly #contribs: Contribution[] = [];
  /** Why some of its IPs are not announced. */
  readonly #reasons: string[] = [];
  /** Peers its IPs reach so far: all of them, or those in `#some`. */
  #all = false;
  readonly #some = new Set<string>();
  #rec!: ServiceRecord;
  #svc!: ServiceView;
  #weight = 0;
  /** The prefix being added, read (copied) by the Contribution made from it. */
  readonly #p4 = { afi: AFI_IPV4 as 1, addr: 0, length: 0 };
  /**
   * Argument objects of the constructors and `sourceOf`, which copy their fields: reused,
   * not made per Service.
   */
  readonly #parts: { key: string; contribs: Contributions; note: OutcomeNote } = {
    key: "",
    contribs: undefined,
    note: { peers: NO_PEERS },
  };
  readonly #made: { source: Source; svc: string } = { source: NO_SOURCE, svc: "" };
  readonly #toPeers: { peers: readonly string[] | null; weight: number } = {
    peers: null,
    weight: 0,
  };
  /** The last shared note handed out: most Services of a plan get the same one. */
  #lastNote?: OutcomeNote;

  /** Decides in `ctx`. */
  constructor(ctx: DecideContext) {
    this.#ctx = ctx;
  }

  /** The outcome of `rec` for `svc`. */
  decide(rec: ServiceRecord, svc: ServiceView): Outcome {
    const ctx = this.#ctx;
    // The record's key string, so that the status reporter needs no copy of its own.
    const { key } = rec;
    // Each field read once: a view may build its spec again on every read (file mode's).
    const ips = svc.ingressIPs;
    if (ips.length === 0) {
      return this.#outcome(svc, { key, contribs: undefined, note: this.#note(undefined, NO_IP) });
    }
    const pool = this.#pool(svc, ips[0]);
    const local = svc.externalTrafficPolicy === "Local";
    const blocked = this.#blocker(rec, local);
    if (blocked) {
      return this.#outcome(svc, { key, contribs: undefined, note: this.#note(pool, blocked) });
    }
    this.#rec = rec;
    this.#svc = svc;
    this.#weight = ctx.weightedEcmp && local ? (readyOf(rec.counts) || localOf(rec.counts)) : 0;
    const contribs = this.#contribs, reasons = this.#reasons;
    contribs.length = 0;
    reasons.length = 0;
    this.#all = false;
    this.#some.clear();
    for (let i = 0; i < ips.length; i++) {
      this.#decideIp(ips[i], i === 0 ? pool : this.#pool(svc, ips[i]));
    }
    keepEqual(contribs, contribsOf(rec));
    const peers = this.#peersReached();
    // Reasons here name the Service's IPs, and a path its own advertisements: its own note.
    let note: OutcomeNote | undefined;
    if (peers.length === 0) note = { pool, peers, reason: reasons.join("; "), cause: "config" };
    else if (reasons.length > 0) note = { pool, peers, partial: reasons.join("; ") };
    if (setsPath(contribs)) {
      note = { pool, peers, ...note, path: mergePathControl(contribs.map((k) => k.ad)) };
    }
    note ??= this.#note(pool, peers);
    const out = this.#outcome(svc, { key, contribs: packed(contribs), note });
    contribs.length = 0;
    return out;
  }

  /** The outcome for `svc` with `at`'s fields (read, not kept). */
  #outcome(
    svc: ServiceView,
    at: { key: string; contribs: Contributions; note: OutcomeNote },
  ): Outcome {
    // Through one reused object: the constructor copies its fields.
    const parts = this.#parts;
    parts.key = at.key;
    parts.contribs = at.contribs;
    parts.note = at.note;
    return new Outcome(svc, parts);
  }

  /** The pool of `ip` of `svc`. */
  #pool(svc: ServiceView, ip: string): string | undefined {
    return annotatedPool(svc, this.#ctx.poolNames) ?? rangePool(this.#ctx.config, ip);
  }

  /**
   * Why `rec` (with IPs; `local`: of externalTrafficPolicy Local) waits or is not announced
   * at all, before looking at its IPs.
   */
  #blocker(rec: ServiceRecord, local: boolean): Blocked | undefined {
    const ctx = this.#ctx;
    if (ctx.nodeReason) return { reason: ctx.nodeReason, cause: "config" };
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
   * Service: most Services share one, often 10,000s; the last one is tried first.
   */
  #note(pool: string | undefined, of: Blocked | string[]): OutcomeNote {
    const blocked = Array.isArray(of) ? undefined : of as Blocked;
    const peers = blocked ? NO_PEERS : of as string[];
    const last = this.#lastNote;
    if (
      last !== undefined && last.pool === pool && last.peers === peers &&
      last.cause === blocked?.cause && last.reason === blocked?.reason
    ) return last;
    const ctx = this.#ctx;
    let byPeers = ctx.notes.get(peers);
    if (!byPeers) ctx.notes.set(peers, byPeers = new Map());
    const key = `${pool ?? ""}\n${blocked?.cause ?? ""}\n${blocked?.reason ?? ""}`;
    let hit = byPeers.get(key);
    if (!hit) byPeers.set(key, hit = Object.freeze({ pool, peers, ...blocked }));
    return this.#lastNote = hit;
  }

  /** The sorted, interned names of the peers reached. */
  #peersReached(): string[] {
    const ctx = this.#ctx;
    // Every peer (the usual case): one list for the plan, no set and sort per Service.
    if (this.#all) return ctx.allPeers ??= internPeers(ctx.cache, ctx.peers.map((p) => p.name));
    return this.#some.size > 0 ? internPeers(ctx.cache, [...this.#some].sort()) : NO_PEERS;
  }

  /** The prefix of `ip` for `ad`'s aggregation length; throws when there is none. */
  #prefixOf(ip: string, ad: AdvertisementConfig): Prefix {
    const v6 = ip.includes(":");
    const length = v6 ? ad.aggregationLengthV6 : ad.aggregationLength;
    const v4 = v6 || !Number.isInteger(length) || length < 0 || length > 32 ? null : parseIPv4(ip);
    if (v4 === null) return parsePrefix(`${ip}/${length}`);
    // As parsePrefix would make it (host bits cleared, signed), without the text and object.
    const p = this.#p4;
    p.addr = v4 & mask4(length);
    p.length = length;
    return p;
  }

  /**
   * The contributions of one IP (in `pool`) of the Service being decided and the peers they
   * reach; why the IP is not announced, if it is not, goes to the reasons.
   */
  #decideIp(ip: string, pool: string | undefined): void {
    const ctx = this.#ctx;
    const contribs = this.#contribs;
    if (!pool) {
      this.#reasons.push(`IP ${ip} is in no IPAddressPool`);
      return;
    }
    const v6 = ip.includes(":");
    const carriers = v6 ? ctx.v6Peers : ctx.v4Peers;
    let matched = false;
    let familyless = false;
    let hopless: string | undefined;
    // Indexed loops here and below: no iterator per IP, times 100,000s.
    const ads = ctx.adsByPool.get(pool) ?? NO_ADS;
    for (let a = 0; a < ads.length; a++) {
      const ad = ads[a];
      if (!matchesAnySelector(ad.serviceSelectors, this.#svc.labels)) continue;
      let found: Prefix;
      try {
        found = this.#prefixOf(ip, ad);
      } catch (err) {
        this.#reasons.push(`IP ${ip}: ${(err as Error).message}`);
        break;
      }
      const targets = targetsOf(ad, carriers, ctx.peers);
      if (targets?.length === 0) {
        hopless ??= noNextHopFor(ctx, ad);
        if (carriers.length === 0) familyless = true;
        continue;
      }
      matched = true;
      const toPeers = this.#toPeers;
      toPeers.peers = targets;
      toPeers.weight = this.#weight;
      const made = this.#made;
      made.source = sourceOf(ctx.cache, ad, toPeers);
      made.svc = this.#rec.key;
      const k = new Contribution(found, made);
      // Two advertisements of one Service asking for one prefix share its object.
      for (let o = 0; o < contribs.length; o++) {
        if (prefixEquals(contribs[o].prefix, k.prefix)) {
          k.prefix = contribs[o].prefix;
          break;
        }
      }
      contribs.push(k);
      if (targets === null) this.#all = true;
      else for (const p of targets) this.#some.add(p);
    }
    if (matched) return;
    const family = v6 ? "ipv6" : "ipv4";
    this.#reasons.push(
      v6 && hopless
        ? `IP ${ip}: ${hopless}`
        : familyless
        ? `IP ${ip}: no BGPPeer of this node carries ${family} (set dualStackAddressFamily)`
        : `no BGPAdvertisement selects pool "${pool}" for this node, Service and its peers`,
    );
  }
}
