/**
 * Go `time.ParseDuration` syntax (`90s`, `1m30s`, `500ms`, `1.5h`), which MetalLB users
 * write in BGPPeer timers, converted to milliseconds.
 */

/** Result of {@linkcode parseDuration}: milliseconds, or why the text is not a duration. */
export type DurationResult = { ok: true; ms: number } | { ok: false; error: string };

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

const PART = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;

/** Parses a Go duration string into milliseconds (fractions kept for `us`/`ns`). */
export function parseDuration(text: string): DurationResult {
  const bad = (why: string): DurationResult => ({
    ok: false,
    error: `invalid duration "${text}": ${why}`,
  });
  let rest = text.trim();
  if (rest.length === 0) return bad("empty");
  if (rest[0] === "-") return bad("must not be negative");
  if (rest[0] === "+") rest = rest.slice(1);
  // Go accepts a bare zero without a unit and nothing else unitless.
  if (rest === "0") return { ok: true, ms: 0 };
  if (rest.length === 0) return bad("missing number");
  let total = 0;
  while (rest.length > 0) {
    const m = PART.exec(rest);
    if (!m) {
      return /^(\d|\.)/.test(rest)
        ? bad(`missing or unknown unit in "${rest}" (use ns, us, ms, s, m or h)`)
        : bad(`expected a number at "${rest}"`);
    }
    total += Number(m[1]) * UNIT_MS[m[2]];
    rest = rest.slice(m[0].length);
  }
  if (!Number.isFinite(total)) return bad("out of range");
  return { ok: true, ms: total };
}

/** Formats milliseconds the way Go prints durations (`1m30s`, `500ms`), for messages. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  if (ms < 1000) return `${ms}ms`;
  let out = "";
  let rest = ms;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  if (h) out += `${h}h`;
  if (h || m) out += `${m}m`;
  out += `${Number((rest / 1000).toFixed(6))}s`;
  return out;
}
