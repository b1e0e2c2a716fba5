import assert from "node:assert/strict";
import { WriteLedger } from "./write_ledger.ts";

const WRITE = { observed: "", desired: "192.0.2.1" };

Deno.test("write ledger: a noted write is not repeated; forgotten or shown, it is made again", () => {
  const l = new WriteLedger();
  for (let i = 0; i < 10; i++) l.noteService(`ns/s${i}`, "ingress", WRITE);
  assert.equal(l.serviceNeeds("ns/s1", "ingress", WRITE), false);
  assert.equal(l.serviceNeeds("ns/s1", "annotations", WRITE), true);
  l.forget("ns/s1");
  assert.equal(l.serviceNeeds("ns/s1", "ingress", WRITE), true);
  l.noteService("ns/s1", "ingress", WRITE);
  assert.equal(l.serviceNeeds("ns/s1", "ingress", WRITE), false);
  // The Service shows what is wanted: the record ends.
  assert.equal(l.serviceNeeds("ns/s2", "ingress", { observed: "x", desired: "x" }), false);
  assert.equal(l.serviceNeeds("ns/s2", "ingress", WRITE), true);
});

Deno.test("write ledger: compacting keeps what was not forgotten, at every ratio", () => {
  const l = new WriteLedger();
  for (let i = 0; i < 10; i++) l.noteService(`ns/s${i}`, "ingress", WRITE);
  for (let i = 0; i < 3; i++) l.forget(`ns/s${i}`);
  l.compact(); // fewer forgotten than kept: left as is
  for (let i = 3; i < 7; i++) l.forget(`ns/s${i}`);
  l.compact(); // more forgotten than kept: the rest copied
  for (let i = 0; i < 7; i++) assert.equal(l.serviceNeeds(`ns/s${i}`, "ingress", WRITE), true);
  for (let i = 7; i < 10; i++) assert.equal(l.serviceNeeds(`ns/s${i}`, "ingress", WRITE), false);
  l.noteService("ns/s0", "ingress", WRITE); // noted again after being forgotten
  for (let i = 7; i < 10; i++) l.forget(`ns/s${i}`);
  l.forget("ns/s0");
  l.compact(); // every one forgotten: a new table
  for (let i = 0; i < 10; i++) assert.equal(l.serviceNeeds(`ns/s${i}`, "ingress", WRITE), true);
  l.noteService("ns/s5", "annotations", WRITE);
  assert.equal(l.serviceNeeds("ns/s5", "annotations", WRITE), false);
});
