/**
 * One BGP session to one peer: dials it (Idle → Connect → OpenSent …), reconnects with
 * backoff, and keeps the peer's Adj-RIB-Out in step with the routes the caller wants.
 * Route changes only ever produce UPDATEs; they never reset the session. Settings live in
 * session_config.ts and the sending (flushes, batching, chunked writes) in session_sender.ts.
 */
import { type LogContext, type Logger, silentLogger } from "./log.ts";
import {
  backoffDelay,
  type CloseReason,
  type Family,
  type Negotiated,
  PeerConnection,
  type SessionState,
  State,
} from "./fsm.ts";
import type { AttributeEnv, Route, RouteState } from "./adj_rib_out.ts";
import { prefixKey } from "./prefix.ts";
import { type Clock, systemClock, type TimerHandle } from "./timers.ts";
import { type Conn, type Connector, formatHostPort, netAddrOf, tcpConnector } from "./transport.ts";
import type { Message, Prefix, UpdateMessage } from "./types.ts";
import {
  checkPeerAsn,
  closeForStop,
  DEFAULT_CONNECT_MS,
  type Listener,
  openPolicy,
  sendSetup,
  type SessionConfig,
  type SessionEvent,
  type SessionOptions,
  type SessionStats,
  type StopOptions,
} from "./session_config.ts";
import { RouteSender } from "./session_sender.ts";

export {
  DEFAULT_CONNECT_MS,
  DEFAULT_HOLD_MS,
  type SessionConfig,
  type SessionEvent,
  type SessionOptions,
  type SessionStats,
  type StopOptions,
} from "./session_config.ts";

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
  readonly #sender: RouteSender;
  #ribIn = new Set<string>();
  #establishedAt?: number;
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
    this.#sender = new RouteSender({
      clock: this.#clock,
      log: this.#log,
      coalesceMs: config.coalesceMs,
      link: () => ({
        pc: this.#pc,
        negotiated: this.#negotiated,
        env: this.#env,
        families: this.#sendFamilies,
      }),
      onSent: () => this.#emit("sent"),
    });
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

  /**
   * States the full set of routes the peer should have; only the difference is sent. With
   * `owned` (the caller never changes the list again) it is kept as the table, not copied.
   */
  setRoutes(routes: readonly Route[], options: { owned?: boolean } = {}): void {
    const rejected = this.#sender.rib.setWanted(routes, options);
    if (rejected.length > 0) {
      const reason = `${rejected.length} route(s) not announced: ${rejected[0].prefix}: ` +
        rejected[0].reason;
      this.#log.error("routes rejected", { count: rejected.length, sample: rejected.slice(0, 5) });
      this.#emit("error", new TypeError(reason));
    }
    this.#sender.schedule();
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
    this.#sender.cancelHold();
    const pc = this.#pc;
    if (pc && !pc.closed) {
      await closeForStop(pc, { ...options, negotiated: this.#negotiated, log: this.#log });
    }
    this.#setState(State.IDLE);
  }

  /**
   * Where prefix `key`, or the prefix of key `key` ({@linkcode prefixKey}), stands with the
   * peer: `sent` only while the session is Established and the route went out with its
   * current attributes; `absent` when it is not wanted.
   */
  routeState(key: string | Prefix): RouteState {
    const s = this.#sender.rib.routeState(key);
    return s === "sent" && this.#state !== State.ESTABLISHED ? "pending" : s;
  }

  /** A snapshot of counters. */
  stats(): SessionStats {
    const families = this.#negotiated?.families ?? this.#config.families ?? ["ipv4", "ipv6"];
    const s: SessionStats = {
      state: this.#state,
      prefixesSent: this.#sender.rib.sentCount,
      prefixesPending: this.#sender.rib.pendingCount(families),
      prefixesWanted: this.#sender.rib.wantedCount,
      prefixesReceived: this.#ribIn.size,
      updatesSent: this.#sender.updatesSent,
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
    const pc = new PeerConnection(conn, openPolicy(this.#config, this.#establishedOnce), {
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
    const setup = sendSetup(this.#config, neg, {
      local: netAddrOf(conn.localAddr).hostname,
      log: this.#log,
    });
    this.#sendFamilies = setup.families;
    this.#env = setup.env;
    this.#sender.resend(!!this.#config.gracefulRestart || neg.peerGracefulRestart);
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
    this.#sender.flush();
  }

  #onMessage(msg: Message): void {
    if (msg.type === 5) {
      // RFC 7313 Beginning/End-of-RIB markers are not requests (we never offer enhanced refresh).
      if (msg.subtype) return;
      this.#log.info("route refresh requested: re-sending Adj-RIB-Out", { afi: msg.afi });
      this.#sender.resend();
      this.#sender.schedule();
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
    this.#sender.rib.reset();
    this.#ribIn.clear();
    if (!this.#running) {
      this.#setState(State.IDLE);
      return;
    }
    this.#fail(why.reason, State.IDLE);
  }
}
