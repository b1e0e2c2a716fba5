import assert from "node:assert/strict";
import { parseRunnerArgs, runSoaks, SOAKS } from "./mod.ts";
import { fuzzCase } from "./bgp_mutator.ts";
import { figure, Rng, skipped, type Soak } from "./types.ts";

function soakOf(
  name: string,
  make: () => ReturnType<typeof figure>[] | Error,
): () => Promise<Soak> {
  return () =>
    Promise.resolve({
      name,
      async *run() {
        const r = make();
        if (r instanceof Error) throw r;
        yield* r;
      },
    });
}

function io() {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, sinks: { out: (l: string) => out.push(l), err: (l: string) => err.push(l) } };
}

Deno.test("parseRunnerArgs: prefix, --short flag or FERROLB_SOAK_SHORT, seed from the env", () => {
  assert.deepEqual(parseRunnerArgs(["soak_fuzz", "--short"], { FERROLB_SOAK_SEED: "7" }), {
    prefix: "soak_fuzz",
    short: true,
    seed: 7,
  });
  const env = parseRunnerArgs([], { FERROLB_SOAK_SHORT: "1", FERROLB_SOAK_SEED: "9" });
  assert.deepEqual(env, { prefix: "", short: true, seed: 9 });
  assert.equal(parseRunnerArgs([], {}).short, false);
  assert.throws(() => parseRunnerArgs(["--fast"], {}), /unknown flag --fast/);
  assert.throws(() => parseRunnerArgs([], { FERROLB_SOAK_SEED: "x" }), /not an integer/);
});

Deno.test("runSoaks: runs only soaks matching the prefix and prints benchmark-shaped lines", async () => {
  const ran: string[] = [];
  const soaks = {
    soak_a: soakOf("soak_a", () => (ran.push("a"), [figure("soak_a", 5, "things")])),
    soak_b: soakOf("soak_b", () => (ran.push("b"), [figure("soak_b", 1, "things")])),
  };
  const o = io();
  const outcome = await runSoaks(soaks, { prefix: "soak_a", short: true, seed: 3 }, o.sinks);
  assert.equal(outcome.code, 0);
  assert.deepEqual(ran, ["a"]);
  assert.equal(o.out.length, 1);
  const line = JSON.parse(o.out[0]);
  for (const k of ["bench", "value", "unit", "baseline", "ratio", "broken"]) {
    assert.ok(k in line, k);
  }
  assert.equal(line.bench, "soak_a");
  assert.equal(line.value, 5);
  assert.equal(line.short, true);
  assert.equal(line.seed, 3);
});

Deno.test("runSoaks: a broken promise makes the run fail, says which and why, and later soaks run", async () => {
  const soaks = {
    soak_a: soakOf("soak_a", () => [
      figure("soak_a", 1, "crashes", { broken: ["1 crash: boom"] }),
    ]),
    soak_b: soakOf("soak_b", () => [figure("soak_b", 0, "crashes")]),
  };
  const o = io();
  const outcome = await runSoaks(soaks, { prefix: "", short: false, seed: 1 }, o.sinks);
  assert.equal(outcome.code, 1);
  assert.equal(o.out.length, 2);
  assert.ok(o.err.some((l) => l === "BROKEN soak_a: 1 crash: boom"), o.err.join("\n"));
});

Deno.test("runSoaks: a soak that throws fails the run and the next soak still runs", async () => {
  const soaks = {
    soak_a: soakOf("soak_a", () => new Error("lab would not start")),
    soak_b: soakOf("soak_b", () => [figure("soak_b", 0, "things")]),
  };
  const o = io();
  const outcome = await runSoaks(soaks, { prefix: "", short: false, seed: 1 }, o.sinks);
  assert.equal(outcome.code, 1);
  assert.equal(JSON.parse(o.out[0]).bench, "soak_b");
  assert.ok(o.err.some((l) => l.startsWith("BROKEN soak_a: the soak itself failed")));
});

Deno.test("runSoaks: a skipped soak prints value null with the reason and passes", async () => {
  const soaks = { soak_a: soakOf("soak_a", () => [skipped("soak_a", "resets", "not root")]) };
  const o = io();
  const outcome = await runSoaks(soaks, { prefix: "", short: false, seed: 1 }, o.sinks);
  assert.equal(outcome.code, 0);
  const line = JSON.parse(o.out[0]);
  assert.equal(line.value, null);
  assert.equal(line.skipped, "not root");
});

Deno.test("runSoaks: no soak matching the prefix exits 2", async () => {
  const o = io();
  const outcome = await runSoaks(SOAKS, { prefix: "nope", short: true, seed: 1 }, o.sinks);
  assert.equal(outcome.code, 2);
  assert.match(o.err[0], /no soak name starts with "nope"/);
});

Deno.test("every soak is registered", () => {
  assert.deepEqual(Object.keys(SOAKS).sort(), [
    "soak_api_chaos",
    "soak_bad_config",
    "soak_fuzz_bgp",
    "soak_hostile_input",
    "soak_peer_flap",
    "soak_state_crash",
  ]);
});

Deno.test("fuzz cases replay from (seed, index) alone and cover many mutation kinds", () => {
  const kinds = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const a = fuzzCase(11, i);
    const b = fuzzCase(11, i);
    assert.deepEqual(a, b);
    kinds.add(a.kind);
  }
  assert.notDeepEqual(fuzzCase(11, 0).bytes, fuzzCase(12, 0).bytes);
  for (
    const k of ["valid", "marker", "length_range", "type", "truncate", "attr_flags", "garbage"]
  ) {
    assert.ok(kinds.has(k), `no ${k} case in 2,000`);
  }
});

Deno.test("Rng is deterministic per seed", () => {
  const a = new Rng(5);
  const b = new Rng(5);
  const xs = Array.from({ length: 5 }, () => a.int(1000));
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.int(1000)));
  assert.ok(xs.some((x) => x !== xs[0]));
});
