/**
 * Command-line parsing for `ferrolb <role> [flags]`. Each role accepts only its own flags
 * (cmd/flags.json, shared with the launcher in bin/), so a flag given to the wrong role is
 * refused with the reason instead of being silently ignored.
 */
import spec from "./flags.json" with { type: "json" };
import { type ArgOption, ArgvError, splitArgv } from "../bin/argv.mjs";
import { resolveKubeconfig } from "../bin/permissions.mjs";
import { AddressError, parseHostPort } from "./admin.ts";
import { didYouMean } from "../api/config.ts";

/** Roles and commands the binary offers, with their one-line help. */
export const ROLES: Record<Role, string> = Object.fromEntries(
  Object.entries(spec.roles).map(([name, r]) => [name, r.summary]),
) as Record<Role, string>;

/** A role or command name. */
export type Role = keyof typeof spec.roles;

interface FlagSpec {
  type: "string" | "boolean";
  help: string;
  default?: string | boolean;
  env?: string;
}

/** Every role flag, with its help and the environment variable it may come from. */
export const FLAGS: Record<string, FlagSpec> = spec.flags as Record<string, FlagSpec>;

/** Flags every role accepts. */
const GLOBAL_FLAGS: Record<string, ArgOption> = {
  role: { type: "string" },
  help: { type: "boolean", short: "h" },
  version: { type: "boolean" },
};

/** Parsed command line. */
export interface ParsedArgs {
  role: Role | "help" | "version";
  flags: Record<string, string | boolean | undefined>;
  positionals: string[];
  /** With `role: "help"`: the role whose help was asked for, if any. */
  helpFor?: Role;
}

/** A command-line mistake: exit code 2 with a one-line reason and the usage. */
export class UsageError extends Error {
  override name = "UsageError";
  /** The role the mistake was made for, so its usage is printed. */
  role?: Role;
  constructor(message: string, role?: Role) {
    super(message);
    if (role) this.role = role;
  }
}

function isRole(name: string): name is Role {
  return Object.hasOwn(spec.roles, name);
}

function flagsOf(role: Role): readonly string[] {
  return spec.roles[role].flags;
}

function flagLine(name: string): string {
  const s = FLAGS[name];
  const arg = s.type === "string" ? " VALUE" : "";
  const extra = [
    s.default !== undefined && s.type === "string" ? `default ${s.default}` : "",
    s.env ? `env ${s.env}` : "",
  ].filter(Boolean).join(", ");
  return `  --${(name + arg).padEnd(26)} ${s.help}${extra ? ` (${extra})` : ""}`;
}

/** The usage text: every role, or one role with only its flags. */
export function usage(role?: Role): string {
  if (role) {
    const r = spec.roles[role];
    return [
      `usage: ${r.usage}`,
      "",
      r.summary,
      "",
      "flags:",
      ...r.flags.map(flagLine),
      `  ${"-h, --help".padEnd(28)} show this help`,
    ].join("\n");
  }
  const lines = [
    "usage: ferrolb <role> [flags]   (or --role=<role>)",
    "       ferrolb <role> --help    (the role's flags)",
    "       ferrolb --version",
    "",
    "roles:",
  ];
  for (const [name, help] of Object.entries(ROLES)) lines.push(`  ${name.padEnd(12)} ${help}`);
  return lines.join("\n");
}

function rolesWith(flag: string): string[] {
  return (Object.keys(spec.roles) as Role[]).filter((r) => flagsOf(r).includes(flag));
}

/** Options of {@linkcode parseCommandLine}. */
export interface ParseOptions {
  /** Reads an environment variable (flag defaults, KUBECONFIG, HOME). */
  env?: (name: string) => string | undefined;
  /** True when a file exists and may be read (for `~/.kube/config`). */
  exists?: (path: string) => boolean;
}

function fileExists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** A refused command line as a usage error; an unknown flag gets the nearest known one. */
function parseError(err: ArgvError): UsageError {
  if (err.kind !== "unknown-flag") return new UsageError(err.message);
  const near = didYouMean(err.flag.replace(/^-+/, ""), [...Object.keys(FLAGS), "help", "version"]);
  return new UsageError(`${err.message}${near ? ` (did you mean --${near}?)` : ""}`);
}

/**
 * Parses argv: the role's flags only, values checked (addresses, log level, positionals).
 * Throws {@linkcode UsageError}; nothing is created or opened here.
 */
export function parseCommandLine(
  argv: string[],
  envOrOptions: ((name: string) => string | undefined) | ParseOptions = {},
): ParsedArgs {
  const options = typeof envOrOptions === "function" ? { env: envOrOptions } : envOrOptions;
  const env = options.env ?? (() => undefined);
  const parseOptions: Record<string, ArgOption> = { ...GLOBAL_FLAGS };
  for (const [name, s] of Object.entries(FLAGS)) parseOptions[name] = { type: s.type };
  let parsed;
  try {
    parsed = splitArgv(argv, parseOptions);
  } catch (err) {
    throw err instanceof ArgvError ? parseError(err) : err;
  }
  const given: Record<string, string | boolean | undefined> = { ...parsed.values };
  const positionals = [...parsed.positionals];
  if (given.version) return { role: "version", flags: given, positionals };
  const roleName = (given.role as string | undefined) ?? positionals.shift();
  if (roleName === undefined) {
    if (given.help) return { role: "help", flags: given, positionals };
    throw new UsageError("missing role");
  }
  if (!isRole(roleName)) {
    const near = didYouMean(roleName, Object.keys(spec.roles));
    throw new UsageError(`unknown role "${roleName}"${near ? ` (did you mean ${near}?)` : ""}`);
  }
  const role = roleName;
  if (given.help) return { role: "help", flags: given, positionals, helpFor: role };
  checkFlags(role, given, positionals);

  const flags: Record<string, string | boolean | undefined> = {};
  for (const name of flagsOf(role)) {
    const s = FLAGS[name];
    flags[name] = given[name] ?? (s.env ? env(s.env) : undefined) ?? s.default;
  }
  checkValues(role, flags);
  if (
    (role === "controller" || role === "speaker" || (role === "all" && !flags["config-dir"])) &&
    typeof given.kubeconfig !== "string"
  ) {
    flags.kubeconfig = resolveKubeconfig({
      env,
      cwd: "",
      exists: options.exists ?? fileExists,
    });
  }
  return { role, flags, positionals };
}

function checkFlags(
  role: Role,
  given: Record<string, string | boolean | undefined>,
  positionals: string[],
): void {
  for (const name of Object.keys(given)) {
    if (name in GLOBAL_FLAGS || flagsOf(role).includes(name)) continue;
    const where = rolesWith(name);
    throw new UsageError(
      `--${name} does not apply to ${role}${
        where.length ? ` (it is for ${where.join(", ")})` : ""
      }`,
      role,
    );
  }
  const takes = (spec.roles[role] as { positionals?: string }).positionals;
  if (role === "validate" && positionals.length === 0) {
    throw new UsageError("validate needs at least one DIR or FILE", role);
  }
  if (!takes && positionals.length > 0) {
    throw new UsageError(`unexpected argument "${positionals[0]}": ${role} takes none`, role);
  }
  if (role === "status" && positionals.length > 0 && given.history !== true) {
    throw new UsageError(`unexpected argument "${positionals[0]}": give it with --history`, role);
  }
  if (role === "status" && positionals.length > 1) {
    throw new UsageError(`unexpected argument "${positionals[1]}": one IP or Service`, role);
  }
  if (role === "demo" && positionals.length > 1) {
    throw new UsageError(`unexpected argument "${positionals[1]}": demo takes one DIR`, role);
  }
  if (role === "all") {
    if (given["state-dir"] !== undefined && given["config-dir"] === undefined) {
      throw new UsageError("--state-dir applies only with --config-dir (file mode)", role);
    }
    if (given.kubeconfig !== undefined && given["config-dir"] !== undefined) {
      throw new UsageError(
        "--kubeconfig does not apply with --config-dir (file mode reads no cluster)",
        role,
      );
    }
  }
  for (const [name, value] of Object.entries(given)) {
    if (value === "") throw new UsageError(`--${name} needs a value`, role);
  }
}

const LEVELS = ["debug", "info", "warn", "error"];

function checkValues(role: Role, flags: Record<string, string | boolean | undefined>): void {
  const level = flags["log-level"];
  if (typeof level === "string" && !LEVELS.includes(level)) {
    throw new UsageError(`--log-level: "${level}" is not debug, info, warn or error`, role);
  }
  for (const name of ["admin-addr", "addr", "listen", "http-addr"]) {
    const v = flags[name];
    if (typeof v !== "string") continue;
    try {
      parseHostPort(v);
    } catch (err) {
      if (err instanceof AddressError) throw new UsageError(`--${name}: ${err.message}`, role);
      throw err;
    }
  }
}
