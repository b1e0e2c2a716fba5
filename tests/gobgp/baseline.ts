/**
 * GoBGP-vs-GoBGP reference for the `bgp_announce_100k` benchmark: how long a gobgpd takes,
 * once its session is up, to hand N IPv4 /32s to a receiving gobgpd over a veth pair.
 *
 * `deno run -A tests/gobgp/baseline.ts [N [RUNS]]` prints the measure as one JSON line.
 */
import { createNetnsPair, type Gobgpd, hostPrefix, type NetnsPair, startGobgpd } from "./mod.ts";

/** A passive gobgpd in namespace `pair.b` waiting for a sender at `peerAddress` in `pair.a`. */
export interface Receiver {
  pair: NetnsPair;
  gobgpd: Gobgpd;
  /** Receiver's BGP address and AS: what a sender dials. */
  address: string;
  asn: number;
  /** The only address the receiver accepts a session from, and its AS. */
  peerAddress: string;
  peerAsn: number;
  /** Namespace a sender must run in (it owns `peerAddress`). */
  senderNetns: string;
  /**
   * Polls the receiver until its session is established and it accepted `n` IPv4 prefixes;
   * times are `performance.now()` milliseconds of the first poll seeing each.
   */
  waitForPrefixes(
    n: number,
    options?: { timeoutMs?: number; intervalMs?: number },
  ): Promise<{ establishedAt: number; doneAt: number; seconds: number }>;
  /** Stops the receiver and deletes the namespaces. */
  close(): Promise<void>;
}

/** Options for `startReceiver`. */
export interface ReceiverOptions {
  /** Receiver AS (default 65002). */
  asn?: number;
  /** Sender AS (default 65001). */
  peerAsn?: number;
  /** Reuse a namespace pair; by default a new one is made and deleted on close. */
  pair?: NetnsPair;
  /** Hold time offered by the receiver (default 90). */
  holdTime?: number;
}

/**
 * Starts a passive receiver gobgpd in a new namespace pair's `b` side; a sender (gobgpd or
 * our speaker) runs in `senderNetns` and dials `address` port 179.
 */
export async function startReceiver(options: ReceiverOptions = {}): Promise<Receiver> {
  const ownPair = options.pair === undefined;
  const pair = options.pair ?? await createNetnsPair();
  const asn = options.asn ?? 65002;
  const peerAsn = options.peerAsn ?? 65001;
  let gobgpd: Gobgpd;
  try {
    gobgpd = await startGobgpd({
      netns: pair.b.name,
      asn,
      routerId: pair.b.addr4,
      listenAddress: pair.b.addr4,
      neighbors: [{
        address: pair.a.addr4,
        asn: peerAsn,
        passive: true,
        holdTime: options.holdTime,
      }],
    });
  } catch (e) {
    if (ownPair) await pair.close();
    throw e;
  }
  return {
    pair,
    gobgpd,
    address: pair.b.addr4,
    asn,
    peerAddress: pair.a.addr4,
    peerAsn,
    senderNetns: pair.a.name,
    async waitForPrefixes(n, opts = {}) {
      let establishedAt = 0;
      const result = await gobgpd.waitFor(async (g) => {
        const [nb] = await g.neighbors();
        const now = performance.now();
        if (!nb?.established) return undefined;
        if (!establishedAt) establishedAt = now;
        return (nb.families.ipv4?.accepted ?? 0) >= n ? now : undefined;
      }, {
        timeoutMs: opts.timeoutMs ?? 120_000,
        intervalMs: opts.intervalMs ?? 50,
        what: `${n} IPv4 prefixes accepted from ${pair.a.addr4}`,
      });
      return { establishedAt, doneAt: result, seconds: (result - establishedAt) / 1000 };
    },
    async close() {
      await gobgpd.stop();
      if (ownPair) await pair.close();
    },
  };
}

/** The GoBGP reference figure and how it was obtained. */
export interface BaselineResult {
  /** Median over runs of: session established (first poll seeing it) → all prefixes accepted. */
  seconds: number;
  /** Each run's session-up → all-accepted seconds. */
  runsSeconds: number[];
  /** Median of: neighbor enabled at the sender → all accepted (adds GoBGP's 5–10 s dial delay). */
  enableToDoneSeconds: number;
  /** Median time to load the prefixes into the sender before the session (not in `seconds`). */
  loadSeconds: number;
  prefixes: number;
  /** Destinations in the receiver's RIB at the end of the last run (`global rib summary`). */
  receiverRibCount: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Measures a gobgpd sender holding `prefixes` IPv4 /32s (loaded while its neighbor is admin
 * down) announcing them to a receiver gobgpd: seconds from session up to all accepted, median
 * of `runs` (default 1) each with a fresh sender. Pass `receiver` to reuse one.
 */
export async function measureGobgpBaseline(
  options: { prefixes?: number; runs?: number; timeoutMs?: number; receiver?: Receiver } = {},
): Promise<BaselineResult> {
  const n = options.prefixes ?? 100_000;
  const receiver = options.receiver ?? await startReceiver();
  const prefixes = Array.from({ length: n }, (_, i) => hostPrefix(i, "10.0.0.0"));
  const runs: { seconds: number; enableToDone: number; load: number }[] = [];
  let receiverRibCount = 0;
  try {
    for (let run = 0; run < (options.runs ?? 1); run++) {
      const sender = await startGobgpd({
        netns: receiver.senderNetns,
        asn: receiver.peerAsn,
        routerId: receiver.peerAddress,
        listenPort: -1,
        neighbors: [{ address: receiver.address, asn: receiver.asn, adminDown: true }],
      });
      try {
        const loadStart = performance.now();
        await sender.addRoutesBulk(prefixes, { nextHop: receiver.peerAddress });
        const load = (performance.now() - loadStart) / 1000;
        const enabledAt = performance.now();
        await sender.enableNeighbor(receiver.address);
        const done = await receiver.waitForPrefixes(n, { timeoutMs: options.timeoutMs });
        runs.push({ seconds: done.seconds, enableToDone: (done.doneAt - enabledAt) / 1000, load });
        receiverRibCount = await receiver.gobgpd.ribCount("ipv4");
      } finally {
        await sender.stop();
      }
      // The next run must start from an empty receiver with its session down.
      await receiver.gobgpd.waitFor(async (g) => {
        const [nb] = await g.neighbors();
        return !nb?.established && (await g.ribCount("ipv4")) === 0;
      }, { timeoutMs: 30_000, what: "receiver empty after the sender stopped" });
    }
  } finally {
    if (!options.receiver) await receiver.close();
  }
  return {
    seconds: median(runs.map((r) => r.seconds)),
    runsSeconds: runs.map((r) => r.seconds),
    enableToDoneSeconds: median(runs.map((r) => r.enableToDone)),
    loadSeconds: median(runs.map((r) => r.load)),
    prefixes: n,
    receiverRibCount,
  };
}

if (import.meta.main) {
  const n = Number(Deno.args[0] ?? 100_000);
  const runs = Number(Deno.args[1] ?? 1);
  console.log(JSON.stringify(await measureGobgpBaseline({ prefixes: n, runs })));
}
