import assert from "node:assert/strict";
import { libcMallocTrimmer, type MallocTrimmer, startMallocTrim } from "./malloc_trim.ts";
import { LIBC_CANDIDATES } from "../bgp/libc_paths.mjs";

const granted = LIBC_CANDIDATES.find((path) =>
  Deno.permissions.querySync({ name: "ffi", path }).state === "granted"
);

Deno.test("libcMallocTrimmer: nothing without --allow-ffi to the candidate", () => {
  assert.equal(libcMallocTrimmer(["/nonexistent/libc.so.6"]), undefined);
});

Deno.test({
  name: "libcMallocTrimmer: trims through glibc when granted",
  ignore: granted === undefined,
  fn() {
    const trimmer = libcMallocTrimmer();
    assert.ok(trimmer, "a granted glibc gives a trimmer");
    // Garbage freed on the Rust side (buffers of a big encode) is what there is to give back.
    for (let i = 0; i < 8; i++) new TextEncoder().encode("x".repeat(1 << 20));
    assert.equal(typeof trimmer.trim(), "boolean");
  },
});

Deno.test("startMallocTrim: trims on its period until stopped", async () => {
  let calls = 0;
  const trimmer: MallocTrimmer = { trim: () => (calls++, true) };
  const stop = startMallocTrim({ trimmer, intervalMs: 5 });
  // A busy machine may fire the interval late: wait for the second trim, not for a duration.
  for (let i = 0; i < 2000 && calls < 2; i++) await new Promise((r) => setTimeout(r, 5));
  stop();
  const seen = calls;
  assert.ok(seen >= 2, `trimmed ${seen} times`);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(calls, seen, "no trim after stop");
});

Deno.test("startMallocTrim: nothing scheduled without a trimmer", async () => {
  // A timer calling a missing trimmer would throw in its callback and fail this test.
  const stop = startMallocTrim({ trimmer: undefined, intervalMs: 1 });
  await new Promise((r) => setTimeout(r, 10));
  stop();
});
