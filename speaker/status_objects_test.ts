import assert from "node:assert/strict";
import type { ServiceAnnouncement } from "./announce_types.ts";
import { changedDecisions } from "./status_objects.ts";

const decision = (namespace: string, name: string): ServiceAnnouncement => ({
  namespace,
  name,
  ips: [],
  peers: [],
});

Deno.test("changedDecisions: new, changed and gone Services, in one walk of sorted lists", () => {
  const a = decision("a", "x"), b = decision("b", "x"), c = decision("b", "y");
  const d = decision("c", "z");
  const b2 = decision("b", "x");
  const e = decision("a", "w");
  const got = [...changedDecisions([a, b, c, d], [e, a, b2, d])];
  assert.deepEqual(got, [["a/w", e], ["b/x", b2], ["b/y", undefined]]);
  assert.deepEqual([...changedDecisions([a, b], [a, b])], []);
  assert.deepEqual([...changedDecisions([], [a])], [["a/x", a]]);
  assert.deepEqual([...changedDecisions([a, d], [])], [["a/x", undefined], ["c/z", undefined]]);
});

Deno.test("changedDecisions: a decision's key is the planner's string when it gives one", () => {
  const a = { ...decision("a", "x"), key: "planner's a/x" };
  const b = decision("b", "y");
  assert.deepEqual([...changedDecisions([], [a, b])], [["planner's a/x", a], ["b/y", b]]);
  assert.deepEqual([...changedDecisions([a], [])], [["planner's a/x", undefined]]);
});
