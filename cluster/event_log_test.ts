import assert from "node:assert/strict";
import { createLogger } from "../api/log.ts";
import { EVENT_RING_SIZE, EventLog, NORMAL_EVENTS_LOGGED_PER_SECOND } from "./event_log.ts";
import type { EventRecord } from "./types.ts";

function event(i: number, type: "Normal" | "Warning" = "Normal"): EventRecord {
  return {
    involved: { kind: "Service", apiVersion: "v1", namespace: "ns", name: `s${i}` },
    type,
    reason: "IPAllocated",
    message: `Assigned IP ["192.0.2.${i % 250}"]`,
    component: "metallb-controller",
  };
}

function logTo(level: "info" | "debug") {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level, write: (l) => lines.push(JSON.parse(l)) });
  return { log, lines };
}

Deno.test("the Event ring keeps the last Events with the time each was recorded", () => {
  const { log } = logTo("info");
  let t = Date.parse("2026-01-01T00:00:00Z");
  const events = new EventLog(log, { now: () => new Date(t) });
  for (let i = 0; i < EVENT_RING_SIZE * 3 + 7; i++, t += 1000) events.record(event(i));
  events.close();
  const kept = events.events();
  assert.equal(kept.length, EVENT_RING_SIZE);
  const first = EVENT_RING_SIZE * 2 + 7;
  assert.equal(kept[0].involved.name, `s${first}`);
  assert.equal(
    kept[0].time,
    new Date(Date.parse("2026-01-01T00:00:00Z") + first * 1000).toISOString(),
  );
  assert.equal(kept.at(-1)!.involved.name, `s${EVENT_RING_SIZE * 3 + 6}`);
  assert.equal(kept.at(-1)!.message, `Assigned IP ["192.0.2.${(EVENT_RING_SIZE * 3 + 6) % 250}"]`);
});

Deno.test("Normal Events beyond the per-second budget are logged at debug when debug is on", () => {
  for (const level of ["info", "debug"] as const) {
    const { log, lines } = logTo(level);
    const events = new EventLog(log, { now: () => new Date() });
    const n = NORMAL_EVENTS_LOGGED_PER_SECOND + 50;
    for (let i = 0; i < n; i++) events.record(event(i));
    events.record(event(n, "Warning"));
    events.close();
    const at = (l: string) => lines.filter((x) => x.msg === "event" && x.level === l);
    assert.equal(at("info").length, NORMAL_EVENTS_LOGGED_PER_SECOND);
    assert.equal(at("debug").length, level === "debug" ? 50 : 0);
    assert.deepEqual(at("warn").map((x) => x.object), [`Service/ns/s${n}`]);
    if (level === "debug") {
      assert.equal(at("debug")[0].object, `Service/ns/s${NORMAL_EVENTS_LOGGED_PER_SECOND}`);
    }
  }
});
