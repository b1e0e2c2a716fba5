/**
 * What stalls the event loop: runs the real `main.ts all` on N generated Services with P
 * in-repo collectors (as tests/bench/heap_profile.ts), twice on one state directory (a cold
 * start, then a restart), with V8's CPU profiler on from the first line of the profiled
 * start. Prints each stretch of at least MIN_MS in which JavaScript, GC or the runtime kept
 * the thread busy without a break, with the functions that took most of it.
 *
 * `deno run -A tests/bench/lag_profile.ts [N=100000] [P=4] [MIN_MS=50] [cold|restart]`;
 * LAG_V8_FLAGS passes V8 flags (e.g. --trace-gc), LAG_LOGS=1 shows the child's output.
 */
import type { Collector } from "../../bgp/collector.ts";
import { REPO_ROOT } from "../e2e_helpers.ts";
import { connectInspector, profileScenario } from "./heap_profile.ts";

const N = Number(Deno.args[0] ?? 100_000);
const P = Number(Deno.args[1] ?? 4);
const MIN_MS = Number(Deno.args[2] ?? 50);
const WHICH = Deno.args[3] ?? "restart";

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Stretches without an idle sample, longest first, each with its heaviest functions. */
function busyStretches(profile: Profile): { ms: number; at: number; top: string[] }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const name = (id: number) => {
    const f = byId.get(id)!.callFrame;
    const file = f.url.replace(/^.*\/(work\/main|node_modules)\//, "");
    return f.url ? `${f.functionName || "(anon)"} ${file}:${f.lineNumber + 1}` : f.functionName;
  };
  const out: { ms: number; at: number; top: string[] }[] = [];
  let start = -1;
  let t = 0;
  let self = new Map<string, number>();
  const close = (end: number) => {
    const ms = (end - start) / 1000;
    if (start >= 0 && ms >= MIN_MS) {
      const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 6)
        .map(([k, us]) => `${(us / 1000).toFixed(0)}ms ${k}`);
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
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--inspect-brk=127.0.0.1:${port}`,
      ...(Deno.env.get("LAG_V8_FLAGS") ? [`--v8-flags=${Deno.env.get("LAG_V8_FLAGS")}`] : []),
      "-A",
      `${REPO_ROOT}/main.ts`,
      "all",
      "--config-dir",
      `${dir}/config`,
      "--state-dir",
      `${dir}/state`,
      "--node-name",
      "n1",
      "--admin-addr",
      "127.0.0.1:0",
    ],
    cwd: dir,
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
  const { profile } = await cdp.call("Profiler.stop") as unknown as { profile: Profile };
  cdp.close();
  return { child, seconds, profile };
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
    console.log(JSON.stringify({ services: N, peers: P, run: WHICH, allRoutesS: run.seconds }));
    for (const s of stretches.slice(0, 12)) {
      console.log(`${s.ms.toFixed(0).padStart(6)} ms at ${(s.at / 1000).toFixed(2)} s`);
      for (const t of s.top) console.log(`        ${t}`);
    }
    run.child.kill("SIGKILL");
    await run.child.status;
  } finally {
    await Promise.all(collectors.map((c) => c.close()));
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
