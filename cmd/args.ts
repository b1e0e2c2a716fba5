/**
 * Command-line parsing for `ferrolb <role> [flags]`. Kept apart from main.ts so the
 * usage text and error paths are unit-tested.
 */
import { parseArgs } from "node:util";

/** Roles and commands the binary offers. */
export const ROLES = {
  controller: "assign LoadBalancer IPs (one active per cluster)",
  speaker: "announce Service IPs over BGP (one per node)",
  all: "controller and speaker in one process",
  collector: "passive BGP receiver that logs routes and serves them as JSON",
  validate: "check manifests: ferrolb validate DIR|FILE...",
  status: "print a running instance's status: ferrolb status [--addr HOST:PORT]",
  demo: "run the quickstart demo on a directory: collector + all, print what is announced",
} as const;

/** A role or command name. */
export type Role = keyof typeof ROLES;

interface FlagSpec {
  type: "string" | "boolean";
  help: string;
  default?: string | boolean;
  env?: string;
}

/** Every flag, with its help and the environment variable it may come from. */
export const FLAGS: Record<string, FlagSpec> = {
  role: { type: "string", help: "role, instead of the first argument" },
  "config-dir": {
    type: "string",
    help: "read manifests from this directory instead of the Kubernetes API",
  },
  "state-dir": {
    type: "string",
    help: "keep assignments here (file mode; default .ferrolb-state)",
  },
  "node-name": { type: "string", help: "this node's name", env: "NODE_NAME" },
  namespace: {
    type: "string",
    help: "install namespace of the metallb.io objects",
    default: "metallb-system",
    env: "FERROLB_NAMESPACE",
  },
  kubeconfig: { type: "string", help: "kubeconfig file (else in-cluster)", env: "KUBECONFIG" },
  "lb-class": { type: "string", help: "handle only Services of this loadBalancerClass" },
  "admin-addr": {
    type: "string",
    help: "HOST:PORT of /metrics, /healthz, /readyz, /status",
    default: "127.0.0.1:7472",
  },
  addr: { type: "string", help: "status: HOST:PORT of the instance to ask" },
  listen: {
    type: "string",
    help: "collector (and demo, when no BGPPeer in DIR is on loopback): HOST:PORT to accept BGP on",
    default: "127.0.0.1:1179",
  },
  asn: { type: "string", help: "collector: local AS number", default: "65001" },
  "router-id": {
    type: "string",
    help:
      "collector: router ID; speaker/all: fallback when neither BGPPeer.routerID nor the Node's InternalIP gives one",
    default: "127.0.0.1",
  },
  "http-addr": { type: "string", help: "collector: HOST:PORT of the JSON looking glass" },
  "log-level": { type: "string", help: "debug, info, warn or error", default: "info" },
  "weighted-ecmp": {
    type: "boolean",
    help:
      "speaker: attach link-bandwidth communities to externalTrafficPolicy: Local routes (weighted ECMP)",
    default: false,
  },
  "exit-when-converged": {
    type: "boolean",
    help: "demo: exit 0 once every Service is announced (for tests)",
    default: false,
  },
  help: { type: "boolean", help: "show this help", default: false },
};

/** Parsed command line. */
export interface ParsedArgs {
  role: Role | "help";
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** A command-line mistake: exit code 2 with a one-line reason and the usage. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** The usage text printed by `--help` and after a usage error. */
export function usage(): string {
  const lines = ["usage: ferrolb <role> [flags]   (or --role=<role>)", "", "roles:"];
  for (const [name, help] of Object.entries(ROLES)) lines.push(`  ${name.padEnd(12)} ${help}`);
  lines.push("", "flags:");
  for (const [name, spec] of Object.entries(FLAGS)) {
    const arg = spec.type === "string" ? ` VALUE` : "";
    const extra = [
      spec.default !== undefined && spec.type === "string" ? `default ${spec.default}` : "",
      spec.env ? `env ${spec.env}` : "",
    ].filter(Boolean).join(", ");
    lines.push(`  --${(name + arg).padEnd(24)} ${spec.help}${extra ? ` (${extra})` : ""}`);
  }
  return lines.join("\n");
}

/** Parses argv; `env` supplies flag values from environment variables. */
export function parseCommandLine(
  argv: string[],
  env: (name: string) => string | undefined = () => undefined,
): ParsedArgs {
  const options: Record<string, { type: "string" | "boolean" }> = {};
  for (const [name, spec] of Object.entries(FLAGS)) options[name] = { type: spec.type };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    // node:util reports unknown flags with a long sentence; keep only the first line.
    throw new UsageError(String((err as Error).message).split("\n")[0]);
  }
  const flags: Record<string, string | boolean | undefined> = { ...parsed.values };
  const positionals = [...parsed.positionals];
  if (flags.help) return { role: "help", flags, positionals };
  const roleName = (flags.role as string | undefined) ?? positionals.shift();
  if (roleName === undefined) throw new UsageError("missing role");
  if (!(roleName in ROLES)) throw new UsageError(`unknown role "${roleName}"`);
  for (const [name, spec] of Object.entries(FLAGS)) {
    if (flags[name] !== undefined) continue;
    const fromEnv = spec.env ? env(spec.env) : undefined;
    flags[name] = fromEnv ?? spec.default;
  }
  return { role: roleName as Role, flags, positionals };
}
