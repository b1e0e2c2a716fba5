import assert from "node:assert/strict";
import { formatDuration, parseDuration } from "./duration.ts";

Deno.test("Go durations parse to milliseconds", () => {
  const table: [string, number][] = [
    ["90s", 90_000],
    ["1m30s", 90_000],
    ["500ms", 500],
    ["1h", 3_600_000],
    ["1.5s", 1500],
    ["300us", 0.3],
    ["300µs", 0.3],
    ["1500000ns", 1.5],
    ["0", 0],
    ["0s", 0],
    ["2h45m", 9_900_000],
    [".5m", 30_000],
    ["+3s", 3000],
    ["1m0.5s", 60_500],
  ];
  for (const [text, ms] of table) {
    const r = parseDuration(text);
    assert.ok(r.ok, `${text}: ${!r.ok && r.error}`);
    assert.ok(Math.abs(r.ms - ms) < 1e-9, `${text}: got ${r.ms}, want ${ms}`);
  }
});

Deno.test("bad durations give a clear error", () => {
  const table: [string, string][] = [
    ["", 'invalid duration "": empty'],
    ["90", 'invalid duration "90": missing or unknown unit in "90" (use ns, us, ms, s, m or h)'],
    ["5d", 'invalid duration "5d": missing or unknown unit in "5d" (use ns, us, ms, s, m or h)'],
    ["s", 'invalid duration "s": expected a number at "s"'],
    ["-1s", 'invalid duration "-1s": must not be negative'],
    ["1s2", 'invalid duration "1s2": missing or unknown unit in "2" (use ns, us, ms, s, m or h)'],
    ["1 s", 'invalid duration "1 s": missing or unknown unit in "1 s" (use ns, us, ms, s, m or h)'],
  ];
  for (const [text, error] of table) {
    assert.deepEqual(parseDuration(text), { ok: false, error });
  }
});

Deno.test("durations format back the way Go prints them", () => {
  assert.equal(formatDuration(90_000), "1m30s");
  assert.equal(formatDuration(1500), "1.5s");
  assert.equal(formatDuration(500), "500ms");
  assert.equal(formatDuration(3_600_000), "1h0m0s");
  assert.equal(formatDuration(0), "0s");
});
