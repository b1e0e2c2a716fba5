/**
 * ferrolb: a bare-metal LoadBalancer for Kubernetes, drop-in for MetalLB in BGP mode.
 * This file only wires: it parses the command line and starts the chosen role.
 */
import { readEnv } from "./cluster/node_env.ts";
import { parseCommandLine, type ParsedArgs, type Role, usage, UsageError } from "./cmd/args.ts";
import { checkAdminAddr } from "./cmd/admin.ts";
import { startMallocTrim } from "./cmd/malloc_trim.ts";
import { startTextRelease } from "./cmd/text_release.ts";
import pkg from "./package.json" with { type: "json" };

type RoleMain = (args: ParsedArgs) => Promise<number>;

// Roles are imported lazily so `validate` does not load the Kubernetes client.
const ROLE_MAINS: Record<Role, () => Promise<RoleMain>> = {
  controller: async () => (await import("./cmd/controller.ts")).runControllerRole,
  all: async () => (await import("./cmd/all.ts")).runAll,
  demo: async () => (await import("./cmd/demo.ts")).runDemo,
  collector: async () => (await import("./cmd/collector.ts")).runCollector,
  speaker: async () => (await import("./cmd/speaker.ts")).runSpeakerRole,
  status: async () => (await import("./cmd/status.ts")).runStatus,
  validate: async () => {
    const { runValidate } = await import("./cmd/validate.ts");
    return (args) =>
      runValidate(args.positionals, {
        namespace: String(args.flags.namespace),
        write: (line) => console.log(line),
      });
  },
};

/** Roles that serve /metrics: their admin address is checked before anything is created. */
const ADMIN_ROLES: ReadonlySet<Role> = new Set(["controller", "speaker", "all", "demo"]);

/** `ferrolb --version`: the package version and the Deno it runs on. */
export function versionText(): string {
  return `ferrolb ${pkg.version} (deno ${Deno.version.deno}, v8 ${Deno.version.v8})`;
}

/** Runs the command line and returns the process exit code. */
export async function run(argv: string[]): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseCommandLine(argv, readEnv);
  } catch (err) {
    if (err instanceof UsageError) {
      const who = err.role ? `ferrolb ${err.role}` : "ferrolb";
      console.error(`${who}: ${err.message}\n\n${usage(err.role)}`);
      return 2;
    }
    throw err;
  }
  if (args.role === "help") {
    console.log(usage(args.helpFor));
    return 0;
  }
  if (args.role === "version") {
    console.log(versionText());
    return 0;
  }
  if (ADMIN_ROLES.has(args.role)) {
    // A port in use must fail before the state directory or a lock is created.
    const problem = await checkAdminAddr(String(args.flags["admin-addr"]));
    if (problem) {
      console.error(`ferrolb ${args.role}: --admin-addr ${args.flags["admin-addr"]}: ${problem}`);
      return 1;
    }
  }
  // Long-running roles give freed malloc memory back as they go (a no-op without libc FFI).
  const stopTrim = ADMIN_ROLES.has(args.role) ? startMallocTrim() : undefined;
  let stopTextRelease: (() => void) | undefined;
  try {
    const main = await ROLE_MAINS[args.role]();
    // Every module is loaded now: the binary's pages that took (the module graph, npm and
    // config resolution, the V8 snapshot) are not read again by a long-running role, and
    // what each later phase touches is let go on a period too.
    if (ADMIN_ROLES.has(args.role)) stopTextRelease = startTextRelease();
    return await main(args);
  } finally {
    stopTextRelease?.();
    stopTrim?.();
  }
}

if (import.meta.main) Deno.exit(await run(Deno.args));
