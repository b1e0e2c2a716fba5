import assert from "node:assert/strict";
import { SlotIds } from "./slot_ids.ts";

Deno.test("SlotIds: equal values share an id; slots read back through widening and compaction", () => {
  const ids = new SlotIds<string, string>("", { keyOf: (v) => v, limit: 8, slots: 4 });
  const n = 70_000;
  ids.grow(n);
  // More than 65,535 values held at once: the ids widen to four bytes.
  for (let slot = 0; slot < n; slot++) ids.set(slot, `v${slot}`, n);
  // Half of them let go and replaced, three times over: the table reaches its limit
  // (twice the values held at the last compaction) and keeps only the values in use.
  for (const round of ["w", "x", "y"]) {
    for (let slot = 0; slot < n; slot += 2) ids.clear(slot);
    for (let slot = 0; slot < n; slot += 2) ids.set(slot, `${round}${slot}`, n);
  }
  for (let slot = 0; slot < n; slot++) {
    assert.equal(ids.valueAt(slot), `${slot % 2 ? "v" : "y"}${slot}`);
  }
  ids.set(0, "v1", n);
  assert.equal(ids.valueAt(0), "v1", "an equal value is found again");
});

Deno.test("SlotIds: a value without a key is never shared, and none marks a free slot", () => {
  const none = { k: undefined as string | undefined };
  const ids = new SlotIds<typeof none, string>(none, { keyOf: (v) => v.k, limit: 4, slots: 2 });
  const a = { k: undefined };
  ids.set(0, a, 2);
  ids.set(1, { k: "x" }, 2);
  assert.equal(ids.valueAt(0), a);
  assert.equal(ids.isFree(0), false);
  assert.equal(ids.valueAt(1).k, "x");
  ids.clear(0);
  assert.equal(ids.valueAt(0), none);
});
