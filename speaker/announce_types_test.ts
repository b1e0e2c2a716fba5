import assert from "node:assert/strict";
import { anyOf, countsAt, localOf, readyOf, sameCounts } from "./announce_types.ts";

Deno.test("endpoint counts: packed while small, an object past 10 bits, read back the same", () => {
  for (const [any, local, ready] of [[0, 0, 0], [3, 1, 1], [1023, 1023, 1023], [1024, 2, 1]]) {
    const c = countsAt([any, local, ready], 0);
    assert.deepEqual([anyOf(c), localOf(c), readyOf(c)], [any, local, ready]);
    assert.equal(typeof c === "number", any < 1024, `${any}`);
    assert.ok(sameCounts(c, countsAt([9, any, local, ready], 1)));
  }
  assert.ok(!sameCounts(countsAt([3, 1, 1], 0), countsAt([3, 1, 0], 0)));
  assert.ok(!sameCounts(countsAt([5000, 1, 1], 0), countsAt([5000, 2, 1], 0)));
  // Zeros past the end of the list.
  assert.equal(anyOf(countsAt([7], 3)), 0);
  assert.deepEqual(countsAt([1, 70000, 2], 0), { any: 1, local: 70000, ready: 2 });
});
