/**
 * `deno task bench e2e`: the whole program as a user runs it (`main.ts all` on generated
 * manifest directories, the `ferrolb` task's flags, a child process in one network
 * namespace) against real receivers (gobgpd in another), each figure beside BIRD 2 and a
 * gobgpd sending the same table to the same receiver in the same run.
 *
 * A run that does not get every route to the receiver within its cap reports `value: null`,
 * `reached: false` and how many routes arrived, instead of waiting on.
 *
 * Sizes and caps can be lowered for a quick look: FERROLB_E2E_SMALL (10000),
 * FERROLB_E2E_LARGE (100000), FERROLB_E2E_CAP_SMALL_S (120), FERROLB_E2E_CAP_LARGE_S (180).
 * `deno run -A tests/bench/e2e.ts [prefix]` runs it without the bench runner.
 */
import { result } from "./types.ts";
import type { BenchResult, BenchSuite } from "./types.ts";
import { cleanupStaleNetns, netnsAvailable } from "../gobgp/mod.ts";
import { type BenchNet, createBenchNet, loadAverage } from "./e2e_env.ts";
import { installed, measureRefs, refExtras, type Refs, refStart } from "./e2e_refs.ts";
import { extraArgs, startOurs, stopOurs } from "./e2e_ours.ts";
import { idleLag, type LargeRuns, largeRuns, ourWorkdir } from "./e2e_large.ts";
import { updatePackingLimit } from "./bgp_announce.ts";

const COLD_SMALL = "e2e_cold_10k";
const UPDATES_SMALL = "e2e_updates_cold_10k";
const COLD_LARGE = "e2e_cold_100k";
const UPDATES_LARGE = "e2e_updates_cold_100k";
const RESTART_LARGE = "e2e_restart_100k";
const RSS_LARGE = "e2e_rss_100k_x4";
const LAG_LARGE = "e2e_max_loop_lag_100k";
const SIGTERM_LARGE = "e2e_sigterm_100k";

const SMALL_NAMES = [COLD_SMALL, UPDATES_SMALL];
const LARGE_NAMES = [COLD_LARGE, UPDATES_LARGE, RESTART_LARGE, RSS_LARGE, LAG_LARGE, SIGTERM_LARGE];

function envNumber(name: string, fallback: number): number {
  const v = Number(Deno.env.get(name));
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  for (const bin of ["gobgpd", "gobgp"]) {
    if (!await installed(bin, "--help")) return `${bin} not installed`;
  }
  return undefined;
}

function skipped(bench: string, unit: string, why: string): BenchResult {
  return { bench, value: null, unit, baseline: null, ratio: null, skipped: why };
}

async function* smallSize(
  net: BenchNet,
  filter: (n: string) => boolean,
): AsyncIterable<BenchResult> {
  const n = envNumber("FERROLB_E2E_SMALL", 10_000);
  const capS = envNumber("FERROLB_E2E_CAP_SMALL_S", 120);
  const refs = await measureRefs(net, { n, receivers: 1, capMs: capS * 1000 });
  const work = await ourWorkdir(net, { n, receivers: 1 });
  try {
    const load = await loadAverage();
    const run = await startOurs({ net, ...work, n, receivers: 1, capMs: capS * 1000 });
    const stop = await stopOurs({ proc: run.proc, net, receivers: 1 });
    const ref = refStart(refs);
    if (filter(COLD_SMALL)) {
      yield result(COLD_SMALL, run.reached ? run.seconds : null, "s", {
        baseline: ref.seconds,
        extra: {
          services: n,
          reached: run.reached,
          capSeconds: capS,
          routesAtReceiver: run.counts[0]?.accepted ?? 0,
          ...(run.reached
            ? {}
            : { note: `not reached in ${capS} s: ${run.counts[0]?.accepted ?? 0} routes` }),
          baselineIs: `${ref.name} process start to every route`,
          sessionUpToDoneSeconds: run.sessionUpToDoneSeconds,
          ...(run.problems ? { problems: run.problems } : {}),
          maxLoopLagSeconds: run.maxLoopLagSeconds,
          peakRssMB: mb(run.peakRssBytes),
          sigtermExitSeconds: stop.exitSeconds,
          ...refExtras(refs, ["startToDoneSeconds", "transferSeconds", "peakRssBytes"]),
          loadAverage: load,
        },
      });
    }
    if (filter(UPDATES_SMALL)) {
      yield updatesFigure(UPDATES_SMALL, n, run.updates, refs, run.reached);
    }
  } finally {
    await work.remove();
  }
}

/** Our UPDATE count at the receiver against the fewest UPDATEs that carry the table. */
function updatesFigure(
  bench: string,
  n: number,
  updates: number,
  refs: Refs,
  reached: boolean,
): BenchResult {
  const limit = updatePackingLimit(n, { localAsn: 65001, nextHop: "192.0.2.1" });
  return result(bench, updates, "updates", {
    baseline: limit.updates,
    extra: {
      services: n,
      reached,
      baselineIs: "packing limit: fewest 4096-byte UPDATEs for the table",
      prefixesPerUpdate: limit.perUpdate,
      ...refExtras(refs, ["updates"]),
    },
  });
}

/** Bytes as whole MiB, or null. */
export function mb(bytes: number | undefined): number | null {
  return bytes === undefined ? null : Math.round(bytes / 2 ** 20);
}

async function* largeFigures(
  r: LargeRuns,
  filter: (n: string) => boolean,
): AsyncIterable<BenchResult> {
  const { n, cold, refs } = r;
  const ref = refStart(refs);
  const base = { services: n, loadAverage: r.load };
  if (filter(COLD_LARGE)) {
    yield result(COLD_LARGE, cold.reached ? cold.seconds : null, "s", {
      baseline: ref.seconds,
      extra: {
        ...base,
        reached: cold.reached,
        capSeconds: r.capS,
        routesAtReceiver: cold.counts[0]?.accepted ?? 0,
        ...(cold.reached
          ? {}
          : { note: `not reached in ${r.capS} s: ${cold.counts[0]?.accepted ?? 0} routes` }),
        baselineIs: `${ref.name} process start to every route`,
        sessionUpToDoneSeconds: cold.sessionUpToDoneSeconds,
        ...(cold.problems ? { problems: cold.problems } : {}),
        peakRssMB: mb(cold.peakRssBytes),
        ...refExtras(refs, ["startToDoneSeconds", "transferSeconds", "loadSeconds"]),
      },
    });
  }
  if (filter(UPDATES_LARGE)) {
    yield updatesFigure(UPDATES_LARGE, n, cold.updates, refs, cold.reached);
  }
  if (filter(LAG_LARGE)) {
    yield result(LAG_LARGE, cold.maxLoopLagSeconds, "s", {
      baseline: r.idleLagSeconds,
      extra: {
        ...base,
        during: cold.reached ? "cold start to every route" : `cold start, first ${r.capS} s`,
        baselineIs: "the same program starting with 1 Service",
        restartMaxLoopLagSeconds: r.restart?.maxLoopLagSeconds ?? null,
        goal: 0.1,
      },
    });
  }
  if (filter(RESTART_LARGE)) {
    const rs = r.restart;
    yield result(RESTART_LARGE, rs?.reached ? rs.seconds : null, "s", {
      baseline: ref.seconds,
      extra: {
        ...base,
        reached: rs?.reached ?? false,
        stateFrom: r.stateFrom,
        routesAtReceiver: rs?.counts[0]?.accepted ?? 0,
        baselineIs: `${ref.name} process start to every route`,
        sessionUpToDoneSeconds: rs?.sessionUpToDoneSeconds ?? null,
        peakRssMB: mb(rs?.peakRssBytes),
        ...refExtras(refs, ["startToDoneSeconds", "peakRssBytes"]),
      },
    });
  }
  if (filter(SIGTERM_LARGE)) {
    const st = r.restartStop;
    yield result(SIGTERM_LARGE, st?.exitSeconds ?? null, "s", {
      baseline: (refs.bird ?? refs.gobgp).sigtermExitSeconds,
      extra: {
        ...base,
        measuredAfter: "restart, every route announced",
        flags: (await extraArgs()).join(" "),
        exitCode: st?.exitCode ?? null,
        withdrawnSeconds: st?.withdrawnSeconds ?? null,
        duringColdStartExitSeconds: r.coldStop.exitSeconds,
        duringColdStartWithdrawnSeconds: r.coldStop.withdrawnSeconds,
        baselineIs: `${(refs.bird ?? refs.gobgp).name} SIGTERM to exit`,
        ...refExtras(refs, ["sigtermExitSeconds", "sigtermWithdrawnSeconds"]),
      },
    });
  }
  if (filter(RSS_LARGE)) {
    const x4 = r.x4;
    const refX4 = r.refsX4;
    const refRss = refX4 ? (refX4.bird ?? refX4.gobgp).peakRssBytes : undefined;
    yield result(RSS_LARGE, mb(x4?.peakRssBytes), "MiB", {
      baseline: mb(refRss),
      extra: {
        ...base,
        peers: 4,
        reached: x4?.reached ?? false,
        routesAtReceivers: x4?.counts.map((c) => c.accepted) ?? [],
        baselineIs: refX4
          ? `${(refX4.bird ?? refX4.gobgp).name} peak RSS, same table, 4 peers`
          : null,
        ...(refX4 ? refExtras(refX4, ["peakRssBytes"]) : {}),
        coldOnePeerPeakRssMB: mb(cold.peakRssBytes),
      },
    });
  }
}

async function* run(filter: (name: string) => boolean): AsyncIterable<BenchResult> {
  const wantSmall = SMALL_NAMES.some(filter);
  const wantLarge = LARGE_NAMES.some(filter);
  if (!wantSmall && !wantLarge) return;
  const why = await skipReason();
  if (why) {
    for (const name of [...SMALL_NAMES, ...LARGE_NAMES].filter(filter)) {
      yield skipped(name, name.includes("updates") ? "updates" : "s", why);
    }
    return;
  }
  await cleanupStaleNetns();
  const net = await createBenchNet();
  try {
    const idleLagSeconds = await idleLag(net);
    if (wantSmall) yield* smallSize(net, filter);
    if (wantLarge) {
      const runs = await largeRuns(net, {
        n: envNumber("FERROLB_E2E_LARGE", 100_000),
        capS: envNumber("FERROLB_E2E_CAP_LARGE_S", 180),
        x4: filter(RSS_LARGE),
        idleLagSeconds,
      });
      yield* largeFigures(runs, filter);
    }
  } finally {
    await net.close();
  }
}

/** The end-to-end suite for tests/bench/mod.ts. */
export const suite: BenchSuite = {
  names: [...SMALL_NAMES, ...LARGE_NAMES],
  run,
};

if (import.meta.main) {
  const prefix = Deno.args[0] ?? "";
  for await (const r of run((n) => n.startsWith(prefix))) console.log(JSON.stringify(r));
}
