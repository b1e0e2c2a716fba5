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

function usageError(argv: string[], message: string | RegExp, role?: string): void {
  assert.throws(() => parseCommandLine(argv), (e: unknown) => {
    assert.ok(e instanceof UsageError, String(e));
    if (typeof message === "string") assert.equal(e.message, message);
    else assert.match(e.message, message);
    assert.equal(e.role, role);
    return true;
  });
}

Deno.test("a flag of another role is refused, naming the roles it is for", () => {
  usageError(
    ["validate", "--weighted-ecmp", "dir"],
    "--weighted-ecmp does not apply to validate (it is for speaker, all, demo)",
    "validate",
  );
  usageError(
    ["status", "--config-dir", "x"],
    "--config-dir does not apply to status (it is for all)",
    "status",
  );
  usageError(
    ["collector", "--json"],
    "--json does not apply to collector (it is for status)",
    "collector",
  );
});

Deno.test("values and arguments are checked before anything runs", () => {
  usageError(
    ["all", "--admin-addr", "nonsense"],
    /^--admin-addr: invalid address "nonsense"/,
    "all",
  );
  usageError(["speaker", "--log-level", "loud"], /^--log-level: "loud" is not debug/, "speaker");
  usageError(["validate"], "validate needs at least one DIR or FILE", "validate");
  usageError(
    ["controller", "extra"],
    'unexpected argument "extra": controller takes none',
    "controller",
  );
  usageError(
    ["all", "--state-dir", "s"],
    "--state-dir applies only with --config-dir (file mode)",
    "all",
  );
  usageError(
    ["all", "--config-dir", "c", "--kubeconfig", "k"],
    "--kubeconfig does not apply with --config-dir (file mode reads no cluster)",
    "all",
  );
  usageError(["all", "--config-dir"], "--config-dir needs a value");
  usageError(["status", "--json=yes"], "--json takes no value");
  usageError(["--nope"], "unknown flag --nope");
  usageError(
    ["all", "--weighted-ecm"],
    "unknown flag --weighted-ecm (did you mean --weighted-ecmp?)",
  );
  usageError(["speakr"], 'unknown role "speakr" (did you mean speaker?)');
});

Deno.test("-h/--help per role lists only that role's flags; --version", () => {
  const h = parseCommandLine(["validate", "-h"]);
  assert.equal(h.role, "help");
  assert.equal(h.helpFor, "validate");
  const text = usage("validate");
  assert.match(text, /^usage: ferrolb validate/);
  assert.match(text, /--namespace VALUE/);
  assert.doesNotMatch(text, /--weighted-ecmp|--config-dir/);
  assert.match(usage("all"), /--weighted-ecmp/);
  assert.equal(parseCommandLine(["--version"]).role, "version");
  assert.equal(parseCommandLine(["-h"]).role, "help");
});

Deno.test("kubeconfig: flag, else KUBECONFIG, else in-cluster, else ~/.kube/config", () => {
  const home = "/home/u";
  const exists = (p: string) => p === `${home}/.kube/config`;
  const env = (vars: Record<string, string>) => ({
    env: (n: string) => vars[n],
    exists,
  });
  assert.equal(
    parseCommandLine(["controller", "--kubeconfig", "k.yaml"], env({ HOME: home })).flags
      .kubeconfig,
    "k.yaml",
  );
  assert.equal(
    parseCommandLine(["controller"], env({ HOME: home, KUBECONFIG: "/etc/kc" })).flags.kubeconfig,
    "/etc/kc",
  );
  assert.equal(
    parseCommandLine(["speaker"], env({ HOME: home, KUBERNETES_SERVICE_HOST: "10.0.0.1" })).flags
      .kubeconfig,
    undefined,
  );
  assert.equal(
    parseCommandLine(["all"], env({ HOME: home })).flags.kubeconfig,
    `${home}/.kube/config`,
  );
  assert.equal(
    parseCommandLine(["controller"], env({ HOME: "/nohome" })).flags.kubeconfig,
    undefined,
  );
  // File mode reads no cluster: no kubeconfig is looked up.
  assert.equal(
    parseCommandLine(["all", "--config-dir", "d"], env({ HOME: home })).flags.kubeconfig,
    undefined,
  );
});

Deno.test("all --config-dir --weighted-ecmp passes the flag on to the speaker's options", async () => {
  const { fileModeFlags } = await import("./all.ts");
  const on = fileModeFlags(
    parseCommandLine(["all", "--config-dir", "d", "--node-name", "n", "--weighted-ecmp"]),
  );
  assert.ok(typeof on !== "string");
  assert.equal(on.weightedEcmp, true);
  const off = fileModeFlags(parseCommandLine(["all", "--config-dir", "d", "--node-name", "n"]));
  assert.ok(typeof off !== "string");
  assert.equal(off.weightedEcmp, false);
});
