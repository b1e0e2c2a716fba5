import assert from "node:assert/strict";
import type { EventRecord, KubeObject } from "../cluster/types.ts";
import {
  ingressOf,
  poolObject,
  serviceObject,
  startTestController,
} from "../tests/controller/testing.ts";

const PREFER = { ipFamilyPolicy: "PreferDualStack", ipFamilies: ["IPv4", "IPv6"] };

async function start(objects: KubeObject[]) {
  const { source, writer, controller } = await startTestController(objects);
  const additional = (name?: string): EventRecord[] =>
    writer.events.filter((e) =>
      e.reason === "AdditionalAssignFailed" && (name === undefined || e.involved.name === name)
    );
  const svc = (key: string) => source.snapshot().objects.get("Service")!.get(key)!;
  return { source, writer, controller, additional, svc };
}

Deno.test("service events: as MetalLB, PreferDualStack on an IPv4-only pool is a Normal AdditionalAssignFailed, once", async () => {
  const r = await start([
    poolObject("v4", ["10.0.0.0/30"]),
    serviceObject("default", "prefer", { spec: PREFER }),
    serviceObject("default", "single", {}),
  ]);
  try {
    assert.deepEqual(ingressOf(r.svc("default/prefer")), ["10.0.0.0"]);
    const events = r.additional();
    assert.equal(events.length, 1);
    const e = events[0];
    assert.equal(e.type, "Normal");
    assert.equal(e.component, "metallb-controller");
    assert.deepEqual(e.involved, {
      kind: "Service",
      apiVersion: "v1",
      namespace: "default",
      name: "prefer",
      uid: "uid-default-prefer",
    });
    assert.equal(
      e.message,
      "cannot assign additional IP in PreferDualStack: no available IPs in pool v4 for ipv6 IPFamily",
    );
    // An unchanged Service does not repeat it: a full pass, then an edit that changes nothing
    // about its addresses.
    r.controller.reconcile();
    await r.controller.idle();
    const s = r.svc("default/prefer");
    r.source.put({ ...s, metadata: { ...s.metadata, labels: { edited: "1" } } });
    await r.controller.idle();
    assert.equal(r.additional().length, 1);
  } finally {
    await r.controller.stop();
  }
});

Deno.test("service events: AdditionalAssignFailed when the pool's IPv6 part is exhausted; gone once both are given", async () => {
  const r = await start([
    poolObject("p", ["10.0.0.0/30", "fd00::/127"]),
    serviceObject("default", "a", { created: "2026-01-01T00:00:01Z", spec: PREFER }),
    serviceObject("default", "b", { created: "2026-01-01T00:00:02Z", spec: PREFER }),
    serviceObject("default", "c", { created: "2026-01-01T00:00:03Z", spec: PREFER }),
  ]);
  try {
    assert.equal(ingressOf(r.svc("default/a")).length, 2);
    assert.equal(ingressOf(r.svc("default/b")).length, 2);
    assert.deepEqual(ingressOf(r.svc("default/c")), ["10.0.0.2"]);
    assert.deepEqual(r.additional().map((e) => e.involved.name), ["c"]);
    assert.match(r.additional("c")[0].message, /no available IPs in pool p for ipv6 IPFamily$/);
    // A freed IPv6 completes c (as MetalLB's additional-family assignment does); no new
    // AdditionalAssignFailed for it.
    r.source.remove("Service", "default/a");
    await r.controller.idle();
    r.controller.reconcile();
    await r.controller.idle();
    assert.equal(ingressOf(r.svc("default/c")).length, 2);
    assert.equal(r.additional().length, 1);
  } finally {
    await r.controller.stop();
  }
});

Deno.test("service events: IPAllocated names the Service with its uid, once, whether or not it rides on the write", async () => {
  const r = await start([
    poolObject("v4", ["10.0.0.0/30"]),
    serviceObject("default", "a", {}),
    serviceObject("default", "b", { uid: "" }),
  ]);
  try {
    const allocated = r.writer.events.filter((e) => e.reason === "IPAllocated");
    assert.deepEqual(allocated.map((e) => [e.involved, e.type, e.message, e.component]), [
      [
        {
          kind: "Service",
          apiVersion: "v1",
          namespace: "default",
          name: "a",
          uid: "uid-default-a",
        },
        "Normal",
        'Assigned IP ["10.0.0.0"]',
        "metallb-controller",
      ],
      [
        { kind: "Service", apiVersion: "v1", namespace: "default", name: "b" },
        "Normal",
        'Assigned IP ["10.0.0.1"]',
        "metallb-controller",
      ],
    ]);
    assert.deepEqual(ingressOf(r.svc("default/b")), ["10.0.0.1"]);
  } finally {
    await r.controller.stop();
  }
});
