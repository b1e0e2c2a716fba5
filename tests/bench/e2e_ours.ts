/**
 * One run of the real program as users run it: `main.ts all --config-dir DIR --state-dir
 * DIR --node-name n1` with the `ferrolb` task's permission flags, as a child process in the
 * sender namespace, timed from the spawn to every route at every receiver.
 */
import { type FerrolbProcess, runFerrolb, spawnFerrolb } from "../e2e_helpers.ts";
import {
  type BenchNet,
  processMemory,
  type ReceiverCounts,
  trackPeakMemory,
  waitForEmpty,
  waitForRoutes,
  waitReceiversIdle,
} from "./e2e_env.ts";
import { LOOP_LAG_METRIC } from "../../cmd/loop_lag.ts";

const ADMIN_ADDR = "127.0.0.1:7472";

/** What one start of ferrolb measured. */
export interface OurStart {
  reached: boolean;
  /** Spawn → every route at every receiver (or → the cap when not reached). */
  seconds: number;
  /** Every session up (first poll) → every route; null when never up. */
  sessionUpToDoneSeconds: number | null;
  /** Per receiver at the end. */
  counts: ReceiverCounts[];
  /** UPDATEs the first receiver got from this run. */
  updates: number;
  /** Worst event-loop lag since start, from /metrics; null when it could not be scraped. */
  maxLoopLagSeconds: number | null;
  /**
   * Peak resident set (VmHWM) over the start and the writes that follow the routes (Service
   * statuses, ServiceBGPStatus objects, Events, state saves), until the process is settled.
   */
  peakRssBytes: number | undefined;
  /** Peak resident set when every route had arrived (before the writes after it settled). */
  peakRssAtRoutesBytes: number | undefined;
  /** The running process, for a later stop. */
  proc: FerrolbProcess;
  /** Admin address in the sender namespace. */
  adminAddr: string | undefined;
  /** When not reached: the program's last warnings and errors, to say why. */
  problems?: string[];
}

/** Options for {@linkcode startOurs}. */
export interface OurStartOptions {
  net: BenchNet;
  /** Working directory holding `configDir` and `stateDir` (the binary may write only `.`). */
  cwd: string;
  configDir: string;
  stateDir: string;
  /** Routes each receiver must get. */
  n: number;
  /** Receivers the config names (the first `receivers`). */
  receivers: number;
  capMs: number;
  /**
   * Wait until the writes after the routes are over before reading the peak and the lag
   * (the memory figures); without it the start is stopped right after its last route.
   */
  settle?: boolean;
  /**
   * Keep the default RFC 8326 drain at SIGTERM (routes marked, then withdrawn by UPDATE), as
   * users run the program: for the memory figure, which then covers the stop too.
   */
  drain?: boolean;
}

let helpFlags: Promise<Set<string>> | undefined;

/** The flags `ferrolb all --help` lists, so the bench runs on builds with and without newer ones. */
export function programFlags(): Promise<Set<string>> {
  helpFlags ??= (async () => {
    const cwd = await Deno.makeTempDir({ prefix: "flb-bench-help-" });
    try {
      const r = await runFerrolb(["all", "--help"], { cwd });
      return new Set(
        [...`${r.stdout}\n${r.stderr}`.matchAll(/^\s+--([a-z0-9-]+)/gm)].map((m) => m[1]),
      );
    } finally {
      await Deno.remove(cwd, { recursive: true }).catch(() => {});
    }
  })();
  return helpFlags;
}

/**
 * Extra arguments every run gets: no RFC 8326 drain period where the build has one, since
 * the SIGTERM figure is the issue's "with --graceful-shutdown-seconds=0".
 */
export async function extraArgs(): Promise<string[]> {
  return (await programFlags()).has("graceful-shutdown-seconds")
    ? ["--graceful-shutdown-seconds", "0"]
    : [];
}

/** Fetches `path` of the admin server inside `netns`, bounded by `timeoutMs`. */
export async function scrape(
  netns: string,
  addr: string,
  path: string,
  timeoutMs = 15_000,
): Promise<string | undefined> {
  const script = `const r = await fetch(${JSON.stringify(`http://${addr}${path}`)}, ` +
    `{ signal: AbortSignal.timeout(${timeoutMs}) }); console.log(await r.text());`;
  const child = new Deno.Command("ip", {
    args: ["netns", "exec", netns, Deno.execPath(), "eval", "--no-config", script],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const o = await child.output();
  return o.success ? new TextDecoder().decode(o.stdout) : undefined;
}

/** The worst event-loop lag since start from the program's /metrics, in seconds. */
export async function scrapeLoopLag(netns: string, addr: string): Promise<number | null> {
  const text = await scrape(netns, addr, "/metrics");
  const m = text?.match(new RegExp(`^${LOOP_LAG_METRIC}\\{window="since_start"\\} (\\S+)$`, "m"));
  return m ? Number(m[1]) : null;
}

/**
 * Waits until the writes that follow the routes are over: at least 1 s + 0.05 ms per Service
 * after the routes (the status writes take ~0.5 s per 10,000), then until the resident set
 * has not grown for 3 s (capped at 60 s). The peak and the worst lag read after it cover
 * the whole start, not only the part before the last route.
 */
async function settled(pid: number, options: { n: number; stop: () => boolean }): Promise<void> {
  const t0 = performance.now();
  const minMs = 1000 + options.n / 20;
  let peak = 0;
  let grewAt = t0;
  while (!options.stop() && performance.now() - t0 < 60_000) {
    const m = await processMemory(pid);
    if (!m) return;
    const now = performance.now();
    if (m.rssBytes > peak) [peak, grewAt] = [m.rssBytes, now];
    if (now - t0 >= minMs && now - grewAt >= 3000) return;
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Spawns ferrolb and waits until every receiver holds `n` routes or the cap passes; the
 * process keeps running (stop it with {@linkcode stopOurs}).
 */
export async function startOurs(options: OurStartOptions): Promise<OurStart> {
  const { net } = options;
  const receivers = net.receivers.slice(0, options.receivers);
  const argv = [
    "all",
    "--config-dir",
    options.configDir,
    "--state-dir",
    options.stateDir,
    "--node-name",
    "n1",
    // The namespace has its own ports: the default admin address is free there.
    "--admin-addr",
    ADMIN_ADDR,
    ...options.drain ? [] : await extraArgs(),
  ];
  const before = await waitReceiversIdle(receivers, net.senderAddress);
  const t0 = performance.now();
  const proc = spawnFerrolb(argv, { cwd: options.cwd, netns: net.senderNetns });
  const memory = trackPeakMemory(proc.pid);
  let exited = false;
  proc.exited.then(() => exited = true);
  const wait = await waitForRoutes(receivers, {
    sender: net.senderAddress,
    n: options.n,
    capMs: options.capMs,
    stop: () => exited,
  });
  const seconds = (wait.doneAt - t0) / 1000;
  const peakRssAtRoutesBytes = (await processMemory(proc.pid))?.hwmBytes;
  if (wait.reached && options.settle) await settled(proc.pid, { n: options.n, stop: () => exited });
  const adminAddr = exited ? undefined : ADMIN_ADDR;
  const maxLoopLagSeconds = adminAddr ? await scrapeLoopLag(net.senderNetns, adminAddr) : null;
  const peakRssBytes = await memory.stop();
  return {
    reached: wait.reached,
    seconds,
    sessionUpToDoneSeconds: wait.reached && wait.establishedAt
      ? (wait.doneAt - wait.establishedAt) / 1000
      : null,
    counts: wait.counts,
    updates: (wait.counts[0]?.updates ?? 0) - (before[0]?.updates ?? 0),
    maxLoopLagSeconds,
    peakRssBytes,
    peakRssAtRoutesBytes,
    proc,
    adminAddr,
    ...(wait.reached ? {} : { problems: problems(proc) }),
  };
}

function problems(proc: FerrolbProcess): string[] {
  return proc.logs().filter((l) => l.level === "warn" || l.level === "error" || !l.level)
    .slice(-5).map((l) => JSON.stringify(l).slice(0, 300));
}

/** What a SIGTERM did. */
export interface OurStop {
  /** SIGTERM → process exit; null when it had not exited by the cap (then SIGKILLed). */
  exitSeconds: number | null;
  exitCode: number | null;
  /** SIGTERM → no route left at any receiver; null when not within the cap. */
  withdrawnSeconds: number | null;
  /** The process's peak RSS (VmHWM) over its whole life, read until it exited. */
  peakRssBytes: number | undefined;
}

/** Sends SIGTERM and times the exit and the receivers emptying (SIGKILL after `capMs`). */
export async function stopOurs(
  run: { proc: FerrolbProcess; net: BenchNet; receivers: number },
  capMs = 30_000,
): Promise<OurStop> {
  const receivers = run.net.receivers.slice(0, run.receivers);
  const t0 = performance.now();
  try {
    Deno.kill(run.proc.pid, "SIGTERM");
  } catch {
    // already gone
  }
  let exited = false;
  const exit = run.proc.exited.then((st) => {
    exited = true;
    return { at: performance.now(), code: st.code };
  });
  // The high-water mark is the life's peak so far: the last read before the exit holds the
  // stop's own (a drain re-announces and withdraws every route).
  let peakRssBytes: number | undefined;
  const watching = (async () => {
    while (!exited) {
      const m = await processMemory(run.proc.pid);
      if (m) peakRssBytes = Math.max(peakRssBytes ?? 0, m.hwmBytes);
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const empty = waitForEmpty(receivers, { sender: run.net.senderAddress, capMs });
  const timer = setTimeout(() => {
    try {
      Deno.kill(run.proc.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }, capMs);
  const [ex, emptyAt] = await Promise.all([exit, empty]);
  clearTimeout(timer);
  await watching;
  const inCap = ex.at - t0 < capMs;
  return {
    exitSeconds: inCap ? (ex.at - t0) / 1000 : null,
    exitCode: inCap ? ex.code : null,
    withdrawnSeconds: emptyAt === undefined ? null : (emptyAt - t0) / 1000,
    peakRssBytes,
  };
}
