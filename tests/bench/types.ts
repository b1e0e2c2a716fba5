/** One benchmark figure, printed as one JSON line by `deno task bench`. */
export interface BenchResult {
  bench: string;
  /** null when the figure could not be measured here; `skipped` then says why. */
  value: number | null;
  unit: string;
  /** A reference measured in the same run (e.g. GoBGP doing the same), or null. */
  baseline: number | null;
  /** value / baseline, or null without a baseline. */
  ratio: number | null;
  /** Extra figures or the reason a figure could not be measured. */
  [extra: string]: unknown;
}

/** A named group of benchmarks; `run` yields its results as they are measured. */
export interface BenchSuite {
  /** Every bench name this suite prints, so a prefix filter can skip whole suites. */
  names: string[];
  run(filter: (name: string) => boolean): AsyncIterable<BenchResult>;
}

/** Builds a result, computing the ratio from the baseline. */
export function result(
  bench: string,
  value: number | null,
  unit: string,
  options: { baseline?: number | null; extra?: Record<string, unknown> } = {},
): BenchResult {
  const baseline = options.baseline ?? null;
  const ratio = value === null || baseline === null || baseline === 0 ? null : value / baseline;
  return { bench, value, unit, baseline, ratio, ...options.extra };
}
