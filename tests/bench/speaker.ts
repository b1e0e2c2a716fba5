/**
 * Speaker benchmarks:
 * - `speaker_update_latency_p99`: ms from an EndpointSlice change to the UPDATE seen on the
 *   wire by a collector, with 10,000 Services announced (200 changes: withdraw, re-announce).
 *   The baseline is the same measured with one Service announced, so the ratio is what the
 *   table size costs.
 * - `speaker_rss_100k_x4`: resident MB of the process with 100,000 prefixes announced to 4
 *   peers (the peers run in a child process so their Adj-RIB-In does not count). The
 *   baseline is the process' resident MB with the same objects loaded but no speaker.
 */
import { silentLogger } from "../../api/log.ts";
import type { Collector } from "../../bgp/mod.ts";
import {
  createDiscardWriter,
  createMemorySource,
  type MemorySource,
} from "../../cluster/memory_source.ts";
import type { KubeObject } from "../../cluster/types.ts";
import { type BenchResult, type BenchSuite, result } from "./types.ts";
import { createSpeaker, type Speaker } from "../../speaker/speaker.ts";
import {
  advObject,
  nodeObject,
  peerObject,
  poolObject,
  serviceObject,
  sliceObject,
  startTestCollector,
} from "../speaker/testing.ts";

const LATENCY_SERVICES = 10_000;
const LATENCY_CHANGES = 200;
const RSS_PREFIXES = 100_000;
const RSS_PEERS = 4;

/** The i-th address of 100.64.0.0/10 (room for 4M Services). */
function ipOf(i: number): string {
  const n = (100 << 24) + (64 << 16) + i + 1;
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function worldObjects(services: number, peers: { port: number }[]): KubeObject[] {
  const out: KubeObject[] = [
    poolObject("bench", ["100.64.0.0/10"]),
    advObject("all", { communities: ["64500:100"] }),
    nodeObject("n1", { internalIP: "10.0.0.11" }),
  ];
  peers.forEach((p, i) =>
    out.push(peerObject(`peer${i}`, {
      myASN: 64500,
      peerASN: 64501,
      peerAddress: "127.0.0.1",
      peerPort: p.port,
    }))
  );
  for (let i = 0; i < services; i++) {
    out.push(serviceObject(`svc${i}`, { ips: [ipOf(i)], pool: "bench", etp: "Local" }));
    out.push(sliceObject(`svc${i}`, [{ node: "n1" }]));
  }
  return out;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

/** Latencies (ms) of `changes` endpoint flips with `services` Services announced. */
async function measureLatency(services: number, changes: number): Promise<number[]> {
  const collector: Collector = await startTestCollector({ asn: 64501, routerId: "10.255.0.1" });
  const source: MemorySource = createMemorySource(
    worldObjects(services, [{ port: collector.addr.port }]),
  );
  const speaker: Speaker = createSpeaker(source, createDiscardWriter(), {
    nodeName: "n1",
    namespace: "metallb-system",
    logger: silentLogger,
    metricsIntervalMs: 0,
  });
  const count = () => collector.peers().find((p) => p.state === "Established")?.prefixes ?? -1;
  try {
    await speaker.start();
    await collector.waitFor(() => count() === services, { timeoutMs: 120_000 });
    const out: number[] = [];
    for (let c = 0; c < changes; c++) {
      const i = (c >> 1) % services;
      const withdraw = c % 2 === 0;
      const want = withdraw ? services - 1 : services;
      const start = performance.now();
      source.put(sliceObject(`svc${i}`, [{ node: withdraw ? "n2" : "n1" }]));
      await collector.waitFor(() => count() === want, { timeoutMs: 30_000 });
      out.push(performance.now() - start);
    }
    return out;
  } finally {
    await speaker.stop();
    await collector.close();
  }
}

/** Starts `n` collectors in a child process; resolves with their ports and a stopper. */
async function childCollectors(n: number) {
  const script = new URL("./speaker_peers.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", script, String(n)],
    cwd: new URL("../..", import.meta.url).pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("\n")) {
    const r = await reader.read();
    if (r.done) throw new Error("bench peers ended before printing their ports");
    text += r.value;
  }
  const ports = JSON.parse(text.split("\n")[0]) as number[];
  return {
    ports,
    async stop() {
      await child.stdin.close();
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
      await child.status;
    },
  };
}

async function measureRss(): Promise<BenchResult> {
  const peers = await childCollectors(RSS_PEERS);
  const rssMb = () => Deno.memoryUsage().rss / 2 ** 20;
  try {
    const source = createMemorySource(
      worldObjects(RSS_PREFIXES, peers.ports.map((port) => ({ port }))),
    );
    source.snapshot();
    const baseline = rssMb();
    const speaker = createSpeaker(source, createDiscardWriter(), {
      nodeName: "n1",
      namespace: "metallb-system",
      logger: silentLogger,
      metricsIntervalMs: 0,
    });
    try {
      await speaker.start();
      const deadline = Date.now() + 300_000;
      for (;;) {
        const s = speaker.status().sessions;
        if (
          s.length === RSS_PEERS &&
          s.every((x) => x.state === "Established" && x.prefixesSent === RSS_PREFIXES)
        ) break;
        if (Date.now() > deadline) throw new Error(`not converged: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
      const value = rssMb();
      return result("speaker_rss_100k_x4", Math.round(value), "MB", {
        baseline: Math.round(baseline),
        extra: {
          prefixes: RSS_PREFIXES,
          peers: RSS_PEERS,
          heapUsedMb: Math.round(Deno.memoryUsage().heapUsed / 2 ** 20),
          baselineIs: "RSS with the 200,000 objects loaded, before the speaker started",
        },
      });
    } finally {
      await speaker.stop();
    }
  } finally {
    await peers.stop();
  }
}

/** The speaker's benchmarks. */
export const suite: BenchSuite = {
  names: ["speaker_update_latency_p99", "speaker_rss_100k_x4"],
  async *run(filter) {
    if (filter("speaker_update_latency_p99")) {
      const small = (await measureLatency(1, LATENCY_CHANGES)).sort((a, b) => a - b);
      const big = (await measureLatency(LATENCY_SERVICES, LATENCY_CHANGES)).sort((a, b) => a - b);
      yield result("speaker_update_latency_p99", round2(percentile(big, 99)), "ms", {
        baseline: round2(percentile(small, 99)),
        extra: {
          services: LATENCY_SERVICES,
          changes: LATENCY_CHANGES,
          p50: round2(percentile(big, 50)),
          max: round2(big[big.length - 1]),
          baselineIs: "p99 of the same change with 1 Service announced",
        },
      });
    }
    if (filter("speaker_rss_100k_x4")) yield await measureRss();
  },
};

function round2(n: number): number {
  return Math.round(n * 100) / 100;
}

if (import.meta.main) {
  const prefix = Deno.args[0] ?? "";
  for await (const r of suite.run((n) => n.startsWith(prefix))) console.log(JSON.stringify(r));
}
