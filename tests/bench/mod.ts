/**
 * `deno task bench [prefix]`: runs the benchmarks whose name starts with prefix and prints
 * one JSON object a line: {"bench","value","unit","baseline","ratio"}.
 *
 * Each suite runs in a process of its own, so memory figures (resident set, heap growth) are
 * not inflated by what an earlier suite left behind.
 */
import type { BenchSuite } from "./types.ts";

/** The permissions a suite's process gets: those of the `bench` task. */
const CHILD_FLAGS = [
  "--v8-flags=--expose-gc",
  "--allow-net",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
  "--allow-sys",
];

const SUITES: Record<string, () => Promise<BenchSuite>> = {};

/** Registers a suite loader; suites are loaded lazily so one prefix does not pay for all. */
export function register(name: string, load: () => Promise<BenchSuite>): void {
  SUITES[name] = load;
}

/** Runs one suite in this process; returns the number of figures printed, or -1 on error. */
async function runSuite(name: string, prefix: string): Promise<number> {
  const suite = await SUITES[name]();
  let printed = 0;
  try {
    for await (const r of suite.run((n) => n.startsWith(prefix))) {
      console.log(JSON.stringify(r));
      printed++;
    }
  } catch (err) {
    console.error(JSON.stringify({ suite: name, error: String(err) }));
    return -1;
  }
  return printed;
}

/** Runs one suite in a child process, forwarding its lines; returns figures printed or -1. */
async function runSuiteProcess(name: string, prefix: string): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...CHILD_FLAGS, new URL(import.meta.url).pathname, `--suite=${name}`, prefix],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let printed = 0;
  let rest = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    rest += decoder.decode(chunk, { stream: true });
    const lines = rest.split("\n");
    rest = lines.pop()!;
    for (const line of lines) {
      console.log(line);
      if (line.startsWith("{")) printed++;
    }
  }
  if (rest) console.log(rest);
  const status = await child.status;
  return status.success ? printed : -1;
}

async function main(args: string[]): Promise<number> {
  const suiteArg = args.find((a) => a.startsWith("--suite="));
  const prefix = args.find((a) => !a.startsWith("--")) ?? "";
  if (suiteArg) return (await runSuite(suiteArg.slice("--suite=".length), prefix)) < 0 ? 1 : 0;
  let printed = 0;
  for (const [name, load] of Object.entries(SUITES)) {
    const suite = await load();
    if (!suite.names.some((n) => n.startsWith(prefix))) continue;
    const n = await runSuiteProcess(name, prefix);
    if (n < 0) return 1;
    printed += n;
  }
  if (printed === 0) {
    console.error(`no benchmark name starts with "${prefix}"`);
    return 2;
  }
  return 0;
}

// Suites: each module exports `suite: BenchSuite`.
register("bgp_codec", async () => (await import("./bgp_codec.ts")).suite);
register("ipam", async () => (await import("./ipam.ts")).suite);
register("controller", async () => (await import("./controller.ts")).suite);
register("realkube", async () => (await import("./realkube.ts")).suite);
register("speaker", async () => (await import("./speaker.ts")).suite);
register("bgp_announce", async () => (await import("./bgp_announce.ts")).suite);
register("e2e", async () => (await import("./e2e.ts")).suite);

if (import.meta.main) Deno.exit(await main(Deno.args));
