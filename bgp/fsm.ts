/**
 * The BGP finite state machine of RFC 4271 section 8: states, reconnect backoff and
 * {@linkcode PeerConnection}, which runs OpenSent → OpenConfirm → Established over one
 * connection with hold and keepalive timers. The OPEN itself (building ours, checking the
 * peer's) lives in `open_policy.ts`, as BIRD keeps it apart from its FSM.
 * Idle/Connect/Active (dialing and connect-retry) live in the session, which owns reconnects.
 */
import { BgpError, CeaseSubcode, describeNotification, ErrorCode } from "./errors.ts";
import { decodeMessage, encodeMessage, FrameReader } from "./packets.ts";
import type { Clock, TimerHandle } from "./timers.ts";
import { type Conn, writeAll } from "./transport.ts";
import type { CodecContext, Message, NotificationMessage } from "./types.ts";
import type { Logger } from "./log.ts";
import { buildOpen, checkOpen, type Negotiated, type OpenPolicy } from "./open_policy.ts";

export {
  AS_TRANS,
  buildOpen,
  checkOpen,
  type Family,
  type Negotiated,
  type OpenPolicy,
  type PeerAsnPolicy,
} from "./open_policy.ts";

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
    await this.#atMost5s(this.send(sent).catch(() => {}));
    this.#shutdown({ reason: text, sent, local: notify.code === ErrorCode.CEASE });
  }

  /**
   * Closes without a NOTIFICATION once queued writes are out (bounded by the clock): under
   * RFC 4724 a peer keeps our routes as stale only when the transport just goes away.
   */
  async closeQuietly(reason: string): Promise<void> {
    if (this.#closed) return;
    await this.#atMost5s(this.#writeChain);
    this.#shutdown({ reason, local: true });
  }

  /** Waits for `p`, but a stalled peer must not hold up shutdown forever. */
  async #atMost5s(p: Promise<void>): Promise<void> {
    let timer: TimerHandle | undefined;
    const limit = new Promise<void>((resolve) => (timer = this.#clock.setTimeout(resolve, 5000)));
    await Promise.race([p, limit]);
    this.#clock.clearTimeout(timer);
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
