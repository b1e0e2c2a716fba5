/**
 * Shapes shared by the soak runner and the soak modules: a soak yields figures in the
 * benchmark line format plus the promises each figure broke.
 */
import { type BenchResult, result } from "../bench/types.ts";

/** What a soak is told about the run. */
export interface SoakContext {
  /** Smaller counts for CI; same code paths. */
  short: boolean;
  /** Seed for every random choice, printed so a failure can be replayed. */
  seed: number;
  /** Progress lines go to stderr, never to the JSON output. */
  log(message: string, fields?: Record<string, unknown>): void;
}

/** One soak figure: a benchmark line plus the promises it broke (empty when kept). */
export interface SoakFigure extends BenchResult {
  /** Each broken promise, in words; the runner exits non-zero when any is present. */
  broken: string[];
}

/** A soak: a name the prefix filter matches and a run that yields its figures. */
export interface Soak {
  name: string;
  run(ctx: SoakContext): AsyncIterable<SoakFigure>;
}

/** Builds a figure; `broken` lists the promises this figure breaks. */
export function figure(
  bench: string,
  value: number | null,
  unit: string,
  options: { broken?: string[]; extra?: Record<string, unknown> } = {},
): SoakFigure {
  return { ...result(bench, value, unit, { extra: options.extra }), broken: options.broken ?? [] };
}

/** A figure for a soak that cannot run here, with the reason; it breaks no promise. */
export function skipped(bench: string, unit: string, reason: string): SoakFigure {
  return figure(bench, null, unit, { extra: { skipped: reason } });
}

/** A small seeded PRNG (mulberry32) so a failing run can be replayed from its seed. */
export class Rng {
  #s: number;

  /** Starts the sequence at `seed`. */
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** One element of `items`. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/**
 * Resident set size of process `pid` in bytes, or null when it is gone. Asks `ps`, because
 * Deno wants --allow-all to read another process's /proc entry.
 */
export async function rssBytes(pid: number): Promise<number | null> {
  try {
    const o = await new Deno.Command("ps", { args: ["-o", "rss=", "-p", String(pid)] }).output();
    const kb = Number(new TextDecoder().decode(o.stdout).trim());
    return o.code === 0 && kb > 0 ? kb * 1024 : null;
  } catch {
    return null;
  }
}

/** Polls `fn` until truthy or `timeoutMs` passes; returns the value or undefined on timeout. */
export async function pollUntil<T>(
  fn: () => T | Promise<T>,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<T | undefined> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch {
      // a probe failing is the same as "not yet"
    }
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}
