/**
 * ferrolb: a bare-metal LoadBalancer for Kubernetes, drop-in for MetalLB in BGP mode.
 * This file only wires: it parses the command line and starts the chosen role.
 */
import { parseCommandLine, type ParsedArgs, usage, UsageError } from "./cmd/args.ts";

type RoleMain = (args: ParsedArgs) => Promise<number>;

// Roles are imported lazily so `validate` does not load the Kubernetes client.
const ROLE_MAINS: Partial<Record<ParsedArgs["role"], () => Promise<RoleMain>>> = {};

function envOf(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined; // not in --allow-env: treat as unset
  }
}

/** Runs the command line and returns the process exit code. */
export async function run(argv: string[]): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseCommandLine(argv, envOf);
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
  const load = ROLE_MAINS[args.role];
  if (!load) {
    console.error(`ferrolb: role "${args.role}" is not available in this build yet`);
    return 1;
  }
  return await (await load())(args);
}

if (import.meta.main) Deno.exit(await run(Deno.args));
