/**
 * Splits a command line into flag values and positionals, strictly: an unknown flag, a string
 * flag without its value and a boolean flag given one are errors that name the flag. The
 * grammar is the usual one (`--name value`, `--name=value`, `-h`, grouped short booleans,
 * `--` ending the flags). `node:util`'s `parseArgs` does the same, but importing it loads
 * Deno's Node layer (over a megabyte of heap) into every role for one call at start.
 */

/** How a flag takes its value. */
export interface ArgOption {
  type: "string" | "boolean";
  /** A one-letter alias, given as `-x`. */
  short?: string;
}

/** Why a command line was refused. */
export type ArgvErrorKind = "unknown-flag" | "missing-value" | "unexpected-value";

/** A refused command line: `flag` is the flag as written (`--name`, `-x`). */
export class ArgvError extends Error {
  override name = "ArgvError";
  constructor(readonly kind: ArgvErrorKind, readonly flag: string) {
    super(
      kind === "unknown-flag"
        ? `unknown flag ${flag}`
        : kind === "missing-value"
        ? `${flag} needs a value`
        : `${flag} takes no value`,
    );
  }
}

/** The flags given (the last one wins when repeated) and the positionals, in order. */
export interface SplitArgv {
  values: Record<string, string | boolean>;
  positionals: string[];
}

/**
 * A value that reads as a flag (`-x`, `--name`) is refused for a string flag given as
 * `--name VALUE`, so a forgotten value does not swallow the next flag; `--name=-x` gives one.
 */
function looksLikeFlag(arg: string): boolean {
  return arg.length > 1 && arg.startsWith("-");
}

/** Splits `argv` by `options` (long names as keys). Throws {@linkcode ArgvError}. */
export function splitArgv(argv: readonly string[], options: Record<string, ArgOption>): SplitArgv {
  const values: Record<string, string | boolean> = {};
  const positionals: string[] = [];
  const byShort = new Map<string, string>();
  for (const [name, o] of Object.entries(options)) if (o.short) byShort.set(o.short, name);
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!looksLikeFlag(arg)) {
      positionals.push(arg);
      continue;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const option = Object.hasOwn(options, name) ? options[name] : undefined;
      if (!option) throw new ArgvError("unknown-flag", `--${name}`);
      if (option.type === "boolean") {
        if (eq >= 0) throw new ArgvError("unexpected-value", `--${name}`);
        values[name] = true;
      } else if (eq >= 0) {
        values[name] = arg.slice(eq + 1);
      } else {
        const next = argv[i + 1];
        if (next === undefined || looksLikeFlag(next)) {
          throw new ArgvError("missing-value", `--${name}`);
        }
        values[name] = next;
        i++;
      }
      continue;
    }
    i = shortFlags(argv, i, { options, byShort, values });
  }
  return { values, positionals };
}

/** Reads `-abc` at `argv[i]` (string shorts take the rest or the next word); the last index read. */
function shortFlags(
  argv: readonly string[],
  i: number,
  into: {
    options: Record<string, ArgOption>;
    byShort: Map<string, string>;
    values: SplitArgv["values"];
  },
): number {
  const arg = argv[i];
  for (let j = 1; j < arg.length; j++) {
    const name = into.byShort.get(arg[j]);
    if (name === undefined) throw new ArgvError("unknown-flag", `-${arg[j]}`);
    if (into.options[name].type === "boolean") {
      into.values[name] = true;
      continue;
    }
    const rest = arg.slice(j + 1);
    if (rest) {
      into.values[name] = rest;
      return i;
    }
    const next = argv[i + 1];
    if (next === undefined || looksLikeFlag(next)) {
      throw new ArgvError("missing-value", `-${arg[j]}`);
    }
    into.values[name] = next;
    return i + 1;
  }
  return i;
}
