import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { setTurnClockForTest } from "../addr/turn_budget.ts";
import type { KubeObject, ObjectWriter } from "../cluster/types.ts";
import { readServices } from "./read_services.ts";
import { ControllerState } from "./state.ts";

function service(i: number): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: `svc-${i}`, namespace: "ns" },
    spec: { type: "LoadBalancer", ports: [{ protocol: "TCP", port: 80 }] },
  };
}

Deno.test("a pass that skips every Service (all unchanged) still lets timers in", async () => {
  const s = new ControllerState({} as ObjectWriter, {
    namespace: "metallb-system",
    logger: silentLogger,
    stopped: () => false,
  });
  const services = new Map<string, KubeObject>();
  for (let i = 0; i < 5_000; i++) services.set(`ns/svc-${i}`, service(i));
  s.lastSeen = services;
  let t = 0;
  // Every slice is over at once: the walk must offer a turn every few hundred Services.
  const restore = setTurnClockForTest(() => (t += 1000));
  let turns = 0;
  const ticker = setInterval(() => turns++, 0);
  try {
    const read = await readServices(s, { services, namespaces: new Map(), full: false });
    assert.equal(read.handled.length, 0);
    assert.ok(turns > 0, "timers ran while 5,000 unchanged Services were skipped");
  } finally {
    clearInterval(ticker);
    restore();
  }
});
