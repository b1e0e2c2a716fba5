import assert from "node:assert/strict";
import { StateBuilder } from "./service_writes.ts";

Deno.test("intern: equal annotation records share one frozen record, different ones do not", () => {
  const b = new StateBuilder();
  const records: Record<string, string>[] = [
    {},
    { a: "x" },
    { a: "x", b: "y" },
    { a: "x", b: "y", c: "z" },
    { a: "x\u0000b\u0000y" },
    { "a\u0000x": "" },
    { a: "", "": "x" },
    { "\u0001{}": "" },
    { b: "y", a: "x" },
  ];
  const first = records.map((r) => b.intern(r));
  // Copies intern to the record interned first.
  records.forEach((r, i) => assert.equal(b.intern({ ...r }), first[i], JSON.stringify(r)));
  assert.equal(new Set(first).size, records.length, "no two different records share one");
  assert.ok(first.every((r) => Object.isFrozen(r)));
  assert.equal(b.intern({}), b.none);
});
