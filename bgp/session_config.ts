/**
 * What a BGP session is configured with and reports: its configuration and options, the
 * checks on them, and the OPEN policy, next hops and stop NOTIFICATION derived from them. Kept apart from
 * session.ts so the session class reads as its behaviour, not its settings.
 */
import type { Logger } from "./log.ts";
import {
  adminShutdown,
  type Family,
  hardReset,
  type Negotiated,
  type OpenPolicy,
  type PeerAsnPolicy,
  type PeerConnection,
  State,
} from "./fsm.ts";
import type { AttributeEnv } from "./adj_rib_out.ts";
import type { Clock } from "./timers.ts";
import type { Connector } from "./transport.ts";

/** Configuration of one session. */
export interface SessionConfig {
  localAsn: number;
  /** The peer's AS; when absent, `peerAsnPolicy` says which AS numbers are accepted. */
  peerAsn?: number;
  /**
   * For a peer without a fixed AS (MetalLB `dynamicASN`): "external" accepts any AS but
   * ours, "internal" only ours. Required when `peerAsn` is absent.
   */
  peerAsnPolicy?: PeerAsnPolicy;
  peerAddress: string;
  /** Default 179. */
  peerPort?: number;
  /** Dotted quad. */
  routerId: string;
  /** Proposed hold time; default 90 s; 0 disables hold and keepalive timers. */
  holdTimeMs?: number;
  /** Default a third of the negotiated hold time. */
  keepaliveMs?: number;
  /** Bound on each TCP connect; default 10 s. */
  connectTimeoutMs?: number;
  /**
   * Fixed interval between connection attempts (MetalLB's `connectTime`); default a backoff
   * doubling from 1 s to 2 minutes. Both are jittered (see `backoffDelay` in fsm.ts).
   */
  connectRetryMs?: number;
  /** Default both. */
  families?: Family[];
  /** Announce the graceful-restart capability and send End-of-RIB after the initial table. */
  gracefulRestart?: boolean;
  /** Restart time announced with graceful restart; default 120 s (at most 4095). */
  gracefulRestartTimeS?: number;
  /**
   * Announce RFC 8538 notification support (the N bit) with graceful restart; default true.
   * When both sides do, `BgpSession.stop` sends Cease and the peer still keeps our
   * routes; otherwise a graceful stop closes TCP without a NOTIFICATION.
   */
  gracefulRestartNotification?: boolean;
  /**
   * This process is coming back from a restart: set the R bit in the OPENs sent until the
   * first session is up, so the peer keeps our stale routes until our End-of-RIB.
   */
  restarting?: boolean;
  /** Next hop for IPv6 routes, overriding the one derived from the session's local address. */
  nextHopV6?: string;
  /** Source address wanted by the user; Deno cannot bind it for an outgoing connect. */
  sourceAddress?: string;
  /** Name for logs. */
  name?: string;
  /**
   * Bound on how long announcements may wait to fill an UPDATE during a bulk change (many
   * prefixes arriving over several flushes, as on a cold start); default 0: never held.
   * Lone changes are never held.
   */
  coalesceMs?: number;
}

/** Counters and state of a session, for status pages and metrics. */
export interface SessionStats {
  state: string;
  establishedAt?: number;
  prefixesSent: number;
  prefixesPending: number;
  /** Prefixes the session should advertise, sent or not. */
  prefixesWanted: number;
  prefixesReceived: number;
  updatesSent: number;
  updatesReceived: number;
  lastError?: string;
  /** "ip:port" of the peer. */
  peer: string;
  /** The peer's AS from its OPEN, while connected. */
  peerAsn?: number;
  /** Graceful restart negotiated with the peer, and RFC 8538 notification support. */
  gracefulRestart?: { notification: boolean };
}

/** Options of `BgpSession.stop`. */
export interface StopOptions {
  /**
   * The peer must forget our routes now (the peer was removed from the configuration):
   * Cease/Hard Reset when RFC 8538 was negotiated, else Cease/administrative shutdown,
   * which makes an RFC 4724 peer drop them too. Default false.
   */
  hardReset?: boolean;
}

/** Injectable dependencies of a session. */
export interface SessionOptions {
  clock?: Clock;
  connector?: Connector;
  logger?: Logger;
  /** Uniform random numbers in [0, 1) for the reconnect jitter; default Math.random. */
  random?: () => number;
}

/** A subscriber to one {@linkcode SessionEvent}. */
export type Listener = (...args: never[]) => void;

/**
 * Events a session emits: "state" (state, previous), "error" (Error), "update" (UpdateMessage
 * received), "sent" (routes announced or withdrawn went out).
 */
export type SessionEvent = "state" | "error" | "update" | "sent";

/** Default hold time (RFC 4271 suggests 90 s; MetalLB's default too). */
export const DEFAULT_HOLD_MS = 90_000;
/** Default connect timeout. */
export const DEFAULT_CONNECT_MS = 10_000;

/** Why the peer-AS settings of `config` cannot work, or undefined when they can. */
export function checkPeerAsn(config: SessionConfig): string | undefined {
  const { peerAsn, peerAsnPolicy, localAsn } = config;
  if (peerAsnPolicy !== undefined && peerAsnPolicy !== "internal" && peerAsnPolicy !== "external") {
    return `peerAsnPolicy "${peerAsnPolicy}" (want "internal" or "external")`;
  }
  if (peerAsn === undefined) {
    return peerAsnPolicy === undefined ? "peerAsn or peerAsnPolicy is required" : undefined;
  }
  if (peerAsnPolicy === "internal" && peerAsn !== localAsn) {
    return `peerAsn ${peerAsn} contradicts peerAsnPolicy "internal" (local AS ${localAsn})`;
  }
  if (peerAsnPolicy === "external" && peerAsn === localAsn) {
    return `peerAsn ${peerAsn} contradicts peerAsnPolicy "external" (it is the local AS)`;
  }
  return undefined;
}

/**
 * The OPEN policy for `config`; the R bit only until a first session is up (`establishedOnce`),
 * since later restarts of the session are not restarts of this process.
 */
export function openPolicy(config: SessionConfig, establishedOnce: boolean): OpenPolicy {
  const c = config;
  const p: OpenPolicy = {
    localAsn: c.localAsn,
    routerId: c.routerId,
    holdTimeMs: c.holdTimeMs ?? DEFAULT_HOLD_MS,
    families: c.families ?? ["ipv4", "ipv6"],
  };
  if (c.peerAsn !== undefined) p.peerAsn = c.peerAsn;
  else p.peerAsnPolicy = c.peerAsnPolicy;
  if (c.keepaliveMs !== undefined) p.keepaliveMs = c.keepaliveMs;
  if (c.gracefulRestart) {
    p.gracefulRestartTimeS = c.gracefulRestartTimeS ?? 120;
    p.gracefulRestartNotification = c.gracefulRestartNotification ?? true;
    // The node forwards to our Service IPs whether or not this process runs, so forwarding
    // state always survives our restart; without F the peer drops stale routes on reconnect.
    p.forwardingPreserved = true;
    p.restarting = !!c.restarting && !establishedOnce;
  }
  return p;
}

/** The attribute environment of an Established session and the families it can send. */
export interface SendSetup {
  env: AttributeEnv;
  /** Negotiated families we can send: IPv6 only with a usable next hop. */
  families: Family[];
}

/**
 * Next hops and families for a session whose local address is `local`, warning on `log`
 * about routes that cannot go out as configured.
 */
export function sendSetup(
  config: SessionConfig,
  neg: Negotiated,
  opts: { local: string; log: Logger },
): SendSetup {
  const { local, log } = opts;
  const v6Session = local.includes(":");
  let nextHopV4 = local;
  if (v6Session) {
    // RFC 5549 (IPv4 over an IPv6 next hop) is not supported: fall back to the router ID.
    nextHopV4 = config.routerId;
    if (neg.families.includes("ipv4")) {
      log.warn("IPv4 routes over an IPv6 session: using the router ID as NEXT_HOP", {
        nextHop: nextHopV4,
      });
    }
  }
  // IPv6 routes over an IPv4 session need a real IPv6 next hop: peers such as BIRD reject
  // the IPv4-mapped form (::ffff:a.b.c.d) as a mismatched address family. Without one
  // those routes stay pending rather than being sent unusable.
  const nextHopV6 = config.nextHopV6 ?? (v6Session ? local.replace(/%.*$/, "") : "");
  const families = neg.families.filter((f) => f === "ipv4" || nextHopV6 !== "");
  if (!nextHopV6 && neg.families.includes("ipv6")) {
    log.warn("IPv6 routes over an IPv4 session without an IPv6 next hop: held back", {});
  }
  const env: AttributeEnv = {
    ibgp: neg.peerAsn === config.localAsn,
    localAsn: config.localAsn,
    nextHopV4,
    nextHopV6,
  };
  return { env, families };
}

/**
 * Closes `pc` as `BgpSession.stop` promises: under graceful restart the peer keeps our routes
 * (Cease with RFC 8538, else a TCP close without NOTIFICATION) unless `hardReset`.
 */
export async function closeForStop(
  pc: PeerConnection,
  opts: StopOptions & { negotiated?: Negotiated; log: Logger },
): Promise<void> {
  const { negotiated: neg, log } = opts;
  if (!neg?.gracefulRestart || pc.state !== State.ESTABLISHED) {
    await pc.close(adminShutdown());
  } else if (opts.hardReset) {
    await pc.close(neg.gracefulNotification ? hardReset() : adminShutdown());
  } else if (neg.gracefulNotification) {
    log.info("stopping: Cease under RFC 8538, the peer keeps our routes as stale");
    await pc.close(adminShutdown());
  } else {
    log.info("stopping without NOTIFICATION so the peer keeps our routes (graceful restart)");
    await pc.closeQuietly("stopped (graceful restart: closed without NOTIFICATION)");
  }
}
