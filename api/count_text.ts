/**
 * Counts in log lines and error messages with thousands separators (100,000), written out by
 * hand: `toLocaleString` pulls ICU's number-formatting data into memory (~5 MB of resident
 * pages in a long-running process) for what is a few commas.
 */

/** `n` rounded, with a comma between groups of three digits; non-finite values as `String`. */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const digits = String(Math.abs(Math.round(n)));
  let out = "";
  for (let end = digits.length; end > 0; end -= 3) {
    const group = digits.slice(Math.max(0, end - 3), end);
    out = out === "" ? group : `${group},${out}`;
  }
  return Math.round(n) < 0 ? `-${out}` : out;
}
