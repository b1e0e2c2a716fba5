/**
 * The speaker's peer-set manager: one BGP session per BGPPeer selecting this node, created,
 * retuned or closed as the configuration changes, fed with each peer's routes, and asked
 * what each peer really holds.
 */
import type { Logger } from "../api/log.ts";
import type { MetallbMetrics } from "../api/metrics.ts";
import {
  type Clock,
  type Connector,
  formatHostPort,
  type Prefix,
  type Route,
  type RouteState,
  type SessionConfig,
  type SessionOptions,
  type SessionStats,
  type StopOptions,
} from "../bgp/mod.ts";
import type { SpeakerSessionStatus } from "./status_types.ts";

/** What the speaker needs of a BGP session; `BgpSession` is the real one. */
export interface SpeakerSession {
  start(): void;
  /** `owned`: the list is never changed again, so the session may keep it as it is. */
  setRoutes(routes: readonly Route[], options?: { owned?: boolean }): void;
  /** `hardReset` when the peer must drop our routes now rather than keep them as stale. */
  stop(options?: StopOptions): Promise<void>;
  stats(): SessionStats;
  /**
   * Whether the peer holds this prefix, or the prefix of this map key, as wanted now
   * (Established, sent).
   */
  routeState(key: string | Prefix): RouteState;
  on(event: "state", fn: (state: string, previous: string) => void): void;
  on(event: "sent", fn: () => void): void;
}

/** Makes a session; tests may count or wrap them. */
export type SessionFactory = (config: SessionConfig, options: SessionOptions) => SpeakerSession;

/** A session the set should run. */
export interface WantedSession {
  name: string;
  config: SessionConfig;
  /** Password hash and source address: a change needs a new session. */
  transportKey: string;
  connector?: Connector;
  unsupported: string[];
}

/** Options of {@linkcode PeerSet}. */
export interface PeerSetOptions {
  log: Logger;
  clock: Clock;
  factory: SessionFactory;
  metrics?: MetallbMetrics;
  /**
   * Called when a session sent routes (`peer` undefined) or came up or went down (`peer` its
   * name): what peers hold may have changed.
   */
  onChange: (peer?: string) => void;
}

interface Entry {
  name: string;
  key: string;
  /** Who the session talks to (address, port, both ASes): a change means a different peer. */
  identity: string;
  label: string;
  gracefulRestart: boolean;
  unsupported: string[];
  session: SpeakerSession;
  lastUpdates: number;
  /** The session's FSM state, from its events. */
  state: string;
  /** The routes last handed to the session, to skip identical hand-overs. */
  routes?: Route[];
}

/** The parameters that make a session a different peer, not just a retuned one. */
function identityOf(c: SessionConfig): string {
  return JSON.stringify([c.peerAddress, c.peerPort ?? 179, c.localAsn, c.peerAsn, c.peerAsnPolicy]);
}

/** Same routes, by identity: the planner returns unchanged routes' parts as-is. */
function sameRoutes(a: readonly Route[], b: readonly Route[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i].prefix !== b[i].prefix || a[i].attributes !== b[i].attributes) return false;
  }
  return true;
}

/** One session per BGPPeer of this node. */
export class PeerSet {
  readonly #o: PeerSetOptions;
  readonly #entries = new Map<string, Entry>();
  #synced = false;

  /** An empty set. */
  constructor(options: PeerSetOptions) {
    this.#o = options;
  }

  /**
   * Makes the running sessions those of `wanted`: new peers get a session, changed ones a
   * new session, removed ones are hard-reset so that their routes do not linger.
   */
  sync(wanted: readonly WantedSession[], fallback?: Connector): void {
    // Sessions of the first sync are this process's first: peers with graceful restart may
    // hold our routes from before the restart, and the R bit tells them to wait for End-of-RIB.
    const restarting = !this.#synced;
    this.#synced = true;
    const names = new Set(wanted.map((w) => w.name));
    for (const [name, entry] of this.#entries) {
      if (names.has(name)) continue;
      this.#o.log.info("BGPPeer removed or no longer selects this node: closing its session", {
        peer: name,
      });
      this.#close(entry, { hardReset: true });
      this.#entries.delete(name);
    }
    for (const w of wanted) this.#ensure(w, restarting, fallback);
  }

  #ensure(w: WantedSession, restarting: boolean, fallback?: Connector): void {
    const key = JSON.stringify(w.config) + w.transportKey;
    const identity = identityOf(w.config);
    const existing = this.#entries.get(w.name);
    if (existing && existing.key === key) {
      existing.unsupported = w.unsupported;
      return;
    }
    if (existing) {
      // Same peer, new parameters: a graceful stop lets it keep our routes until the new
      // session's End-of-RIB. A new address, port or AS is another peer: it must drop them.
      const otherPeer = existing.identity !== identity;
      this.#o.log.info(
        otherPeer
          ? "BGPPeer address, port or AS changed: hard-resetting the old session"
          : "BGPPeer session parameters (or password, sourceAddress) changed: " +
            "recreating its session",
        { peer: w.name },
      );
      this.#close(existing, otherPeer ? { hardReset: true } : {});
    }
    this.#start(w, { key, identity, restarting, connector: w.connector ?? fallback });
  }

  #start(
    w: WantedSession,
    o: { key: string; identity: string; restarting: boolean; connector?: Connector },
  ): void {
    const { clock, log, metrics } = this.#o;
    const session = this.#o.factory(o.restarting ? { ...w.config, restarting: true } : w.config, {
      clock,
      logger: log,
      ...(o.connector ? { connector: o.connector } : {}),
    });
    const label = formatHostPort(w.config.peerAddress, w.config.peerPort ?? 179);
    const entry: Entry = {
      name: w.name,
      key: o.key,
      identity: o.identity,
      label,
      gracefulRestart: !!w.config.gracefulRestart,
      unsupported: w.unsupported,
      session,
      lastUpdates: 0,
      state: "Idle",
    };
    session.on("state", (state, previous) => {
      if (this.#entries.get(w.name) !== entry) return;
      entry.state = state;
      metrics?.bgpSessionUp.set({ peer: label }, state === "Established" ? 1 : 0);
      if (state === "Established" || previous === "Established") this.#o.onChange(w.name);
    });
    session.on("sent", () => {
      if (this.#entries.get(w.name) === entry) this.#o.onChange();
    });
    this.#entries.set(w.name, entry);
    metrics?.bgpSessionUp.set({ peer: label }, 0);
    session.start();
  }

  #close(entry: Entry, stop: StopOptions): void {
    entry.session.stop(stop).catch((err) =>
      this.#o.log.warn("closing session failed", { error: err })
    );
    const metrics = this.#o.metrics;
    const shared = [...this.#entries.values()].some((e) => e !== entry && e.label === entry.label);
    if (metrics && !shared) {
      metrics.bgpSessionUp.remove({ peer: entry.label });
      metrics.bgpAnnouncedPrefixes.remove({ peer: entry.label });
      metrics.bgpPendingPrefixes.remove({ peer: entry.label });
    }
  }

  /**
   * Hands each session its routes; unchanged lists (by identity) are skipped. Yields after
   * each session that took a new list (a full table is 100,000s of routes).
   */
  *push(routes: ReadonlyMap<string, Route[]>): Generator<void, void> {
    for (const [name, list] of routes) {
      const entry = this.#entries.get(name);
      if (!entry || (entry.routes && sameRoutes(entry.routes, list))) continue;
      entry.routes = list;
      // The planner makes a new list for every change and never alters one it handed out:
      // each session keeps the list itself as its table rather than a copy per peer.
      entry.session.setRoutes(list, { owned: true });
      yield;
    }
  }

  /** Where prefix `key` (or the prefix of map key `key`) stands with peer `name`. */
  routeState(name: string, key: string | Prefix): RouteState {
    return this.#entries.get(name)?.session.routeState(key) ?? "absent";
  }

  /** Whether peer `name`'s session is Established. */
  established(name: string): boolean {
    return this.#entries.get(name)?.state === "Established";
  }

  /** The `ip:port` label of peer `name`'s session. */
  label(name: string): string | undefined {
    return this.#entries.get(name)?.label;
  }

  /**
   * Stops every session gracefully, bounded by `graceMs`: peers with graceful restart keep
   * our routes until we are back.
   */
  async stopAll(graceMs: number): Promise<void> {
    const log = this.#o.log;
    const all = Promise.all(
      [...this.#entries.values()].map((e) =>
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
    for (const e of this.#entries.values()) {
      this.#o.metrics?.bgpSessionUp.set({ peer: e.label }, 0);
    }
  }

  /** Copies session counters into the metrics. */
  refreshMetrics(): void {
    const metrics = this.#o.metrics;
    if (!metrics) return;
    for (const e of this.#entries.values()) {
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

  /** Every session for /status. */
  statuses(now: number): SpeakerSessionStatus[] {
    return [...this.#entries.values()].map((e) => sessionStatusOf(e, now));
  }
}

function sessionStatusOf(e: Entry, now: number): SpeakerSessionStatus {
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
  if (e.unsupported.length) s.unsupported = e.unsupported;
  return s;
}
