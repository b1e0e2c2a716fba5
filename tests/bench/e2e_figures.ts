/**
 * The end-to-end suite's figures, built from its runs: each with its same-run reference as
 * `baseline`, what that reference is in `baselineIs`, and the context a reader needs (load
 * average, caps, how far a run that did not finish got).
 */
import { result } from "./types.ts";
import type { BenchResult } from "./types.ts";
import { updatePackingLimit } from "./bgp_announce.ts";
import type { OurStart } from "./e2e_ours.ts";
import type { LargeRuns } from "./e2e_large.ts";
import { refExtras, type Refs, refStart } from "./e2e_refs.ts";
import { RECEIVER_ASN, SENDER_ASN } from "./e2e_env.ts";

/** Bytes as whole MiB, or null. */
export function mb(bytes: number | undefined): number | null {
  return bytes === undefined ? null : Math.round(bytes / 2 ** 20);
}

/**
 * A start figure: spawn to every route at the receiver (null when the cap passed first,
 * with how many routes had arrived), against the reference's process start to every route.
 */
export function startFigure(
  bench: string,
  run: OurStart | undefined,
  options: { capS: number; refs: Refs; extra?: Record<string, unknown> },
): BenchResult {
  const ref = refStart(options.refs);
  const routes = run?.counts[0]?.accepted ?? 0;
  const reached = run?.reached ?? false;
  return result(bench, reached ? run!.seconds : null, "s", {
    baseline: ref.seconds,
    extra: {
      reached,
      capSeconds: options.capS,
      routesAtReceiver: routes,
      ...(reached ? {} : { note: `not reached in ${options.capS} s: ${routes} routes` }),
      baselineIs: `${ref.name} process start to every route`,
      sessionUpToDoneSeconds: run?.sessionUpToDoneSeconds ?? null,
      peakRssMB: mb(run?.peakRssBytes),
      peakRssAtRoutesMB: mb(run?.peakRssAtRoutesBytes),
      ...(run?.problems ? { problems: run.problems } : {}),
      ...refExtras(options.refs, ["startToDoneSeconds"]),
      ...options.extra,
    },
  });
}

/** Our UPDATE count at the receiver against the fewest UPDATEs that carry the table. */
export function updatesFigure(
  bench: string,
  n: number,
  updates: number,
  refs: Refs,
  reached: boolean,
): BenchResult {
  const limit = updatePackingLimit(n, { localAsn: SENDER_ASN, nextHop: "192.0.2.1" });
  return result(bench, updates, "updates", {
    baseline: limit.updates,
    extra: {
      services: n,
      reached,
      baselineIs: "packing limit: fewest 4096-byte UPDATEs for the table",
      prefixesPerUpdate: limit.perUpdate,
      receiverAsn: RECEIVER_ASN,
      ...refExtras(refs, ["updates"]),
    },
  });
}

/** The cold start at the large size. */
export function coldLargeFigure(bench: string, r: LargeRuns): BenchResult {
  return startFigure(bench, r.cold, {
    capS: r.capS,
    refs: r.refs,
    extra: {
      services: r.n,
      loadAverage: r.load,
      ...refExtras(r.refs, ["transferSeconds", "loadSeconds"]),
    },
  });
}

/** The restart on the state the cold start wrote (or a seeded one when it did not finish). */
export function restartFigure(bench: string, r: LargeRuns): BenchResult {
  return startFigure(bench, r.restart, {
    capS: r.capS,
    refs: r.refs,
    extra: {
      services: r.n,
      loadAverage: r.load,
      stateFrom: r.stateFrom,
      ...refExtras(r.refs, ["peakRssBytes"]),
    },
  });
}

/** Worst event-loop lag of the cold start, against a start with 1 Service. */
export function lagFigure(bench: string, r: LargeRuns): BenchResult {
  return result(bench, r.cold.maxLoopLagSeconds, "s", {
    baseline: r.idleLagSeconds,
    extra: {
      services: r.n,
      loadAverage: r.load,
      during: r.cold.reached ? "cold start to every route" : `cold start, first ${r.capS} s`,
      baselineIs: "the same program starting with 1 Service",
      restartMaxLoopLagSeconds: r.restart?.maxLoopLagSeconds ?? null,
      goal: 0.1,
    },
  });
}

/** SIGTERM to exit after the restart announced everything; also during the cold start. */
export function sigtermFigure(bench: string, r: LargeRuns, flags: string): BenchResult {
  const st = r.restartStop;
  const ref = r.refs.bird ?? r.refs.gobgp;
  return result(bench, st?.exitSeconds ?? null, "s", {
    baseline: ref.sigtermExitSeconds,
    extra: {
      services: r.n,
      loadAverage: r.load,
      measuredAfter: "restart, every route announced",
      flags,
      exitCode: st?.exitCode ?? null,
      withdrawnSeconds: st?.withdrawnSeconds ?? null,
      duringColdStartExitSeconds: r.coldStop.exitSeconds,
      duringColdStartWithdrawnSeconds: r.coldStop.withdrawnSeconds,
      baselineIs: `${ref.name} SIGTERM to exit`,
      ...refExtras(r.refs, ["sigtermExitSeconds", "sigtermWithdrawnSeconds"]),
    },
  });
}

/** Peak RSS with four peers, against the reference sending the same table to four peers. */
export function rssFigure(bench: string, r: LargeRuns): BenchResult {
  const ref = r.refsX4 ? (r.refsX4.bird ?? r.refsX4.gobgp) : undefined;
  const started = r.x4?.peakRssBytes;
  const life = r.x4Stop?.peakRssBytes;
  const peak = started === undefined ? undefined : Math.max(started, life ?? 0);
  return result(bench, mb(peak), "MiB", {
    baseline: mb(ref?.peakRssBytes),
    extra: {
      services: r.n,
      loadAverage: r.load,
      peers: 4,
      reached: r.x4?.reached ?? false,
      routesAtReceivers: r.x4?.counts.map((c) => c.accepted) ?? [],
      baselineIs: ref ? `${ref.name} peak RSS, same table, 4 peers` : null,
      ...(r.refsX4 ? refExtras(r.refsX4, ["peakRssBytes"]) : {}),
      peakIs: "VmHWM over the whole life: the start, the writes after the routes until " +
        "settled, and the SIGTERM stop with the default RFC 8326 drain",
      peakSettledMiB: mb(started),
      peakThroughStopMiB: mb(life),
      peakAtRoutesMiB: mb(r.x4?.peakRssAtRoutesBytes),
      coldOnePeerPeakRssMB: mb(r.cold.peakRssBytes),
    },
  });
}
