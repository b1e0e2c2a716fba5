/**
 * Codec throughput: 100,000 IPv4 /32s packed into full 4096-byte UPDATEs that share one
 * attribute set, encoded and then decoded (through FrameReader, as a session would).
 */
import { type BenchSuite, result } from "./types.ts";
import {
  decodeMessage,
  encodeMessage,
  encodePathAttributes,
  FrameReader,
  MAX_MESSAGE_SIZE,
} from "../../bgp/packets.ts";
import type { CodecContext, PathAttributes, Prefix, UpdateMessage } from "../../bgp/types.ts";

const PREFIXES = 100_000;
const MIN_SECONDS = 1;
const CTX: CodecContext = { fourOctetAs: true };

const ATTRS: PathAttributes = {
  origin: 0,
  asPath: [{ type: 2, asns: [64512] }],
  nextHop: "192.0.2.1",
  localPref: 100,
  communities: [0xffffff02],
  largeCommunities: [[64512, 1, 2]],
};

function buildUpdates(): UpdateMessage[] {
  const perUpdate = Math.floor(
    (MAX_MESSAGE_SIZE - 23 - encodePathAttributes(ATTRS, CTX).length) / 5,
  );
  const updates: UpdateMessage[] = [];
  for (let i = 0; i < PREFIXES; i += perUpdate) {
    const nlri: Prefix[] = [];
    for (let j = i; j < Math.min(PREFIXES, i + perUpdate); j++) {
      const n = (10 << 24) + j;
      nlri.push({ afi: 1, addr: n | 0, length: 32 });
    }
    updates.push({ type: 2, withdrawn: [], attributes: ATTRS, nlri });
  }
  return updates;
}

/** Runs `body` (one pass over all prefixes) until MIN_SECONDS elapse; returns prefixes/s. */
function measure(body: () => void): number {
  body(); // warm-up so the JIT has seen the hot paths
  let passes = 0;
  const start = performance.now();
  let elapsed = 0;
  while (elapsed < MIN_SECONDS * 1000) {
    body();
    passes++;
    elapsed = performance.now() - start;
  }
  return (passes * PREFIXES) / (elapsed / 1000);
}

/** The codec benchmarks: `bgp_codec_encode` and `bgp_codec_decode`, in prefixes per second. */
export const suite: BenchSuite = {
  names: ["bgp_codec_encode", "bgp_codec_decode"],
  async *run(filter) {
    const updates = buildUpdates();
    const frames = updates.map((u) => encodeMessage(u, CTX));
    const extra = { prefixes: PREFIXES, messages: updates.length };
    if (filter("bgp_codec_encode")) {
      const rate = measure(() => {
        for (const u of updates) encodeMessage(u, CTX);
      });
      yield result("bgp_codec_encode", Math.round(rate), "prefixes/s", { extra });
    }
    if (filter("bgp_codec_decode")) {
      const stream = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
      let pos = 0;
      for (const f of frames) {
        stream.set(f, pos);
        pos += f.length;
      }
      let decoded = 0;
      const rate = measure(() => {
        const reader = new FrameReader();
        // Socket-sized reads, as Deno.Conn delivers them.
        for (let i = 0; i < stream.length; i += 16384) {
          reader.push(stream.subarray(i, i + 16384));
          for (let f = reader.next(); f !== null; f = reader.next()) {
            decoded += (decodeMessage(f, CTX) as UpdateMessage).nlri.length;
          }
        }
      });
      if (decoded % PREFIXES !== 0) throw new Error(`decoded ${decoded} prefixes`);
      yield result("bgp_codec_decode", Math.round(rate), "prefixes/s", { extra });
    }
  },
};

if (import.meta.main) {
  for await (const r of suite.run(() => true)) console.log(JSON.stringify(r));
}
