/**
 * The text exposition format of a registry, written as a generator of chunks: a family such
 * as `metallb_speaker_announced` has one series per Service, and rendering 100,000 of them in
 * one call held the event loop ~200 ms and built ~100 MiB of rows, lines and text on every
 * scrape. Here the rows are read at once (a consistent scrape) into two flat arrays, sorted
 * in slices (a list already in order is only checked), and written out a chunk at a time.
 */
import { sortSliced } from "../addr/sort_sliced.ts";

/** A sample value; bigint for counts beyond Number.MAX_SAFE_INTEGER. */
type Value = number | bigint;

/** What the renderer reads of one family (api/metrics.ts `Family`). */
export interface RenderFamily {
  readonly help: string;
  readonly type: string;
  readonly labelNames: readonly string[];
  /** The value of the unlabelled series, for a family without labels. */
  readonly unlabelled: Value | undefined;
  /** Calls `row` for every series: its label values in `labelNames` order, and its value. */
  forEachRow(row: (values: readonly string[], value: Value) => void): void;
}

/** Text of about this many characters goes out as one chunk. */
const CHUNK_CHARS = 64 * 1024;

/** Formats a value as Prometheus expects (Go float syntax for specials). */
export function formatValue(v: Value): string {
  if (typeof v === "bigint") return v.toString();
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/**
 * The exposition text of `families` (in the order given), as chunks of text; `null` marks a
 * point where the caller may let the event loop in (between chunks it always may).
 */
export function* renderChunks(
  families: Iterable<[string, RenderFamily]>,
): Generator<string | null, void> {
  let out = "";
  for (const [name, family] of families) {
    out += `# HELP ${name} ${escapeHelp(family.help)}\n# TYPE ${name} ${family.type}\n`;
    if (family.labelNames.length === 0) {
      // Unlabelled metrics exist from registration, as in client_golang, so a scrape
      // shows 0 rather than a missing series that alerts would treat as absent.
      out += `${name} ${formatValue(family.unlabelled ?? 0)}\n`;
      continue;
    }
    const rows = yield* sortedRows(family);
    const heads = family.labelNames.map((l, i) => `${i === 0 ? "{" : ","}${l}="`);
    const width = heads.length;
    for (let r = 0; r < rows.order.length; r++) {
      const at = rows.order[r] * width;
      let line = name;
      for (let i = 0; i < width; i++) {
        line += heads[i] + escapeLabelValue(rows.values[at + i]) + '"';
      }
      out += `${line}} ${formatValue(rows.nums[rows.order[r]])}\n`;
      if (out.length >= CHUNK_CHARS) {
        yield out;
        out = "";
      }
    }
  }
  if (out) yield out;
}

/** A family's series read at once, label values flat (`labelNames.length` per row), in order. */
function* sortedRows(
  family: RenderFamily,
): Generator<null, { values: string[]; nums: Value[]; order: number[] }> {
  const width = family.labelNames.length;
  const values: string[] = [];
  const nums: Value[] = [];
  family.forEachRow((vs, value) => {
    for (let i = 0; i < width; i++) values.push(vs[i]);
    nums.push(value);
  });
  const order = Array.from({ length: nums.length }, (_, i) => i);
  const compare = (a: number, b: number) => {
    for (let i = 0, x = a * width, y = b * width; i < width; i++, x++, y++) {
      if (values[x] !== values[y]) return values[x] < values[y] ? -1 : 1;
    }
    return 0;
  };
  // The owners of large families keep their rows in order already: sortSliced then only
  // checks that, in slices.
  const sorting = sortSliced(order, compare);
  for (let r = sorting.next(); !r.done; r = sorting.next()) yield null;
  return { values, nums, order };
}
