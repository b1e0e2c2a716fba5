import assert from "node:assert/strict";
import { parseCommandLine, usage, UsageError } from "./args.ts";

Deno.test("role from first argument or --role=", () => {
  assert.equal(parseCommandLine(["speaker"]).role, "speaker");
  assert.equal(parseCommandLine(["--role=controller"]).role, "controller");
});

Deno.test("unknown role and unknown flag are usage errors with a one-line reason", () => {
  assert.throws(() => parseCommandLine(["bogus"]), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.equal(e.message, 'unknown role "bogus"');
    return true;
  });
  assert.throws(() => parseCommandLine(["all", "--nope"]), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.ok(!e.message.includes("\n"));
    assert.match(e.message, /--nope/);
    return true;
  });
});

Deno.test("defaults and environment fill unset flags, flags win over env", () => {
  const env = (n: string) =>
    ({ NODE_NAME: "node-a", FERROLB_NAMESPACE: "lb" } as Record<string, string>)[n];
  const a = parseCommandLine(["speaker"], env);
  assert.equal(a.flags["node-name"], "node-a");
  assert.equal(a.flags.namespace, "lb");
  assert.equal(a.flags["log-level"], "info");
  const b = parseCommandLine(["speaker", "--node-name", "n2"], env);
  assert.equal(b.flags["node-name"], "n2");
});

Deno.test("--help lists every role", () => {
  assert.equal(parseCommandLine(["--help"]).role, "help");
  for (const r of ["controller", "speaker", "all", "collector", "validate", "status"]) {
    assert.match(usage(), new RegExp(`\\n  ${r} `));
  }
});
