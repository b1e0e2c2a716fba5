/**
 * `bgp_announce_100k` / `bgp_updates_100k`: our speaker (in a subprocess in namespace A) sends
 * 100,000 IPv4 /32s, set before the session comes up, to a receiving gobgpd in namespace B.
 * The reference is a second gobgpd sending as many /32s to the same receiver in the same run.
 *
 * `deno run -A tests/bench/bgp_announce.ts [N]` prints the results as JSON lines.
 */
import { result } from "./types.ts";
import type { BenchResult, BenchSuite } from "./types.ts";
import { buildPathAttributes } from "../../bgp/adj_rib_out.ts";
import { encodePathAttributes, MAX_MESSAGE_SIZE, nlriLength } from "../../bgp/packets.ts";
import { parsePrefix } from "../../bgp/prefix.ts";
import { netnsAvailable } from "../gobgp/mod.ts";
import { measureGobgpBaseline, type Receiver, startReceiver } from "../gobgp/baseline.ts";
import { spawnDriver } from "../bgp_driver.ts";

const ANNOUNCE = "bgp_announce_100k";
const UPDATES = "bgp_updates_100k";
/** RFC 2544 benchmarking space: 198.18.0.0/15 holds 131,072 addresses. */
const BASE = "198.18.0.0";

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  for (const bin of ["gobgpd", "gobgp"]) {
    try {
      await new Deno.Command(bin, { args: ["--help"], stdout: "null", stderr: "null" }).output();
    } catch {
      return `${bin} not installed`;
    }
  }
  return undefined;
}

/**
 * The fewest UPDATEs of at most 4096 bytes that carry `n` IPv4 /32s with the attributes our
 * session sends on eBGP (ORIGIN, AS_PATH [localAsn], NEXT_HOP), from their encoded sizes.
 */
export function updatePackingLimit(
  n: number,
  options: { localAsn: number; nextHop: string },
): { updates: number; perUpdate: number; attributeBytes: number } {
  const attrs = buildPathAttributes({}, 1, {
    ibgp: false,
    localAsn: options.localAsn,
    nextHopV4: options.nextHop,
    nextHopV6: `::ffff:${options.nextHop}`,
  });
  const attributeBytes = encodePathAttributes(attrs, { fourOctetAs: true }).length;
  // Header (19), withdrawn-routes length (2), path-attributes length (2).
  const room = MAX_MESSAGE_SIZE - 19 - 2 - 2 - attributeBytes;
  const perUpdate = Math.floor(room / nlriLength(parsePrefix(`${BASE}/32`)));
  return { updates: Math.ceil(n / perUpdate), perUpdate, attributeBytes };
}

/** What one run of our speaker against the receiver measured. */
interface OurRun {
  seconds: number;
  fromOurEstablishedSeconds: number;
  updatesSent: number;
  prefixesSent: number;
}

async function measureOurs(receiver: Receiver, n: number): Promise<OurRun> {
  // Poll before the speaker exists so the receiver sees the session come up, as for GoBGP.
  const done = receiver.waitForPrefixes(n, { timeoutMs: 180_000 });
  const driver = spawnDriver(receiver.senderNetns, {
    config: {
      localAsn: receiver.peerAsn,
      peerAsn: receiver.asn,
      peerAddress: receiver.address,
      routerId: receiver.peerAddress,
      families: ["ipv4"],
    },
    generate: { count: n, base: BASE },
  });
  try {
    const up = await driver.waitEvent((e) => e.state === "Established", {
      timeoutMs: 60_000,
      what: "our session Established",
    });
    const r = await done;
    const doneEpoch = Date.now();
    const stats = await driver.stats();
    return {
      seconds: r.seconds,
      fromOurEstablishedSeconds: (doneEpoch - up.t) / 1000,
      updatesSent: stats.updatesSent,
      prefixesSent: stats.prefixesSent,
    };
  } finally {
    await driver.stop();
    await driver.close();
  }
}

function skipped(bench: string, unit: string, why: string): BenchResult {
  // The runner prints JSON; null says "not measured" where 0 would read as a figure.
  return {
    bench,
    value: null,
    unit,
    baseline: null,
    ratio: null,
    skipped: why,
  };
}

async function* run(filter: (name: string) => boolean, n = 100_000): AsyncIterable<BenchResult> {
  const wantAnnounce = filter(ANNOUNCE);
  const wantUpdates = filter(UPDATES);
  if (!wantAnnounce && !wantUpdates) return;
  const why = await skipReason();
  if (why) {
    if (wantAnnounce) yield skipped(ANNOUNCE, "s", why);
    if (wantUpdates) yield skipped(UPDATES, "updates", why);
    return;
  }
  const receiver = await startReceiver();
  let ours: OurRun;
  let theirs: Awaited<ReturnType<typeof measureGobgpBaseline>> | undefined;
  try {
    ours = await measureOurs(receiver, n);
    // The baseline needs the receiver empty and its session down, as after its own runs.
    await receiver.gobgpd.waitFor(async (g) => {
      const [nb] = await g.neighbors();
      return !nb?.established && (await g.ribCount("ipv4")) === 0;
    }, { timeoutMs: 60_000, what: "receiver empty after our speaker stopped" });
    if (wantAnnounce) theirs = await measureGobgpBaseline({ prefixes: n, receiver });
  } finally {
    await receiver.close();
  }
  if (wantAnnounce) {
    yield result(ANNOUNCE, ours.seconds, "s", {
      baseline: theirs?.seconds ?? null,
      extra: {
        prefixes: n,
        fromOurEstablishedSeconds: ours.fromOurEstablishedSeconds,
        gobgpEnableToDoneSeconds: theirs?.enableToDoneSeconds,
      },
    });
  }
  if (wantUpdates) {
    const limit = updatePackingLimit(n, {
      localAsn: receiver.peerAsn,
      nextHop: receiver.peerAddress,
    });
    yield result(UPDATES, ours.updatesSent, "updates", {
      baseline: limit.updates,
      extra: {
        prefixes: n,
        prefixesSent: ours.prefixesSent,
        prefixesPerUpdate: limit.perUpdate,
        attributeBytes: limit.attributeBytes,
      },
    });
  }
}

/** The announce benchmark suite for tests/bench/mod.ts. */
export const suite: BenchSuite = {
  names: [ANNOUNCE, UPDATES],
  run: (filter) => run(filter),
};

if (import.meta.main) {
  const n = Number(Deno.args[0] ?? 100_000);
  for await (const r of run(() => true, n)) console.log(JSON.stringify(r));
}
