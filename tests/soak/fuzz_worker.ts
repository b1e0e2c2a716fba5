/**
 * Worker half of soak_fuzz_bgp: decodes fuzz cases [start, end) and reports progress often,
 * so the parent can tell a hang (no progress) from slow work and terminate it.
 * Messages in: {seed, start, end}. Out: {progress: n} … then {done: FuzzTally}.
 */
import { BgpError } from "../../bgp/errors.ts";
import { decodeMessage, FrameReader } from "../../bgp/packets.ts";
import { fuzzCase } from "./bgp_mutator.ts";
import { Rng } from "./types.ts";

/** What a worker run found. */
export interface FuzzTally {
  decoded: number;
  /** Cases per outcome: "ok:<type>", "withdraw", "error:<code>/<subcode>". */
  outcomes: Record<string, number>;
  /** Uncaught non-BgpError exceptions and decoder bugs masked as BgpError. */
  crashes: { index: number; kind: string; error: string }[];
  /** Cases whose NOTIFICATION known by construction differs from the decoder's. */
  wrong: { index: number; kind: string; expected: string; got: string }[];
  /** Bytes pushed through FrameReader as streams. */
  streamBytes: number;
}

/** Runs cases [start, end) of `seed`; `progress` is called every 5,000 cases. */
export function runFuzzRange(
  seed: number,
  range: { start: number; end: number },
  progress: (done: number) => void = () => {},
): FuzzTally {
  const t: FuzzTally = { decoded: 0, outcomes: {}, crashes: [], wrong: [], streamBytes: 0 };
  const bump = (k: string) => (t.outcomes[k] = (t.outcomes[k] ?? 0) + 1);
  let stream: Uint8Array[] = [];
  for (let i = range.start; i < range.end; i++) {
    const c = fuzzCase(seed, i);
    let got: string;
    try {
      const m = decodeMessage(c.bytes, { fourOctetAs: c.fourOctetAs });
      got = m.type === 2 && m.treatAsWithdraw ? "withdraw" : `ok:${m.type}`;
    } catch (err) {
      if (err instanceof BgpError) {
        got = `error:${err.code}/${err.subcode}`;
        if (err.message.includes("undecodable message")) {
          t.crashes.push({ index: i, kind: c.kind, error: `decoder bug masked: ${err.message}` });
        }
      } else {
        got = "crash";
        t.crashes.push({ index: i, kind: c.kind, error: String(err) });
      }
    }
    bump(got);
    if (c.expect && got !== `error:${c.expect[0]}/${c.expect[1]}` && t.wrong.length < 20) {
      t.wrong.push({ index: i, kind: c.kind, expected: `error:${c.expect.join("/")}`, got });
    }
    t.decoded++;
    stream.push(c.bytes);
    if (stream.length === 64) {
      streamCheck(seed ^ i, stream, t, i);
      stream = [];
    }
    if ((i - range.start + 1) % 5000 === 0) progress(i - range.start + 1);
  }
  if (stream.length) streamCheck(seed, stream, t, range.end);
  return t;
}

/** Feeds concatenated cases to a FrameReader in random chunks: frames or BgpError only. */
function streamCheck(seed: number, parts: Uint8Array[], t: FuzzTally, index: number): void {
  const g = new Rng(seed);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  const r = new FrameReader();
  try {
    for (let at = 0; at < total;) {
      const n = 1 + g.int(3000);
      const chunk = all.subarray(at, at + n);
      r.push(chunk);
      at += n;
      t.streamBytes += chunk.length;
      for (let f = r.next(); f !== null; f = r.next()) {
        try {
          decodeMessage(f, { fourOctetAs: true });
        } catch (err) {
          if (!(err instanceof BgpError)) throw err;
        }
      }
    }
  } catch (err) {
    if (!(err instanceof BgpError)) {
      t.crashes.push({ index, kind: "stream", error: String(err) });
    }
  }
}

// deno-lint-ignore no-explicit-any -- worker global scope is not in the default lib
const scope = globalThis as any;
if (typeof scope.WorkerGlobalScope !== "undefined" && scope instanceof scope.WorkerGlobalScope) {
  scope.onmessage = (e: MessageEvent<{ seed: number; start: number; end: number }>) => {
    const { seed, start, end } = e.data;
    const tally = runFuzzRange(seed, { start, end }, (n) => scope.postMessage({ progress: n }));
    scope.postMessage({ done: tally });
  };
}
