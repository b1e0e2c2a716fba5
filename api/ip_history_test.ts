import assert from "node:assert/strict";
import { IpHistory, releaseReason } from "./ip_history.ts";

const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));

Deno.test("history: tenure from assignment to release, with the reason", () => {
  const h = new IpHistory();
  h.record([{ service: "default/web", ips: ["10.0.0.1"], pool: "a", change: "assigned" }], t(1));
  h.record([{
    service: "default/web",
    ips: ["10.0.0.1"],
    change: "released",
    reason: "Service deleted",
  }], t(5));
  assert.deepEqual(h.query("10.0.0.1"), [{
    ip: "10.0.0.1",
    service: "default/web",
    pool: "a",
    from: t(1).toISOString(),
    to: t(5).toISOString(),
    why: "assigned",
    ended: "Service deleted",
  }]);
  assert.equal(h.query("default/web").length, 1);
  assert.equal(h.query("default/other").length, 0);
});

Deno.test("history: an address given to another Service shows as re-assigned", () => {
  const h = new IpHistory();
  h.record([{ service: "ns/a", ips: ["10.0.0.1"], change: "assigned" }], t(1));
  // One pass frees and re-gives it; the release is listed after the assignment on purpose.
  h.record([
    { service: "ns/b", ips: ["10.0.0.1"], change: "assigned" },
    { service: "ns/a", ips: ["10.0.0.1"], change: "released", reason: "type changed: NodePort" },
  ], t(2));
  const e = h.query("10.0.0.1");
  assert.deepEqual(e.map((x) => [x.service, x.why, x.ended, x.to !== undefined]), [
    ["ns/a", "assigned", "type changed: NodePort", true],
    ["ns/b", "re-assigned", undefined, false],
  ]);
});

Deno.test("history: a release from a pool that no longer exists says pool removed", () => {
  const h = new IpHistory();
  h.record([{ service: "ns/a", ips: ["10.0.0.1"], pool: "old", change: "assigned" }], t(1));
  h.record(
    [
      { service: "ns/a", ips: ["10.0.0.1"], change: "released", reason: "released" },
      { service: "ns/a", ips: ["10.1.0.1"], pool: "new", change: "assigned" },
    ],
    t(2),
    { pools: new Set(["new"]) },
  );
  assert.deepEqual(h.query("ns/a").map((x) => [x.ip, x.ended]), [
    ["10.0.0.1", "pool removed: old"],
    ["10.1.0.1", undefined],
  ]);
});

Deno.test("history: bounded in total and per address, oldest dropped first", () => {
  const h = new IpHistory({ maxEntries: 5, maxPerIp: 2 });
  for (let i = 0; i < 4; i++) {
    h.record([{ service: `ns/s${i}`, ips: ["10.0.0.1"], change: "assigned" }], t(i));
  }
  assert.deepEqual(h.query("10.0.0.1").map((e) => e.service), ["ns/s2", "ns/s3"]);
  for (let i = 0; i < 10; i++) {
    h.record([{ service: `ns/x${i}`, ips: [`10.0.1.${i}`], change: "assigned" }], t(10 + i));
  }
  assert.equal(h.entries().length, 5);
  assert.deepEqual(h.entries().map((e) => e.service), [
    "ns/x5",
    "ns/x6",
    "ns/x7",
    "ns/x8",
    "ns/x9",
  ]);
});

Deno.test("history: save and load keep entries and which are open", () => {
  const h = new IpHistory();
  h.record([{ service: "ns/a", ips: ["10.0.0.1", "fd00::1"], change: "assigned" }], t(1));
  const copy = new IpHistory();
  assert.equal(copy.load(JSON.parse(JSON.stringify(h.toFile()))), undefined);
  copy.record([{
    service: "ns/a",
    ips: ["fd00::1"],
    change: "released",
    reason: "Service deleted",
  }], t(3));
  assert.deepEqual(copy.query("fd00::1")[0].ended, "Service deleted");
  assert.equal(copy.query("10.0.0.1")[0].to, undefined);
  assert.match(new IpHistory().load({ entries: 3 }) ?? "", /not an ip history/);
});

Deno.test("release reasons: deleted, type changed, class changed, else released", () => {
  assert.equal(releaseReason({ present: false, handled: false }), "Service deleted");
  assert.equal(
    releaseReason({ present: true, handled: false, type: "ClusterIP" }),
    "type changed: ClusterIP",
  );
  assert.equal(
    releaseReason({ present: true, handled: false, type: "LoadBalancer" }),
    "loadBalancerClass changed",
  );
  assert.equal(
    releaseReason({ present: true, handled: true, type: "LoadBalancer" }, "no IP"),
    "released: no IP",
  );
});

Deno.test("history: 100,000 assignments stay fast and bounded", () => {
  const h = new IpHistory();
  const t0 = performance.now();
  for (let i = 0; i < 100_000; i++) {
    h.record([{
      service: `ns/s${i}`,
      ips: [`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`],
      change: "assigned",
    }], t(1));
  }
  assert.equal(h.entries().length, 10_000);
  assert.equal(h.entries()[0].service, "ns/s90000");
  console.log(`100,000 assignments recorded in ${(performance.now() - t0).toFixed(0)} ms`);
});

Deno.test("history: reconcile at start closes what changed unrecorded and opens what is held", () => {
  const h = new IpHistory();
  h.record([
    { service: "ns/gone", ips: ["10.0.0.1"], change: "assigned" },
    { service: "ns/kept", ips: ["10.0.0.2"], change: "assigned" },
  ], t(1));
  h.reconcile([
    { service: "ns/kept", ips: ["10.0.0.2"] },
    { service: "ns/new", ips: ["10.0.0.1"], pool: "p" },
  ], t(9));
  assert.deepEqual(h.query().map((e) => [e.ip, e.service, e.why, e.ended ?? "holds"]), [
    ["10.0.0.1", "ns/gone", "assigned", "released while not recorded"],
    ["10.0.0.2", "ns/kept", "assigned", "holds"],
    ["10.0.0.1", "ns/new", "re-assigned", "holds"],
  ]);
  const rev = h.revision;
  h.reconcile(
    [{ service: "ns/kept", ips: ["10.0.0.2"] }, { service: "ns/new", ips: ["10.0.0.1"] }],
    t(10),
  );
  assert.equal(h.revision, rev, "nothing to do: no change, no save");
});

Deno.test("history: an address remembers its last Service while it has entries, not after", () => {
  const h = new IpHistory({ maxEntries: 3, maxPerIp: 1 });
  const assign = (service: string, ip: string, s: number) =>
    h.record([{ service, ips: [ip], change: "assigned" }], t(s));
  const release = (service: string, ip: string, s: number) =>
    h.record([{ service, ips: [ip], change: "released" }], t(s));
  assign("ns/a", "10.0.0.1", 1);
  release("ns/a", "10.0.0.1", 2);
  // One entry per address: b's replaces a's, but the address still knows a had it.
  assign("ns/b", "10.0.0.1", 3);
  assert.deepEqual(h.query("10.0.0.1").map((e) => [e.service, e.why, e.to]), [
    ["ns/b", "re-assigned", undefined],
  ]);
  release("ns/b", "10.0.0.1", 4);
  assign("ns/b", "10.0.0.1", 5);
  assert.deepEqual(h.query("10.0.0.1").map((e) => [e.service, e.why]), [["ns/b", "assigned"]]);
  // Three other addresses push its entry out of the total bound: it is forgotten entirely.
  for (let i = 2; i <= 4; i++) assign(`ns/x${i}`, `10.0.0.${i}`, 5 + i);
  h.trim();
  assert.equal(h.query("10.0.0.1").length, 0);
  assign("ns/c", "10.0.0.1", 20);
  assert.equal(h.query("10.0.0.1")[0].why, "assigned");
  // The dropped open entry is no longer open: releasing it changes nothing.
  const rev = h.revision;
  release("ns/b", "10.0.0.1", 21);
  assert.equal(h.revision, rev);
});

Deno.test("history: a loaded file with two open entries for one address keeps the later open", () => {
  const h = new IpHistory();
  const entry = (service: string, s: number) => ({
    ip: "10.0.0.1",
    service,
    from: t(s).toISOString(),
    why: "assigned",
  });
  assert.equal(h.load({ version: 1, entries: [entry("ns/a", 1), entry("ns/b", 2)] }), undefined);
  h.record([{ service: "ns/a", ips: ["10.0.0.1"], change: "released" }], t(3));
  assert.deepEqual(h.query("10.0.0.1").map((e) => e.to), [undefined, undefined]);
  h.record([{ service: "ns/b", ips: ["10.0.0.1"], change: "released" }], t(4));
  assert.deepEqual(h.query("10.0.0.1").map((e) => e.to), [undefined, t(4).toISOString()]);
});

Deno.test("history: reconcile settles what is missing before opening any (opening trims)", () => {
  const h = new IpHistory({ maxEntries: 2 });
  h.record([{ service: "ns/s1", ips: ["10.0.0.1"], change: "assigned" }], t(1));
  h.reconcile([
    { service: "ns/s2", ips: ["10.0.0.2"] },
    { service: "ns/s3", ips: ["10.0.0.3"] },
    { service: "ns/s4", ips: ["10.0.0.4"] },
    // Held and recorded: not opened again, even once its entry is trimmed away.
    { service: "ns/s1", ips: ["10.0.0.1"] },
  ], t(2));
  assert.deepEqual(h.query().map((e) => [e.ip, e.service, e.why]), [
    ["10.0.0.3", "ns/s3", "assigned"],
    ["10.0.0.4", "ns/s4", "assigned"],
  ]);
});

Deno.test("history: reconcile with more held addresses than the bound keeps the newest open", () => {
  const h = new IpHistory({ maxEntries: 4 });
  h.record([{ service: "ns/old", ips: ["10.0.1.1"], change: "assigned" }], t(1));
  h.record([{ service: "ns/old", ips: ["10.0.1.1"], change: "released" }], t(2));
  const held = Array.from({ length: 10 }, (_, i) => ({
    service: `ns/s${i}`,
    ips: [`10.0.0.${i}`],
    pool: "p",
  }));
  h.reconcile(held, t(9));
  // As if every one were opened and the oldest trimmed: the last four, each open, no older.
  assert.deepEqual(h.query().map((e) => [e.ip, e.service, e.why, e.ended ?? "holds"]), [
    ["10.0.0.6", "ns/s6", "assigned", "holds"],
    ["10.0.0.7", "ns/s7", "assigned", "holds"],
    ["10.0.0.8", "ns/s8", "assigned", "holds"],
    ["10.0.0.9", "ns/s9", "assigned", "holds"],
  ]);
  assert.deepEqual(h.query("10.0.1.1"), []);
  // A later start with the same holders re-opens the ones the bound dropped, no more.
  h.reconcile(held.slice(8), t(10));
  assert.equal(h.query().length, 4);
});

Deno.test("history: reconcile of a shared address goes by its last holder, in its first place", () => {
  const h = new IpHistory();
  h.record([{ service: "ns/a", ips: ["10.0.0.1"], change: "assigned" }], t(1));
  h.reconcile([
    { service: "ns/a", ips: ["10.0.0.1"], pool: "p" },
    { service: "ns/c", ips: ["10.0.0.3"], pool: "p" },
    { service: "ns/b", ips: ["10.0.0.1", "10.0.0.2"], pool: "q" },
  ], t(9));
  assert.deepEqual(h.query().map((e) => [e.ip, e.service, e.pool, e.why, e.ended ?? "holds"]), [
    ["10.0.0.1", "ns/a", undefined, "assigned", "released while not recorded"],
    ["10.0.0.1", "ns/b", "q", "re-assigned", "holds"],
    ["10.0.0.3", "ns/c", "p", "assigned", "holds"],
    ["10.0.0.2", "ns/b", "q", "assigned", "holds"],
  ]);
});
