/**
 * The shapes the announcement planner works on: its inputs and outputs, and the memo kept
 * between calls (one record per Service, the merged per-prefix state, interned parts).
 */
import type { AdvertisementConfig, Config, PeerConfig } from "../api/config.ts";
import type { EndpointSliceView, NodeView, ServiceView } from "../api/objects.ts";
import { comparePrefix, prefixEquals, type Route, type RouteAttributes } from "../bgp/mod.ts";
import { AFI_IPV4, AFI_IPV6, type Prefix } from "../bgp/types.ts";
import type { PathControl } from "../api/path_control.ts";

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
  /**
   * Peers whose sessions carry IPv6 but have no usable IPv6 next hop (an IPv4 session
   * without a global IPv6 address on the node), by name, with the reason: they get no IPv6
   * routes.
   */
  noNextHopV6?: ReadonlyMap<string, string>;
  /** Memo kept across calls (see {@linkcode AnnounceCache}); a fresh one when absent. */
  cache?: AnnounceCache;
}

/** One Service's outcome on this node. */
export interface ServiceAnnouncement {
  namespace: string;
  name: string;
  /** `namespace/name`, when the planner made it (one string shared with its memo). */
  key?: string;
  ips: string[];
  /** Pool of the first IP, when known. */
  pool?: string;
  /** BGPPeer names announced to, sorted. */
  peers: string[];
  /** Why it is not announced (to no peer at all); absent when announced. */
  reason?: string;
  /**
   * What kind of reason: `waiting` (no IP yet, no serving endpoint: the normal state of
   * many Services) or `config` (something an operator would want to know about).
   */
  cause?: "waiting" | "config";
  /** Why some of its IPs are not announced while others are. */
  partial?: string;
  /** `ferrolb.io/as-path-prepend` / `ferrolb.io/med` its routes carry, when set. */
  path?: PathControl;
  /**
   * The prefixes announced for it (the planner's own objects: no key string per Service),
   * or their map keys ({@linkcode prefixKey}).
   */
  prefixes?: string | Prefix | readonly (string | Prefix)[];
}

/**
 * The fields of an {@linkcode Outcome} that many Services share (pool, peers, reasons that
 * name no Service), in one object shared by equal ones.
 */
export interface OutcomeNote {
  readonly pool?: string;
  readonly peers: string[];
  readonly reason?: string;
  readonly cause?: "waiting" | "config";
  readonly partial?: string;
  readonly path?: PathControl;
}

/**
 * A {@linkcode ServiceAnnouncement} the planner makes: the Service's view stands for its
 * namespace, name and IPs, its contributions for its prefixes, and one shared note for its
 * pool, peers and reasons (read through them, not held in up to 11 fields per Service).
 */
export class Outcome implements ServiceAnnouncement {
  /** The view decided from (immutable, so its fields hold for this outcome). */
  readonly view: ServiceView;
  readonly key: string;
  /** What it asks the aggregate for. */
  readonly contribs: Contributions;
  readonly note: OutcomeNote;

  /** The outcome for `view`, whose Service has `namespace/name` `at.key`. */
  constructor(
    view: ServiceView,
    at: { key: string; contribs: Contributions; note: OutcomeNote },
  ) {
    this.view = view;
    this.key = at.key;
    this.contribs = at.contribs;
    this.note = at.note;
  }

  get namespace(): string {
    return this.view.namespace;
  }

  get name(): string {
    return this.view.name;
  }

  get ips(): string[] {
    // Views are immutable: the list is shared, not copied, times 100,000s of Services.
    return this.view.ingressIPs as string[];
  }

  get pool(): string | undefined {
    return this.note.pool;
  }

  get peers(): string[] {
    return this.note.peers;
  }

  /** Its contributions' distinct prefixes: one alone (the usual case), else a new list. */
  get prefixes(): Prefix | readonly Prefix[] | undefined {
    const c = this.contribs;
    if (c === undefined) return undefined;
    if (!Array.isArray(c)) return (c as Contribution).prefix;
    const out: Prefix[] = [];
    for (const k of c) if (!out.some((p) => prefixEquals(p, k.prefix))) out.push(k.prefix);
    return out;
  }

  get reason(): string | undefined {
    return this.note.reason;
  }

  get cause(): "waiting" | "config" | undefined {
    return this.note.cause;
  }

  get partial(): string | undefined {
    return this.note.partial;
  }

  get path(): PathControl | undefined {
    return this.note.path;
  }
}

/** The prefixes of `s` as a list (no array is kept for the usual single one). */
export function prefixList(s: ServiceAnnouncement): readonly (string | Prefix)[] {
  const p = s.prefixes;
  return p === undefined ? [] : Array.isArray(p) ? p : [p as string | Prefix];
}

/** What {@linkcode computeAnnouncements} decided. */
export interface Announcements {
  /** Routes by BGPPeer name, for every peer selecting this node (possibly empty), sorted. */
  routes: Map<string, Route[]>;
  /**
   * Every LoadBalancer Service handled, sorted by namespace/name: the planner's own list,
   * read only (it is handed out again while nothing changed).
   */
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
  attributes: Map<string, RouteAttributes>;
  /** Interned `ServiceAnnouncement.peers` lists. */
  peerLists: Map<string, string[]>;
  perAdvertisement: WeakMap<AdvertisementConfig, AdMemo>;
  /**
   * One record per Service by `namespace/name` (view, endpoint counts, decision), instead of
   * a map each: 100,000s of Services.
   */
  records: Map<string, ServiceRecord>;
  /** What the decisions depend on besides the Service and its endpoints; `epoch` > 0. */
  context?: { config: Config; sig: string; epoch: number };
  /** Endpoint counts of the last call, patched when only some EndpointSlices changed. */
  endpoints?: EndpointState;
  /** The last merge of decisions into routes, patched when only some decisions changed. */
  aggregate?: Aggregate;
  /** The Services of the last call. */
  inputs?: {
    services: readonly ServiceView[];
    loadBalancerClass?: string;
    /** No two handled Services share a `namespace/name` (records can then be patched). */
    unique: boolean;
  };
}

/** A Service's contributions: usually one, then held alone rather than in an array. */
export type Contributions = Contribution | readonly Contribution[] | undefined;

/**
 * One Service: serving endpoints and the decision made from its view (the decision holds
 * the view and contributions: see {@linkcode viewOf}, {@linkcode contribsOf}).
 */
export interface ServiceRecord {
  /** `namespace/name`. */
  key: string;
  /** Context epoch the decision was made in; 0 = decide again (counts changed). */
  epoch: number;
  /** Serving endpoints anywhere, on this node, and ready ones on this node. */
  counts: Counts;
  /**
   * The outcome; a new object whenever the decision changes. Undefined while the Service is
   * not handled (only EndpointSlices name it).
   */
  out: Outcome | undefined;
}

/** The handled Service `rec` was decided for; undefined while only EndpointSlices name it. */
export function viewOf(rec: ServiceRecord): ServiceView | undefined {
  return rec.out?.view;
}

/** What `rec`'s decision asks the aggregate for. */
export function contribsOf(rec: ServiceRecord): Contributions {
  return rec.out?.contribs;
}

/** Endpoint counts of one Service, packed (see {@linkcode countsAt}). */
export type Counts = number | {
  readonly any: number;
  readonly local: number;
  readonly ready: number;
};

/** Bits of each count in a packed {@linkcode Counts}. */
const COUNT_BITS = 10;
const COUNT_MAX = (1 << COUNT_BITS) - 1;

/**
 * The counts at `src[at..at+2]` (serving endpoints anywhere, on this node, ready ones on this
 * node; zeros past the end): one small integer while each fits in 10 bits (nearly always),
 * so that a record keeps one field rather than three; an object otherwise.
 */
export function countsAt(src: ArrayLike<number>, at: number): Counts {
  const any = src[at] ?? 0, local = src[at + 1] ?? 0, ready = src[at + 2] ?? 0;
  const fits = (n: number) => n >= 0 && n <= COUNT_MAX;
  if (fits(any) && fits(local) && fits(ready)) {
    return (any << (2 * COUNT_BITS)) | (local << COUNT_BITS) | ready;
  }
  return { any, local, ready };
}

/** Serving endpoints anywhere. */
export function anyOf(c: Counts): number {
  return typeof c === "number" ? c >>> (2 * COUNT_BITS) : c.any;
}

/** Serving endpoints on this node. */
export function localOf(c: Counts): number {
  return typeof c === "number" ? (c >>> COUNT_BITS) & COUNT_MAX : c.local;
}

/** Ready serving endpoints on this node. */
export function readyOf(c: Counts): number {
  return typeof c === "number" ? c & COUNT_MAX : c.ready;
}

/** Whether two counts are the same (a packed and an unpacked one never are). */
export function sameCounts(a: Counts, b: Counts): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  return a.any === b.any && a.local === b.local && a.ready === b.ready;
}

/** One slice's contribution to a record's counts. */
export interface SliceCounts {
  key: string;
  any: number;
  local: number;
  ready: number;
}

/** The slices last counted, with each one's counts (no memo object per slice). */
export interface EndpointState {
  node: string;
  /** The slices counted: the caller's own list when frozen, else a copy patched in place. */
  slices: readonly EndpointSliceView[];
  /** Per slice: serving endpoints, those on the node, the ready ones of those. */
  nums: Int32Array;
}

/**
 * A prefix two or more contributions ask for (two Services sharing an aggregated prefix,
 * or two advertisements): the Routes merged from all of them.
 */
export interface SharedPrefix {
  prefix: Prefix;
  contribs: Contribution[];
  routes: PeerRoutes;
}

/**
 * One announced prefix. The usual prefix has one contribution, which then stands for the
 * prefix itself (no second object per prefix, times 100,000s).
 */
export type PrefixState = Contribution | SharedPrefix;

/** Whether two or more contributions share `st`. */
export function isShared(st: PrefixState): st is SharedPrefix {
  return "contribs" in st;
}

/** Where the state of `prefix` sits in `sorted` (binary search), or -1. */
export function indexOfPrefix(sorted: readonly PrefixState[], prefix: Prefix): number {
  let lo = 0, hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = comparePrefix(sorted[mid].prefix, prefix);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** The state of `prefix` in `sorted`, if any. */
export function findPrefix(
  sorted: readonly PrefixState[],
  prefix: Prefix,
): PrefixState | undefined {
  const i = indexOfPrefix(sorted, prefix);
  return i < 0 ? undefined : sorted[i];
}

/** Routes of a prefix not merged yet, or gone: none. */
export const NO_ROUTES: readonly (Route | undefined)[] = Object.freeze([]);

/** The Route every peer gets for a prefix, or one per peer index. */
export type PeerRoutes = Route | readonly (Route | undefined)[];

/** The merge of every decision into per-prefix, per-peer routes. */
export interface Aggregate {
  epoch: number;
  peers: readonly PeerConfig[];
  /** The handled Services' records, in input order. */
  records: ServiceRecord[];
  /**
   * Every prefix's state in prefix order, found by binary search ({@linkcode findPrefix}):
   * no map by key beside it, times 100,000s of prefixes.
   */
  sorted: PrefixState[];
  /** The records' outcomes by namespace/name. */
  services: ServiceAnnouncement[];
  routes: Map<string, Route[]>;
}

/** A record decided again: what it asked for before, for the aggregate to take back. */
export interface Change {
  rec: ServiceRecord;
  old: Contributions;
  oldOut: ServiceAnnouncement | undefined;
}

/**
 * How a contribution is announced: through which advertisement (and its interned
 * attributes), to which peers, with which weight. One object for all contributions alike
 * (see {@linkcode AdMemo}): most Services' are.
 */
export interface Source {
  readonly ad: AdvertisementConfig;
  readonly attributes: RouteAttributes;
  /** BGPPeer names; null = every peer selecting this node. */
  readonly peers: readonly string[] | null;
  readonly weight: number;
}

/** What the planner keeps per advertisement: its attributes alone and its sources. */
export interface AdMemo {
  attrs: RouteAttributes;
  key: string;
  /** By weight and peer names. */
  sources: Map<string, Source>;
}

/** The length of `ad`'s prefixes for an address of this type (IPv4: a number). */
function lengthFor(addr: number | string, ad: AdvertisementConfig): number {
  return typeof addr === "number" ? ad.aggregationLength : ad.aggregationLengthV6;
}

/**
 * One prefix a Service asks for through one advertisement, and the peers it goes to. It is
 * also the Route of that advertisement alone (`attributes` are its interned attributes), so
 * that the usual prefix, asked for by one Service for every peer, needs no Route besides;
 * and it is its own Prefix (the address fields are its own), so that it needs no Prefix
 * object either, times 100,000s.
 */
export class Contribution implements Route {
  /** The address: IPv4 bits as a signed integer, or IPv6 hex (see {@linkcode Prefix}). */
  readonly addr: number | string;
  /** Itself, or the Prefix it shares with others asking for the same prefix. */
  prefix: Prefix;
  /** Advertisement, attributes, peers and weight, shared (see {@linkcode Source}). */
  readonly source: Source;
  /** `namespace/name` of the Service asking. */
  readonly svc: string;
  /**
   * While it alone asks for its prefix: the Route each peer gets (see {@linkcode PrefixState});
   * otherwise {@linkcode NO_ROUTES}.
   */
  routes: PeerRoutes;

  /**
   * The contribution of Service `at.svc` to `prefix` (its fields copied: no reference kept),
   * whose length is the aggregation length of `at.source`'s advertisement for its family.
   */
  constructor(prefix: Prefix, at: { source: Source; svc: string }) {
    if (prefix.length !== lengthFor(prefix.addr, at.source.ad)) {
      throw new Error(`prefix length ${prefix.length} is not its advertisement's`);
    }
    this.addr = prefix.addr;
    this.prefix = this as unknown as Prefix;
    this.source = at.source;
    this.svc = at.svc;
    this.routes = NO_ROUTES;
  }

  /** The family, from the address's type: no field for it. */
  get afi(): 1 | 2 {
    return typeof this.addr === "number" ? AFI_IPV4 : AFI_IPV6;
  }

  /** The advertisement's aggregation length for its family: no field for it. */
  get length(): number {
    return lengthFor(this.addr, this.source.ad);
  }

  get attributes(): RouteAttributes {
    return this.source.attributes;
  }

  get ad(): AdvertisementConfig {
    return this.source.ad;
  }

  /** BGPPeer names; null = every peer selecting this node. */
  get peers(): readonly string[] | null {
    return this.source.peers;
  }

  get weight(): number {
    return this.source.weight;
  }
}

/** Order of Services: namespace, then name. */
export function compareServices(a: ServiceAnnouncement, b: ServiceAnnouncement): number {
  if (a.namespace !== b.namespace) return a.namespace < b.namespace ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** The contributions as a list (no array is kept for the usual single one). */
export function contributionList(c: Contributions): readonly Contribution[] {
  return c === undefined ? [] : Array.isArray(c) ? c : [c as Contribution];
}

/** Creates an empty {@linkcode AnnounceCache}. */
export function createAnnounceCache(): AnnounceCache {
  return {
    attributes: new Map(),
    peerLists: new Map(),
    perAdvertisement: new WeakMap(),
    records: new Map(),
  };
}

/** Beyond this many entries a cache map is dropped and refilled (IPs come and go). */
export const CACHE_LIMIT = 1_000_000;
