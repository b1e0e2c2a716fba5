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

Deno.test("write queue: an op's Event runs just before it, or alone after a batch; failures name the one that failed", async () => {
  const ran: string[] = [];
  const op = (key: string, o: { fail?: boolean; event?: WriteOp; service?: boolean }): WriteOp => ({
    key,
    what: "test",
    run: () => {
      ran.push(key);
      return o.fail ? Promise.reject(new Error(key)) : Promise.resolve();
    },
    ...(o.event ? { event: () => o.event } : {}),
    ...(o.service ? { service: { namespace: "ns", name: key } } : {}),
  });
  const ops = [
    op("a", { event: op("event|a", { fail: true }), service: true }),
    op("b", { service: true }),
    op("event|c", {}),
  ];
  const one = await runLimited(ops, 1);
  assert.deepEqual(ran, ["event|a", "a", "b", "event|c"]);
  assert.deepEqual(one.map((f) => f.op.key), ["event|a"]);
  ran.length = 0;
  const batched = await runLimited(ops, 1, { batched: true });
  assert.deepEqual(ran, ["event|a", "event|c"]);
  assert.deepEqual(batched.map((f) => f.op.key), ["event|a"]);
});

Deno.test("write queue: a consumed list runs every write once and is left empty, failures kept", async () => {
  const ran: string[] = [];
  const ops: WriteOp[] = Array.from({ length: 300 }, (_, i) => ({
    key: `k${i}`,
    what: "test",
    run: () => {
      ran.push(`k${i}`);
      return i === 7 ? Promise.reject(new Error("no")) : Promise.resolve();
    },
  }));
  const failures = await runLimited(ops, 4, { consume: true });
  assert.equal(ran.length, 300);
  assert.equal(new Set(ran).size, 300);
  assert.equal(ops.length, 300);
  assert.ok(ops.every((op) => op === undefined));
  assert.deepEqual(failures.map((f) => f.op.key), ["k7"]);
});
