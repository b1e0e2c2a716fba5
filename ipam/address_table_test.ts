import assert from "node:assert/strict";
import { AddressTable } from "./address_table.ts";
import { SharingIndex } from "./sharing.ts";

Deno.test("address table: shared holders, frees in order, stale frees recognised", () => {
  const t = new AddressTable();
  assert.equal(t.hold("10.0.0.1", "ns/a"), true);
  assert.equal(t.hold("10.0.0.1", "ns/b"), false, "second holder of a shared address");
  assert.deepEqual(t.holders("10.0.0.1"), ["ns/a", "ns/b"]);
  assert.equal(t.release("10.0.0.1", "ns/a"), undefined, "still held by b");
  assert.equal(t.firstHolder("10.0.0.1"), "ns/b");
  const first = t.release("10.0.0.1", "ns/b")!;
  assert.ok(first && !t.taken("10.0.0.9") && t.taken("10.0.0.1"), "freed and queued");
  assert.equal(t.freedValid(first), true);
  t.hold("10.0.0.2", "ns/c");
  const second = t.release("10.0.0.2", "ns/c")!;
  assert.deepEqual([...t.freed()].map(([ip]) => ip), ["10.0.0.1", "10.0.0.2"]);
  t.hold("10.0.0.1", "ns/d");
  assert.equal(t.freedValid(first), false, "taken again: its free is stale");
  assert.equal(t.freedValid(second), true);
  assert.deepEqual([...t.held()], [["10.0.0.1", "ns/d"]]);
});

Deno.test("sharing index: counts per address, moves between keys, forgets empty keys", () => {
  const s = new SharingIndex();
  s.count("k", { ip: "10.0.0.1", delta: 1 });
  s.count("k", { ip: "10.0.0.1", delta: 1 });
  s.count(undefined, { ip: "10.0.0.2", delta: 1 });
  assert.deepEqual([...s.ipsOf("k")], ["10.0.0.1"]);
  assert.deepEqual([...s.ipsOf(undefined)], []);
  s.move(["10.0.0.1"], { from: "k", to: "j" });
  assert.deepEqual([...s.ipsOf("k")], ["10.0.0.1"], "one Service still holds it under k");
  assert.deepEqual([...s.ipsOf("j")], ["10.0.0.1"]);
  s.count("k", { ip: "10.0.0.1", delta: -1 });
  assert.deepEqual([...s.ipsOf("k")], []);
});
