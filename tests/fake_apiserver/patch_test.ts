import assert from "node:assert/strict";
import { applyJsonPatch, applyMergePatch, JsonPatchError } from "./patch.ts";
import { matchLabels, parseLabelSelector, SelectorError } from "./selectors.ts";

Deno.test("merge patch: nested merge, null deletes, arrays replaced", () => {
  const doc = { a: { b: 1, c: 2 }, list: [1, 2], keep: true };
  assert.deepEqual(applyMergePatch(doc, { a: { b: null, d: 3 }, list: [3] }), {
    a: { c: 2, d: 3 },
    list: [3],
    keep: true,
  });
  assert.deepEqual(doc.a, { b: 1, c: 2 }, "input untouched");
});

Deno.test("JSON patch: add, replace, remove, move, copy, test", () => {
  const out = applyJsonPatch({ a: [1, 2], m: { "x/y": 1 } }, [
    { op: "add", path: "/a/-", value: 3 },
    { op: "replace", path: "/a/0", value: 0 },
    { op: "remove", path: "/m/x~1y" },
    { op: "copy", from: "/a", path: "/b" },
    { op: "move", from: "/b", path: "/c" },
    { op: "test", path: "/c/2", value: 3 },
  ]);
  assert.deepEqual(out, { a: [0, 2, 3], m: {}, c: [0, 2, 3] });
  assert.throws(() => applyJsonPatch({}, [{ op: "remove", path: "/nope" }]), JsonPatchError);
  assert.throws(
    () => applyJsonPatch({ a: 1 }, [{ op: "test", path: "/a", value: 2 }]),
    JsonPatchError,
  );
});

Deno.test("label selectors: equality and set-based terms", () => {
  const sel = parseLabelSelector("app=web, tier in (a,b),!legacy,env!=prod");
  assert.equal(matchLabels(sel, { app: "web", tier: "a" }), true);
  assert.equal(matchLabels(sel, { app: "web", tier: "c" }), false);
  assert.equal(matchLabels(sel, { app: "web", tier: "b", legacy: "" }), false);
  assert.equal(matchLabels(sel, { app: "web", tier: "b", env: "prod" }), false);
  assert.throws(() => parseLabelSelector("a in b"), SelectorError);
});
