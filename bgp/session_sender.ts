/**
 * The sending half of a BGP session: keeps one peer's Adj-RIB-Out, schedules flushes (one per
 * tick), takes UPDATEs from it in FLUSH_BATCH steps with a macrotask between them, holds the
 * last partly filled UPDATE for `coalesceMs` during bulk changes, and writes the UPDATEs in
 * ~64 KiB chunks. The session owns the connection; this only borrows it per step.
 */
import { nextTurn } from "../addr/turn_budget.ts";
import type { Logger } from "./log.ts";
import { BgpError, ErrorCode } from "./errors.ts";
import { type Family, type Negotiated, type PeerConnection, State } from "./fsm.ts";
import {
  AdjRibOut,
  type AttributeEnv,
  endOfRib,
  type HoldTails,
  type TakenUpdates,
} from "./adj_rib_out.ts";
import { encodeMessage, MAX_MESSAGE_SIZE } from "./packets.ts";
import type { Clock, TimerHandle } from "./timers.ts";
import type { UpdateMessage } from "./types.ts";

/** Most announcements and withdrawals one flush step takes (~10-20 ms of work). */
export const FLUSH_BATCH = 16_384;

/** Bytes of encoded UPDATEs gathered before one write. */
const CHUNK_BYTES = 65536;

/** What a flush step needs of the session, read afresh at every step. */
export interface SendLink {
  pc?: PeerConnection;
  negotiated?: Negotiated;
  env?: AttributeEnv;
  /** Negotiated families we can send. */
  families: Family[];
}

/** What a {@linkcode RouteSender} is built with. */
export interface RouteSenderOptions {
  clock: Clock;
  log: Logger;
  /** See `SessionConfig.coalesceMs`. */
  coalesceMs?: number;
  /** The session's current connection and what was negotiated on it. */
  link: () => SendLink;
  /** Route changes went out to the peer. */
  onSent: () => void;
}

/** Sends one peer's Adj-RIB-Out over the session's connection. */
export class RouteSender {
  /** The peer's Adj-RIB-Out. */
  readonly rib: AdjRibOut = new AdjRibOut();
  /** UPDATEs encoded for the wire so far. */
  updatesSent = 0;
  readonly #opts: RouteSenderOptions;
  #flushScheduled = false;
  /** When a flush last filled more than one UPDATE of an attribute set. */
  #bulkAt?: number;
  #tailTimer?: TimerHandle;
  /** The next flush sends what was held back, full UPDATE or not. */
  #forceTails = false;
  #flushing = false;
  #dirty = false;
  #eorPending = false;

  /** Creates a sender with an empty Adj-RIB-Out. */
  constructor(opts: RouteSenderOptions) {
    this.#opts = opts;
  }

  /**
   * The peer has none of our routes (new session or route refresh): the whole table goes
   * out, nothing held back since it is all known; End-of-RIB follows when `endOfRib`.
   */
  resend(endOfRib?: boolean): void {
    this.rib.reset();
    this.#forceTails = true;
    if (endOfRib !== undefined) this.#eorPending = endOfRib;
  }

  /** Stops waiting to fill held UPDATEs. */
  cancelHold(): void {
    this.#opts.clock.clearTimeout(this.#tailTimer);
    this.#tailTimer = undefined;
  }

  /** Flushes once this tick's changes are all in. */
  schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    // Every setRoutes of one tick collapses into one diff. (Bursts spread over several ticks
    // are packed by holding partial UPDATEs, see `coalesceMs`; a timer here would cost every
    // lone change a clamped macrotask.)
    queueMicrotask(() => {
      this.#flushScheduled = false;
      this.flush();
    });
  }

  /** Sends what the peer lacks, in steps; a flush under way picks up later changes. */
  async flush(): Promise<void> {
    if (this.#flushing) {
      this.#dirty = true;
      return;
    }
    this.#flushing = true;
    try {
      let more = false;
      do {
        // Taking turns with the other sessions' steps and the rooms' slices: each waiting on
        // its own timer, four peers' steps ran back to back.
        if (more) await nextTurn();
        this.#dirty = false;
        const step = await this.#step();
        if (step === undefined) return;
        more = step;
      } while (this.#dirty || more);
    } catch (err) {
      // A failed write closes the connection, which resets the Adj-RIB-Out; anything else
      // is a bug worth seeing.
      const { log, link } = this.#opts;
      if (link().pc?.closed === false) log.error("route flush failed", { error: err });
      else log.debug("route flush interrupted", { error: err });
    } finally {
      this.#flushing = false;
    }
  }

  /** One FLUSH_BATCH step: whether more remains, or undefined when not Established. */
  async #step(): Promise<boolean | undefined> {
    const { pc, negotiated: neg, env, families } = this.#opts.link();
    if (!pc || !neg || !env || pc.state !== State.ESTABLISHED) return undefined;
    // In batches, so that a table of 100,000s never holds the event loop for long.
    const taken = this.rib.takeUpdates(env, {
      ctx: pc.ctx,
      families,
      holdTails: this.#holdTails(),
      limit: FLUSH_BATCH,
    });
    const more = taken.more;
    this.#afterTake(taken);
    const msgs = taken.updates;
    if (this.#eorPending && !more) {
      for (const f of neg.families) msgs.push(endOfRib(f));
      this.#eorPending = false;
    }
    if (msgs.length === 0) return more;
    const changed = taken.announced || taken.withdrawn;
    if (changed) {
      this.#opts.log.debug("sending routes", {
        announced: taken.announced,
        withdrawn: taken.withdrawn,
        updates: msgs.length,
      });
    }
    await this.#sendBatched(pc, msgs);
    if (changed) this.#opts.onSent();
    return more;
  }

  /**
   * During a bulk change (recent flushes filled whole UPDATEs) the last, partly filled UPDATE
   * of each attribute set waits up to `coalesceMs` for more prefixes; lone changes go at once.
   */
  #holdTails(): HoldTails {
    const ms = this.#opts.coalesceMs ?? 0;
    if (ms <= 0 || this.#forceTails || this.#eorPending) return "none";
    const recent = this.#bulkAt !== undefined && this.#opts.clock.now() - this.#bulkAt < ms;
    return recent ? "all" : "bulky";
  }

  #afterTake(taken: TakenUpdates): void {
    if (taken.more) return;
    this.#forceTails = false;
    const clock = this.#opts.clock;
    if (taken.bulk) this.#bulkAt = clock.now();
    if (taken.held === 0 || this.#tailTimer !== undefined) return;
    this.#tailTimer = clock.setTimeout(() => {
      this.#tailTimer = undefined;
      this.#forceTails = true;
      this.schedule();
    }, this.#opts.coalesceMs ?? 0);
  }

  async #sendBatched(pc: PeerConnection, msgs: UpdateMessage[]): Promise<void> {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for (const m of msgs) {
      const bytes = encodeMessage(m, pc.ctx);
      if (bytes.length > MAX_MESSAGE_SIZE) {
        throw new BgpError(ErrorCode.UPDATE_MESSAGE, 0, {
          detail: `internal: packed UPDATE of ${bytes.length} bytes`,
        });
      }
      chunks.push(bytes);
      size += bytes.length;
      this.updatesSent++;
      if (size >= CHUNK_BYTES) {
        await writeChunks(pc, { chunks, size });
        size = 0;
      }
    }
    await writeChunks(pc, { chunks, size });
  }
}

/** Writes `chunks` (of `size` bytes in all) as one buffer and empties the list. */
async function writeChunks(
  pc: PeerConnection,
  batch: { chunks: Uint8Array[]; size: number },
): Promise<void> {
  const { chunks, size } = batch;
  if (chunks.length === 0) return;
  const buf = new Uint8Array(size);
  let off = 0;
  for (const c of chunks) {
    buf.set(c, off);
    off += c.length;
  }
  chunks.length = 0;
  await pc.sendRaw(buf);
}
