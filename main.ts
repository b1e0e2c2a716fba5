/**
 * ferrolb: a bare-metal LoadBalancer for Kubernetes, drop-in for MetalLB in BGP mode.
 * This file only wires: it parses the command line and starts the chosen role.
 */
import { readEnv } from "./cluster/node_env.ts";
import { parseCommandLine, type ParsedArgs, usage, UsageError } from "./cmd/args.ts";

type RoleMain = (args: ParsedArgs) => Promise<number>;

// Roles are imported lazily so `validate` does not load the Kubernetes client.
const ROLE_MAINS: Record<Exclude<ParsedArgs["role"], "help">, () => Promise<RoleMain>> = {
  controller: async () => (await import("./cmd/controller.ts")).runControllerRole,
  all: async () => (await import("./cmd/all.ts")).runAll,
  demo: async () => (await import("./cmd/demo.ts")).runDemo,
  collector: async () => (await import("./cmd/collector.ts")).runCollector,
  speaker: async () => (await import("./cmd/speaker.ts")).runSpeakerRole,
  status: async () => (await import("./cmd/status.ts")).runStatus,
  validate: async () => {
    const { runValidate } = await import("./cmd/validate.ts");
    return (args) => {
      if (args.positionals.length === 0) {
        console.error(`ferrolb: validate needs at least one DIR or FILE\n\n${usage()}`);
        return Promise.resolve(2);
      }
      return runValidate(args.positionals, {
        namespace: String(args.flags.namespace),
        write: (line) => console.log(line),
      });
    };
  },
};

/** Runs the command line and returns the process exit code. */
export async function run(argv: string[]): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseCommandLine(argv, readEnv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`ferrolb: ${err.message}\n\n${usage()}`);
      return 2;
    }
    throw err;
  }
  if (args.role === "help") {
    console.log(usage());
    return 0;
  }
  return await (await ROLE_MAINS[args.role]())(args);
}

if (import.meta.main) Deno.exit(await run(Deno.args));
