/**
 * soak_fuzz_bgp: at least 1,000,000 random and mutated BGP messages through the decoder (in a
 * worker, so a hang is seen and cut off) and a stream of them through a live BgpSession over
 * loopback. The session must answer every error with the NOTIFICATION the message calls for
 * before closing, keep running on messages that are fine, and never throw.
 */
import { BgpSession } from "../../bgp/mod.ts";
import { BgpError } from "../../bgp/errors.ts";
import { decodeMessage, encodeMessage, FrameReader } from "../../bgp/packets.ts";
import { parsePrefix } from "../../bgp/prefix.ts";
import type { Message } from "../../bgp/types.ts";
import { fuzzCase } from "./bgp_mutator.ts";
import type { FuzzTally } from "./fuzz_worker.ts";
import { figure, Rng, type Soak, type SoakContext, type SoakFigure } from "./types.ts";

const CHUNK = 50_000;
const STALL_MS = 20_000;

/** Decoder half: runs cases [0, count) in workers; a worker silent for 20 s is a hang. */
async function fuzzDecoder(ctx: SoakContext, count: number) {
  const total: FuzzTally = { decoded: 0, outcomes: {}, crashes: [], wrong: [], streamBytes: 0 };
  const hangs: { start: number; end: number }[] = [];
  let worker: Worker | undefined;
  for (let start = 0; start < count; start += CHUNK) {
    const end = Math.min(count, start + CHUNK);
    worker ??= new Worker(new URL("./fuzz_worker.ts", import.meta.url).href, { type: "module" });
    const w = worker;
    const tally = await new Promise<FuzzTally | null>((resolve) => {
      let timer = setTimeout(() => resolve(null), STALL_MS);
      w.onmessage = (e: MessageEvent<{ progress?: number; done?: FuzzTally }>) => {
        clearTimeout(timer);
        if (e.data.done) resolve(e.data.done);
        else timer = setTimeout(() => resolve(null), STALL_MS);
      };
      w.onerror = (e) => {
        clearTimeout(timer);
        e.preventDefault();
        total.crashes.push({ index: start, kind: "worker", error: e.message });
        resolve(null);
      };
      w.postMessage({ seed: ctx.seed, start, end });
    });
    if (tally === null) {
      hangs.push({ start, end });
      w.terminate();
      worker = undefined;
      continue;
    }
    total.decoded += tally.decoded;
    total.streamBytes += tally.streamBytes;
    total.crashes.push(...tally.crashes);
    total.wrong.push(...tally.wrong);
    for (const [k, v] of Object.entries(tally.outcomes)) {
      total.outcomes[k] = (total.outcomes[k] ?? 0) + v;
    }
    if (end % 200_000 === 0 || end === count) ctx.log("decoder progress", { decoded: end });
  }
  worker?.terminate();
  return { total, hangs };
}

const CTX = { fourOctetAs: true };
const KEEPALIVE = encodeMessage({ type: 4 }, CTX).slice();
const SYNC = encodeMessage({ type: 5, afi: 1, safi: 1 }, CTX).slice();

/** What the session must do with a byte stream, by RFC 4271 (decoded with our codec). */
interface Expectation {
  outcome: "ok" | "notify" | "close" | "incomplete";
  code?: number;
  subcode?: number;
  /** UPDATE frames the session handles before stopping. */
  updates: number;
  /** Bytes the session consumes before it acts; the rest is not sent. */
  used: number;
}

function expectFor(stream: Uint8Array): Expectation {
  let updates = 0;
  let at = 0;
  while (at < stream.length) {
    const r = new FrameReader();
    r.push(stream.subarray(at));
    let frame: Uint8Array | null;
    try {
      frame = r.next();
    } catch (err) {
      const e = err as BgpError;
      return { outcome: "notify", code: e.code, subcode: e.subcode, updates, used: at + 19 };
    }
    if (frame === null) return { outcome: "incomplete", updates, used: stream.length };
    at += frame.length;
    let m: Message;
    try {
      m = decodeMessage(frame, CTX);
    } catch (err) {
      const e = err as BgpError;
      return { outcome: "notify", code: e.code, subcode: e.subcode, updates, used: at };
    }
    // Established: an OPEN is an FSM error (RFC 6608 3), a NOTIFICATION ends it silently.
    if (m.type === 1) return { outcome: "notify", code: 5, subcode: 3, updates, used: at };
    if (m.type === 3) return { outcome: "close", updates, used: at };
    if (m.type === 2) updates++;
  }
  return { outcome: "ok", updates, used: stream.length };
}

/** A peer-side connection: every message the session sends, read in the background. */
class PeerSide {
  msgs: Message[] = [];
  closed = false;
  #wake: (() => void)[] = [];

  constructor(readonly conn: Deno.Conn) {
    this.#read();
  }

  async #read() {
    const r = new FrameReader();
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        r.push(buf.subarray(0, n));
        for (let f = r.next(); f !== null; f = r.next()) this.msgs.push(decodeMessage(f, CTX));
        this.#notify();
      }
    } catch {
      // reset or garbage from the session: both count as closed
    }
    this.closed = true;
    this.#notify();
  }

  #notify() {
    for (const w of this.#wake.splice(0)) w();
  }

  /** Waits until `pred` holds; false after `ms`. */
  async until(pred: () => boolean, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((res) => {
        const t = setTimeout(res, Math.min(left, 50));
        this.#wake.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
    return true;
  }

  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    try {
      while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
    } catch {
      // the session may close first; what it sent before decides
    }
  }

  close() {
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

interface LiveTally {
  messages: number;
  batches: number;
  resets: number;
  notificationsChecked: number;
  wrong: string[];
  missing: string[];
  hangs: string[];
  crashes: string[];
}

async function acceptWithin(l: Deno.Listener, ms: number): Promise<Deno.Conn | null> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<null>((r) => (timer = setTimeout(() => r(null), ms)));
  const a = l.accept();
  const c = await Promise.race([a, t]);
  clearTimeout(timer);
  if (c === null) a.then((x) => x.close(), () => {});
  return c;
}

/** Live half: the session dials us; we complete OPEN and feed it batches of fuzz cases. */
async function fuzzSession(ctx: SoakContext, count: number): Promise<LiveTally> {
  const t: LiveTally = {
    messages: 0,
    batches: 0,
    resets: 0,
    notificationsChecked: 0,
    wrong: [],
    missing: [],
    hangs: [],
    crashes: [],
  };
  const onRejection = (e: PromiseRejectionEvent) => {
    e.preventDefault();
    t.crashes.push(`unhandled rejection: ${e.reason}`);
  };
  const onError = (e: ErrorEvent) => {
    e.preventDefault();
    t.crashes.push(`uncaught: ${e.message}`);
  };
  globalThis.addEventListener("unhandledrejection", onRejection);
  globalThis.addEventListener("error", onError);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const session = new BgpSession({
    localAsn: 64512,
    peerAsn: 65001,
    peerAddress: "127.0.0.1",
    peerPort: (listener.addr as Deno.NetAddr).port,
    routerId: "10.255.0.1",
    connectTimeoutMs: 5000,
    // Every batch that ends in a NOTIFICATION resets the session: redial at once (a few ms,
    // jittered) instead of the production backoff's 1 s, or the soak measures waiting.
    connectRetryMs: 5,
    families: ["ipv4"],
  });
  session.setRoutes([{ prefix: parsePrefix("198.51.100.7/32"), attributes: {} }]);
  session.start();
  const g = new Rng(ctx.seed ^ 0x5eed);
  let index = 10_000_000; // apart from the decoder's cases
  let peer: PeerSide | null = null;
  let stalls = 0;
  const open = encodeMessage({
    type: 1,
    version: 4,
    myAs: 65001,
    holdTime: 0, // no timers: every byte on the wire is the fuzzer's
    routerId: "10.255.0.2",
    capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 2 }, { code: 65, asn: 65001 }],
  }, CTX).slice();
  try {
    while (t.messages < count && stalls < 3) {
      if (peer === null || peer.closed) {
        peer?.close();
        const conn = await acceptWithin(listener, 15_000);
        if (conn === null) {
          t.hangs.push(`session did not reconnect within 15 s (state ${session.state})`);
          stalls++;
          continue;
        }
        peer = new PeerSide(conn);
        await peer.write(new Uint8Array([...open, ...KEEPALIVE]));
        const p = peer;
        if (!(await p.until(() => p.msgs.some((m) => m.type === 4) || p.closed, 10_000))) {
          t.hangs.push("no KEEPALIVE after OPEN within 10 s");
          stalls++;
          peer.close();
          continue;
        }
        if (p.closed || !(await pollTrue(() => session.state === "Established", 5000))) {
          t.hangs.push(`session not Established after OPEN exchange (${session.state})`);
          stalls++;
          continue;
        }
        stalls = 0;
      }
      const p: PeerSide = peer;
      const cases = Array.from({ length: 1 + g.int(6) }, () => fuzzCase(ctx.seed, index++));
      let stream = concat([...cases.map((c) => c.bytes), SYNC]);
      let exp = expectFor(stream);
      for (let i = 0; i < 3 && exp.outcome === "incomplete"; i++) {
        stream = concat([stream, ...Array(220).fill(KEEPALIVE), SYNC]);
        exp = expectFor(stream);
      }
      if (exp.outcome === "incomplete") continue;
      const before = session.stats().updatesReceived;
      const seen = p.msgs.length;
      await p.write(stream.subarray(0, exp.used));
      t.messages += cases.length;
      t.batches++;
      const label = `batch at case ${index - cases.length} (${cases.map((c) => c.kind)})`;
      if (exp.outcome === "ok") {
        const ok = await pollTrue(
          () => session.stats().updatesReceived === before + exp.updates,
          10_000,
        );
        if (!ok) t.hangs.push(`${label}: session did not handle ${exp.updates} UPDATEs`);
        if (p.closed || session.state !== "Established") {
          t.missing.push(`${label}: session dropped a stream with no error (${session.state})`);
        }
        continue;
      }
      t.resets++;
      const ended = await p.until(() => p.closed, 10_000);
      if (!ended) {
        t.hangs.push(`${label}: session did not close after ${exp.outcome}`);
        p.close();
        continue;
      }
      const notes = p.msgs.slice(seen).filter((m) => m.type === 3);
      const handled = session.stats().updatesReceived - before;
      if (handled !== exp.updates) {
        t.wrong.push(
          `${label}: session handled ${handled} UPDATEs before closing, want ${exp.updates}`,
        );
      }
      if (exp.outcome === "close") {
        if (notes.length > 0) t.wrong.push(`${label}: answered a NOTIFICATION with a NOTIFICATION`);
        continue;
      }
      t.notificationsChecked++;
      const n = notes[0];
      if (!n || n.type !== 3) {
        t.missing.push(`${label}: closed without NOTIFICATION ${exp.code}/${exp.subcode}`);
      } else if (n.code !== exp.code || n.subcode !== exp.subcode) {
        t.wrong.push(`${label}: sent ${n.code}/${n.subcode}, want ${exp.code}/${exp.subcode}`);
      }
      if (t.batches % 5000 === 0) {
        ctx.log("session progress", { messages: t.messages, resets: t.resets });
      }
    }
  } finally {
    peer?.close();
    const stopped = await Promise.race([
      session.stop().then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 10_000)),
    ]);
    if (!stopped) t.hangs.push("session.stop() did not finish within 10 s");
    listener.close();
    // Let close callbacks run before the listeners go, so their errors are counted.
    await new Promise((r) => setTimeout(r, 50));
    globalThis.removeEventListener("unhandledrejection", onRejection);
    globalThis.removeEventListener("error", onError);
  }
  return t;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

async function pollTrue(fn: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 1));
  }
  return true;
}

/** The soak: decoder cases plus live-session cases; all promises listed in `broken`. */
export const soak: Soak = {
  name: "soak_fuzz_bgp",
  async *run(ctx: SoakContext): AsyncIterable<SoakFigure> {
    const decoderCount = ctx.short ? 100_000 : 1_000_000;
    const sessionCount = ctx.short ? 3_000 : 100_000;
    const dec = await fuzzDecoder(ctx, decoderCount);
    const live = await fuzzSession(ctx, sessionCount);
    const crashes = dec.total.crashes.length + live.crashes.length;
    const hangs = dec.hangs.length + live.hangs.length;
    const value = dec.total.decoded + live.messages;
    const broken: string[] = [];
    const want = decoderCount + sessionCount;
    if (value < want) broken.push(`only ${value} of ${want} messages were fed`);
    if (crashes > 0) {
      broken.push(
        `${crashes} crash(es): ${
          JSON.stringify([...dec.total.crashes.slice(0, 3), ...live.crashes.slice(0, 3)])
        }`,
      );
    }
    if (hangs > 0) {
      broken.push(
        `${hangs} hang(s): ${
          JSON.stringify([...dec.hangs.slice(0, 3), ...live.hangs.slice(0, 3)])
        }`,
      );
    }
    if (dec.total.wrong.length > 0) {
      broken.push(
        `decoder gave the wrong header NOTIFICATION: ${
          JSON.stringify(dec.total.wrong.slice(0, 3))
        }`,
      );
    }
    if (live.wrong.length + live.missing.length > 0) {
      broken.push(
        `session answered ${live.wrong.length} error(s) wrongly and ${live.missing.length} not at all: ` +
          JSON.stringify([...live.wrong.slice(0, 3), ...live.missing.slice(0, 3)]),
      );
    }
    yield figure("soak_fuzz_bgp", value, "messages", {
      broken,
      extra: {
        crashes,
        hangs,
        decoder_messages: dec.total.decoded,
        stream_bytes: dec.total.streamBytes,
        session_messages: live.messages,
        session_resets: live.resets,
        notifications_checked: live.notificationsChecked,
        wrong_notifications: live.wrong.length,
        missing_notifications: live.missing.length,
        outcomes: dec.total.outcomes,
      },
    });
  },
};
