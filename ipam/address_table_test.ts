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

Deno.test("address table: IPv4 blocks and IPv6 text hold apart, emptied blocks go", () => {
  const t = new AddressTable();
  for (const ip of ["10.0.0.15", "10.0.0.16", "255.255.255.255", "fc00::1", "0.0.0.0"]) {
    assert.equal(t.hold(ip, `ns/${ip}`), true);
  }
  assert.equal(t.firstHolder("10.0.0.15"), "ns/10.0.0.15", "last of its block of 16");
  assert.equal(t.firstHolder("10.0.0.16"), "ns/10.0.0.16", "first of the next block");
  assert.equal(t.firstHolder("10.0.0.17"), undefined);
  assert.equal(t.firstHolder("255.255.255.255"), "ns/255.255.255.255");
  assert.deepEqual(t.holders("fc00::1"), ["ns/fc00::1"]);
  assert.deepEqual(
    [...t.held()].map(([ip]) => ip).sort(),
    ["0.0.0.0", "10.0.0.15", "10.0.0.16", "255.255.255.255", "fc00::1"],
  );
  t.release("10.0.0.15", "ns/10.0.0.15");
  t.release("fc00::1", "ns/fc00::1");
  assert.equal(t.firstHolder("10.0.0.15"), undefined);
  assert.equal(t.taken("10.0.0.15") && t.taken("fc00::1"), true, "freed and queued");
  assert.deepEqual([...t.held()].map(([ip]) => ip).sort(), [
    "0.0.0.0",
    "10.0.0.16",
    "255.255.255.255",
  ]);
  t.hold("10.0.0.15", "ns/x");
  t.hold("10.0.0.15", "ns/y");
  assert.deepEqual(t.holders("10.0.0.15"), ["ns/x", "ns/y"]);
  assert.equal(t.release("10.0.0.15", "ns/x"), undefined);
  assert.deepEqual(t.holders("10.0.0.15"), ["ns/y"]);
});
