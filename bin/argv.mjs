// @ts-check
/**
 * Splits a command line into flag values and positionals, one grammar for the program and
 * the launcher: `--name value`, `--name=value`, `-h`, grouped short booleans, `--` ending the
 * flags. Strict (the program, cmd/args.ts): an unknown flag, a string flag without its value
 * and a boolean flag given one are errors that name the flag. Lenient (the launcher,
 * bin/permissions.mjs): such words are skipped, so a mistake still reaches the program, which
 * explains it. `node:util`'s `parseArgs` reads the strict grammar too, but importing it loads
 * Deno's Node layer (over a megabyte of heap) into every role for one call at start; plain
 * JavaScript so the Node launcher can import it too.
 */

/**
 * How a flag takes its value; `short` is a one-letter alias, given as `-x`.
 * @typedef {{ type: string, short?: string }} ArgOption
 */

/**
 * Why a command line was refused.
 * @typedef {"unknown-flag" | "missing-value" | "unexpected-value"} ArgvErrorKind
 */

/**
 * The flags given (the last one wins when repeated) and the positionals, in order.
 * @typedef {{ values: Record<string, string | boolean>, positionals: string[] }} SplitArgv
 */

/** A refused command line: `flag` is the flag as written (`--name`, `-x`). */
export class ArgvError extends Error {
  /**
   * @param {ArgvErrorKind} kind
   * @param {string} flag
   */
  constructor(kind, flag) {
    super(
      kind === "unknown-flag"
        ? `unknown flag ${flag}`
        : kind === "missing-value"
        ? `${flag} needs a value`
        : `${flag} takes no value`,
    );
    this.name = "ArgvError";
    /** @readonly */
    this.kind = kind;
    /** @readonly */
    this.flag = flag;
  }
}

/**
 * A value that reads as a flag (`-x`, `--name`) is refused for a string flag given as
 * `--name VALUE`, so a forgotten value does not swallow the next flag; `--name=-x` gives one.
 * @param {string} arg
 */
function looksLikeFlag(arg) {
  return arg.length > 1 && arg.startsWith("-");
}

/**
 * Splits `argv` by `options` (long names as keys). Strict (the default) throws
 * {@linkcode ArgvError}; `lenient` skips what strict refuses, and takes the next word as a
 * string flag's value whatever it looks like.
 * @param {readonly string[]} argv
 * @param {Record<string, ArgOption>} options
 * @param {{ lenient?: boolean }} [mode]
 * @returns {SplitArgv}
 */
export function splitArgv(argv, options, mode = {}) {
  /** @type {SplitArgv} */
  const out = { values: {}, positionals: [] };
  /** @type {(kind: ArgvErrorKind, flag: string) => void} */
  const refuse = (kind, flag) => {
    if (!mode.lenient) throw new ArgvError(kind, flag);
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!looksLikeFlag(arg)) out.positionals.push(arg);
    else if (arg.startsWith("--")) i = longFlag(argv, i, { options, out, refuse, mode });
    else i = shortFlags(argv, i, { options, out, refuse, mode });
  }
  return out;
}

/**
 * What the flag readers share: the options, where values go, how a word is refused.
 * @typedef {{
 *   options: Record<string, ArgOption>,
 *   out: SplitArgv,
 *   refuse: (kind: ArgvErrorKind, flag: string) => void,
 *   mode: { lenient?: boolean },
 * }} Reading
 */

/**
 * The value of a string flag given without `=`: the next word, if it may be one.
 * @param {readonly string[]} argv
 * @param {number} i the flag's index
 * @param {Reading & { flag: string }} at
 * @returns {string | undefined}
 */
function nextValue(argv, i, at) {
  const next = argv[i + 1];
  if (next !== undefined && (at.mode.lenient || !looksLikeFlag(next))) return next;
  at.refuse("missing-value", at.flag);
  return undefined;
}

/**
 * Reads `--name[=value]` at `argv[i]`; returns the last index read.
 * @param {readonly string[]} argv
 * @param {number} i
 * @param {Reading} at
 */
function longFlag(argv, i, at) {
  const arg = argv[i];
  const eq = arg.indexOf("=");
  const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
  const flag = `--${name}`;
  const option = Object.hasOwn(at.options, name) ? at.options[name] : undefined;
  if (!option) {
    at.refuse("unknown-flag", flag);
    return i;
  }
  if (option.type === "boolean") {
    if (eq >= 0) at.refuse("unexpected-value", flag);
    at.out.values[name] = true;
    return i;
  }
  if (eq >= 0) {
    at.out.values[name] = arg.slice(eq + 1);
    return i;
  }
  const value = nextValue(argv, i, { ...at, flag });
  if (value === undefined) return i;
  at.out.values[name] = value;
  return i + 1;
}

/**
 * Reads `-abc` at `argv[i]` (a string short takes the rest or the next word); returns the
 * last index read.
 * @param {readonly string[]} argv
 * @param {number} i
 * @param {Reading} at
 */
function shortFlags(argv, i, at) {
  const arg = argv[i];
  for (let j = 1; j < arg.length; j++) {
    const flag = `-${arg[j]}`;
    const name = Object.keys(at.options).find((n) => at.options[n].short === arg[j]);
    if (name === undefined) {
      at.refuse("unknown-flag", flag);
      continue;
    }
    if (at.options[name].type === "boolean") {
      at.out.values[name] = true;
      continue;
    }
    const rest = arg.slice(j + 1);
    if (rest) {
      at.out.values[name] = rest;
      return i;
    }
    const value = nextValue(argv, i, { ...at, flag });
    if (value === undefined) return i;
    at.out.values[name] = value;
    return i + 1;
  }
  return i;
}
