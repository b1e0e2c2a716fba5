import assert from "node:assert/strict";
import type { KubeObject } from "../cluster/types.ts";
import { parsePrefix } from "../bgp/mod.ts";
import type { Route } from "../bgp/mod.ts";
import {
  drainableRoutes,
  drainBeforeStop,
  DrainGate,
  GRACEFUL_SHUTDOWN,
  nodeLeavingReason,
  ShutdownMarker,
} from "./drain.ts";

function node(extra: { labels?: Record<string, string>; spec?: unknown }): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "n1", labels: extra.labels ?? {} },
    ...(extra.spec ? { spec: extra.spec } : {}),
  } as KubeObject;
}

const r1: Route = { prefix: parsePrefix("198.51.100.10/32"), attributes: { communities: [7] } };
const r2: Route = { prefix: parsePrefix("198.51.100.11/32"), attributes: {} };

Deno.test("leaving: cordon, drain taints and the exclusion label; not other taints", () => {
  assert.equal(nodeLeavingReason(undefined), undefined);
  assert.equal(nodeLeavingReason(node({})), undefined);
  assert.equal(
    nodeLeavingReason(node({ spec: { unschedulable: true } })),
    "node n1 is cordoned (spec.unschedulable)",
  );
  assert.equal(
    nodeLeavingReason(node({
      spec: { taints: [{ key: "ToBeDeletedByClusterAutoscaler", effect: "NoSchedule" }] },
    })),
    "node n1 has taint ToBeDeletedByClusterAutoscaler",
  );
  assert.equal(
    nodeLeavingReason(node({ spec: { taints: [{ key: "gpu", effect: "NoSchedule" }] } })),
    undefined,
  );
  assert.equal(
    nodeLeavingReason(node({
      labels: { "node.kubernetes.io/exclude-from-external-load-balancers": "" },
    })),
    "node n1 has label node.kubernetes.io/exclude-from-external-load-balancers",
  );
});

Deno.test("gate: marks routes with 65535:0 for the grace period, then withdraws", () => {
  const gate = new DrainGate({ graceMs: 5000 });
  const planned = new Map([["p", [r1, r2]]]);
  const before = gate.apply(planned, undefined, 0);
  assert.equal(before.phase, "none");
  assert.equal(before.routes.get("p"), planned.get("p"));
  // The exclusion label: the plan already dropped the routes; the gate keeps the last ones.
  const d = gate.apply(new Map([["p", []]]), "label", 1000);
  assert.equal(d.phase, "draining");
  assert.equal(d.wakeInMs, 5000);
  const got = d.routes.get("p")!;
  assert.deepEqual(got.map((r) => r.attributes.communities), [[7, GRACEFUL_SHUTDOWN], [
    GRACEFUL_SHUTDOWN,
  ]]);
  assert.deepEqual(r1.attributes.communities, [7], "input attributes left alone");
  const mid = gate.apply(new Map([["p", []]]), "label", 4000);
  assert.equal(mid.wakeInMs, 2000);
  assert.equal(mid.routes.get("p"), got, "same lists while nothing changed: no re-send");
  const end = gate.apply(new Map([["p", []]]), "label", 6000);
  assert.equal(end.phase, "withdrawn");
  assert.deepEqual(end.routes.get("p"), []);
  // Back: the plan passes unchanged again.
  const back = gate.apply(planned, undefined, 7000);
  assert.equal(back.phase, "none");
  assert.equal(back.routes.get("p"), planned.get("p"));
});

Deno.test("gate: a cordoned node keeps the plan's current routes while draining", () => {
  const gate = new DrainGate({ graceMs: 1000 });
  gate.apply(new Map([["p", [r1]]]), undefined, 0);
  const d = gate.apply(new Map([["p", [r1, r2]]]), "cordoned", 10);
  assert.equal(d.routes.get("p")!.length, 2);
  assert.ok(d.routes.get("p")!.every((r) => r.attributes.communities?.includes(GRACEFUL_SHUTDOWN)));
});

Deno.test("gate: grace 0 turns drain off (MetalLB's behaviour)", () => {
  const gate = new DrainGate({ graceMs: 0 });
  const planned = new Map([["p", [r1]]]);
  const r = gate.apply(planned, "cordoned", 0);
  assert.equal(r.phase, "none");
  assert.equal(r.routes.get("p"), planned.get("p"));
});

Deno.test("stop drain: marked routes, the grace period, then withdrawals, in that order", async () => {
  let t = 0;
  const pushed: { at: number; routes: Map<string, Route[]> }[] = [];
  let held = 2;
  const r = await drainBeforeStop(new Map([["p", [r1, r2]]]), {
    graceMs: 3000,
    now: () => t,
    sleep: (ms) => {
      t += ms;
      if (pushed.length === 2) held = 0; // the withdrawals went out
      return Promise.resolve();
    },
    push: (routes) => {
      pushed.push({ at: t, routes });
      return Promise.resolve();
    },
    withdrawn: () => held === 0,
  });
  assert.deepEqual(pushed.map((p) => p.at), [0, 3000]);
  assert.ok(
    pushed[0].routes.get("p")!.every((x) => x.attributes.communities?.includes(GRACEFUL_SHUTDOWN)),
  );
  assert.deepEqual(pushed[1].routes.get("p"), []);
  assert.deepEqual(r, { drainedMs: 3000, withdrawn: true });
});

Deno.test("stop drain: nothing announced means no wait", async () => {
  const r = await drainBeforeStop(new Map([["p", []]]), {
    graceMs: 60_000,
    push: () => Promise.reject(new Error("must not push")),
    withdrawn: () => true,
  });
  assert.deepEqual(r, { drainedMs: 0, withdrawn: true });
});

Deno.test("stop drain: a peer that never takes the withdrawals bounds the wait", async () => {
  let t = 0;
  const r = await drainBeforeStop(new Map([["p", [r1]]]), {
    graceMs: 100,
    withdrawWaitMs: 500,
    now: () => t,
    sleep: (ms) => (t += ms, Promise.resolve()),
    push: () => Promise.resolve(),
    withdrawn: () => false,
  });
  assert.equal(r.withdrawn, false);
  assert.ok(t >= 600 && t <= 640, `stopped waiting at ${t} ms`);
});

Deno.test("stop drain skips peers with graceful restart negotiated (they keep routes as stale)", () => {
  const pushed = new Map([["gr", [r1]], ["plain", [r1, r2]], ["down", [r2]]]);
  const got = drainableRoutes(pushed, [
    { name: "gr", gracefulRestart: { negotiated: true } },
    { name: "plain", gracefulRestart: { negotiated: false } },
    { name: "down" },
  ]);
  assert.deepEqual([...got.keys()], ["plain", "down"]);
});

Deno.test("marking at a stop: peers sharing their routes share the marked ones, not a copy each", () => {
  const shared = [r1, r2];
  const own = [r2];
  const marked = new ShutdownMarker().routes(new Map([["a", shared], ["b", shared], ["c", own]]));
  assert.equal(marked.get("a"), marked.get("b"));
  // The same Route marked for another peer's list is the same marked object too.
  assert.equal(marked.get("c")![0], marked.get("a")![1]);
  assert.deepEqual(marked.get("a")!.map((r) => r.prefix), [r1.prefix, r2.prefix]);
  assert.deepEqual(marked.get("a")![0].attributes.communities, [7, GRACEFUL_SHUTDOWN]);
  assert.deepEqual(marked.get("c")![0].attributes.communities, [GRACEFUL_SHUTDOWN]);
  // The input is left as it was.
  assert.deepEqual(r1.attributes.communities, [7]);
});
