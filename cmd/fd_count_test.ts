import assert from "node:assert/strict";
import { libcFdCounter } from "./fd_count.ts";

Deno.test("libcFdCounter counts descriptors as they are opened and closed", () => {
  const counter = libcFdCounter();
  assert.ok(counter, "the test task grants --allow-ffi to libc");
  assert.ok(counter.open() >= 3);
  // Other tests of this process may open or close files meanwhile: a few tries to see the
  // exact difference our ten files make.
  const deltas: number[] = [];
  for (let attempt = 0; attempt < 5 && deltas.at(-1) !== 10; attempt++) {
    const files = Array.from({ length: 10 }, () => Deno.openSync(new URL(import.meta.url)));
    const during = counter.open();
    for (const f of files) f.close();
    deltas.push(during - counter.open());
  }
  assert.equal(deltas.at(-1), 10, `differences seen: ${deltas}`);
  const max = counter.max();
  assert.ok(max === undefined || max >= counter.open(), `${max}`);
});
