/**
 * Limits on parsed input that the input cannot talk around: text size, nesting
 * depth, alias count, and the size of the tree once aliases are expanded (counted through the
 * shared references js-yaml returns, with memoization, so a "billion laughs" file is measured
 * in microseconds instead of being expanded), plus the number of objects a file may hold.
 *
 * The defaults let a generated file of 100,000 Services (27 MB, 1.9 million YAML nodes, 27
 * million characters as JSON) through with a margin of about 2.5x on size and 5x on the rest.
 */
import { formatCount } from "../api/count_text.ts";

/** The bounds one file (or one state document) must stay within. */
export interface ParseLimits {
  /** Largest text accepted, in bytes. */
  maxBytes: number;
  /** Deepest nesting of mappings and sequences, aliases expanded. */
  maxDepth: number;
  /** Most alias nodes (`*name`) in one YAML document. */
  maxAliases: number;
  /** Most nodes (mappings, sequences and scalars) in a file, aliases expanded. */
  maxNodes: number;
  /** Longest JSON rendering of a file, aliases expanded (V8 strings end near 512 Mi). */
  maxJsonChars: number;
  /** Most Kubernetes objects in a file (`kind: List` items counted one by one). */
  maxObjects: number;
}

/** Limits used when a caller gives none; see the module comment for why these. */
export const DEFAULT_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxBytes: 64 * 1024 * 1024,
  maxDepth: 100,
  maxAliases: 100_000,
  maxNodes: 10_000_000,
  maxJsonChars: 128 * 1024 * 1024,
  maxObjects: 500_000,
});

/** Result of a bounded step: the value, or the limit that was hit, in words. */
export type Bounded<T> = { ok: true; value: T } | { ok: false; reason: string };

/** Formats a count the way the error messages do (1,000,000). */
export { formatCount };

/** Fills the limits a caller left out with {@linkcode DEFAULT_LIMITS}. */
export function resolveLimits(limits: Partial<ParseLimits> = {}): ParseLimits {
  return { ...DEFAULT_LIMITS, ...limits };
}

/** The reason a text of `size` bytes is refused, or undefined when it fits. */
export function checkSize(size: number, limits: ParseLimits): string | undefined {
  if (size <= limits.maxBytes) return undefined;
  return `file is ${formatCount(size)} bytes (limit ${formatCount(limits.maxBytes)} bytes)`;
}

interface Measure {
  nodes: number;
  chars: number;
  /** Height of the subtree: 0 for a scalar. */
  height: number;
  /**
   * Whether the subtree is already what a JSON round trip would give: plain objects and
   * arrays reached once each, strings, finite numbers, booleans and null. Such a tree needs
   * no copy.
   */
  plain: boolean;
}

const TOO_DEEP = Symbol("too deep");

/** A character JSON escapes: a quote, a backslash, a control character or a surrogate. */
// deno-lint-ignore no-control-regex -- control characters are exactly what JSON escapes
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/** `JSON.stringify(s).length`, without making the string (one test for the usual text). */
export function jsonStringLength(s: string): number {
  if (!JSON_ESCAPED.test(s)) return s.length + 2;
  let n = 2;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A quote, a backslash and \b \t \n \f \r take two characters; other controls \u00XX.
    if (c === 0x22 || c === 0x5c || (c >= 0x08 && c <= 0x0d && c !== 0x0b)) n += 2;
    else if (c < 0x20) n += 6;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a pair stays as it is
      i++;
    } else if (c >= 0xd800 && c <= 0xdfff) n += 6; // a lone surrogate: \udXXX
    else n += 1;
  }
  return n;
}

/** JSON characters of a scalar (as the limits have always counted them). */
function scalarChars(v: unknown): number {
  return typeof v === "string" ? jsonStringLength(v) : v === undefined ? 4 : String(v).length;
}

/** Whether a JSON round trip gives the scalar back as it is. */
function plainScalar(v: unknown): boolean {
  return v === null || typeof v === "string" || typeof v === "boolean" ||
    (typeof v === "number" && Number.isFinite(v) && !Object.is(v, -0));
}

/** Whether `o` is a plain object or array, as JSON.parse makes them. */
function plainContainer(o: object): boolean {
  const proto = Object.getPrototypeOf(o);
  return Array.isArray(o) ? proto === Array.prototype : proto === Object.prototype;
}

/**
 * Counts a parsed tree as if its aliases were expanded: nodes, JSON characters and height.
 * Every distinct object is measured once (memoized), and the descent stops past `maxDepth`,
 * so recursion stays shallow and a cycle (a recursive alias) is reported as too deep. Scalars
 * are counted in place: a 100,000-Service file has ~2 million of them, and a record or a
 * JSON string made for each was most of what a parse allocated.
 */
function measure(root: unknown, maxDepth: number): Measure | typeof TOO_DEEP {
  if (root === null || typeof root !== "object") {
    return { nodes: 1, chars: scalarChars(root), height: 0, plain: plainScalar(root) };
  }
  const memo = new Map<object, Measure>();
  // Adds one entry of a container measured as `m` at `depth`: false when too deep.
  const add = (m: Measure, child: unknown, keyChars: number, depth: number): boolean => {
    if (child === null || typeof child !== "object") {
      m.nodes += 1;
      m.chars += scalarChars(child) + 1 + keyChars;
      if (!plainScalar(child)) m.plain = false;
      return true;
    }
    const c = visit(child, depth + 1);
    if (c === TOO_DEEP) return false;
    m.nodes += c.nodes;
    m.chars += c.chars + 1 + keyChars;
    m.height = Math.max(m.height, c.height + 1);
    if (!c.plain) m.plain = false;
    return true;
  };
  const visit = (value: object, depth: number): Measure | typeof TOO_DEEP => {
    const known = memo.get(value);
    if (known) {
      // Reached twice: an alias, which the copy turns into two trees.
      known.plain = false;
      return depth + known.height > maxDepth ? TOO_DEEP : known;
    }
    if (depth >= maxDepth) return TOO_DEEP;
    const m: Measure = { nodes: 1, chars: 2, height: 1, plain: plainContainer(value) };
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) if (!add(m, value[i], 0, depth)) return TOO_DEEP;
    } else {
      const o = value as Record<string, unknown>;
      // for-in, not Object.keys: no list per object. A plain object's prototype has no
      // enumerable keys; another prototype's are skipped, as Object.keys would.
      for (const key in o) {
        if (!Object.hasOwn(o, key)) continue;
        if (!add(m, o[key], jsonStringLength(key) + 1, depth)) return TOO_DEEP;
      }
    }
    memo.set(value, m);
    return m;
  };
  // A subtree reached a second time is not plain, nor is any subtree holding it: the root
  // holds every one, so one alias anywhere makes the whole tree be copied.
  return visit(root, 0);
}

/**
 * The expansion budget of one file: every document admitted through it adds to the same node
 * and character totals, so splitting a bomb over many documents does not help.
 */
export interface ExpansionBudget {
  /** Measures `doc` with aliases expanded and, within the limits, returns a plain deep copy. */
  expand(doc: unknown): Bounded<unknown>;
  /** Adds `count` Kubernetes objects; the reason when the file now holds too many. */
  addObjects(count: number): string | undefined;
}

/** Creates the {@linkcode ExpansionBudget} for one file. */
export function createExpansionBudget(limits: ParseLimits): ExpansionBudget {
  let nodes = 0;
  let chars = 0;
  let objects = 0;
  return {
    expand(doc) {
      const m = measure(doc, limits.maxDepth);
      if (m === TOO_DEEP) {
        return {
          ok: false,
          reason:
            `nesting through aliases exceeds depth ${limits.maxDepth} (limit ${limits.maxDepth})`,
        };
      }
      nodes += m.nodes;
      chars += m.chars;
      if (nodes > limits.maxNodes) {
        return {
          ok: false,
          reason: `YAML alias expansion reaches ${formatCount(nodes)} nodes (limit ${
            formatCount(limits.maxNodes)
          })`,
        };
      }
      if (chars > limits.maxJsonChars) {
        return {
          ok: false,
          reason: `YAML alias expansion reaches ${formatCount(chars)} characters (limit ${
            formatCount(limits.maxJsonChars)
          })`,
        };
      }
      // Within the limits, so this copy is bounded; it also drops the shared references and
      // turns what JSON has no form for (NaN, ±Infinity, -0, objects not plain) into what it
      // reads back. A tree that is plain already is what the copy would give.
      if (m.plain) return { ok: true, value: doc };
      return { ok: true, value: JSON.parse(JSON.stringify(doc ?? null)) };
    },
    addObjects(count) {
      objects += count;
      if (objects <= limits.maxObjects) return undefined;
      return `file holds more than ${formatCount(limits.maxObjects)} objects (limit ${
        formatCount(limits.maxObjects)
      })`;
    },
  };
}

/**
 * Parses a JSON text within `limits` (size, depth, nodes): the state file and other JSON the
 * program reads. JSON has no aliases, so the parsed tree is measured as it is.
 */
export function parseJsonBounded(text: string, limits: ParseLimits): Bounded<unknown> {
  const parsed = parseJsonSized(text, limits);
  if (!parsed.ok) return parsed;
  const over = jsonBoundsProblem(parsed.value, limits);
  return over === undefined ? parsed : { ok: false, reason: over };
}

/**
 * JSON text within the size bound, parsed; no walk of the result. For a caller that bounds
 * the parsed value itself (the state file checks its Services by their fixed shape).
 */
export function parseJsonSized(text: string, limits: ParseLimits): Bounded<unknown> {
  const tooBig = checkSize(text.length, limits);
  if (tooBig) return { ok: false, reason: tooBig };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, reason: `not JSON (${(err as Error).message})` };
  }
}

/** Why the parsed JSON `doc` is deeper or larger than `limits` allow, or undefined. */
export function jsonBoundsProblem(
  doc: unknown,
  limits: Pick<ParseLimits, "maxDepth" | "maxNodes">,
): string | undefined {
  const m = measure(doc, limits.maxDepth);
  if (m === TOO_DEEP) return `nesting exceeds depth ${limits.maxDepth}`;
  if (m.nodes > limits.maxNodes) {
    return `JSON holds ${formatCount(m.nodes)} nodes (limit ${formatCount(limits.maxNodes)})`;
  }
  return undefined;
}

/**
 * Bounds on one object read from the Kubernetes API. The API server already caps an object's
 * size (etcd refuses requests over ~1.5 MiB) and JSON has no aliases, so only nesting and node
 * count are checked: a deeply nested or enormous object never reaches the roles' code.
 */
export const API_OBJECT_LIMITS: Readonly<Pick<ParseLimits, "maxDepth" | "maxNodes">> = Object
  .freeze({ maxDepth: 64, maxNodes: 200_000 });

/** Why `obj` (one API object) is over `limits`, or undefined when it fits. */
export function checkObjectBounds(
  obj: unknown,
  limits: Pick<ParseLimits, "maxDepth" | "maxNodes"> = API_OBJECT_LIMITS,
): string | undefined {
  const m = measure(obj, limits.maxDepth);
  if (m === TOO_DEEP) return `nesting exceeds depth ${limits.maxDepth}`;
  if (m.nodes > limits.maxNodes) {
    return `object holds ${formatCount(m.nodes)} nodes (limit ${formatCount(limits.maxNodes)})`;
  }
  return undefined;
}

/**
 * Reads a text file but never more than `limits.maxBytes` of it, even if it grows while being
 * read: a file over the limit is refused without being loaded. Throws like
 * `Deno.readTextFile` (NotFound, PermissionDenied) and a plain Error naming the limit.
 */
export async function readTextBounded(path: string, limits: ParseLimits): Promise<string> {
  using file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  const tooBig = checkSize(size, limits);
  if (tooBig) throw new Error(tooBig);
  // Read until the end or one byte past the limit, whatever the stat said: the file may be
  // replaced or grow while it is read. Each read of at most 1 MiB is decoded as it comes, so
  // the main thread never decodes tens of MB in one go (reads are async: the loop runs between).
  const decoder = new TextDecoder();
  const parts: string[] = [];
  let total = 0;
  while (total <= limits.maxBytes) {
    const want = Math.max(size - total + 1, 64 * 1024);
    const buf = new Uint8Array(Math.min(want, 1 << 20, limits.maxBytes + 1 - total));
    const n = await file.read(buf);
    if (n === null) break;
    total += n;
    if (total > limits.maxBytes) break;
    parts.push(decoder.decode(buf.subarray(0, n), { stream: true }));
  }
  if (total > limits.maxBytes) {
    throw new Error(`file grew past ${formatCount(limits.maxBytes)} bytes while being read`);
  }
  parts.push(decoder.decode());
  return parts.join("");
}
