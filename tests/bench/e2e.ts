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
import type { BenchResult, BenchSuite } from "./types.ts";
import { cleanupStaleNetns, netnsAvailable } from "../gobgp/mod.ts";
import { type BenchNet, createBenchNet, loadAverage } from "./e2e_env.ts";
import { installed, measureRefs, refExtras } from "./e2e_refs.ts";
import { extraArgs, startOurs, stopOurs } from "./e2e_ours.ts";
import { idleLag, largeRuns, ourWorkdir } from "./e2e_large.ts";
import {
  coldLargeFigure,
  lagFigure,
  restartFigure,
  rssFigure,
  sigtermFigure,
  startFigure,
  updatesFigure,
} from "./e2e_figures.ts";

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
    const run = await startOurs({
      net,
      ...work,
      n,
      receivers: 1,
      capMs: capS * 1000,
      settle: true,
    });
    const stop = await stopOurs({ proc: run.proc, net, receivers: 1 });
    if (filter(COLD_SMALL)) {
      yield startFigure(COLD_SMALL, run, {
        capS,
        refs,
        extra: {
          services: n,
          loadAverage: load,
          maxLoopLagSeconds: run.maxLoopLagSeconds,
          sigtermExitSeconds: stop.exitSeconds,
          ...refExtras(refs, ["transferSeconds", "peakRssBytes"]),
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
      const flags = (await extraArgs()).join(" ");
      const figures: [string, () => BenchResult][] = [
        [COLD_LARGE, () => coldLargeFigure(COLD_LARGE, runs)],
        [
          UPDATES_LARGE,
          () =>
            updatesFigure(UPDATES_LARGE, runs.n, runs.cold.updates, runs.refs, runs.cold.reached),
        ],
        [LAG_LARGE, () => lagFigure(LAG_LARGE, runs)],
        [RESTART_LARGE, () => restartFigure(RESTART_LARGE, runs)],
        [SIGTERM_LARGE, () => sigtermFigure(SIGTERM_LARGE, runs, flags)],
        [RSS_LARGE, () => rssFigure(RSS_LARGE, runs)],
      ];
      for (const [name, figure] of figures) if (filter(name)) yield figure();
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
