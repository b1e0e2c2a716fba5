import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { WriteQueue } from "./write_queue.ts";

Deno.test("writes run one at a time, in order, after the caller's turn, with their arguments", async () => {
  const q = new WriteQueue(silentLogger);
  const seen: string[] = [];
  let running = 0;
  const two = async (a: string, b: number) => {
    assert.equal(++running, 1);
    await Promise.resolve();
    seen.push(`${a}${b}`);
    running--;
  };
  const three = (a: string, b: number, c: readonly string[]) => {
    seen.push(`${a}${b}${c.join("")}`);
    return Promise.resolve();
  };
  const fails = (_a: string, _b: undefined) => Promise.reject(new Error("boom"));
  q.push("two", two, "a", 1);
  q.push("three", three, "b", 2, ["x", "y"]);
  q.push("fails", fails, "c", undefined);
  q.push("two", two, "d", 3);
  assert.deepEqual(seen, []);
  await q.idle();
  assert.deepEqual(seen, ["a1", "b2xy", "d3"]);
  q.push("three", three, "e", 4, ["z"]);
  await q.idle();
  assert.deepEqual(seen, ["a1", "b2xy", "d3", "e4z"]);
});
