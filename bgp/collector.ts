/**
 * A passive BGP receiver: accepts any number of sessions, keeps each peer's Adj-RIB-In,
 * logs what it learns and serves it as JSON. It is the mock peer of the project's tests,
 * so it answers like a real router: 4-octet AS, IPv4+IPv6 unicast, route refresh, hold-time
 * negotiation, keepalives, End-of-RIB.
 */
import { type Logger, silentLogger } from "./log.ts";
import {
  adminShutdown,
  type OpenPolicy,
  PeerConnection,
  type PeerConnectionHandlers,
  State,
} from "./fsm.ts";
import { endOfRib } from "./adj_rib_out.ts";
import { type Clock, systemClock } from "./timers.ts";
import { formatHostPort, type NetAddr, netAddrOf, parseHostPort } from "./transport.ts";
import type { CollectorPeer, PeerRoutes } from "./collector_types.ts";
import { ended, established, type PeerRecord, received } from "./collector_rib.ts";
import { serveLookingGlass } from "./collector_http.ts";

export type {
  CollectedRoute,
  CollectorPeer,
  NotificationInfo,
  PeerRoutes,
} from "./collector_types.ts";

/** Options of {@linkcode startCollector}. */
export interface CollectorOptions {
  /** "HOST:PORT" to accept BGP on; port 0 picks a free one. */
  listen: string;
  asn: number;
  routerId: string;
  logger?: Logger;
  /** Accept any peer AS (default true); when false, only `peerAsn`. */
  acceptAnyAs?: boolean;
  peerAsn?: number;
  /** Hold time we propose; default 90 s. */
  holdTimeMs?: number;
  /** "HOST:PORT" of the JSON looking glass (GET /routes, GET /peers); port 0 picks one. */
  httpAddr?: string;
  clock?: Clock;
}

/** A running collector. */
export interface Collector {
  /** Where it accepts BGP. */
  readonly addr: NetAddr;
  /** Where the looking glass listens, when enabled. */
  readonly httpAddr?: NetAddr;
  /** Every live peer's Adj-RIB-In. */
  routes(): PeerRoutes[];
  /** Live sessions first, then recently ended ones (newest first). */
  peers(): CollectorPeer[];
  /** Calls `fn` after every change (session state, routes); returns an unsubscribe. */
  onChange(fn: () => void): () => void;
  /** Resolves once `predicate()` holds, re-checking after every change; rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, options?: { timeoutMs?: number }): Promise<void>;
  /** Sends Cease to every live peer and keeps listening, so that the peers reconnect. */
  dropSessions(): Promise<void>;
  /** Sends Cease to every peer and stops listening. */
  close(): Promise<void>;
}

interface PeerEntry extends PeerRecord {
  pc: PeerConnection;
}

const MAX_HISTORY = 100;

/** Starts a collector listening on `options.listen`; rejects when it cannot listen. */
export function startCollector(options: CollectorOptions): Promise<Collector> {
  try {
    return Promise.resolve(new ListeningCollector(options));
  } catch (err) {
    return Promise.reject(err);
  }
}

/** The OPEN the collector answers with, from the options; throws on contradicting ones. */
function openPolicy(options: CollectorOptions): OpenPolicy {
  const policy: OpenPolicy = {
    localAsn: options.asn,
    routerId: options.routerId,
    holdTimeMs: options.holdTimeMs ?? 90_000,
    families: ["ipv4", "ipv6"],
    allowSameRouterId: true,
  };
  if (options.acceptAnyAs === false) {
    if (options.peerAsn === undefined) {
      throw new TypeError("collector: acceptAnyAs false needs peerAsn");
    }
    policy.peerAsn = options.peerAsn;
  }
  return policy;
}

/** A {@linkcode Collector}: accepts sessions, keeps live ones and the history of ended ones. */
class ListeningCollector implements Collector {
  readonly addr: NetAddr;
  readonly httpAddr?: NetAddr;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #policy: OpenPolicy;
  readonly #listener: Deno.TcpListener;
  readonly #live = new Map<number, PeerEntry>();
  readonly #history: CollectorPeer[] = [];
  readonly #listeners = new Set<() => void>();
  readonly #acceptLoop: Promise<void>;
  readonly #http?: Deno.HttpServer<Deno.NetAddr>;
  #nextId = 1;
  #closing = false;

  constructor(options: CollectorOptions) {
    this.#log = options.logger ?? silentLogger;
    this.#clock = options.clock ?? systemClock;
    const { hostname, port } = parseHostPort(options.listen);
    this.#listener = Deno.listen({ hostname, port, transport: "tcp" });
    this.addr = netAddrOf(this.#listener.addr);
    try {
      this.#policy = openPolicy(options);
    } catch (err) {
      this.#listener.close();
      throw err;
    }
    // Callers hand these around detached from the collector.
    this.routes = this.routes.bind(this);
    this.peers = this.peers.bind(this);
    this.onChange = this.onChange.bind(this);
    this.waitFor = this.waitFor.bind(this);
    this.dropSessions = this.dropSessions.bind(this);
    this.close = this.close.bind(this);
    this.#acceptLoop = this.#acceptAll();
    if (options.httpAddr) {
      const glass = serveLookingGlass(options.httpAddr, this);
      this.#http = glass.server;
      this.httpAddr = glass.addr;
    }
    this.#log.info("collector listening", {
      addr: formatHostPort(this.addr.hostname, this.addr.port),
      asn: options.asn,
      http: this.httpAddr ? formatHostPort(this.httpAddr.hostname, this.httpAddr.port) : undefined,
    });
  }

  routes(): PeerRoutes[] {
    return [...this.#live.values()].filter((e) => e.info.state === State.ESTABLISHED).map((e) => {
      const pr: PeerRoutes = { peer: e.info.peer, routes: [...e.rib.values()] };
      if (e.info.asn !== undefined) pr.asn = e.info.asn;
      if (e.info.routerId !== undefined) pr.routerId = e.info.routerId;
      return pr;
    });
  }

  peers(): CollectorPeer[] {
    return [
      ...[...this.#live.values()].map((e) => ({ ...e.info, prefixes: e.rib.size })),
      ...this.#history,
    ];
  }

  onChange(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => void this.#listeners.delete(fn);
  }

  waitFor(predicate: () => boolean, opts: { timeoutMs?: number } = {}): Promise<void> {
    if (predicate()) return Promise.resolve();
    const ms = opts.timeoutMs ?? 10_000;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`collector: condition not met within ${ms} ms`));
      }, ms);
      const off = this.onChange(() => {
        if (!predicate()) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  async dropSessions(): Promise<void> {
    await Promise.all([...this.#live.values()].map((e) => e.pc.close(adminShutdown())));
  }

  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.#listener.close();
    await this.dropSessions();
    await this.#acceptLoop;
    if (this.#http) await this.#http.shutdown();
  }

  #changed(): void {
    for (const fn of [...this.#listeners]) {
      try {
        fn();
      } catch (err) {
        this.#log.error("collector change listener threw", { error: err });
      }
    }
  }

  async #acceptAll(): Promise<void> {
    try {
      for await (const conn of this.#listener) {
        if (this.#closing) {
          conn.close();
          break;
        }
        this.#accept(conn);
      }
    } catch (err) {
      if (!this.#closing) this.#log.error("collector accept loop failed", { error: err });
    }
  }

  #accept(conn: Deno.Conn): void {
    const id = this.#nextId++;
    const r = netAddrOf(conn.remoteAddr);
    const name = formatHostPort(r.hostname, r.port);
    const info: CollectorPeer = {
      peer: name,
      state: State.OPEN_SENT,
      updatesReceived: 0,
      prefixes: 0,
      endOfRib: [],
    };
    const peer: PeerRecord = {
      info,
      rib: new Map(),
      log: this.#log.child({ peer: name }),
      // Nothing to re-send on a refresh: the collector announces no routes, only End-of-RIB.
      refresh: (family) => void pc.send(endOfRib(family)).catch(() => {}),
    };
    const pc: PeerConnection = new PeerConnection(conn, this.#policy, {
      clock: this.#clock,
      logger: peer.log,
      handlers: this.#handlers(id, peer),
    });
    this.#live.set(id, { ...peer, pc });
    peer.log.info("BGP connection accepted");
    pc.start();
    this.#changed();
  }

  /** What a session's events do to the collector. */
  #handlers(id: number, peer: PeerRecord): PeerConnectionHandlers {
    const { info, log } = peer;
    return {
      onState: (s) => {
        info.state = s;
        this.#changed();
      },
      onEstablished: (neg) => {
        established(info, neg);
        log.info("BGP session established", {
          asn: neg.peerAsn,
          routerId: neg.peerRouterId,
          holdTimeMs: neg.holdTimeMs,
        });
        for (const f of neg.families) peer.refresh(f);
        this.#changed();
      },
      onMessage: (msg) => {
        received(msg, peer);
        this.#changed();
      },
      onClose: (why) => {
        ended(info, why);
        peer.rib.clear();
        this.#live.delete(id);
        this.#history.unshift(info);
        if (this.#history.length > MAX_HISTORY) this.#history.pop();
        log.info("BGP session closed", { reason: why.reason });
        this.#changed();
      },
    };
  }
}
