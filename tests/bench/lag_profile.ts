/**
 * What stalls the event loop: runs the real `main.ts all` on N generated Services with P
 * in-repo collectors (as tests/bench/heap_profile.ts), twice on one state directory (a cold
 * start, then a restart), with V8's CPU profiler on from the first line of the profiled
 * start. Prints each stretch of at least MIN_MS in which JavaScript, GC or the runtime kept
 * the thread busy without a break, with the functions that took most of it; then what the lag
 * gauge sees: a probe like cmd/loop_lag.ts's (a 50 ms timer) is installed in the child before
 * its first line, and each firing at least MIN_MS late is listed with the functions that ran
 * between it and the firing before (a busy stretch may hold many turns; this is one wait).
 *
 * `deno run -A tests/bench/lag_profile.ts [N=100000] [P=4] [MIN_MS=50] [cold|restart]`;
 * LAG_V8_FLAGS passes V8 flags (e.g. --trace-gc), LAG_LOGS=1 shows the child's output,
 * LAG_AFTER_MS=n profiles n ms more after every route is out (the status and state writes).
 */
import type { Collector } from "../../bgp/collector.ts";
import { connectInspector, profileScenario, scenarioArgs } from "./heap_profile.ts";

const N = Number(Deno.args[0] ?? 100_000);
const P = Number(Deno.args[1] ?? 4);
const MIN_MS = Number(Deno.args[2] ?? 50);
const WHICH = Deno.args[3] ?? "restart";

/** The probe's period, as cmd/loop_lag.ts's default. */
const PROBE_MS = 50;
/**
 * Loaded in the child before main.ts (`--preload`): a 50 ms probe that appends each firing at
 * least 1 ms late to the file named by FLB_LAG_OUT as a line "performance.now() lag", and
 * first a line "origin" with the time it started (the profile starts just before).
 */
const PROBE_SOURCE = `
const out = Deno.env.get("FLB_LAG_OUT");
Deno.writeTextFileSync(out, \`\${performance.now()}\\n\`);
let expected = performance.now() + ${PROBE_MS};
const tick = () => {
  const t = performance.now();
  if (t - expected >= 1) Deno.writeTextFileSync(out, \`\${t} \${t - expected}\\n\`, { append: true });
  expected = t + ${PROBE_MS};
  Deno.unrefTimer(setTimeout(tick, ${PROBE_MS}));
};
Deno.unrefTimer(setTimeout(tick, ${PROBE_MS}));
`;

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
}

/** Names a sample's function as "name file:line" (path from the repository root). */
function namer(profile: Profile): (id: number) => string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  return (id: number) => {
    const f = byId.get(id)!.callFrame;
    const file = f.url.replace(/^.*\/(work\/(main|wt\/[^/]+)|node_modules)\//, "");
    return f.url ? `${f.functionName || "(anon)"} ${file}:${f.lineNumber + 1}` : f.functionName;
  };
}

/** The heaviest functions of a per-function self time map (µs), as printable lines. */
function heaviest(self: Map<string, number>, n = 8): string[] {
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n)
    .map(([k, us]) => `${(us / 1000).toFixed(0)}ms ${k}`);
}

/** One late firing of the probe: the wait before it and what ran in that wait. */
interface LateFiring {
  lagMs: number;
  /** Start of the wait (the firing before), in ms since the profile started. */
  from: number;
  to: number;
  top: string[];
}

/**
 * For each late firing (at, lag) in the child's performance.now() ms, where `origin` is the
 * child's performance.now() when the profile started: the functions sampled between the
 * firing before it and it.
 */
function lateFirings(profile: Profile, late: [number, number][], origin: number): LateFiring[] {
  const name = namer(profile);
  const times: number[] = [];
  let t = 0;
  for (const d of profile.timeDeltas) times.push((t += d) / 1000);
  const out: LateFiring[] = [];
  for (const [at, lagMs] of late) {
    if (lagMs < MIN_MS) continue;
    const to = at - origin;
    const from = to - lagMs - PROBE_MS;
    const self = new Map<string, number>();
    for (let i = 0; i < times.length; i++) {
      if (times[i] < from || times[i] > to) continue;
      const n = name(profile.samples[i]);
      const dt = profile.timeDeltas[i + 1] ?? 0;
      self.set(n, (self.get(n) ?? 0) + dt);
    }
    out.push({ lagMs, from, to, top: heaviest(self) });
  }
  return out.sort((a, b) => b.lagMs - a.lagMs);
}

/** Stretches without an idle sample, longest first, each with its heaviest functions. */
function busyStretches(profile: Profile): { ms: number; at: number; top: string[] }[] {
  const name = namer(profile);
  const out: { ms: number; at: number; top: string[] }[] = [];
  let start = -1;
  let t = 0;
  let self = new Map<string, number>();
  const close = (end: number) => {
    const ms = (end - start) / 1000;
    if (start >= 0 && ms >= MIN_MS) {
      const top = heaviest(self, 6);
      out.push({ ms, at: start / 1000, top });
    }
    start = -1;
    self = new Map();
  };
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const n = name(profile.samples[i]);
    if (n === "(idle)") {
      close(t);
      continue;
    }
    if (start < 0) start = t;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(n, (self.get(n) ?? 0) + dt);
  }
  close(t);
  return out.sort((a, b) => b.ms - a.ms);
}

/** Starts the program paused under the inspector, profiles it until every route is in. */
async function profiledRun(dir: string, collectors: Collector[]) {
  const port = 9900 + Math.floor(Math.random() * 90);
  const probe = `${dir}/lag_probe.js`;
  const lateFile = `${dir}/late.txt`;
  await Deno.writeTextFile(probe, PROBE_SOURCE);
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--inspect-wait=127.0.0.1:${port}`,
      `--preload=${probe}`,
      ...scenarioArgs(dir, { v8Flags: Deno.env.get("LAG_V8_FLAGS"), adminPort: 0 }),
    ],
    cwd: dir,
    env: { FLB_LAG_OUT: lateFile },
    stdout: Deno.env.get("LAG_LOGS") ? "inherit" : "null",
    stderr: Deno.env.get("LAG_LOGS") ? "inherit" : "null",
  }).spawn();
  const cdp = await connectInspector(port);
  await cdp.call("Profiler.enable");
  await cdp.call("Profiler.setSamplingInterval", { interval: 1000 });
  await cdp.call("Profiler.start");
  await cdp.call("Runtime.runIfWaitingForDebugger");
  const t0 = performance.now();
  await Promise.all(
    collectors.map((c) =>
      c.waitFor(() => c.routes().some((p) => p.routes.length >= N), { timeoutMs: 600_000 })
    ),
  );
  const seconds = (performance.now() - t0) / 1000;
  // LAG_AFTER_MS: keep profiling that long after every route, for the writes that follow.
  await new Promise((r) => setTimeout(r, Number(Deno.env.get("LAG_AFTER_MS") ?? 0)));
  const { profile } = await cdp.call("Profiler.stop") as unknown as { profile: Profile };
  cdp.close();
  // The probe started a few ms after the profile: close enough for waits of 100 ms.
  const [first, ...rest] = (await Deno.readTextFile(lateFile)).trim().split("\n");
  const late = rest.map((l) => l.split(" ").map(Number) as [number, number]);
  return { child, seconds, profile, late, origin: Number(first) };
}

async function main() {
  const dir = await Deno.makeTempDir({ prefix: "flb-lag-" });
  const base = 12_790 + Math.floor(Math.random() * 1000);
  const collectors = await profileScenario(dir, { services: N, peers: P, port: base });
  try {
    let run = await profiledRun(dir, collectors);
    if (WHICH === "restart") {
      run.child.kill("SIGTERM");
      await run.child.status;
      await Promise.all(collectors.map((c) => c.dropSessions()));
      await Promise.all(
        collectors.map((c) =>
          c.waitFor(() => c.routes().every((p) => p.routes.length === 0), { timeoutMs: 60_000 })
        ),
      );
      run = await profiledRun(dir, collectors);
    }
    const stretches = busyStretches(run.profile);
    const worstLagMs = Math.max(0, ...run.late.map(([, lag]) => lag));
    console.log(JSON.stringify({
      services: N,
      peers: P,
      run: WHICH,
      allRoutesS: run.seconds,
      worstLagMs: Math.round(worstLagMs),
    }));
    for (const s of stretches.slice(0, 12)) {
      console.log(`${s.ms.toFixed(0).padStart(6)} ms at ${(s.at / 1000).toFixed(2)} s`);
      for (const t of s.top) console.log(`        ${t}`);
    }
    console.log(`probe firings at least ${MIN_MS} ms late (wait = lag + ${PROBE_MS} ms period):`);
    for (const f of lateFirings(run.profile, run.late, run.origin).slice(0, 12)) {
      const at = `${(f.from / 1000).toFixed(2)}–${(f.to / 1000).toFixed(2)} s`;
      console.log(`${f.lagMs.toFixed(0).padStart(6)} ms late, wait ${at}`);
      for (const t of f.top) console.log(`        ${t}`);
    }
    run.child.kill("SIGKILL");
    await run.child.status;
  } finally {
    await Promise.all(collectors.map((c) => c.close()));
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
