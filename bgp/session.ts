/**
 * One BGP session to one peer: dials it (Idle → Connect → OpenSent …), reconnects with
 * backoff, and keeps the peer's Adj-RIB-Out in step with the routes the caller wants.
 * Route changes only ever produce UPDATEs; they never reset the session.
 */
import { type LogContext, type Logger, silentLogger } from "./log.ts";
import { BgpError, ErrorCode } from "./errors.ts";
import {
  adminShutdown,
  backoffDelay,
  type CloseReason,
  type Family,
  hardReset,
  type Negotiated,
  type OpenPolicy,
  type PeerAsnPolicy,
  PeerConnection,
  type SessionState,
  State,
} from "./fsm.ts";
import {
  AdjRibOut,
  type AttributeEnv,
  endOfRib,
  type HoldTails,
  type Route,
  type RouteState,
  type TakenUpdates,
} from "./adj_rib_out.ts";
import { encodeMessage, MAX_MESSAGE_SIZE } from "./packets.ts";
import { prefixKey } from "./prefix.ts";
import { type Clock, systemClock, type TimerHandle } from "./timers.ts";
import { type Conn, type Connector, formatHostPort, netAddrOf, tcpConnector } from "./transport.ts";
import type { Message, UpdateMessage } from "./types.ts";

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
   * doubling from 1 s to 2 minutes. Both are jittered (see {@linkcode backoffDelay}).
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
   * When both sides do, {@linkcode BgpSession.stop} sends Cease and the peer still keeps our
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

/** Options of {@linkcode BgpSession.stop}. */
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

type Listener = (...args: never[]) => void;

/**
 * Events a session emits: "state" (state, previous), "error" (Error), "update" (UpdateMessage
 * received), "sent" (routes announced or withdrawn went out).
 */
export type SessionEvent = "state" | "error" | "update" | "sent";

/** Default hold time (RFC 4271 suggests 90 s; MetalLB's default too). */
export const DEFAULT_HOLD_MS = 90_000;
/** Most announcements and withdrawals one flush step takes (~10-20 ms of work). */
const FLUSH_BATCH = 16_384;

/** Default connect timeout. */
export const DEFAULT_CONNECT_MS = 10_000;

/** Why the peer-AS settings of `config` cannot work, or undefined when they can. */
function checkPeerAsn(config: SessionConfig): string | undefined {
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

/** An outgoing BGP session with its own Adj-RIB-Out. */
export class BgpSession {
  readonly #config: SessionConfig;
  readonly #clock: Clock;
  readonly #connector: Connector;
  readonly #log: Logger;
  readonly #random: () => number;
  readonly #port: number;
  #state: SessionState = State.IDLE;
  #running = false;
  #warnedSource = false;
  #attempt = 0;
  #failures = 0;
  #establishedOnce = false;
  #retryTimer?: TimerHandle;
  #pc?: PeerConnection;
  #negotiated?: Negotiated;
  #env?: AttributeEnv;
  /** Negotiated families we can send: IPv6 only with a usable next hop. */
  #sendFamilies: Family[] = [];
  #rib = new AdjRibOut();
  #ribIn = new Set<string>();
  #flushScheduled = false;
  /** When a flush last filled more than one UPDATE of an attribute set. */
  #bulkAt?: number;
  #tailTimer?: TimerHandle;
  /** The next flush sends what was held back, full UPDATE or not. */
  #forceTails = false;
  #flushing = false;
  #dirty = false;
  #eorPending = false;
  #establishedAt?: number;
  #updatesSent = 0;
  #updatesReceived = 0;
  #lastError?: string;
  #listeners: Record<SessionEvent, Listener[]> = { state: [], error: [], update: [], sent: [] };

  /** Creates an idle session; call {@linkcode start} to connect. */
  constructor(config: SessionConfig, options: SessionOptions = {}) {
    const bad = checkPeerAsn(config);
    if (bad) throw new TypeError(`BGP session to ${config.peerAddress}: ${bad}`);
    this.#config = config;
    this.#clock = options.clock ?? systemClock;
    this.#connector = options.connector ?? tcpConnector;
    this.#random = options.random ?? Math.random;
    this.#port = config.peerPort ?? 179;
    const ctx: LogContext = { peer: formatHostPort(config.peerAddress, this.#port) };
    if (config.name) ctx.session = config.name;
    this.#log = (options.logger ?? silentLogger).child(ctx);
  }

  /** Current FSM state name. */
  get state(): string {
    return this.#state;
  }

  /** Subscribes to an event. */
  on(event: "state", fn: (state: string, previous: string) => void): void;
  /** Subscribes to session errors (connect failures, NOTIFICATIONs, drops). */
  on(event: "error", fn: (err: Error) => void): void;
  /** Subscribes to UPDATEs received from the peer. */
  on(event: "update", fn: (msg: UpdateMessage) => void): void;
  /** Subscribes to route changes having gone out to the peer. */
  on(event: "sent", fn: () => void): void;
  on(event: SessionEvent, fn: Listener): void {
    this.#listeners[event].push(fn);
  }

  /** Starts connecting; reconnects with backoff until {@linkcode stop}. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    if (this.#config.sourceAddress && !this.#warnedSource) {
      this.#warnedSource = true;
      this.#log.warn(
        "sourceAddress cannot be honoured: Deno cannot bind a source address for TCP connect; " +
          "the kernel picks the source",
        { sourceAddress: this.#config.sourceAddress },
      );
    }
    this.#connect();
  }

  /** States the full set of routes the peer should have; only the difference is sent. */
  setRoutes(routes: Route[]): void {
    const rejected = this.#rib.setWanted(routes);
    if (rejected.length > 0) {
      const reason = `${rejected.length} route(s) not announced: ${rejected[0].prefix}: ` +
        rejected[0].reason;
      this.#log.error("routes rejected", { count: rejected.length, sample: rejected.slice(0, 5) });
      this.#emit("error", new TypeError(reason));
    }
    this.#scheduleFlush();
  }

  /**
   * Closes the session and stops reconnecting. With graceful restart negotiated the peer is
   * left keeping our routes as stale for the restart time: Cease/administrative shutdown when
   * both sides support RFC 8538, else a TCP close without NOTIFICATION. Without graceful
   * restart, or with `hardReset`, the peer is told to drop them.
   */
  async stop(options: StopOptions = {}): Promise<void> {
    this.#running = false;
    this.#attempt++;
    this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#clock.clearTimeout(this.#tailTimer);
    this.#tailTimer = undefined;
    const pc = this.#pc;
    const neg = this.#negotiated;
    if (pc && !pc.closed) {
      if (neg?.gracefulRestart && pc.state === State.ESTABLISHED) {
        if (options.hardReset) {
          await pc.close(neg.gracefulNotification ? hardReset() : adminShutdown());
        } else if (neg.gracefulNotification) {
          this.#log.info("stopping: Cease under RFC 8538, the peer keeps our routes as stale");
          await pc.close(adminShutdown());
        } else {
          this.#log.info(
            "stopping without NOTIFICATION so the peer keeps our routes (graceful restart)",
          );
          await pc.closeQuietly("stopped (graceful restart: closed without NOTIFICATION)");
        }
      } else {
        await pc.close(adminShutdown());
      }
    }
    this.#setState(State.IDLE);
  }

  /**
   * Where the prefix of key `key` ({@linkcode prefixKey}) stands with the peer: `sent` only
   * while the session is Established and the route went out with its current attributes;
   * `absent` when it is not wanted.
   */
  routeState(key: string): RouteState {
    const s = this.#rib.routeState(key);
    return s === "sent" && this.#state !== State.ESTABLISHED ? "pending" : s;
  }

  /** A snapshot of counters. */
  stats(): SessionStats {
    const families = this.#negotiated?.families ?? this.#config.families ?? ["ipv4", "ipv6"];
    const s: SessionStats = {
      state: this.#state,
      prefixesSent: this.#rib.sentCount,
      prefixesPending: this.#rib.pendingCount(families),
      prefixesWanted: this.#rib.wantedCount,
      prefixesReceived: this.#ribIn.size,
      updatesSent: this.#updatesSent,
      updatesReceived: this.#updatesReceived,
      peer: formatHostPort(this.#config.peerAddress, this.#port),
    };
    if (this.#establishedAt !== undefined) s.establishedAt = this.#establishedAt;
    if (this.#negotiated) {
      s.peerAsn = this.#negotiated.peerAsn;
      if (this.#negotiated.gracefulRestart) {
        s.gracefulRestart = { notification: this.#negotiated.gracefulNotification };
      }
    }
    if (this.#lastError !== undefined) s.lastError = this.#lastError;
    return s;
  }

  #emit(event: SessionEvent, ...args: unknown[]): void {
    for (const fn of this.#listeners[event]) {
      try {
        (fn as (...a: unknown[]) => void)(...args);
      } catch (err) {
        this.#log.error("session event listener threw", { event, error: err });
      }
    }
  }

  #setState(state: SessionState): void {
    if (state === this.#state) return;
    const prev = this.#state;
    this.#state = state;
    this.#log.info("BGP state change", { from: prev, to: state });
    this.#emit("state", state, prev);
  }

  #policy(): OpenPolicy {
    const c = this.#config;
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
      p.restarting = !!c.restarting && !this.#establishedOnce;
    }
    return p;
  }

  async #connect(): Promise<void> {
    if (!this.#running) return;
    const attempt = ++this.#attempt;
    this.#setState(State.CONNECT);
    const ms = this.#config.connectTimeoutMs ?? DEFAULT_CONNECT_MS;
    let timer: TimerHandle | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimeout(
        () => reject(new Error(`connect timed out after ${ms} ms`)),
        ms,
      );
    });
    const dial = this.#connector(this.#config.peerAddress, this.#port);
    let conn: Conn;
    try {
      conn = await Promise.race([dial, timeout]);
    } catch (err) {
      dial.then((c) => c.close(), () => {});
      if (attempt !== this.#attempt || !this.#running) return;
      this.#fail(
        `connect failed: ${err instanceof Error ? err.message : String(err)}`,
        State.ACTIVE,
      );
      return;
    } finally {
      this.#clock.clearTimeout(timer);
    }
    if (attempt !== this.#attempt || !this.#running) {
      conn.close();
      return;
    }
    const pc = new PeerConnection(conn, this.#policy(), {
      clock: this.#clock,
      logger: this.#log,
      handlers: {
        onState: (s) => {
          if (this.#pc === pc && s !== State.ESTABLISHED) this.#setState(s);
        },
        onEstablished: (neg) => this.#onEstablished(pc, conn, neg),
        onMessage: (msg) => this.#onMessage(msg),
        onClose: (why) => this.#onClose(pc, why),
      },
    });
    this.#pc = pc;
    pc.start();
  }

  #fail(reason: string, next: SessionState): void {
    this.#lastError = reason;
    this.#failures++;
    const delay = backoffDelay(this.#failures, {
      random: this.#random,
      ...(this.#config.connectRetryMs !== undefined
        ? { retryMs: this.#config.connectRetryMs }
        : {}),
    });
    this.#log.warn("BGP session down, will retry", { reason, retryInMs: delay });
    this.#setState(next);
    this.#emit("error", new Error(reason));
    this.#clock.clearTimeout(this.#retryTimer);
    this.#retryTimer = this.#clock.setTimeout(() => {
      this.#retryTimer = undefined;
      this.#connect();
    }, delay);
  }

  #onEstablished(pc: PeerConnection, conn: Conn, neg: Negotiated): void {
    if (this.#pc !== pc) return;
    // Only a session that got all the way up resets the backoff.
    this.#failures = 0;
    this.#establishedOnce = true;
    this.#negotiated = neg;
    this.#establishedAt = this.#clock.now();
    const local = netAddrOf(conn.localAddr).hostname;
    const v6Session = local.includes(":");
    let nextHopV4 = local;
    if (v6Session) {
      // RFC 5549 (IPv4 over an IPv6 next hop) is not supported: fall back to the router ID.
      nextHopV4 = this.#config.routerId;
      if (neg.families.includes("ipv4")) {
        this.#log.warn("IPv4 routes over an IPv6 session: using the router ID as NEXT_HOP", {
          nextHop: nextHopV4,
        });
      }
    }
    // IPv6 routes over an IPv4 session need a real IPv6 next hop: peers such as BIRD reject
    // the IPv4-mapped form (::ffff:a.b.c.d) as a mismatched address family. Without one
    // those routes stay pending rather than being sent unusable.
    const nextHopV6 = this.#config.nextHopV6 ?? (v6Session ? local.replace(/%.*$/, "") : "");
    this.#sendFamilies = neg.families.filter((f) => f === "ipv4" || nextHopV6 !== "");
    if (!nextHopV6 && neg.families.includes("ipv6")) {
      this.#log.warn("IPv6 routes over an IPv4 session without an IPv6 next hop: held back", {});
    }
    this.#env = {
      ibgp: neg.peerAsn === this.#config.localAsn,
      localAsn: this.#config.localAsn,
      nextHopV4,
      nextHopV6,
    };
    this.#rib.reset();
    // The whole table is known: nothing to wait for.
    this.#forceTails = true;
    this.#eorPending = !!this.#config.gracefulRestart || neg.peerGracefulRestart;
    this.#log.info("BGP session established", {
      holdTimeMs: neg.holdTimeMs,
      keepaliveMs: neg.keepaliveMs,
      families: neg.families,
      peerAsn: neg.peerAsn,
    });
    const missing = (this.#config.families ?? ["ipv4", "ipv6"]).filter((f) =>
      !neg.families.includes(f)
    );
    if (missing.length > 0) {
      this.#log.warn("peer did not negotiate these families: their routes stay pending", {
        families: missing,
      });
    }
    this.#setState(State.ESTABLISHED);
    this.#flush();
  }

  #onMessage(msg: Message): void {
    if (msg.type === 5) {
      // RFC 7313 Beginning/End-of-RIB markers are not requests (we never offer enhanced refresh).
      if (msg.subtype) return;
      this.#log.info("route refresh requested: re-sending Adj-RIB-Out", { afi: msg.afi });
      this.#rib.reset();
      this.#forceTails = true;
      this.#scheduleFlush();
      return;
    }
    if (msg.type !== 2) return;
    this.#updatesReceived++;
    const gone = [...msg.withdrawn, ...(msg.attributes.mpUnreach?.withdrawn ?? [])];
    const added = [...msg.nlri, ...(msg.attributes.mpReach?.nlri ?? [])];
    for (const p of gone) this.#ribIn.delete(prefixKey(p));
    for (const p of added) {
      if (msg.treatAsWithdraw) this.#ribIn.delete(prefixKey(p));
      else this.#ribIn.add(prefixKey(p));
    }
    this.#emit("update", msg);
  }

  #onClose(pc: PeerConnection, why: CloseReason): void {
    if (this.#pc !== pc) return;
    this.#pc = undefined;
    this.#negotiated = undefined;
    this.#env = undefined;
    this.#establishedAt = undefined;
    // The peer forgets our routes with the session: send the full table next time.
    this.#rib.reset();
    this.#ribIn.clear();
    if (!this.#running) {
      this.#setState(State.IDLE);
      return;
    }
    this.#fail(why.reason, State.IDLE);
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // Every setRoutes of one tick collapses into one diff. (Bursts spread over several ticks
    // are packed by holding partial UPDATEs, see `coalesceMs`; a timer here would cost every
    // lone change a clamped macrotask.)
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#flushing) {
      this.#dirty = true;
      return;
    }
    this.#flushing = true;
    try {
      let more = false;
      do {
        if (more) await new Promise((resolve) => setTimeout(resolve, 0));
        this.#dirty = false;
        const pc = this.#pc;
        const neg = this.#negotiated;
        const env = this.#env;
        if (!pc || !neg || !env || pc.state !== State.ESTABLISHED) return;
        // In batches, so that a table of 100,000s never holds the event loop for long.
        const taken = this.#rib.takeUpdates(env, {
          ctx: pc.ctx,
          families: this.#sendFamilies,
          holdTails: this.#holdTails(),
          limit: FLUSH_BATCH,
        });
        more = taken.more;
        this.#afterTake(taken);
        const msgs = taken.updates;
        if (this.#eorPending && !more) {
          for (const f of neg.families) msgs.push(endOfRib(f));
          this.#eorPending = false;
        }
        if (msgs.length === 0) continue;
        if (taken.announced || taken.withdrawn) {
          this.#log.debug("sending routes", {
            announced: taken.announced,
            withdrawn: taken.withdrawn,
            updates: msgs.length,
          });
        }
        await this.#sendBatched(pc, msgs);
        if (taken.announced || taken.withdrawn) this.#emit("sent");
      } while (this.#dirty || more);
    } catch (err) {
      // A failed write closes the connection, which resets the Adj-RIB-Out; anything else
      // is a bug worth seeing.
      if (this.#pc?.closed === false) this.#log.error("route flush failed", { error: err });
      else this.#log.debug("route flush interrupted", { error: err });
    } finally {
      this.#flushing = false;
    }
  }

  /**
   * During a bulk change (recent flushes filled whole UPDATEs) the last, partly filled UPDATE
   * of each attribute set waits up to `coalesceMs` for more prefixes; lone changes go at once.
   */
  #holdTails(): HoldTails {
    const ms = this.#config.coalesceMs ?? 0;
    if (ms <= 0 || this.#forceTails || this.#eorPending) return "none";
    const recent = this.#bulkAt !== undefined && this.#clock.now() - this.#bulkAt < ms;
    return recent ? "all" : "bulky";
  }

  #afterTake(taken: TakenUpdates): void {
    if (taken.more) return;
    this.#forceTails = false;
    if (taken.bulk) this.#bulkAt = this.#clock.now();
    if (taken.held === 0 || this.#tailTimer !== undefined) return;
    this.#tailTimer = this.#clock.setTimeout(() => {
      this.#tailTimer = undefined;
      this.#forceTails = true;
      this.#scheduleFlush();
    }, this.#config.coalesceMs ?? 0);
  }

  async #sendBatched(pc: PeerConnection, msgs: UpdateMessage[]): Promise<void> {
    const chunks: Uint8Array[] = [];
    let size = 0;
    const send = async () => {
      if (chunks.length === 0) return;
      const buf = new Uint8Array(size);
      let off = 0;
      for (const c of chunks) {
        buf.set(c, off);
        off += c.length;
      }
      chunks.length = 0;
      size = 0;
      await pc.sendRaw(buf);
    };
    for (const m of msgs) {
      const bytes = encodeMessage(m, pc.ctx);
      if (bytes.length > MAX_MESSAGE_SIZE) {
        throw new BgpError(ErrorCode.UPDATE_MESSAGE, 0, {
          detail: `internal: packed UPDATE of ${bytes.length} bytes`,
        });
      }
      chunks.push(bytes);
      size += bytes.length;
      this.#updatesSent++;
      if (size >= 65536) await send();
    }
    await send();
  }
}
