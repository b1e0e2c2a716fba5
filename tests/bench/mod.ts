/**
 * `deno task bench [prefix]`: runs the benchmarks whose name starts with prefix and prints
 * one JSON object a line: {"bench","value","unit","baseline","ratio"}.
 */
import type { BenchSuite } from "./types.ts";

const SUITES: Record<string, () => Promise<BenchSuite>> = {};

/** Registers a suite loader; suites are loaded lazily so one prefix does not pay for all. */
export function register(name: string, load: () => Promise<BenchSuite>): void {
  SUITES[name] = load;
}

async function main(args: string[]): Promise<number> {
  const prefix = args[0] ?? "";
  const filter = (name: string) => name.startsWith(prefix);
  let printed = 0;
  for (const [name, load] of Object.entries(SUITES)) {
    const suite = await load();
    if (!suite.names.some(filter)) continue;
    try {
      for await (const r of suite.run(filter)) {
        console.log(JSON.stringify(r));
        printed++;
      }
    } catch (err) {
      console.error(JSON.stringify({ suite: name, error: String(err) }));
      return 1;
    }
  }
  if (printed === 0) {
    console.error(`no benchmark name starts with "${prefix}"`);
    return 2;
  }
  return 0;
}

// Suites: each module exports `suite: BenchSuite`.
register("bgp_codec", async () => (await import("../../bgp/codec_bench.ts")).suite);
register("ipam", async () => (await import("../../ipam/bench.ts")).suite);
register("controller", async () => (await import("./controller.ts")).suite);
register("speaker", async () => (await import("../../speaker/bench.ts")).suite);
register("bgp_announce", async () => (await import("./bgp_announce.ts")).suite);

if (import.meta.main) Deno.exit(await main(Deno.args));
