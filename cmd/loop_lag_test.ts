import assert from "node:assert/strict";
import { createRegistry } from "../api/metrics.ts";
import { exportLoopLag, LOOP_LAG_METRIC, loopLagGauge, startLoopLagMonitor } from "./loop_lag.ts";

Deno.test("loop lag: a late probe is the worst lag, and leaves the window after it", () => {
  let t = 1_000;
  const m = startLoopLagMonitor({ intervalMs: 50, windowMs: 1_000, now: () => t });
  t += 50;
  m.tick(t); // on time
  assert.equal(m.worstSeconds(), 0);
  t += 50 + 300; // fired 300 ms late
  m.tick(t);
  assert.equal(m.worstSeconds(), 0.3);
  assert.equal(m.windowMaxSeconds(), 0.3);
  // Two seconds of on-time probes push the stall out of the 1 s window, not out of "since start".
  for (let i = 0; i < 40; i++) {
    t += 50;
    m.tick(t);
  }
  assert.equal(m.windowMaxSeconds(), 0);
  assert.equal(m.worstSeconds(), 0.3);
  m.stop();
});

Deno.test("loop lag: a probe overdue right now counts before it fires", () => {
  let t = 0;
  const m = startLoopLagMonitor({ intervalMs: 50, windowMs: 1_000, now: () => t });
  t = 50 + 2_000; // the loop has been blocked for two seconds
  assert.equal(m.worstSeconds(), 2);
  assert.equal(m.windowMaxSeconds(), 2);
  m.stop();
});

Deno.test("loop lag: a real blocked loop shows on the gauge", async () => {
  const registry = createRegistry();
  const m = startLoopLagMonitor({ intervalMs: 10 });
  await new Promise((r) => setTimeout(r, 30));
  const until = performance.now() + 250;
  while (performance.now() < until) {
    // busy: the probe cannot fire
  }
  await new Promise((r) => setTimeout(r, 30));
  const gauge = loopLagGauge(registry);
  assert.equal(loopLagGauge(registry), gauge, "one gauge per registry");
  exportLoopLag(m, gauge);
  m.stop();
  const since = Number(gauge.get({ window: "since_start" }));
  assert.ok(since >= 0.2 && since < 5, `since_start ${since}`);
  assert.match(registry.render(), new RegExp(`${LOOP_LAG_METRIC}\\{window="10s"\\} 0\\.[2-9]`));
});
