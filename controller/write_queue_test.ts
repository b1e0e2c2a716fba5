import assert from "node:assert/strict";
import { runLimited, type WriteOp } from "./write_queue.ts";

Deno.test("write queue: every write runs once even when workers yield mid-queue", async () => {
  const ran: number[] = [];
  const ops: WriteOp[] = Array.from({ length: 2000 }, (_, i) => ({
    key: `k${i}`,
    what: "test",
    run: () => {
      ran.push(i);
      // Writes that take time (as each does on a loaded machine) make the workers yield.
      const until = performance.now() + 0.05;
      while (performance.now() < until) { /* busy */ }
      return Promise.resolve();
    },
  }));
  const failures = await runLimited(ops, 8);
  assert.deepEqual(failures, []);
  assert.equal(ran.length, ops.length);
  assert.equal(new Set(ran).size, ops.length);
});
