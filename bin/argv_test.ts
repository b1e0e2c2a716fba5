import assert from "node:assert/strict";
import { parseArgs } from "node:util";
import { ArgvError, splitArgv } from "./argv.mjs";

// Typed as node:util wants them, so the same table drives both splitters.
const OPTIONS: Record<string, { type: "string" | "boolean"; short?: string }> = {
  help: { type: "boolean", short: "h" },
  json: { type: "boolean", short: "j" },
  "config-dir": { type: "string" },
  name: { type: "string", short: "n" },
};

function refused(argv: string[], kind: string, flag: string): void {
  assert.throws(() => splitArgv(argv, OPTIONS), (e: unknown) => {
    assert.ok(e instanceof ArgvError, String(e));
    assert.deepEqual([e.kind, e.flag], [kind, flag]);
    return true;
  });
}

Deno.test("values, positionals, short groups and -- read as node:util's parseArgs reads them", () => {
  const lines = [
    ["all", "--config-dir", "d", "--name=n1", "x"],
    ["--help"],
    ["-hj", "status"],
    ["-n", "n2", "-nn3"],
    ["--name", "a", "--name", "b"],
    ["--config-dir=", "p"],
    ["--config-dir=-odd", "-"],
    ["--config-dir", "-"],
    ["a", "--", "--help", "-x"],
  ];
  for (const args of lines) {
    const ours = splitArgv(args, OPTIONS);
    const node = parseArgs({ args, options: OPTIONS, allowPositionals: true, strict: true });
    assert.deepEqual(
      ours,
      { values: { ...node.values }, positionals: node.positionals },
      args.join(" "),
    );
  }
});

Deno.test("unknown flags, missing values and values for booleans are refused, naming the flag", () => {
  refused(["--nope"], "unknown-flag", "--nope");
  refused(["--nope=1"], "unknown-flag", "--nope");
  refused(["-x"], "unknown-flag", "-x");
  refused(["-hx"], "unknown-flag", "-x");
  refused(["--config-dir"], "missing-value", "--config-dir");
  refused(["--config-dir", "--json"], "missing-value", "--config-dir");
  refused(["-n"], "missing-value", "-n");
  refused(["--json=yes"], "unexpected-value", "--json");
  // Inherited names are not flags.
  refused(["--constructor"], "unknown-flag", "--constructor");
});

Deno.test("lenient (the launcher's scan): what strict refuses is skipped, the rest read alike", () => {
  const lenient = (args: string[]) => splitArgv(args, OPTIONS, { lenient: true });
  assert.deepEqual(lenient(["--nope", "x", "--json=yes", "-x", "--name", "--json"]), {
    values: { json: true, name: "--json" },
    positionals: ["x"],
  });
  assert.deepEqual(lenient(["all", "--config-dir"]), { values: {}, positionals: ["all"] });
  const strictLine = ["all", "--config-dir", "d", "-hj", "--", "--help"];
  assert.deepEqual(lenient(strictLine), splitArgv(strictLine, OPTIONS));
});
