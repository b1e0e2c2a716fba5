/**
 * `deno task soak [prefix] [--short]`: runs the soaks whose name starts with prefix and prints
 * one JSON object a line in the benchmark format ({"bench","value","unit","baseline","ratio",
 * …}) plus "broken": the promises the figure broke. Exits 1 when any promise broke or a soak
 * threw, 2 when no soak matches. `--short` or FERROLB_SOAK_SHORT=1 runs the CI counts;
 * FERROLB_SOAK_SEED replays a run.
 */
import type { Soak, SoakContext, SoakFigure } from "./types.ts";

/** Soak loaders by name, loaded lazily so one prefix does not pay for all. */
export const SOAKS: Record<string, () => Promise<Soak>> = {
  soak_fuzz_bgp: async () => (await import("./fuzz_bgp.ts")).soak,
  soak_peer_flap: async () => (await import("./peer_flap.ts")).soak,
  soak_state_crash: async () => (await import("./state_crash.ts")).soak,
  soak_api_chaos: async () => (await import("./api_chaos.ts")).soak,
  soak_bad_config: async () => (await import("./bad_config.ts")).soak,
  soak_hostile_input: async () => (await import("./hostile_input.ts")).soak,
};

/** Parsed command line of the runner. */
export interface RunnerArgs {
  prefix: string;
  short: boolean;
  seed: number;
}

/** Reads `[prefix] [--short]` and the FERROLB_SOAK_SHORT / FERROLB_SOAK_SEED variables. */
export function parseRunnerArgs(args: string[], env: Record<string, string | undefined>) {
  let prefix = "";
  let short = env.FERROLB_SOAK_SHORT === "1" || env.FERROLB_SOAK_SHORT === "true";
  for (const a of args) {
    if (a === "--short") short = true;
    else if (a.startsWith("--")) throw new TypeError(`unknown flag ${a}: want [prefix] [--short]`);
    else prefix = a;
  }
  const seedText = env.FERROLB_SOAK_SEED;
  const seed = seedText ? Number(seedText) : (Date.now() % 2 ** 31);
  if (!Number.isInteger(seed)) {
    throw new TypeError(`FERROLB_SOAK_SEED "${seedText}" is not an integer`);
  }
  const out: RunnerArgs = { prefix, short, seed };
  return out;
}

/** Where the runner writes: figures to `out`, diagnostics to `err`. */
export interface RunnerIo {
  out(line: string): void;
  err(line: string): void;
}

/** Outcome of a run: the exit code and every figure printed. */
export interface RunOutcome {
  code: number;
  figures: SoakFigure[];
}

/**
 * Runs every soak of `soaks` whose name starts with `args.prefix`, printing each figure as it
 * comes; a soak that throws counts as broken and the next soak still runs.
 */
export async function runSoaks(
  soaks: Record<string, () => Promise<Soak>>,
  args: RunnerArgs,
  io: RunnerIo,
): Promise<RunOutcome> {
  // `deno task soak hostile` and `deno task soak soak_hostile` name the same soak.
  const names = Object.keys(soaks).filter((n) =>
    n.startsWith(args.prefix) || n.startsWith(`soak_${args.prefix}`)
  );
  if (names.length === 0) {
    io.err(`no soak name starts with "${args.prefix}" (have: ${Object.keys(soaks).join(", ")})`);
    return { code: 2, figures: [] };
  }
  const figures: SoakFigure[] = [];
  let failed = false;
  for (const name of names) {
    const started = performance.now();
    const ctx: SoakContext = {
      short: args.short,
      seed: args.seed,
      log: (message, fields) =>
        io.err(JSON.stringify({ soak: name, t: new Date().toISOString(), message, ...fields })),
    };
    try {
      const soak = await soaks[name]();
      for await (const f of soak.run(ctx)) {
        f.seconds ??= Math.round((performance.now() - started) / 100) / 10;
        f.short = args.short;
        f.seed = args.seed;
        figures.push(f);
        io.out(JSON.stringify(f));
        if (f.broken.length > 0) {
          failed = true;
          for (const why of f.broken) io.err(`BROKEN ${f.bench}: ${why}`);
        }
      }
    } catch (err) {
      failed = true;
      const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
      io.err(JSON.stringify({ soak: name, error: text }));
      io.err(`BROKEN ${name}: the soak itself failed: ${text.split("\n")[0]}`);
    }
  }
  return { code: failed ? 1 : 0, figures };
}

async function main(): Promise<number> {
  let args: RunnerArgs;
  try {
    args = parseRunnerArgs(Deno.args, Deno.env.toObject());
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const started = performance.now();
  const outcome = await runSoaks(SOAKS, args, {
    out: (l) => console.log(l),
    err: (l) => console.error(l),
  });
  const seconds = Math.round((performance.now() - started) / 1000);
  console.error(
    `soak ${outcome.code === 0 ? "passed" : "FAILED"} in ${seconds} s ` +
      `(${args.short ? "short" : "full"}, seed ${args.seed})`,
  );
  return outcome.code;
}

if (import.meta.main) Deno.exit(await main());
