/**
 * Event-loop lag: a timer that measures how late it fires. A long synchronous pass (a
 * controller sweep over 100,000 Services, a big JSON.stringify) starves /healthz, BGP
 * keepalives and signal handlers alike; this makes such stalls visible on /metrics as
 * `ferrolb_event_loop_lag_max_seconds`, worst since start and worst over a recent window.
 */
import type { Metric, Registry } from "../api/metrics.ts";

/** Name of the gauge the admin server exports. */
export const LOOP_LAG_METRIC = "ferrolb_event_loop_lag_max_seconds";

/** Options for {@linkcode startLoopLagMonitor}. */
export interface LoopLagOptions {
  /** How often the probe timer is armed (default 50 ms). */
  intervalMs?: number;
  /** Length of the recent window (default 10 s). */
  windowMs?: number;
  /** Clock in milliseconds (default `performance.now`); tests pass a fake one. */
  now?: () => number;
}

/** A running lag probe. */
export interface LoopLagMonitor {
  /** Worst lag seen since the monitor started, in seconds (includes a probe now overdue). */
  worstSeconds(): number;
  /** Worst lag within the last window, in seconds (includes a probe now overdue). */
  windowMaxSeconds(): number;
  /** The window length in seconds. */
  readonly windowSeconds: number;
  /** Records that the probe fired at `now` (the timer calls it; exposed for fake clocks). */
  tick(now: number): void;
  /** Stops the timer. */
  stop(): void;
}

/** Buckets per window: the window max is exact to one bucket's width. */
const BUCKETS = 10;

/**
 * Starts a timer that re-arms itself every `intervalMs` and records how much later than
 * asked it fired. The timer is unref'd so it never keeps a process alive.
 */
export function startLoopLagMonitor(options: LoopLagOptions = {}): LoopLagMonitor {
  const intervalMs = options.intervalMs ?? 50;
  const windowMs = options.windowMs ?? 10_000;
  const now = options.now ?? (() => performance.now());
  const bucketMs = windowMs / BUCKETS;
  // Per bucket: its index (time / bucketMs) and the worst lag recorded in it.
  const bucketIndex = new Float64Array(BUCKETS).fill(-1);
  const bucketMax = new Float64Array(BUCKETS);
  let worstMs = 0;
  let expected = now() + intervalMs;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  function record(at: number, lagMs: number): void {
    if (lagMs > worstMs) worstMs = lagMs;
    const idx = Math.floor(at / bucketMs);
    const slot = idx % BUCKETS;
    if (bucketIndex[slot] !== idx) {
      bucketIndex[slot] = idx;
      bucketMax[slot] = 0;
    }
    if (lagMs > bucketMax[slot]) bucketMax[slot] = lagMs;
  }

  /** A probe that should have fired already is lag happening now. */
  function overdueMs(at: number): number {
    return stopped ? 0 : Math.max(0, at - expected);
  }

  function arm(): void {
    if (stopped || options.now) return;
    const id = setTimeout(() => {
      monitor.tick(now());
      arm();
    }, intervalMs);
    Deno.unrefTimer(id);
    timer = id;
  }

  const monitor: LoopLagMonitor = {
    windowSeconds: windowMs / 1000,
    worstSeconds() {
      return Math.max(worstMs, overdueMs(now())) / 1000;
    },
    windowMaxSeconds() {
      const at = now();
      const oldest = Math.floor((at - windowMs) / bucketMs);
      let max = overdueMs(at);
      for (let i = 0; i < BUCKETS; i++) {
        if (bucketIndex[i] > oldest && bucketMax[i] > max) max = bucketMax[i];
      }
      return max / 1000;
    },
    tick(at) {
      record(at, Math.max(0, at - expected));
      expected = at + intervalMs;
    },
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
    },
  };
  arm();
  return monitor;
}

const gauges = new WeakMap<Registry, Metric<"window">>();

/**
 * The lag gauge in `registry` (registered on first use, so several admin servers may share
 * a registry); `window` is "since_start" or the recent window such as "10s".
 */
export function loopLagGauge(registry: Registry): Metric<"window"> {
  let g = gauges.get(registry);
  if (!g) {
    g = registry.gauge(
      LOOP_LAG_METRIC,
      "Worst delay of a timer past its due time, in seconds: since start, and over a recent window.",
      ["window"],
    );
    gauges.set(registry, g);
  }
  return g;
}

/** Copies the monitor's figures into its gauge; call before rendering /metrics. */
export function exportLoopLag(monitor: LoopLagMonitor, gauge: Metric<"window">): void {
  gauge.set({ window: "since_start" }, monitor.worstSeconds());
  gauge.set({ window: `${monitor.windowSeconds}s` }, monitor.windowMaxSeconds());
}
