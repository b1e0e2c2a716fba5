/**
 * Confines what npm libraries see as `process.env` to the variables ferrolb is allowed to
 * read. Some of client-node's dependencies enumerate the whole environment at load time,
 * which Deno refuses under a narrow `--allow-env=…`; handing them a plain object holding
 * only our variables keeps the permission list minimal instead of widening it to `--allow-env`.
 * Import this module before anything that loads `@kubernetes/client-node`.
 */
import process from "node:process";
import { ENV_VARS } from "./env_vars.mjs";

export { ENV_VARS };

/** Reads an environment variable, treating one we may not read as unset. */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** Replaces `process.env` with a plain object of the allowed variables that are set. */
export function confineProcessEnv(names: readonly string[] = ENV_VARS): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of names) {
    const value = readEnv(name);
    if (value !== undefined) env[name] = value;
  }
  Object.defineProperty(process, "env", {
    value: env,
    configurable: true,
    writable: true,
    enumerable: true,
  });
  return env;
}

confineProcessEnv();
