/**
 * The BGP finite state machine of RFC 4271 section 8, split in two: the pure parts (states,
 * reconnect backoff, OPEN building and checking) and {@linkcode PeerConnection}, which runs
 * OpenSent → OpenConfirm → Established over one connection with hold and keepalive timers.
 * Idle/Connect/Active (dialing and connect-retry) live in the session, which owns reconnects.
 */
import { BgpError, CeaseSubcode, describeNotification, ErrorCode, OpenSubcode } from "./errors.ts";
import { decodeMessage, encodeMessage, FrameReader } from "./packets.ts";
import type { Clock, TimerHandle } from "./timers.ts";
import { type Conn, writeAll } from "./transport.ts";
import {
  AFI_IPV4,
  AFI_IPV6,
  type Capability,
  type CodecContext,
  type Message,
  type NotificationMessage,
  type OpenMessage,
  SAFI_UNICAST,
} from "./types.ts";
import type { Logger } from "./log.ts";

/** FSM states (RFC 4271 8.2.2). */
export const State = {
  IDLE: "Idle",
  CONNECT: "Connect",
  ACTIVE: "Active",
  OPEN_SENT: "OpenSent",
  OPEN_CONFIRM: "OpenConfirm",
  ESTABLISHED: "Established",
} as const;

/** One of the FSM state names. */
export type SessionState = typeof State[keyof typeof State];

/** Address families a session may carry. */
export type Family = "ipv4" | "ipv6";

/** Which peer AS an unpinned session accepts: ours ("internal") or any other ("external"). */
export type PeerAsnPolicy = "internal" | "external";

/** AS_TRANS (RFC 6793): the 2-octet My AS of a speaker whose ASN does not fit. */
export const AS_TRANS = 23456;

/** Hold time advertised while waiting for the peer's OPEN (RFC 4271 suggests 4 minutes). */
export const OPEN_HOLD_MS = 240_000;

/** Reconnect backoff ceiling. */
export const MAX_BACKOFF_MS = 120_000;
/** First reconnect delay ceiling; it doubles with every failure up to {@linkcode MAX_BACKOFF_MS}. */
export const FIRST_BACKOFF_MS = 1_000;

/** Options of {@linkcode backoffDelay}. */
export interface BackoffOptions {
  /**
   * A fixed retry interval (MetalLB's `connectTime`, FRR's `timers connect`) instead of the
   * doubling one.
   */
  retryMs?: number;
  /** Uniform random number in [0, 1); injectable so tests are deterministic. */
  random?: () => number;
}

/**
 * Delay before reconnect attempt number `failures` (1 = after the first failure): a ceiling
 * of 1 s doubling up to 2 minutes (or the fixed `retryMs`), times a random factor in
 * [0.75, 1] as RFC 4271 section 10 suggests, so that the speakers of a cluster do not redial
 * a restarted router in lockstep.
 */
export function backoffDelay(failures: number, options: BackoffOptions = {}): number {
  const ceiling = options.retryMs ??
    Math.min(FIRST_BACKOFF_MS * 2 ** Math.max(0, failures - 1), MAX_BACKOFF_MS);
  const r = (options.random ?? Math.random)();
  return Math.round(ceiling * (1 - 0.25 * Math.min(1, Math.max(0, r))));
}

/** What we put in our OPEN and expect from the peer's. */
export interface OpenPolicy {
  localAsn: number;
  /** Expected peer AS; undefined accepts any allowed by `peerAsnPolicy` (the collector). */
  peerAsn?: number;
  /**
   * When `peerAsn` is undefined: "external" accepts any AS but ours, "internal" only ours
   * (MetalLB's dynamicASN); undefined accepts any.
   */
  peerAsnPolicy?: PeerAsnPolicy;
  routerId: string;
  holdTimeMs: number;
  /** Configured keepalive; default a third of the negotiated hold time. */
  keepaliveMs?: number;
  families: Family[];
  /** Restart time in seconds to announce the graceful-restart capability; omit to not. */
  gracefulRestartTimeS?: number;
  /** Set the RFC 8538 N bit in our graceful-restart capability (default true). */
  gracefulRestartNotification?: boolean;
  /** Set the R bit: we are coming back from a restart (RFC 4724 3). */
  restarting?: boolean;
  /**
   * Set the F bit for every family: forwarding survived our restart. True for a speaker
   * whose data plane (the node) keeps running while the BGP process restarts.
   */
  forwardingPreserved?: boolean;
  /** Accept a peer router ID equal to ours on iBGP (the collector is lenient). */
  allowSameRouterId?: boolean;
}

/** The outcome of a successful OPEN exchange. */
export interface Negotiated {
  peerAsn: number;
  peerRouterId: string;
  /** Negotiated hold time in ms; 0 disables hold and keepalive timers. */
  holdTimeMs: number;
  keepaliveMs: number;
  fourOctetAs: boolean;
  /** Families both sides announced (IPv4 alone when the peer sent no multiprotocol caps). */
  families: Family[];
  routeRefresh: boolean;
  /** The peer announced graceful restart. */
  peerGracefulRestart: boolean;
  /** Both sides announced graceful restart (RFC 4724 procedures apply to this session). */
  gracefulRestart: boolean;
  /** Both sides set the RFC 8538 N bit: a NOTIFICATION other than Hard Reset keeps routes. */
  gracefulNotification: boolean;
  peerCapabilities: Capability[];
}

function familyAfi(f: Family): 1 | 2 {
  return f === "ipv4" ? AFI_IPV4 : AFI_IPV6;
}

/** Our OPEN message for `policy`. */
export function buildOpen(policy: OpenPolicy): OpenMessage {
  const caps: Capability[] = policy.families.map((f) => ({
    code: 1 as const,
    afi: familyAfi(f),
    safi: SAFI_UNICAST,
  }));
  caps.push({ code: 2 });
  caps.push({ code: 65, asn: policy.localAsn });
  if (policy.gracefulRestartTimeS !== undefined) {
    const gr: Extract<Capability, { code: 64 }> = {
      code: 64,
      restarting: !!policy.restarting,
      restartTime: Math.min(policy.gracefulRestartTimeS, 0x0fff),
      families: policy.families.map((f) => ({
        afi: familyAfi(f),
        safi: SAFI_UNICAST,
        forwardingPreserved: !!policy.forwardingPreserved,
      })),
    };
    if (policy.gracefulRestartNotification !== false) gr.notification = true;
    caps.push(gr);
  }
  return {
    type: 1,
    version: 4,
    myAs: policy.localAsn > 0xffff ? AS_TRANS : policy.localAsn,
    holdTime: Math.floor(policy.holdTimeMs / 1000),
    routerId: policy.routerId,
    capabilities: caps,
  };
}

/** Checks the peer's OPEN against `policy` (RFC 4271 6.2); throws the BgpError to send. */
export function checkOpen(open: OpenMessage, policy: OpenPolicy): Negotiated {
  if (open.version !== 4) {
    throw new BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSUPPORTED_VERSION_NUMBER, {
      data: new Uint8Array([0, 4]),
      detail: `peer speaks version ${open.version}`,
    });
  }
  const as4 = open.capabilities.find((c): c is { code: 65; asn: number } =>
    c.code === 65 && "asn" in c
  );
  const peerAsn = as4 ? as4.asn : open.myAs;
  if (policy.peerAsn !== undefined && peerAsn !== policy.peerAsn) {
    throw new BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_PEER_AS, {
      detail: `peer AS ${peerAsn}, configured ${policy.peerAsn}`,
    });
  }
  if (policy.peerAsn === undefined && policy.peerAsnPolicy !== undefined) {
    const internal = peerAsn === policy.localAsn;
    if (internal !== (policy.peerAsnPolicy === "internal")) {
      throw new BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_PEER_AS, {
        detail: policy.peerAsnPolicy === "internal"
          ? `peer AS ${peerAsn}, want our AS ${policy.localAsn} (dynamic ASN internal)`
          : `peer AS ${peerAsn} is our own AS (dynamic ASN external)`,
      });
    }
  }
  if (open.holdTime === 1 || open.holdTime === 2) {
    throw new BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME, {
      detail: `hold time ${open.holdTime}s (must be 0 or at least 3)`,
    });
  }
  const ibgp = peerAsn === policy.localAsn;
  if (
    open.routerId === "0.0.0.0" ||
    (ibgp && open.routerId === policy.routerId && !policy.allowSameRouterId)
  ) {
    throw new BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_BGP_IDENTIFIER, {
      detail: `peer router ID ${open.routerId}`,
    });
  }
  const ourHold = Math.floor(policy.holdTimeMs / 1000);
  const holdS = Math.min(ourHold, open.holdTime);
  const holdTimeMs = holdS * 1000;
  let keepaliveMs = 0;
  if (holdTimeMs > 0) {
    keepaliveMs = Math.floor(holdTimeMs / 3);
    if (policy.keepaliveMs !== undefined && policy.keepaliveMs > 0) {
      // A keepalive at or above the hold time would let the peer's hold timer expire.
      keepaliveMs = policy.keepaliveMs < holdTimeMs ? policy.keepaliveMs : keepaliveMs;
    }
  }
  const mp = open.capabilities.filter((c): c is { code: 1; afi: number; safi: number } =>
    c.code === 1 && "afi" in c
  );
  const peerFamilies: Family[] = mp.length === 0
    ? ["ipv4"]
    : mp.filter((c) => c.safi === SAFI_UNICAST && (c.afi === AFI_IPV4 || c.afi === AFI_IPV6)).map((
      c,
    ) => (c.afi === AFI_IPV4 ? "ipv4" : "ipv6"));
  const peerGr = open.capabilities.find((c): c is Extract<Capability, { code: 64 }> =>
    c.code === 64 && "restartTime" in c
  );
  const ourGr = policy.gracefulRestartTimeS !== undefined;
  return {
    peerAsn,
    peerRouterId: open.routerId,
    holdTimeMs,
    keepaliveMs,
    fourOctetAs: as4 !== undefined,
    families: policy.families.filter((f) => peerFamilies.includes(f)),
    routeRefresh: open.capabilities.some((c) => c.code === 2),
    peerGracefulRestart: peerGr !== undefined,
    gracefulRestart: ourGr && peerGr !== undefined,
    gracefulNotification: ourGr && policy.gracefulRestartNotification !== false &&
      peerGr?.notification === true,
    peerCapabilities: open.capabilities,
  };
}

/** Why a connection ended. */
export interface CloseReason {
  /** Human-readable reason for logs and `lastError`. */
  reason: string;
  /** The NOTIFICATION we sent, if any. */
  sent?: NotificationMessage;
  /** The NOTIFICATION the peer sent, if any. */
  received?: NotificationMessage;
  /** True when closed by {@linkcode PeerConnection.close} with an administrative reason. */
  local: boolean;
}

/** Callbacks of a {@linkcode PeerConnection}. */
export interface PeerConnectionHandlers {
  /** State moved (OpenSent, OpenConfirm, Established). */
  onState?(state: SessionState): void;
  /** The session reached Established. */
  onEstablished?(negotiated: Negotiated): void;
  /** An UPDATE or ROUTE-REFRESH arrived in Established. */
  onMessage?(msg: Message): void;
  /** The connection is gone (called exactly once). */
  onClose?(why: CloseReason): void;
}

/** Options of a {@linkcode PeerConnection}. */
export interface PeerConnectionOptions {
  clock: Clock;
  logger: Logger;
  handlers: PeerConnectionHandlers;
}

/**
 * One BGP conversation over one transport connection: sends our OPEN, checks the peer's,
 * enforces the hold timer, sends keepalives, and turns every protocol error into the
 * NOTIFICATION it calls for before closing.
 */
export class PeerConnection {
  /** Current state: OpenSent, OpenConfirm, Established, or Idle once closed. */
  state: SessionState = State.OPEN_SENT;
  /** Set once the OPEN exchange succeeded. */
  negotiated?: Negotiated;
  /** Codec context; `fourOctetAs` flips on after negotiation. */
  readonly ctx: CodecContext = { fourOctetAs: false };
  readonly #conn: Conn;
  readonly #policy: OpenPolicy;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #h: PeerConnectionHandlers;
  #holdTimer?: TimerHandle;
  #keepaliveTimer?: TimerHandle;
  #writeChain: Promise<void> = Promise.resolve();
  #closed = false;

  /** Wraps `conn`; call {@linkcode start} to send OPEN and begin reading. */
  constructor(conn: Conn, policy: OpenPolicy, options: PeerConnectionOptions) {
    this.#conn = conn;
    this.#policy = policy;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#h = options.handlers;
  }

  /** Whether the connection has been closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Sends our OPEN and starts the read loop. */
  start(): void {
    this.#setState(State.OPEN_SENT);
    this.#armHold(OPEN_HOLD_MS);
    this.send(buildOpen(this.#policy)).catch(() => {});
    this.#readLoop();
  }

  /** Queues an encoded message; writes never interleave. Rejects if the write fails. */
  send(msg: Message): Promise<void> {
    return this.sendRaw(encodeMessage(msg, this.ctx));
  }

  /** Queues already-encoded bytes (one or more whole messages). */
  sendRaw(bytes: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new Error("connection closed"));
    if (this.state === State.ESTABLISHED || this.state === State.OPEN_CONFIRM) {
      this.#armKeepalive();
    }
    const p = this.#writeChain.then(() => writeAll(this.#conn, bytes));
    this.#writeChain = p.catch(() => {});
    p.catch((err) => {
      if (!this.#closed) this.#shutdown({ reason: `write failed: ${errText(err)}`, local: false });
    });
    return p;
  }

  /**
   * Sends a NOTIFICATION (when `notify` is given), waits for it to be written (bounded by the
   * clock), then closes.
   */
  async close(notify?: BgpError, reason?: string): Promise<void> {
    if (this.#closed) return;
    const text = reason ?? (notify ? notify.message : "closed");
    if (!notify) {
      this.#shutdown({ reason: text, local: true });
      return;
    }
    const sent: NotificationMessage = {
      type: 3,
      code: notify.code,
      subcode: notify.subcode,
      data: notify.data,
    };
    const write = this.send(sent).catch(() => {});
    let timer: TimerHandle | undefined;
    // A stalled peer must not hold up shutdown forever.
    const limit = new Promise<void>((resolve) => (timer = this.#clock.setTimeout(resolve, 5000)));
    await Promise.race([write, limit]);
    this.#clock.clearTimeout(timer);
    this.#shutdown({ reason: text, sent, local: notify.code === ErrorCode.CEASE });
  }

  /**
   * Closes without a NOTIFICATION once queued writes are out (bounded by the clock): under
   * RFC 4724 a peer keeps our routes as stale only when the transport just goes away.
   */
  async closeQuietly(reason: string): Promise<void> {
    if (this.#closed) return;
    let timer: TimerHandle | undefined;
    const limit = new Promise<void>((resolve) => (timer = this.#clock.setTimeout(resolve, 5000)));
    await Promise.race([this.#writeChain, limit]);
    this.#clock.clearTimeout(timer);
    this.#shutdown({ reason, local: true });
  }

  #setState(state: SessionState): void {
    if (this.state === state && state !== State.OPEN_SENT) return;
    this.state = state;
    this.#h.onState?.(state);
  }

  #armHold(ms: number): void {
    this.#clock.clearTimeout(this.#holdTimer);
    this.#holdTimer = undefined;
    if (ms <= 0 || this.#closed) return;
    this.#holdTimer = this.#clock.setTimeout(() => {
      this.#log.warn("hold timer expired", { holdTimeMs: ms });
      this.close(
        new BgpError(ErrorCode.HOLD_TIMER_EXPIRED, 0, { detail: `no message in ${ms} ms` }),
      )
        .catch(() => {});
    }, ms);
  }

  #armKeepalive(): void {
    this.#clock.clearTimeout(this.#keepaliveTimer);
    this.#keepaliveTimer = undefined;
    const ka = this.negotiated?.keepaliveMs ?? 0;
    if (ka <= 0 || this.#closed) return;
    this.#keepaliveTimer = this.#clock.setTimeout(() => {
      this.#keepaliveTimer = undefined;
      if (!this.#closed) this.send({ type: 4 }).catch(() => {});
    }, ka);
  }

  async #readLoop(): Promise<void> {
    const reader = new FrameReader();
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await this.#conn.read(buf);
        if (this.#closed) return;
        if (n === null) {
          this.#shutdown({ reason: "connection closed by peer", local: false });
          return;
        }
        reader.push(buf.slice(0, n));
        for (let frame = reader.next(); frame !== null; frame = reader.next()) {
          const msg = decodeMessage(frame, this.ctx);
          this.#handle(msg);
          if (this.#closed) return;
        }
      }
    } catch (err) {
      if (this.#closed) return;
      if (err instanceof BgpError) {
        this.#log.warn("protocol error from peer", { error: err.message });
        await this.close(err);
      } else {
        this.#shutdown({ reason: `read failed: ${errText(err)}`, local: false });
      }
    }
  }

  #handle(msg: Message): void {
    if (msg.type === 3) {
      const text = describeNotification(msg.code, msg.subcode);
      this.#log.warn("NOTIFICATION from peer", { code: msg.code, subcode: msg.subcode, text });
      this.#shutdown({ reason: `peer sent NOTIFICATION ${text}`, received: msg, local: false });
      return;
    }
    if (this.negotiated && this.negotiated.holdTimeMs > 0) {
      this.#armHold(this.negotiated.holdTimeMs);
    }
    switch (this.state) {
      case State.OPEN_SENT: {
        if (msg.type !== 1) throw fsmError(1, msg.type);
        const neg = checkOpen(msg, this.#policy);
        this.negotiated = neg;
        this.ctx.fourOctetAs = neg.fourOctetAs;
        this.#setState(State.OPEN_CONFIRM);
        this.#armHold(neg.holdTimeMs);
        this.send({ type: 4 }).catch(() => {});
        return;
      }
      case State.OPEN_CONFIRM:
        if (msg.type !== 4) throw fsmError(2, msg.type);
        this.#setState(State.ESTABLISHED);
        this.#h.onEstablished?.(this.negotiated!);
        return;
      case State.ESTABLISHED:
        if (msg.type === 1) throw fsmError(3, msg.type);
        if (msg.type === 2 || msg.type === 5) this.#h.onMessage?.(msg);
        return;
    }
  }

  #shutdown(why: CloseReason): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#clock.clearTimeout(this.#holdTimer);
    this.#clock.clearTimeout(this.#keepaliveTimer);
    try {
      this.#conn.close();
    } catch {
      // already closed by the peer
    }
    this.state = State.IDLE;
    this.#h.onClose?.(why);
  }
}

/** FSM error for an unexpected message (RFC 6608 subcodes 1..3 by state). */
function fsmError(subcode: number, type: number): BgpError {
  return new BgpError(ErrorCode.FSM, subcode, { detail: `unexpected message type ${type}` });
}

/**
 * RFC 8538 Cease/Hard Reset: the peer drops our routes even under graceful restart. The data
 * carries the Cease it stands for (administrative shutdown).
 */
export function hardReset(): BgpError {
  return new BgpError(ErrorCode.CEASE, CeaseSubcode.HARD_RESET, {
    data: new Uint8Array([ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN]),
    detail: "hard reset (administrative shutdown)",
  });
}

/** The administrative-shutdown Cease sent by a clean stop. */
export function adminShutdown(): BgpError {
  return new BgpError(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN, {
    detail: "administrative shutdown",
  });
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
