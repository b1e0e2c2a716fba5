// @ts-check
/**
 * Every environment variable ferrolb reads: the binary's `--allow-env=` list, what
 * cluster/process_env.ts hands npm libraries as `process.env`, and what the launcher
 * (bin/permissions.mjs) passes through. Plain JavaScript so the Node launcher can import
 * the one list too.
 */

/** The variables, in the order the permission flag lists them. */
export const ENV_VARS = Object.freeze([
  "KUBECONFIG",
  "HOME",
  "KUBERNETES_SERVICE_HOST",
  "KUBERNETES_SERVICE_PORT",
  "NODE_NAME",
  "FERROLB_NAMESPACE",
]);
