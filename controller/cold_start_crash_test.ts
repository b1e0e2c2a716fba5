/**
 * SIGKILL at a random moment of a cold start of 10,000 Services (controller + file-mode
 * overlay + state dir, in a child process): every assignment a reader could have seen is on
 * disk, no address is given twice, and the restart keeps every address on disk.
 * FERROLB_CRASH_SEED repeats the moments; the whole-program variant with a BGP receiver is
 * tests/cold_start_crash_test.ts.
 */
import assert from "node:assert/strict";
import { createLogger } from "../api/log.ts";
import { openStateStore } from "../cluster/state_store.ts";

const N = 10_000;
const CHILD = new URL("./testdata/crash_child.ts", import.meta.url).pathname;
const SEED = Number(Deno.env.get("FERROLB_CRASH_SEED") ?? Date.now() % 1_000_000);

/** mulberry32: a seeded generator, so a failing run can be repeated. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Run {
  seen: Map<string, string>;
  done: boolean;
  /** From `go` (the controller starts) to `done`, when both came. */
  ms?: number;
}

/** When to SIGKILL the child: that long after `go`, or as soon as the first `seen` line. */
type Kill = { afterGoMs: number } | "at-first-seen";

/** Runs the child on `stateDir`, killing it as `kill` says unless it finished first. */
async function run(stateDir: string, kill?: Kill): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", CHILD, stateDir, String(N)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const seen = new Map<string, string>();
  let done = false;
  let goAt: number | undefined;
  let ms: number | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killNow = () => {
    try {
      child.kill("SIGKILL");
    } catch {
      // already exited
    }
  };
  let rest = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      const [what, key, ip] = line.split(" ");
      if (what === "go") {
        goAt = performance.now();
        if (typeof kill === "object") timer = setTimeout(killNow, kill.afterGoMs);
      } else if (what === "seen") {
        seen.set(key, ip);
        if (kill === "at-first-seen") killNow();
      } else if (what === "done") {
        done = true;
        if (goAt !== undefined) ms = performance.now() - goAt;
      }
    }
  }
  clearTimeout(timer);
  await child.status;
  return { seen, done, ...(ms !== undefined ? { ms } : {}) };
}

function persisted(stateDir: string): Map<string, string> {
  const data = openStateStore(stateDir, { logger: createLogger({ level: "error" }) }).load();
  return new Map(Object.entries(data.services).map(([k, s]) => [k, s.ingress[0]]));
}

function assertNoIpTwice(assigned: ReadonlyMap<string, string>, when: string): void {
  const owner = new Map<string, string>();
  for (const [key, ip] of assigned) {
    if (!ip) continue;
    assert.equal(owner.get(ip) ?? key, key, `${when}: ${ip} given to ${owner.get(ip)} and ${key}`);
    owner.set(ip, key);
  }
}

Deno.test({
  name: "SIGKILL during a 10,000-Service cold start loses nothing seen and gives nothing twice",
  async fn() {
    console.log(`FERROLB_CRASH_SEED=${SEED}`);
    const rand = random(SEED);
    const root = await Deno.makeTempDir();
    try {
      // An uninterrupted start sets the window the kills are drawn from.
      const full = await run(`${root}/reference`);
      assert.ok(full.done, "the uninterrupted start assigns every Service");
      assert.equal(full.seen.size, N);
      const kills: Kill[] = ["at-first-seen"];
      for (let i = 0; i < 3; i++) kills.push({ afterGoMs: Math.round(rand() * (full.ms ?? 1000)) });
      for (const [round, kill] of kills.entries()) {
        const dir = `${root}/round-${round}`;
        const killAt = typeof kill === "object" ? `${kill.afterGoMs} ms after go` : kill;
        const crashed = await run(dir, kill);
        const disk = persisted(dir);
        console.log(
          `round ${round}: killed ${killAt} (start takes ${Math.round(full.ms ?? 0)} ms), ` +
            `${crashed.seen.size} seen, ${disk.size} on disk`,
        );
        for (const [key, ip] of crashed.seen) {
          assert.equal(disk.get(key), ip, `round ${round} (killed ${killAt}): ${key} was seen`);
        }
        assertNoIpTwice(disk, `round ${round} after the kill`);
        const again = await run(dir);
        assert.ok(again.done, `round ${round}: the restart assigns every Service`);
        for (const [key, ip] of disk) {
          if (ip) assert.equal(again.seen.get(key), ip, `round ${round}: ${key} moved on restart`);
        }
        assertNoIpTwice(again.seen, `round ${round} after the restart`);
      }
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});
