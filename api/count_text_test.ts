import assert from "node:assert/strict";
import { formatCount } from "./count_text.ts";

Deno.test("formatCount: groups of three with commas, as en-US formatting does", () => {
  for (const n of [0, 7, 999, 1000, 12_345, 100_000, 1_000_000, 123_456_789, -4321, 2.6]) {
    assert.equal(formatCount(n), Math.round(n).toLocaleString("en-US"), String(n));
  }
  assert.equal(formatCount(Infinity), "Infinity");
  assert.equal(formatCount(NaN), "NaN");
});
