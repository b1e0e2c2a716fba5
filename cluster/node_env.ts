/**
 * Reading the environment variables ferrolb may read. Kept apart from cluster/process_env.ts,
 * which needs `node:process`: loading Deno's Node layer costs every role ~1.6 MB of heap,
 * and only the roles that talk to an API server load an npm library that reads `process.env`.
 */
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
