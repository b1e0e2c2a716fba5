import assert from "node:assert/strict";
import type { KubeObject } from "../cluster/types.ts";
import {
  ingressOf,
  poolObject,
  serviceObject,
  startTestController,
} from "../tests/controller/testing.ts";

// MetalLB's convergeBalancer gives a PreferDualStack Service holding one address the other
// family from the same pool (AllocateFromPoolForAdditionalFamily), also when ipFamilies lists
// one family, as in a single-stack cluster.

const PREFER_V4 = { ipFamilyPolicy: "PreferDualStack", ipFamilies: ["IPv4"] };
const DUAL_POOL = poolObject("p", ["10.0.0.0/30", "fd00::/126"]);

async function start(objects: KubeObject[]) {
  const { source, writer, controller } = await startTestController(objects);
  const events = (reason: string) =>
    writer.events.filter((e) => e.reason === reason).map((e) =>
      `${e.involved.name} ${e.type}: ${e.message}`
    );
  const ips = (key: string) => ingressOf(source.snapshot().objects.get("Service")!.get(key)!);
  return { source, controller, events, ips };
}

Deno.test("prefer dual stack: ipFamilies [IPv4] and a dual pool end with both, and the additional Event", async () => {
  const r = await start([DUAL_POOL, serviceObject("default", "web", { spec: PREFER_V4 })]);
  try {
    assert.deepEqual(r.ips("default/web"), ["10.0.0.0", "fd00::"]);
    assert.deepEqual(r.events("IPAllocated"), [
      'web Normal: Assigned IP ["10.0.0.0"]',
      'web Normal: Assigned additional IP "fd00::"',
    ]);
    assert.deepEqual(r.events("AdditionalAssignFailed"), []);
    // Nothing changes on a full pass: no Event again.
    r.controller.reconcile();
    await r.controller.idle();
    assert.equal(r.events("IPAllocated").length, 2);
  } finally {
    await r.controller.stop();
  }
});

Deno.test("prefer dual stack: ipFamilies [IPv4] and an IPv4-only pool keep one, AdditionalAssignFailed", async () => {
  const r = await start([
    poolObject("v4", ["10.0.0.0/30"]),
    serviceObject("default", "web", { spec: PREFER_V4 }),
  ]);
  try {
    assert.deepEqual(r.ips("default/web"), ["10.0.0.0"]);
    assert.deepEqual(r.events("AdditionalAssignFailed"), [
      "web Normal: cannot assign additional IP in PreferDualStack: " +
      "no available IPs in pool v4 for ipv6 IPFamily",
    ]);
  } finally {
    await r.controller.stop();
  }
});

Deno.test("prefer dual stack: a restart with the IPv4 in status adds the IPv6 and keeps the IPv4", async () => {
  const r = await start([
    DUAL_POOL,
    serviceObject("default", "web", { spec: PREFER_V4, ingress: ["10.0.0.2"] }),
  ]);
  try {
    assert.deepEqual(r.ips("default/web"), ["10.0.0.2", "fd00::"]);
    assert.deepEqual(r.events("IPAllocated"), ['web Normal: Assigned additional IP "fd00::"']);
    assert.deepEqual(r.events("ClearAssignment"), []);
  } finally {
    await r.controller.stop();
  }
});

Deno.test("prefer dual stack: SingleStack never gets a second family", async () => {
  const r = await start([
    DUAL_POOL,
    serviceObject("default", "one", {
      spec: { ipFamilyPolicy: "SingleStack", ipFamilies: ["IPv4"] },
    }),
  ]);
  try {
    assert.deepEqual(r.ips("default/one"), ["10.0.0.0"]);
    assert.deepEqual(r.events("IPAllocated"), ['one Normal: Assigned IP ["10.0.0.0"]']);
    assert.deepEqual(r.events("AdditionalAssignFailed"), []);
  } finally {
    await r.controller.stop();
  }
});
