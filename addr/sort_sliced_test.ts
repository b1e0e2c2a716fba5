import assert from "node:assert/strict";
import { sortSliced } from "./sort_sliced.ts";

type Item = { v: number; i: number };

/** Runs sortSliced by `v` to the end: what it returned and how often it yielded. */
function runSort(items: Item[]): { value: Item[]; yields: number } {
  const work = sortSliced(items, (a, b) => a.v - b.v);
  let yields = 0;
  let r = work.next();
  for (; !r.done; r = work.next()) yields++;
  return { value: r.value, yields };
}

Deno.test("sortSliced sorts in place and stably, yielding on large lists", () => {
  for (const n of [0, 1, 7, 4096, 4097, 20_000, 70_001]) {
    const items = Array.from({ length: n }, (_, i) => ({ v: (i * 7919) % 101, i }));
    const want = items.slice().sort((a, b) => a.v - b.v);
    const { value, yields } = runSort(items);
    assert.equal(value, items);
    assert.deepEqual(items, want);
    if (n > 16_384) assert.ok(yields > 1, `${n} items sorted without yielding`);
  }
});

Deno.test("sortSliced leaves a sorted list as it is, yielding on large ones", () => {
  for (const n of [4097, 70_001]) {
    const items = Array.from({ length: n }, (_, i) => ({ v: i >> 1, i }));
    const want = items.slice();
    const { value, yields } = runSort(items);
    assert.equal(value, items);
    assert.deepEqual(items, want);
    if (n > 16_384) assert.ok(yields > 1, `${n} items checked without yielding`);
  }
});
