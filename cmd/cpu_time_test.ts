import assert from "node:assert/strict";
import process from "node:process";
import { libcCpuClock } from "./cpu_time.ts";

Deno.test("getrusage gives this process's CPU time, as the Node layer reads it, and it grows", () => {
  const clock = libcCpuClock();
  assert.ok(clock, "the test task grants --allow-ffi to libc");
  const u = process.cpuUsage();
  const before = clock();
  const node = (u.user + u.system) / 1e6;
  // Both read the same kernel counters a moment apart.
  assert.ok(before >= node && before - node < 0.5, `${before} vs ${node}`);
  let x = 0;
  while (clock() <= before) x++;
  assert.ok(clock() > before, `${x} reads`);
});
