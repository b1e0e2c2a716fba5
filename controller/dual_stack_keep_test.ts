/**
 * A dual-stack Service re-assigned keeps the address of the family it already holds, end to
 * end through the controller: status, Events and the IP history.
 */
import assert from "node:assert/strict";
import type { AddressChange } from "../api/ip_history.ts";
import type { KubeObject } from "../cluster/types.ts";
import {
  ingressOf,
  poolObject,
  serviceObject,
  startTestController,
} from "../tests/controller/testing.ts";

const DUAL = { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv4", "IPv6"] };

async function rig(objects: KubeObject[]) {
  const history: AddressChange[] = [];
  const { source, writer, controller } = await startTestController(objects, {
    retryDelayMs: 20,
    onAddressChanges: (changes) => history.push(...changes),
  });
  await controller.idle();
  return {
    source,
    controller,
    history,
    ips: (key: string) => ingressOf(source.snapshot().objects.get("Service")!.get(key)),
    events: (reason: string) =>
      writer.events.filter((e) => e.reason === reason).map((e) => `${e.type}: ${e.message}`),
  };
}

Deno.test("controller dual stack keep: a pool change for IPv4 keeps the Service's IPv6", async () => {
  const r = await rig([
    poolObject("p", ["10.0.0.0/30", "fc00::/126"]),
    serviceObject("default", "other", {
      created: "2026-01-01T00:00:00Z",
      spec: { ipFamilyPolicy: "SingleStack", ipFamilies: ["IPv6"] },
    }),
    serviceObject("default", "ds", { created: "2026-01-01T00:00:01Z", spec: DUAL }),
  ]);
  try {
    assert.deepEqual(r.ips("default/ds"), ["10.0.0.0", "fc00::1"]);
    r.source.put(poolObject("p", ["10.0.1.0/30", "fc00::/126"]));
    await r.controller.idle();
    assert.deepEqual(r.ips("default/ds"), ["10.0.1.0", "fc00::1"]);
    assert.deepEqual(r.ips("default/other"), ["fc00::"]);
    // The Event names both addresses the Service showed and why one of them went.
    assert.deepEqual(r.events("ClearAssignment"), [
      'Normal: current IP ["10.0.0.0","fc00::1"] for "default/ds" not allowed by config, ' +
      "will attempt for new IP assignment: ip 10.0.0.0 is not in any pool",
    ]);
    assert.deepEqual(r.events("IPAllocated").at(-1), 'Normal: Assigned IP ["10.0.1.0","fc00::1"]');
    const ds = r.history.filter((c) => c.service === "default/ds").slice(1);
    assert.deepEqual(ds.map((c) => [c.change, c.ips]), [
      ["released", ["10.0.0.0"]],
      ["assigned", ["10.0.1.0"]],
    ]);
  } finally {
    await r.controller.stop();
  }
});

Deno.test("controller dual stack keep: a restart with only the IPv6 in status adds an IPv4", async () => {
  const r = await rig([
    poolObject("p", ["10.0.0.0/30", "fc00::/126"]),
    serviceObject("default", "ds", { spec: DUAL, ingress: ["fc00::3"] }),
  ]);
  try {
    assert.deepEqual(r.ips("default/ds"), ["10.0.0.0", "fc00::3"]);
    assert.deepEqual(r.events("IPAllocated"), ['Normal: Assigned IP ["10.0.0.0","fc00::3"]']);
    assert.deepEqual(r.events("ClearAssignment"), []);
  } finally {
    await r.controller.stop();
  }
});

Deno.test("controller dual stack keep: a restart with a status IPv4 outside every pool keeps the IPv6", async () => {
  const r = await rig([
    poolObject("p", ["10.0.0.0/30", "fc00::/126"]),
    serviceObject("default", "ds", { spec: DUAL, ingress: ["192.168.7.7", "fc00::3"] }),
  ]);
  try {
    assert.deepEqual(r.ips("default/ds"), ["10.0.0.0", "fc00::3"]);
    assert.deepEqual(r.events("ClearAssignment"), [
      'Normal: current IP ["192.168.7.7","fc00::3"] for "default/ds" not allowed by config, ' +
      "will attempt for new IP assignment: ip 192.168.7.7 is not in any pool",
    ]);
  } finally {
    await r.controller.stop();
  }
});
