/**
 * A passive BGP receiver: accepts any number of sessions, keeps each peer's Adj-RIB-In,
 * logs what it learns and serves it as JSON. It is the mock peer of the project's tests,
 * so it answers like a real router: 4-octet AS, IPv4+IPv6 unicast, route refresh, hold-time
 * negotiation, keepalives, End-of-RIB.
 */
import { type Logger, silentLogger } from "./log.ts";
import { describeNotification } from "./errors.ts";
import {
  adminShutdown,
  type CloseReason,
  type Negotiated,
  type OpenPolicy,
  PeerConnection,
  State,
} from "./fsm.ts";
import { endOfRib } from "./adj_rib_out.ts";
import { formatPrefix, prefixKey } from "./prefix.ts";
import { type Clock, systemClock } from "./timers.ts";
import { formatHostPort, type NetAddr, netAddrOf, parseHostPort } from "./transport.ts";
import type { Message, PathAttributes, Prefix, UpdateMessage } from "./types.ts";

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

/** One route as received, in JSON-friendly form. */
export interface CollectedRoute {
  prefix: string;
  nextHop?: string;
  /** ASNs of the AS_PATH in order (sets flattened). */
  asPath: number[];
  origin?: number;
  med?: number;
  localPref?: number;
  /** "asn:value". */
  communities: string[];
  /** "global:local1:local2". */
  largeCommunities: string[];
  /** 16 hex digits each. */
  extendedCommunities: string[];
}

/** A peer's Adj-RIB-In. */
export interface PeerRoutes {
  peer: string;
  asn?: number;
  routerId?: string;
  routes: CollectedRoute[];
}

/** A NOTIFICATION seen on a session. */
export interface NotificationInfo {
  direction: "received" | "sent";
  code: number;
  subcode: number;
  text: string;
}

/** A session, live or ended. */
export interface CollectorPeer {
  peer: string;
  state: string;
  asn?: number;
  routerId?: string;
  holdTimeMs?: number;
  fourOctetAs?: boolean;
  families?: string[];
  /** ISO time the session came up. */
  establishedAt?: string;
  /** ISO time the session ended. */
  closedAt?: string;
  updatesReceived: number;
  prefixes: number;
  endOfRib: string[];
  lastNotification?: NotificationInfo;
  closeReason?: string;
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

interface PeerEntry {
  info: CollectorPeer;
  pc: PeerConnection;
  rib: Map<string, CollectedRoute>;
}

const MAX_HISTORY = 100;

/** Starts a collector listening on `options.listen`; rejects when it cannot listen. */
export function startCollector(options: CollectorOptions): Promise<Collector> {
  try {
    return Promise.resolve(openCollector(options));
  } catch (err) {
    return Promise.reject(err);
  }
}

function openCollector(options: CollectorOptions): Collector {
  const log = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const { hostname, port } = parseHostPort(options.listen);
  const listener = Deno.listen({ hostname, port, transport: "tcp" });
  const addr = netAddrOf(listener.addr);
  const live = new Map<number, PeerEntry>();
  const history: CollectorPeer[] = [];
  const listeners = new Set<() => void>();
  let nextId = 1;
  let closing = false;

  const changed = () => {
    for (const fn of [...listeners]) {
      try {
        fn();
      } catch (err) {
        log.error("collector change listener threw", { error: err });
      }
    }
  };

  const policy: OpenPolicy = {
    localAsn: options.asn,
    routerId: options.routerId,
    holdTimeMs: options.holdTimeMs ?? 90_000,
    families: ["ipv4", "ipv6"],
    allowSameRouterId: true,
  };
  if (options.acceptAnyAs === false) {
    if (options.peerAsn === undefined) {
      listener.close();
      throw new TypeError("collector: acceptAnyAs false needs peerAsn");
    }
    policy.peerAsn = options.peerAsn;
  }

  function accept(conn: Deno.Conn): void {
    const id = nextId++;
    const r = netAddrOf(conn.remoteAddr);
    const peer = formatHostPort(r.hostname, r.port);
    const plog = log.child({ peer });
    const info: CollectorPeer = {
      peer,
      state: State.OPEN_SENT,
      updatesReceived: 0,
      prefixes: 0,
      endOfRib: [],
    };
    const rib = new Map<string, CollectedRoute>();
    const pc: PeerConnection = new PeerConnection(conn, policy, {
      clock,
      logger: plog,
      handlers: {
        onState: (s) => {
          info.state = s;
          changed();
        },
        onEstablished: (neg) => {
          established(info, neg);
          plog.info("BGP session established", {
            asn: neg.peerAsn,
            routerId: neg.peerRouterId,
            holdTimeMs: neg.holdTimeMs,
          });
          for (const f of neg.families) pc.send(endOfRib(f)).catch(() => {});
          changed();
        },
        onMessage: (msg) => {
          received(msg, info, rib, plog, pc);
          changed();
        },
        onClose: (why) => {
          ended(info, why);
          rib.clear();
          live.delete(id);
          history.unshift(info);
          if (history.length > MAX_HISTORY) history.pop();
          plog.info("BGP session closed", { reason: why.reason });
          changed();
        },
      },
    });
    live.set(id, { info, pc, rib });
    plog.info("BGP connection accepted");
    pc.start();
    changed();
  }

  const acceptLoop = (async () => {
    try {
      for await (const conn of listener) {
        if (closing) {
          conn.close();
          break;
        }
        accept(conn);
      }
    } catch (err) {
      if (!closing) log.error("collector accept loop failed", { error: err });
    }
  })();

  const routes = (): PeerRoutes[] =>
    [...live.values()].filter((e) => e.info.state === State.ESTABLISHED).map((e) => {
      const pr: PeerRoutes = { peer: e.info.peer, routes: [...e.rib.values()] };
      if (e.info.asn !== undefined) pr.asn = e.info.asn;
      if (e.info.routerId !== undefined) pr.routerId = e.info.routerId;
      return pr;
    });
  const peers = (): CollectorPeer[] => [
    ...[...live.values()].map((e) => ({ ...e.info, prefixes: e.rib.size })),
    ...history,
  ];

  let http: Deno.HttpServer<Deno.NetAddr> | undefined;
  let httpAddr: NetAddr | undefined;
  if (options.httpAddr) {
    const h = parseHostPort(options.httpAddr);
    http = Deno.serve({ hostname: h.hostname, port: h.port, onListen: () => {} }, (req) => {
      const url = new URL(req.url);
      if (req.method !== "GET") return new Response("method not allowed\n", { status: 405 });
      if (url.pathname === "/routes") return Response.json(routes());
      if (url.pathname === "/peers") return Response.json(peers());
      return new Response("not found: try /routes or /peers\n", { status: 404 });
    });
    httpAddr = { hostname: http.addr.hostname, port: http.addr.port };
  }
  log.info("collector listening", {
    addr: formatHostPort(addr.hostname, addr.port),
    asn: options.asn,
    http: httpAddr ? formatHostPort(httpAddr.hostname, httpAddr.port) : undefined,
  });

  const onChange = (fn: () => void) => {
    listeners.add(fn);
    return () => void listeners.delete(fn);
  };

  return {
    addr,
    httpAddr,
    routes,
    peers,
    onChange,
    waitFor(predicate, opts = {}) {
      if (predicate()) return Promise.resolve();
      const ms = opts.timeoutMs ?? 10_000;
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          off();
          reject(new Error(`collector: condition not met within ${ms} ms`));
        }, ms);
        const off = onChange(() => {
          if (!predicate()) return;
          clearTimeout(timer);
          off();
          resolve();
        });
      });
    },
    async dropSessions() {
      await Promise.all([...live.values()].map((e) => e.pc.close(adminShutdown())));
    },
    async close() {
      if (closing) return;
      closing = true;
      listener.close();
      await Promise.all([...live.values()].map((e) => e.pc.close(adminShutdown())));
      await acceptLoop;
      if (http) await http.shutdown();
    },
  };
}

function established(info: CollectorPeer, neg: Negotiated): void {
  info.asn = neg.peerAsn;
  info.routerId = neg.peerRouterId;
  info.holdTimeMs = neg.holdTimeMs;
  info.fourOctetAs = neg.fourOctetAs;
  info.families = neg.families;
  info.establishedAt = new Date().toISOString();
}

function ended(info: CollectorPeer, why: CloseReason): void {
  info.state = "Closed";
  info.closedAt = new Date().toISOString();
  info.closeReason = why.reason;
  const n = why.received ?? why.sent;
  if (n) {
    info.lastNotification = {
      direction: why.received ? "received" : "sent",
      code: n.code,
      subcode: n.subcode,
      text: describeNotification(n.code, n.subcode),
    };
  }
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The JSON form of one received route. */
function toCollected(p: Prefix, a: PathAttributes, nextHop?: string): CollectedRoute {
  const r: CollectedRoute = {
    prefix: formatPrefix(p),
    asPath: (a.asPath ?? []).flatMap((s) => s.asns),
    communities: (a.communities ?? []).map((c) => `${c >>> 16}:${c & 0xffff}`),
    largeCommunities: (a.largeCommunities ?? []).map((l) => l.join(":")),
    extendedCommunities: (a.extendedCommunities ?? []).map(hex),
  };
  if (nextHop !== undefined) r.nextHop = nextHop;
  if (a.origin !== undefined) r.origin = a.origin;
  if (a.med !== undefined) r.med = a.med;
  if (a.localPref !== undefined) r.localPref = a.localPref;
  return r;
}

function received(
  msg: Message,
  info: CollectorPeer,
  rib: Map<string, CollectedRoute>,
  log: Logger,
  pc: PeerConnection,
): void {
  if (msg.type === 5) {
    if (msg.subtype) return; // RFC 7313 markers, not requests
    // Nothing to re-send: the collector announces no routes, only End-of-RIB.
    const fam = msg.afi === 2 ? "ipv6" : "ipv4";
    pc.send(endOfRib(fam)).catch(() => {});
    return;
  }
  if (msg.type !== 2) return;
  info.updatesReceived++;
  applyUpdate(msg, info, rib, log);
  info.prefixes = rib.size;
}

function applyUpdate(
  msg: UpdateMessage,
  info: CollectorPeer,
  rib: Map<string, CollectedRoute>,
  log: Logger,
): void {
  const a = msg.attributes;
  const withdrawn = [...msg.withdrawn, ...(a.mpUnreach?.withdrawn ?? [])];
  const reach = a.mpReach?.nlri ?? [];
  if (withdrawn.length === 0 && msg.nlri.length === 0 && reach.length === 0) {
    const fam = a.mpUnreach ? (a.mpUnreach.afi === 2 ? "ipv6" : `afi${a.mpUnreach.afi}`) : "ipv4";
    if (!info.endOfRib.includes(fam)) info.endOfRib.push(fam);
    log.info("End-of-RIB received", { family: fam });
    return;
  }
  for (const p of withdrawn) rib.delete(prefixKey(p));
  if (msg.treatAsWithdraw) {
    for (const p of [...msg.nlri, ...reach]) rib.delete(prefixKey(p));
    log.warn("UPDATE treated as withdraw", {
      reason: msg.attributeError,
      prefixes: [...msg.nlri, ...reach].length,
    });
    return;
  }
  const added: CollectedRoute[] = [];
  for (const p of msg.nlri) added.push(toCollected(p, a, a.nextHop));
  for (const p of reach) added.push(toCollected(p, a, a.mpReach?.nextHops[0]));
  for (const [i, p] of [...msg.nlri, ...reach].entries()) rib.set(prefixKey(p), added[i]);
  const sample = added.slice(0, 5);
  log.info("routes received", {
    announced: added.length,
    withdrawn: withdrawn.map(formatPrefix).slice(0, 20),
    withdrawnCount: withdrawn.length,
    sample: sample.map((r) => ({
      prefix: r.prefix,
      nextHop: r.nextHop,
      asPath: r.asPath,
      localPref: r.localPref,
      communities: r.communities,
      largeCommunities: r.largeCommunities,
    })),
  });
  for (const r of added) log.debug("route", { ...r });
}
