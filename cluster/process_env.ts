/**
 * Confines what npm libraries see as `process.env` to the variables ferrolb is allowed to
 * read. Some of client-node's dependencies enumerate the whole environment at load time,
 * which Deno refuses under a narrow `--allow-env=…`; handing them a plain object holding
 * only our variables keeps the permission list minimal instead of widening it to `--allow-env`.
 * Import this module before anything that loads `@kubernetes/client-node`: the modules that
 * load it import this one first, so the confinement is in place before the library runs.
 */
import process from "node:process";
import { ENV_VARS, readEnv } from "./node_env.ts";

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
