import assert from "node:assert/strict";
import { createKeyedLimiter } from "./request_limiter.ts";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

Deno.test("keyed limiter: at most `limit` tasks run at once, across keys", async () => {
  const limiter = createKeyedLimiter(3);
  let running = 0;
  let most = 0;
  const gates = Array.from({ length: 10 }, () => deferred());
  const all = gates.map((g, i) =>
    limiter.run(`k${i}`, async () => {
      running++;
      most = Math.max(most, running);
      await g.promise;
      running--;
      return i;
    })
  );
  await new Promise((r) => setTimeout(r, 0));
  assert.equal(limiter.active(), 3);
  assert.equal(limiter.pending(), 10);
  for (const g of gates) g.resolve();
  assert.deepEqual(await Promise.all(all), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(most, 3);
  assert.equal(limiter.pending(), 0);
});

Deno.test("keyed limiter: tasks of one key run in submission order, a failure does not block the next", async () => {
  const limiter = createKeyedLimiter(8);
  const order: string[] = [];
  const slow = deferred();
  const first = limiter.run("svc", async () => {
    await slow.promise;
    order.push("status");
    throw new Error("boom");
  });
  const second = limiter.run("svc", () => {
    order.push("annotations");
    return Promise.resolve("ok");
  });
  const other = limiter.run("other", () => {
    order.push("other");
    return Promise.resolve();
  });
  await other;
  assert.deepEqual(order, ["other"], "a different object is not held up");
  slow.resolve();
  await assert.rejects(first, /boom/);
  assert.equal(await second, "ok");
  assert.deepEqual(order, ["other", "status", "annotations"]);
});
