/**
 * The speaker: watches an ObjectSource, keeps one BGP session per BGPPeer selecting this
 * node, and pushes the routes {@linkcode computeAnnouncements} decides. Route changes only
 * ever become UPDATEs on the existing sessions; only a change of a session's own parameters
 * recreates it. Writes ServiceBGPStatus, ConfigurationState and Events through the writer.
 */
import { createHash } from "node:crypto";
import {
  buildConfig,
  type BuildResult,
  type Config,
  formatConfigError,
  type PeerConfig,
} from "../api/config.ts";
import type { Logger } from "../api/log.ts";
import type { MetallbMetrics } from "../api/metrics.ts";
import {
  type EndpointSliceView,
  type NodeView,
  parseEndpointSlice,
  parseNode,
  parseService,
  type ServiceView,
} from "../api/objects.ts";
import { matchesAnySelector } from "../api/selectors.ts";
import {
  BgpSession,
  type Clock,
  type Connector,
  DEFAULT_CONNECT_MS,
  type Family,
  formatHostPort,
  type Route,
  type SessionConfig,
  type SessionOptions,
  type SessionStats,
  type StopOptions,
  systemClock,
} from "../bgp/mod.ts";
import {
  ffiAvailable,
  ffiConnector,
  MD5_MAX_KEY_LEN,
  md5Available,
  md5Connector,
} from "../bgp/md5_transport.ts";
import {
  CONFIG_KINDS,
  type KubeObject,
  type ObjectSource,
  type ObjectWriter,
  type ReadKind,
} from "../cluster/types.ts";
import type { ServiceStatus, SessionStatus } from "../api/status.ts";
import {
  type Announcements,
  computeAnnouncements,
  createAnnounceCache,
  localAsnOf,
  peerFamilies,
  type ServiceAnnouncement,
} from "./announce.ts";

/** What the speaker needs of a BGP session; {@linkcode BgpSession} is the real one. */
export interface SpeakerSession {
  start(): void;
  setRoutes(routes: Route[]): void;
  /** `hardReset` when the peer must drop our routes now rather than keep them as stale. */
  stop(options?: StopOptions): Promise<void>;
  stats(): SessionStats;
  on(event: "state", fn: (state: string, previous: string) => void): void;
}

/** Makes a session; tests may count or wrap them. */
export type SessionFactory = (config: SessionConfig, options: SessionOptions) => SpeakerSession;

/** Options of {@linkcode createSpeaker}. */
export interface SpeakerOptions {
  nodeName: string;
  /** Install namespace of the metallb.io objects (and of ServiceBGPStatus/ConfigurationState). */
  namespace: string;
  logger: Logger;
  metrics?: MetallbMetrics;
  /**
   * TCP dialer for sessions (tests use loopback or memory pipes). Peers with a password or a
   * `sourceAddress` always use the libc FFI connector instead.
   */
  connector?: Connector;
  clock?: Clock;
  /** Attach link-bandwidth extended communities to `externalTrafficPolicy: Local` routes. */
  weightedEcmp?: boolean;
  /** Handle only Services of this class; unset = only Services without one. */
  loadBalancerClass?: string;
  /** Router ID when neither BGPPeer `routerID` nor an IPv4 InternalIP of the Node gives one. */
  defaultRouterId?: string;
  sessionFactory?: SessionFactory;
  /** Bound on {@linkcode Speaker.stop} waiting for Cease to go out (default 5 s). */
  stopGraceMs?: number;
  /** How often session counters are copied into metrics (default 5 s; 0 = only on demand). */
  metricsIntervalMs?: number;
}

/** Validity of the running configuration, as /status shows it. */
export interface SpeakerConfigStatus {
  valid: boolean;
  errors: string[];
  warnings: string[];
}

/** A session in /status, with what the speaker knows beyond the common fields. */
export interface SpeakerSessionStatus extends SessionStatus {
  /** The AS the peer sent in its OPEN (the one in use with `dynamicASN`), while connected. */
  peerAsn?: number;
  /**
   * Graceful restart: `enabled` in the BGPPeer, `negotiated` with the peer on the current
   * session, and RFC 8538 `notification` support; absent when neither side asked for it.
   */
  gracefulRestart?: { enabled: boolean; negotiated: boolean; notification: boolean };
}

/** The speaker's part of a StatusDocument. */
export interface SpeakerStatus {
  sessions: SpeakerSessionStatus[];
  services: ServiceStatus[];
}

/** A running speaker. */
export interface Speaker {
  /** Waits for the source's caches, then reconciles and keeps reconciling on changes. */
  start(): Promise<void>;
  /**
   * Stops every session gracefully (bounded by the grace period): peers with graceful restart
   * keep our routes until we are back. Then stops watching.
   */
  stop(): Promise<void>;
  /** Sessions and Services for /status. */
  status(): SpeakerStatus;
  /** Configuration validity for /status. */
  configStatus(): SpeakerConfigStatus;
  /** True once started and a valid configuration was seen. */
  ready(): boolean;
  /** Resolves when no reconcile is pending and every write has finished. */
  settled(): Promise<void>;
  /** Copies session counters into the metrics now. */
  refreshMetrics(): void;
  /** The last decision, for tests and debugging. */
  lastAnnouncements(): Announcements | undefined;
  /** Reconciles done so far. */
  readonly reconciles: number;
}

/** Kinds whose change means the configuration must be rebuilt. */
const CONFIG_KIND_SET: ReadonlySet<ReadKind> = new Set<ReadKind>(CONFIG_KINDS);

/** A peer we cannot run, and why. */
export interface PeerProblems {
  errors: string[];
  warnings: string[];
}

/**
 * Checks a BGPPeer for fields this speaker cannot honour. Any error rejects that peer
 * alone: connecting while silently ignoring e.g. a password or VRF would be worse.
 */
export function peerProblems(peer: PeerConfig): PeerProblems {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (peer.vrf) {
    errors.push(`spec.vrf: VRF "${peer.vrf}" is not supported; sessions use the default VRF`);
  }
  if (peer.interface) {
    errors.push(
      "spec.interface: BGP unnumbered (interface) is not supported; set spec.peerAddress",
    );
  }
  if (peer.bfdProfile) {
    errors.push(
      `spec.bfdProfile: BFD is not implemented yet; remove bfdProfile "${peer.bfdProfile.name}" ` +
        "to run this session without BFD",
    );
  }
  const password = passwordOf(peer);
  if (password !== undefined) {
    const bytes = new TextEncoder().encode(password).length;
    if (bytes > MD5_MAX_KEY_LEN) {
      errors.push(
        `spec.password: ${bytes} bytes long; TCP MD5 (RFC 2385) keys on Linux are at most ` +
          `${MD5_MAX_KEY_LEN} bytes`,
      );
    }
    const md5 = md5Available();
    if (!md5.ok) {
      errors.push(
        `spec.password: TCP MD5 signatures (RFC 2385) unavailable: ${md5.reason}; ` +
          "refusing to connect without the password",
      );
    }
  }
  if (peer.sourceAddress) {
    const srcV6 = peer.sourceAddress.includes(":");
    if (peer.address && srcV6 !== peer.address.includes(":")) {
      errors.push(
        `spec.sourceAddress: ${peer.sourceAddress} and peerAddress ${peer.address} are of ` +
          "different IP families",
      );
    }
    const ffi = ffiAvailable();
    if (password === undefined && !ffi.ok) {
      errors.push(
        `spec.sourceAddress: ${peer.sourceAddress} cannot be bound: Deno.connect cannot choose ` +
          `a source address and the FFI socket connector is unavailable: ${ffi.reason}`,
      );
    }
  }
  if (peer.ebgpMultiHop) {
    warnings.push(
      "spec.ebgpMultiHop: the TTL cannot be set from Deno; the default TTL of 64 already " +
        "reaches multi-hop peers",
    );
  }
  if (peer.disableMP) warnings.push("spec.disableMP is deprecated and has no effect");
  return { errors, warnings };
}

/** The TCP MD5 key of a peer; an empty password means none, as in MetalLB. */
function passwordOf(peer: PeerConfig): string | undefined {
  return peer.password ? peer.password : undefined;
}

/**
 * The connector a peer's session needs: TCP MD5 with a password, the FFI connector to bind a
 * `sourceAddress`, else `fallback` (undefined: the session's default, `Deno.connect`).
 */
function connectorFor(peer: PeerConfig, fallback?: Connector): Connector | undefined {
  const password = passwordOf(peer);
  if (password === undefined && !peer.sourceAddress) return fallback;
  const sessionMs = DEFAULT_CONNECT_MS;
  // A little under the session's own connect timeout, so the connector's error (which says
  // a silent drop usually means a password mismatch) is the one /status shows.
  const options = {
    connectTimeoutMs: Math.max(Math.floor(sessionMs * 0.9), sessionMs - 100),
    ...(peer.sourceAddress ? { sourceAddress: peer.sourceAddress } : {}),
  };
  return password === undefined ? ffiConnector(options) : md5Connector(password, options);
}

/**
 * What besides the session config makes a new session necessary: the password (hashed, so no
 * second plaintext copy is kept) and the source address.
 */
function transportKeyOf(peer: PeerConfig): string {
  const password = passwordOf(peer);
  return JSON.stringify([
    password === undefined ? null : createHash("sha256").update(password).digest("hex"),
    peer.sourceAddress ?? null,
  ]);
}

/** Router ID of a session: the peer's `routerID`, else the node's first IPv4 InternalIP. */
export function routerIdFor(
  peer: PeerConfig,
  node: NodeView | undefined,
  fallback?: string,
): string | undefined {
  if (peer.routerID) return peer.routerID;
  const ip = node?.addresses.find((a) =>
    a.type === "InternalIP" && /^\d+\.\d+\.\d+\.\d+$/.test(a.address)
  );
  return ip?.address ?? fallback;
}

/** Name of the ServiceBGPStatus for (Service, node): readable, unique, and a valid name. */
export function serviceBGPStatusName(namespace: string, service: string, node: string): string {
  const hash = createHash("sha256").update(`${namespace}/${service}/${node}`).digest("hex")
    .slice(0, 10);
  const base = `${service}-${node}`.toLowerCase().replace(/[^a-z0-9.-]/g, "-").slice(0, 200)
    .replace(/[.-]+$/, "");
  return `${base}-${hash}`;
}

interface SessionEntry {
  name: string;
  key: string;
  /** Who the session talks to (address, port, both ASes): a change means a different peer. */
  identity: string;
  label: string;
  gracefulRestart: boolean;
  session: SpeakerSession;
  lastUpdates: number;
  /** The routes last handed to the session, to skip identical hand-overs. */
  routes?: Route[];
}

/** Marks an object whose parse failed (already logged). */
const UNPARSABLE = Symbol("unparsable");

/** What a queued write does (see `enqueue` in {@linkcode createSpeaker}). */
enum WriteOp {
  /** Calls the queued function. */
  Call,
  /** Writes the ServiceBGPStatus named by the first argument for the decision in the second. */
  Status,
  /** Records the `nodeAssigned` Event of the decision in the first argument. */
  Assigned,
}

/** Same routes, by identity: the announce cache returns unchanged routes' parts as-is. */
function sameRoutes(a: readonly Route[], b: readonly Route[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].prefix !== b[i].prefix || a[i].attributes !== b[i].attributes) return false;
  }
  return true;
}

function sessionConfigOf(
  peer: PeerConfig,
  routerId: string,
): SessionConfig {
  const localAsn = localAsnOf(peer);
  const families: Family[] = peerFamilies(peer);
  const c: SessionConfig = {
    localAsn,
    peerAddress: peer.address!,
    peerPort: peer.port,
    routerId,
    holdTimeMs: peer.holdTimeMs,
    keepaliveMs: peer.keepaliveTimeMs,
    families,
    gracefulRestart: peer.enableGracefulRestart,
    name: peer.name,
  };
  // MetalLB's connectTime is the interval between connection attempts (FRR `timers connect`).
  if (peer.connectTimeMs !== undefined) c.connectRetryMs = peer.connectTimeMs;
  // With dynamicASN the peer's OPEN decides the AS, and with it iBGP or eBGP (LOCAL_PREF,
  // AS_PATH): the session takes both from the negotiated AS.
  if (peer.dynamicASN) c.peerAsnPolicy = peer.dynamicASN;
  else c.peerAsn = peer.peerASN ?? localAsn;
  return c;
}

/** The parameters that make a session a different peer, not just a retuned one. */
function identityOf(c: SessionConfig): string {
  return JSON.stringify([c.peerAddress, c.peerPort ?? 179, c.localAsn, c.peerAsn, c.peerAsnPolicy]);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const NODE_LABEL = "metallb.io/node";
const SERVICE_NAME_LABEL = "metallb.io/service-name";
const SERVICE_NAMESPACE_LABEL = "metallb.io/service-namespace";

/** Whether `have` (as read) already says what `want` would write: labels and status. */
function sameStatusObject(have: KubeObject, want: KubeObject): boolean {
  const hl = have.metadata.labels ?? {};
  for (const [k, v] of Object.entries(want.metadata.labels ?? {})) if (hl[k] !== v) return false;
  const h = (have.status ?? {}) as Record<string, unknown>;
  const w = want.status as Record<string, unknown>;
  return h.node === w.node && h.serviceName === w.serviceName &&
    h.serviceNamespace === w.serviceNamespace && Array.isArray(h.peers) &&
    sameList(h.peers as string[], w.peers as string[]);
}

/** Creates a speaker for `options.nodeName`; call `start()`. */
export function createSpeaker(
  source: ObjectSource,
  writer: ObjectWriter,
  options: SpeakerOptions,
): Speaker {
  const node = options.nodeName;
  const log = options.logger.child({ component: "speaker", node });
  const clock = options.clock ?? systemClock;
  const metrics = options.metrics;
  const graceMs = options.stopGraceMs ?? 5_000;
  const factory: SessionFactory = options.sessionFactory ??
    ((config, opts) => new BgpSession(config, opts));
  const parsed = new WeakMap<KubeObject, unknown>();
  const announceCache = createAnnounceCache();

  let started = false;
  let stopped = false;
  let unsubscribe: (() => void) | undefined;
  let scheduled: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let pendingKinds: Set<ReadKind> | "all" = "all";
  let reconciles = 0;
  let metricsTimer: ReturnType<typeof setTimeout> | undefined;
  let build: BuildResult | undefined;
  let config: Config | undefined;
  let peerErrors = new Map<string, string>();
  let peerWarnings: string[] = [];
  let last: Announcements | undefined;
  let sessionsSynced = false;
  const sessions = new Map<string, SessionEntry>();
  const bgpStatus = new Map<string, { name: string; peers: string[] }>();
  /** Names in `bgpStatus`: the ServiceBGPStatus objects of this node that should exist. */
  const statusNames = new Set<string>();
  /** Deleted by us but maybe still in the snapshot: not to be deleted twice. */
  const statusDeleting = new Set<string>();
  let statusSwept = false;
  /** This node's existing ServiceBGPStatus objects by `namespace/service`, built on demand. */
  let statusIndex: Map<string, KubeObject[]> | undefined;
  const announcedIPs = new Map<string, string[]>();
  /** The decisions last written out, sorted by namespace/name as computeAnnouncements gives. */
  let handled: readonly ServiceAnnouncement[] = [];
  /** Views of the last reconcile, kept while their kind does not change. */
  let serviceViews: ServiceView[] | undefined;
  let sliceViews: EndpointSliceView[] | undefined;
  let lastConfigState = "";
  let writes: Promise<void> = Promise.resolve();
  let waiters: (() => void)[] = [];

  // Writes run one at a time, in order. A plain queue of data rather than a promise chain of
  // closures: the first reconcile with 100,000s of Services queues two writes for each.
  let queuedOp: WriteOp[] = [];
  let queuedA: unknown[] = [];
  let queuedB: unknown[] = [];
  let draining = false;

  function enqueue(op: WriteOp, a: unknown, b: unknown): void {
    queuedOp.push(op);
    queuedA.push(a);
    queuedB.push(b);
    if (draining) return;
    draining = true;
    writes = drainWrites();
  }

  function write(what: string, fn: () => Promise<void>): void {
    enqueue(WriteOp.Call, what, fn);
  }

  function runWrite(op: WriteOp, a: unknown, b: unknown): Promise<void> {
    switch (op) {
      case WriteOp.Call:
        return (b as () => Promise<void>)();
      case WriteOp.Status:
        return writer.setServiceBGPStatus(
          options.namespace,
          a as string,
          statusObjectOf(a as string, b as ServiceAnnouncement),
        );
      case WriteOp.Assigned: {
        const s = a as ServiceAnnouncement;
        return writer.recordEvent({
          involved: { kind: "Service", apiVersion: "v1", namespace: s.namespace, name: s.name },
          type: "Normal",
          reason: "nodeAssigned",
          message: `announcing from node "${node}" with protocol "bgp"`,
          component: "metallb-speaker",
        });
      }
    }
  }

  async function drainWrites(): Promise<void> {
    // Never run a write inside the reconcile that queued it.
    await Promise.resolve();
    try {
      for (let i = 0; i < queuedOp.length; i++) {
        const op = queuedOp[i];
        const a = queuedA[i];
        const b = queuedB[i];
        queuedA[i] = queuedB[i] = undefined;
        try {
          await runWrite(op, a, b);
        } catch (err) {
          const what = op === WriteOp.Call
            ? a as string
            : op === WriteOp.Status
            ? "ServiceBGPStatus"
            : "Event";
          log.error(`writing ${what} failed`, { error: err });
        }
      }
    } finally {
      queuedOp = [];
      queuedA = [];
      queuedB = [];
      draining = false;
    }
  }

  function view<T>(obj: KubeObject, parse: (o: KubeObject) => { ok: boolean }): T | undefined {
    // The view itself is stored (no result wrapper per object): 100,000s of them.
    let v = parsed.get(obj);
    if (v === undefined) {
      const r = parse(obj) as { ok: boolean; value?: T };
      v = r.ok ? r.value : UNPARSABLE;
      parsed.set(obj, v);
      if (!r.ok) {
        log.warn("ignoring unparsable object", { kind: obj.kind, name: obj.metadata?.name });
      }
    }
    return v === UNPARSABLE ? undefined : v as T;
  }

  function schedule(kinds: ReadonlySet<ReadKind> | "all"): void {
    if (kinds === "all" || pendingKinds === "all") pendingKinds = "all";
    else for (const k of kinds) pendingKinds.add(k);
    if (scheduled !== undefined || running || stopped) return;
    // A macrotask, so every change of the current burst lands in one recompute.
    scheduled = setTimeout(() => {
      scheduled = undefined;
      runReconcile();
    }, 0);
  }

  function runReconcile(): void {
    if (stopped) return;
    running = true;
    const kinds = pendingKinds;
    pendingKinds = new Set();
    try {
      reconcile(kinds);
    } catch (err) {
      log.error("reconcile failed", { error: err });
    } finally {
      running = false;
      reconciles++;
    }
    const more = pendingKinds as Set<ReadKind> | "all";
    if (more === "all" || more.size > 0) schedule(new Set());
    else notifySettled();
  }

  function notifySettled(): void {
    if (scheduled !== undefined || running) return;
    const ws = waiters;
    waiters = [];
    if (ws.length) writes.then(() => ws.forEach((w) => w()));
  }

  function reconcile(kinds: Set<ReadKind> | "all"): void {
    const snap = source.snapshot();
    const get = (k: ReadKind) => snap.objects.get(k) ?? new Map<string, KubeObject>();

    if (kinds === "all" || [...kinds].some((k) => CONFIG_KIND_SET.has(k)) || !build) {
      build = buildConfig(snap, { namespace: options.namespace });
      if (build.ok) {
        config = build.config;
        for (const w of build.warnings) {
          log.warn("configuration", { warning: formatConfigError(w) });
        }
      } else {
        log.error(
          config
            ? "configuration invalid: keeping the last valid one running"
            : "configuration invalid: nothing announced until it is fixed",
          { errors: build.errors.map(formatConfigError) },
        );
      }
    }

    const nodeObj = get("Node").get(node);
    const nodeView = nodeObj ? view<NodeView>(nodeObj, parseNode) : undefined;
    if (kinds === "all" || kinds.has("Service") || !serviceViews) {
      serviceViews = [];
      for (const o of get("Service").values()) {
        const s = view<ServiceView>(o, parseService);
        if (s && s.type === "LoadBalancer") serviceViews.push(s);
      }
    }
    if (kinds === "all" || kinds.has("EndpointSlice") || !sliceViews) {
      sliceViews = [];
      for (const o of get("EndpointSlice").values()) {
        const s = view<EndpointSliceView>(o, parseEndpointSlice);
        if (s) sliceViews.push(s);
      }
    }
    const services = serviceViews;
    const slices = sliceViews;

    // Peers we cannot run on this node.
    const rejected = new Map<string, string>();
    const warnings: string[] = [];
    const routerIds = new Map<string, string>();
    for (const p of config?.peers ?? []) {
      if (!matchesAnySelector(p.nodeSelectors, nodeView?.labels ?? {})) continue;
      const probs = peerProblems(p);
      const rid = routerIdFor(p, nodeView, options.defaultRouterId);
      if (!rid) {
        probs.errors.push(
          "spec.routerID: no router ID: set it or give the Node an IPv4 InternalIP address",
        );
      } else routerIds.set(p.name, rid);
      if (probs.errors.length) {
        rejected.set(p.name, `BGPPeer ${options.namespace}/${p.name}: ${probs.errors.join("; ")}`);
      }
      for (const w of probs.warnings) warnings.push(`BGPPeer ${options.namespace}/${p.name}: ${w}`);
    }
    for (const [name, reason] of rejected) {
      if (peerErrors.get(name) !== reason) log.error("BGPPeer rejected", { peer: name, reason });
    }
    for (const w of warnings) if (!peerWarnings.includes(w)) log.warn("BGPPeer", { warning: w });
    peerErrors = rejected;
    peerWarnings = warnings;

    const ann = config
      ? computeAnnouncements(config, {
        nodeName: node,
        services,
        endpointSlices: slices,
        nodes: nodeView ? [nodeView] : [],
        weightedEcmp: options.weightedEcmp,
        loadBalancerClass: options.loadBalancerClass,
        rejectedPeers: rejected,
        cache: announceCache,
      })
      : undefined;
    if (!ann) {
      writeConfigState();
      return;
    }
    last = ann;
    syncSessions(ann, routerIds);
    for (const [name, routes] of ann.routes) {
      const entry = sessions.get(name);
      if (!entry || (entry.routes && sameRoutes(entry.routes, routes))) continue;
      entry.routes = routes;
      entry.session.setRoutes(routes);
    }
    // Only looked at for new announcements and when the kind changed: most reconciles skip it.
    let ownCache: Map<string, KubeObject> | undefined;
    const own = () => ownCache ??= ownStatuses(get("ServiceBGPStatus"));
    writeServiceStatus(ann, own);
    if (kinds === "all" || kinds.has("ServiceBGPStatus") || !statusSwept) {
      statusSwept = true;
      sweepStatuses(own());
    }
    writeConfigState();
  }

  function syncSessions(ann: Announcements, routerIds: ReadonlyMap<string, string>): void {
    // Sessions of the first sync are this process's first: peers with graceful restart may
    // hold our routes from before the restart, and the R bit tells them to wait for End-of-RIB.
    const restarting = !sessionsSynced;
    sessionsSynced = true;
    const wanted = new Map(ann.peers.map((p) => [p.name, p]));
    for (const [name, entry] of sessions) {
      if (!wanted.has(name)) {
        // No session to this peer will follow, so stale routes would linger: hard reset.
        log.info("BGPPeer removed or no longer selects this node: closing its session", {
          peer: name,
        });
        closeSession(entry, { hardReset: true });
        sessions.delete(name);
      }
    }
    for (const peer of ann.peers) {
      const sc = sessionConfigOf(peer, routerIds.get(peer.name)!);
      const key = JSON.stringify(sc) + transportKeyOf(peer);
      const identity = identityOf(sc);
      const existing = sessions.get(peer.name);
      if (existing && existing.key === key) continue;
      if (existing) {
        // Same peer, new parameters: a graceful stop lets it keep our routes until the new
        // session's End-of-RIB. A new address, port or AS is another peer: the old one must
        // drop them.
        const otherPeer = existing.identity !== identity;
        log.info(
          otherPeer
            ? "BGPPeer address, port or AS changed: hard-resetting the old session"
            : "BGPPeer session parameters (or password, sourceAddress) changed: " +
              "recreating its session",
          { peer: peer.name },
        );
        closeSession(existing, otherPeer ? { hardReset: true } : {});
      }
      const connector = connectorFor(peer, options.connector);
      const session = factory(restarting ? { ...sc, restarting: true } : sc, {
        clock,
        logger: log,
        ...(connector ? { connector } : {}),
      });
      const label = formatHostPort(sc.peerAddress, sc.peerPort ?? 179);
      const entry: SessionEntry = {
        name: peer.name,
        key,
        identity,
        label,
        gracefulRestart: !!sc.gracefulRestart,
        session,
        lastUpdates: 0,
      };
      session.on("state", (state) => {
        if (sessions.get(peer.name) === entry) {
          metrics?.bgpSessionUp.set({ peer: label }, state === "Established" ? 1 : 0);
        }
      });
      sessions.set(peer.name, entry);
      metrics?.bgpSessionUp.set({ peer: label }, 0);
      session.start();
    }
  }

  function closeSession(entry: SessionEntry, stop: StopOptions): void {
    entry.session.stop(stop).catch((err) => log.warn("closing session failed", { error: err }));
    if (metrics && ![...sessions.values()].some((e) => e !== entry && e.label === entry.label)) {
      metrics.bgpSessionUp.remove({ peer: entry.label });
      metrics.bgpAnnouncedPrefixes.remove({ peer: entry.label });
      metrics.bgpPendingPrefixes.remove({ peer: entry.label });
    }
  }

  /** This node's ServiceBGPStatus objects in the install namespace, by name. */
  function ownStatuses(all: ReadonlyMap<string, KubeObject>): Map<string, KubeObject> {
    const out = new Map<string, KubeObject>();
    for (const o of all.values()) {
      if (o.metadata.namespace !== options.namespace) continue;
      if (o.metadata.labels?.[NODE_LABEL] !== node) continue;
      out.set(o.metadata.name, o);
    }
    return out;
  }

  /**
   * Deletes this node's ServiceBGPStatus objects that no announced Service accounts for:
   * those of Services deleted or withdrawn while the speaker was down, and duplicates.
   */
  function sweepStatuses(own: ReadonlyMap<string, KubeObject>): void {
    for (const name of statusDeleting) if (!own.has(name)) statusDeleting.delete(name);
    for (const [name, o] of own) {
      if (statusNames.has(name) || statusDeleting.has(name)) continue;
      statusDeleting.add(name);
      const labels = o.metadata.labels ?? {};
      log.info("deleting stale ServiceBGPStatus", {
        name,
        service: `${labels[SERVICE_NAMESPACE_LABEL]}/${labels[SERVICE_NAME_LABEL]}`,
      });
      write("ServiceBGPStatus", () => writer.setServiceBGPStatus(options.namespace, name, null));
    }
  }

  /** An existing object of this node for Service `key`, preferring the name we would give. */
  function existingStatus(
    own: () => ReadonlyMap<string, KubeObject>,
    key: string,
    ours: string,
  ): KubeObject | undefined {
    if (!statusIndex) {
      statusIndex = new Map();
      for (const o of own().values()) {
        const l = o.metadata.labels ?? {};
        const k = `${l[SERVICE_NAMESPACE_LABEL]}/${l[SERVICE_NAME_LABEL]}`;
        const list = statusIndex.get(k);
        if (list) list.push(o);
        else statusIndex.set(k, [o]);
      }
    }
    const list = statusIndex.get(key);
    return list?.find((o) => o.metadata.name === ours) ??
      list?.find((o) => !statusNames.has(o.metadata.name));
  }

  function writeServiceStatus(
    ann: Announcements,
    own: () => ReadonlyMap<string, KubeObject>,
  ): void {
    statusIndex = undefined;
    // Decisions of unchanged Services come back as the same objects (announce cache), so
    // with 10,000s of Services only the changed ones cost anything here.
    const list = ann.services;
    let pairwise = list.length === handled.length;
    for (let i = 0; pairwise && i < list.length; i++) {
      const a = list[i];
      const b = handled[i];
      if (a !== b && (a.namespace !== b.namespace || a.name !== b.name)) pairwise = false;
    }
    if (pairwise) {
      // The same Services as last time: only replaced decisions need writing.
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (s === handled[i]) continue;
        const key = `${s.namespace}/${s.name}`;
        if (s.peers.length === 0) forgetService(key);
        else applyService(key, s, own);
      }
    } else {
      const before = new Set(handled);
      const now = new Set<ServiceAnnouncement>();
      const changed = new Set<string>();
      for (const s of list) {
        now.add(s);
        if (before.has(s)) continue;
        const key = `${s.namespace}/${s.name}`;
        changed.add(key);
        if (s.peers.length === 0) forgetService(key);
        else applyService(key, s, own);
      }
      for (const s of handled) {
        if (now.has(s)) continue;
        const key = `${s.namespace}/${s.name}`;
        if (!changed.has(key)) forgetService(key);
      }
    }
    handled = list;
    statusIndex = undefined;
  }

  function applyService(
    key: string,
    s: ServiceAnnouncement,
    own: () => ReadonlyMap<string, KubeObject>,
  ): void {
    const prev = bgpStatus.get(key);
    // After a restart the objects written before it are adopted, and left alone when right.
    const found = prev
      ? undefined
      : existingStatus(own, key, serviceBGPStatusName(s.namespace, s.name, node));
    if (!prev || !sameList(prev.peers, s.peers)) {
      const name = prev?.name ?? found?.metadata.name ??
        serviceBGPStatusName(s.namespace, s.name, node);
      bgpStatus.set(key, { name, peers: s.peers });
      statusNames.add(name);
      statusDeleting.delete(name);
      // The object is built when written, not held by the write queue.
      if (!found || !sameStatusObject(found, statusObjectOf(name, s))) {
        enqueue(WriteOp.Status, name, s);
      }
    }
    // Only when the Service starts being announced from this node, not on every reconcile
    // nor again after a restart.
    if (!prev && !found) enqueue(WriteOp.Assigned, s, undefined);
    // Only metrics need the announced IPs remembered.
    if (!metrics) return;
    const ips = [...s.ips].sort();
    const prevIps = announcedIPs.get(key) ?? [];
    if (!sameList(prevIps, ips)) {
      for (const ip of prevIps) {
        if (!ips.includes(ip)) {
          metrics.speakerAnnounced.remove({ service: key, protocol: "bgp", node, ip });
        }
      }
      for (const ip of ips) {
        metrics.speakerAnnounced.set({ service: key, protocol: "bgp", node, ip }, 1);
      }
    }
    announcedIPs.set(key, ips);
  }

  function statusObjectOf(name: string, s: ServiceAnnouncement): KubeObject {
    return {
      apiVersion: "metallb.io/v1beta1",
      kind: "ServiceBGPStatus",
      metadata: {
        name,
        namespace: options.namespace,
        labels: {
          [NODE_LABEL]: node,
          [SERVICE_NAME_LABEL]: s.name,
          [SERVICE_NAMESPACE_LABEL]: s.namespace,
        },
      },
      status: { node, serviceName: s.name, serviceNamespace: s.namespace, peers: s.peers },
    };
  }

  function forgetService(key: string): void {
    const st = bgpStatus.get(key);
    if (st) {
      bgpStatus.delete(key);
      statusNames.delete(st.name);
      statusDeleting.add(st.name);
      write("ServiceBGPStatus", () => writer.setServiceBGPStatus(options.namespace, st.name, null));
    }
    for (const ip of announcedIPs.get(key) ?? []) {
      metrics?.speakerAnnounced.remove({ service: key, protocol: "bgp", node, ip });
    }
    announcedIPs.delete(key);
  }

  function configStatus(): SpeakerConfigStatus {
    const errors = build && !build.ok ? build.errors.map(formatConfigError) : [];
    errors.push(...peerErrors.values());
    const warnings = (build?.warnings ?? []).map(formatConfigError);
    warnings.push(...peerWarnings);
    return { valid: errors.length === 0, errors, warnings };
  }

  function writeConfigState(): void {
    const cs = configStatus();
    const status = {
      result: cs.valid ? "Valid" : "Invalid",
      ...(cs.errors.length ? { errorSummary: cs.errors.join("\n") } : {}),
    };
    const text = JSON.stringify(status);
    if (text === lastConfigState) return;
    lastConfigState = text;
    const full = {
      ...status,
      conditions: [{
        type: "Valid",
        status: cs.valid ? "True" : "False",
        reason: cs.valid ? "ConfigurationValid" : "ConfigurationInvalid",
        message: cs.valid ? "" : cs.errors.join("\n"),
        lastTransitionTime: new Date(clock.now()).toISOString(),
      }],
    };
    write(
      "ConfigurationState",
      () => writer.setConfigurationState(options.namespace, `speaker-${node}`, full),
    );
  }

  function refreshMetrics(): void {
    if (!metrics) return;
    for (const e of sessions.values()) {
      const st = e.session.stats();
      const peer = { peer: e.label };
      metrics.bgpSessionUp.set(peer, st.state === "Established" ? 1 : 0);
      if (st.updatesSent > e.lastUpdates) {
        metrics.bgpUpdates.inc(peer, st.updatesSent - e.lastUpdates);
      }
      e.lastUpdates = st.updatesSent;
      metrics.bgpAnnouncedPrefixes.set(peer, st.prefixesSent);
      // MetalLB's gauge is the size of the set the session should advertise, not the unsent.
      metrics.bgpPendingPrefixes.set(peer, st.prefixesWanted);
    }
  }

  function tickMetrics(): void {
    refreshMetrics();
    const every = options.metricsIntervalMs ?? 5_000;
    if (every > 0 && !stopped) {
      const t = setTimeout(tickMetrics, every);
      Deno.unrefTimer(t as unknown as number);
      metricsTimer = t;
    }
  }

  return {
    get reconciles() {
      return reconciles;
    },
    async start() {
      if (started) return;
      started = true;
      await source.start();
      if (stopped) return;
      unsubscribe = source.subscribe((kinds) => schedule(kinds));
      runReconcile();
      tickMetrics();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      unsubscribe?.();
      if (scheduled !== undefined) clearTimeout(scheduled);
      scheduled = undefined;
      if (metricsTimer !== undefined) clearTimeout(metricsTimer);
      refreshMetrics();
      const all = Promise.all(
        [...sessions.values()].map((e) =>
          e.session.stop().catch((err) => log.warn("Cease failed", { peer: e.name, error: err }))
        ),
      );
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), graceMs);
      });
      const r = await Promise.race([all, timeout]);
      clearTimeout(timer);
      if (r === "timeout") log.warn("grace period over before every peer got Cease", { graceMs });
      for (const e of sessions.values()) metrics?.bgpSessionUp.set({ peer: e.label }, 0);
      await writes;
      const ws = waiters;
      waiters = [];
      ws.forEach((w) => w());
    },
    status() {
      refreshMetrics();
      const now = clock.now();
      const out: SpeakerStatus = { sessions: [], services: [] };
      const labels = new Map<string, string>();
      for (const e of sessions.values()) {
        labels.set(e.name, e.label);
        const st = e.session.stats();
        const s: SpeakerSessionStatus = {
          peer: e.label,
          name: e.name,
          state: st.state,
          prefixesSent: st.prefixesSent,
          prefixesReceived: st.prefixesReceived,
        };
        if (st.peerAsn !== undefined) s.peerAsn = st.peerAsn;
        if (e.gracefulRestart || st.gracefulRestart) {
          s.gracefulRestart = {
            enabled: e.gracefulRestart,
            negotiated: st.gracefulRestart !== undefined,
            notification: st.gracefulRestart?.notification ?? false,
          };
        }
        if (st.establishedAt !== undefined) {
          s.uptimeSeconds = Math.max(0, Math.floor((now - st.establishedAt) / 1000));
        }
        if (st.lastError) s.lastError = st.lastError;
        out.sessions.push(s);
      }
      for (const [name, reason] of peerErrors) {
        const p = config?.peers.find((x) => x.name === name);
        out.sessions.push({
          peer: p?.address ? formatHostPort(p.address, p.port) : name,
          name,
          state: "Rejected",
          prefixesSent: 0,
          prefixesReceived: 0,
          lastError: reason,
        });
      }
      // Built when read, from the decisions current at this call: with 100,000s of Services,
      // callers polling for sessions alone would otherwise churn as many objects each time.
      const decided = last?.services ?? [];
      let services: ServiceStatus[] | undefined;
      return {
        sessions: out.sessions,
        get services(): ServiceStatus[] {
          return services ??= decided.map((s) => {
            const st: ServiceStatus = {
              namespace: s.namespace,
              name: s.name,
              ips: s.ips,
              peers: s.peers.map((p) => labels.get(p) ?? p),
            };
            if (s.pool) st.pool = s.pool;
            if (s.reason) st.pending = s.reason;
            return st;
          });
        },
      };
    },
    configStatus,
    ready: () => started && !stopped && config !== undefined,
    async settled() {
      // Sources notify asynchronously (a microtask, or a short coalescing window): let
      // notifications of changes made just before this call arrive first.
      await new Promise((resolve) => setTimeout(resolve, 0));
      while (scheduled !== undefined || running) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
      await writes;
    },
    refreshMetrics,
    lastAnnouncements: () => last,
  };
}
