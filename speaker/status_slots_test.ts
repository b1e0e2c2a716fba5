import assert from "node:assert/strict";
import type { ServiceAnnouncement } from "./announce_types.ts";
import { NO_PEERS, StatusSlots } from "./status_slots.ts";

const decision = (name: string): ServiceAnnouncement => ({
  namespace: "default",
  name,
  ips: [],
  peers: ["p1"],
});

function slotsFor(n: number): { slots: StatusSlots; keys: string[] } {
  const slots = new StatusSlots("n1");
  const names = Array.from({ length: n }, (_, i) => `s${String(i).padStart(6, "0")}`);
  for (const _ of slots.realign(names.map(decision))) { /* run it through */ }
  const keys = names.map((name) => `default/${name}`);
  for (const key of keys) slots.track(key);
  return { slots, keys };
}

Deno.test("StatusSlots: peer lists read back after the table is compacted and widened", () => {
  const n = 70_000;
  const { slots, keys } = slotsFor(n);
  const lists = keys.map((_, i) => Object.freeze([`p${i}`]));
  // Lists replaced many times over: past the table's limit only those in use are kept.
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < 5000; i++) slots.setListed(slots.slotOf(keys[i])!, [`old${round}-${i}`]);
  }
  // Then more distinct lists in use than two bytes number.
  keys.forEach((key, i) => slots.setListed(slots.slotOf(key)!, lists[i]));
  keys.forEach((key, i) => assert.equal(slots.listed(slots.slotOf(key)!), lists[i]));
  slots.untrack(keys[0], slots.slotOf(keys[0])!);
  assert.equal(slots.slotOf(keys[0]), undefined);
  const t = slots.track(keys[0]);
  assert.equal(slots.listed(t), NO_PEERS);
});

Deno.test("StatusSlots: names given by the speaker and others read back", () => {
  const { slots, keys } = slotsFor(3);
  const [a, b, c] = keys.map((k) => slots.slotOf(k)!);
  slots.setName(keys[0], a, "s000000-n1-00000000ff");
  slots.setName(keys[1], b, "legacy-name");
  assert.equal(slots.nameOf(keys[0], a), "s000000-n1-00000000ff");
  assert.equal(slots.nameOf(keys[1], b), "legacy-name");
  assert.equal(slots.nameOf(keys[2], c), undefined);
  assert.deepEqual([a, b, c].map((t) => slots.stands(t)), [true, true, false]);
  slots.clearName(keys[1], b);
  assert.equal(slots.nameOf(keys[1], b), undefined);
});

Deno.test("StatusSlots: times and names read back whole, past 32 bits too", () => {
  const { slots, keys } = slotsFor(2000);
  const times = [0, 7, 0x3fffffff, 2 ** 32 + 5, 2 ** 40 - 1, 2 ** 40, -3, 1.5, 2 ** 53];
  keys.forEach((key, i) => slots.setSince(slots.slotOf(key)!, times[i % times.length] + i));
  keys.forEach((key, i) =>
    assert.equal(slots.since(slots.slotOf(key)!), times[i % times.length] + i, key)
  );
  for (const hex of ["0000000000", "00ffffffff", "0100000000", "ffffffffff", "8000000001"]) {
    const name = `s000001-n1-${hex}`;
    slots.setName(keys[1], slots.slotOf(keys[1])!, name);
    assert.equal(slots.nameOf(keys[1], slots.slotOf(keys[1])!), name);
  }
});
