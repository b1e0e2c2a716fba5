import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { type FakeApiServer, startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { createKubeWriter, type KubeWriter } from "./kube_writer.ts";

const NS = "metallb-system";

async function withWriter(
  fn: (server: FakeApiServer, writer: KubeWriter, kc: k8s.KubeConfig) => Promise<void>,
): Promise<void> {
  const server = await startFakeApiServer();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  try {
    await fn(server, createKubeWriter(kc, { namespace: NS }), kc);
  } finally {
    await server.close();
  }
}

async function createService(kc: k8s.KubeConfig, name: string): Promise<k8s.V1Service> {
  return await kc.makeApiClient(k8s.CoreV1Api).createNamespacedService({
    namespace: "default",
    body: { metadata: { name }, spec: { type: "LoadBalancer", ports: [{ port: 80 }] } },
  });
}

Deno.test("kube writer: ingress goes through the status subresource only", async () => {
  await withWriter(async (server, writer, kc) => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await createService(kc, "web");
    await writer.setServiceIngress("default", "web", [{ ip: "192.0.2.10" }]);
    const svc = await core.readNamespacedService({ name: "web", namespace: "default" });
    assert.deepEqual(svc.status?.loadBalancer?.ingress?.map((i) => i.ip), ["192.0.2.10"]);
    assert.equal(svc.spec?.ports?.[0].port, 80);
    assert.equal(svc.metadata?.generation, 1, "spec untouched");
    const writes = server.requestLog.filter((r) => r.verb === "patch");
    assert.deepEqual(writes.map((r) => r.subresource), ["status"]);

    // Someone replacing the main object cannot change the status we wrote.
    await core.replaceNamespacedService({
      name: "web",
      namespace: "default",
      body: { ...svc, status: { loadBalancer: { ingress: [{ ip: "203.0.113.1" }] } } },
    });
    const again = await core.readNamespacedService({ name: "web", namespace: "default" });
    assert.deepEqual(again.status?.loadBalancer?.ingress?.map((i) => i.ip), ["192.0.2.10"]);

    await writer.setServiceIngress("default", "web", []);
    const cleared = await core.readNamespacedService({ name: "web", namespace: "default" });
    assert.equal(cleared.status?.loadBalancer?.ingress, undefined);
    assert.equal(writer.stats().writesTotal, 2);
    assert.equal(writer.stats().byOperation.setServiceIngress, 2);
  });
});

Deno.test("kube writer: retries a 409 Conflict with a fresh read", async () => {
  await withWriter(async (server, writer, kc) => {
    await createService(kc, "web");
    server.faults.conflictNextWrites(2);
    await writer.setServiceIngress("default", "web", [{ ip: "192.0.2.11" }]);
    const svc = server.objects.get("services", "default", "web") as {
      status?: { loadBalancer?: { ingress?: { ip: string }[] } };
    };
    assert.equal(svc.status?.loadBalancer?.ingress?.[0].ip, "192.0.2.11");
    assert.deepEqual(
      { writes: writer.stats().writesTotal, errors: writer.stats().writeErrorsTotal },
      { writes: 3, errors: 2 },
    );
    server.faults.conflictNextWrites(10);
    await assert.rejects(writer.setServiceIngress("default", "web", []), /409/);
  });
});

Deno.test("kube writer: annotations merge and null deletes", async () => {
  await withWriter(async (server, writer, kc) => {
    await createService(kc, "web");
    await writer.patchServiceAnnotations("default", "web", { "a": "1", "b": "2" });
    await writer.patchServiceAnnotations("default", "web", { "a": null, "c": "3" });
    const svc = server.objects.get("services", "default", "web")!;
    assert.deepEqual(svc.metadata.annotations, { b: "2", c: "3" });
  });
});

Deno.test("kube writer: events carry the involved object and aggregate duplicates", async () => {
  await withWriter(async (server, writer) => {
    const ev = {
      involved: { kind: "Service", apiVersion: "v1", namespace: "default", name: "web", uid: "u1" },
      type: "Normal" as const,
      reason: "IPAllocated",
      message: 'Assigned IP ["192.0.2.10"]',
      component: "metallb-controller",
    };
    await writer.recordEvent(ev);
    await writer.recordEvent(ev);
    await writer.recordEvent({ ...ev, type: "Warning", reason: "AllocationFailed", message: "x" });
    const events = server.objects.list("events", "default") as unknown as {
      involvedObject: { name: string; uid: string };
      reason: string;
      type: string;
      count: number;
      source: { component: string };
      firstTimestamp: string;
      lastTimestamp: string;
    }[];
    assert.equal(events.length, 2);
    const allocated = events.find((e) => e.reason === "IPAllocated")!;
    assert.equal(allocated.count, 2);
    assert.equal(allocated.involvedObject.name, "web");
    assert.equal(allocated.involvedObject.uid, "u1");
    assert.equal(allocated.source.component, "metallb-controller");
    assert.ok(allocated.firstTimestamp && allocated.lastTimestamp);
    assert.equal(events.find((e) => e.reason === "AllocationFailed")!.type, "Warning");
  });
});

Deno.test("kube writer: pool status and configuration state, no write when unchanged", async () => {
  await withWriter(async (server, writer) => {
    server.objects.put("ipaddresspools.metallb.io", {
      metadata: { name: "pool", namespace: NS },
      spec: { addresses: ["192.0.2.0/24"] },
    });
    await writer.setPoolStatus(NS, "pool", { assignedIPv4: 1, availableIPv4: 255 });
    const pool = server.objects.get("ipaddresspools.metallb.io", NS, "pool")!;
    assert.deepEqual(pool.status, { assignedIPv4: 1, availableIPv4: 255 });
    assert.deepEqual(pool.spec, { addresses: ["192.0.2.0/24"] });

    await writer.setConfigurationState(NS, "controller", {
      result: "Invalid",
      errorSummary: "bad",
    });
    let cs = server.objects.get("configurationstates.metallb.io", NS, "controller")!;
    assert.deepEqual(cs.status, { result: "Invalid", errorSummary: "bad" });
    const writes = writer.stats().writesTotal;
    await writer.setConfigurationState(NS, "controller", {
      errorSummary: "bad",
      result: "Invalid",
    });
    assert.equal(writer.stats().writesTotal, writes, "equal status: nothing written");
    await writer.setConfigurationState(NS, "controller", { result: "Valid" });
    cs = server.objects.get("configurationstates.metallb.io", NS, "controller")!;
    assert.deepEqual(cs.status, { result: "Valid" });
  });
});

Deno.test("kube writer: ServiceBGPStatus create, update, delete", async () => {
  await withWriter(async (server, writer) => {
    const obj = (peers: string[]) => ({
      apiVersion: "metallb.io/v1beta1",
      kind: "ServiceBGPStatus",
      metadata: {
        name: "web-node1",
        namespace: NS,
        labels: { "metallb.io/node": "node1", "metallb.io/service-name": "web" },
      },
      status: { node: "node1", serviceName: "web", serviceNamespace: "default", peers },
    });
    await writer.setServiceBGPStatus(NS, "web-node1", obj(["peer1"]));
    let got = server.objects.get("servicebgpstatuses.metallb.io", NS, "web-node1")!;
    assert.deepEqual((got.status as { peers: string[] }).peers, ["peer1"]);
    assert.equal(got.metadata.labels?.["metallb.io/node"], "node1");
    const writes = writer.stats().writesTotal;
    await writer.setServiceBGPStatus(NS, "web-node1", obj(["peer1"]));
    assert.equal(writer.stats().writesTotal, writes, "unchanged: no write");
    await writer.setServiceBGPStatus(NS, "web-node1", obj(["peer1", "peer2"]));
    got = server.objects.get("servicebgpstatuses.metallb.io", NS, "web-node1")!;
    assert.deepEqual((got.status as { peers: string[] }).peers, ["peer1", "peer2"]);
    await writer.setServiceBGPStatus(NS, "web-node1", null);
    assert.equal(server.objects.get("servicebgpstatuses.metallb.io", NS, "web-node1"), undefined);
    const afterDelete = writer.stats().writesTotal;
    await writer.setServiceBGPStatus(NS, "web-node1", null);
    assert.equal(writer.stats().writesTotal, afterDelete, "absent: no write");
  });
});

Deno.test("toJson writes bigints as exact JSON integers", async () => {
  const { toJson } = await import("./kube_config.ts");
  const text = toJson({ status: { assignedIPv6: 3, availableIPv6: (1n << 63n) - 1n, note: "x" } });
  assert.equal(
    text,
    '{"status":{"assignedIPv6":3,"availableIPv6":9223372036854775807,"note":"x"}}',
  );
});

Deno.test("kube writer: writes to different Services are pipelined, one Service's stay in order", async () => {
  const server = await startFakeApiServer();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  try {
    for (let i = 0; i < 12; i++) await createService(kc, `s${i}`);
    const writer = createKubeWriter(kc, { namespace: NS, maxInFlight: 4 });
    server.faults.delayMs = 100;
    const started = performance.now();
    const calls: Promise<void>[] = [];
    for (let i = 0; i < 12; i++) {
      calls.push(writer.setServiceIngress("default", `s${i}`, [{ ip: `192.0.2.${i + 1}` }]));
      calls.push(
        writer.patchServiceAnnotations("default", `s${i}`, {
          "metallb.io/ip-allocated-from-pool": "p",
        }),
      );
    }
    await Promise.all(calls);
    const elapsed = performance.now() - started;
    server.faults.delayMs = 0;
    assert.equal(writer.stats().maxInFlightSeen, 4, "four requests in flight, no more");
    // 24 requests of >= 100 ms each, one at a time, would take >= 2.4 s.
    assert.ok(elapsed < 2_400, `24 delayed writes took ${Math.round(elapsed)} ms`);
    const patches = server.requestLog.filter((r) => r.verb === "patch");
    for (let i = 0; i < 12; i++) {
      const mine = patches.filter((r) => r.name === `s${i}`).map((r) => r.subresource ?? "");
      assert.deepEqual(mine, ["status", ""], `s${i}: status first, then annotations`);
      const svc = server.objects.get("services", "default", `s${i}`) as
        | { status?: { loadBalancer?: { ingress?: { ip: string }[] } } }
        | undefined;
      assert.equal(svc?.status?.loadBalancer?.ingress?.[0]?.ip, `192.0.2.${i + 1}`);
    }
  } finally {
    await server.close();
  }
});

Deno.test("kube writer: restating an unchanged condition with a new time writes nothing", async () => {
  await withWriter(async (server, writer) => {
    const state = (status: string, at: string) => ({
      result: status === "True" ? "Valid" : "Invalid",
      conditions: [{ type: "Valid", status, reason: "R", message: "", lastTransitionTime: at }],
    });
    await writer.setConfigurationState(NS, "speaker-n1", state("True", "2026-01-01T00:00:00Z"));
    const writes = writer.stats().writesTotal;
    // A restarted speaker states the same condition with its own clock.
    await writer.setConfigurationState(NS, "speaker-n1", state("True", "2026-01-02T00:00:00Z"));
    assert.equal(writer.stats().writesTotal, writes, "same condition: nothing written");
    await writer.setConfigurationState(NS, "speaker-n1", state("False", "2026-01-03T00:00:00Z"));
    const cs = server.objects.get("configurationstates.metallb.io", NS, "speaker-n1")!;
    const cond = (cs.status as { conditions: { lastTransitionTime: string }[] }).conditions[0];
    assert.equal(
      cond.lastTransitionTime,
      "2026-01-03T00:00:00Z",
      "a changed condition gets its time",
    );
  });
});

Deno.test("kube writer: the same Event recorded twice at once is one Event with count 2", async () => {
  await withWriter(async (server, writer) => {
    const ev = {
      involved: { kind: "Service", apiVersion: "v1", namespace: "default", name: "web" },
      type: "Normal" as const,
      reason: "IPAllocated",
      message: "same",
      component: "metallb-controller",
    };
    // Pipelined callers do not wait for each other; the repeat must still find the first.
    await Promise.all([writer.recordEvent(ev), writer.recordEvent(ev)]);
    const events = server.objects.list("events", "default") as unknown as { count: number }[];
    assert.equal(events.length, 1);
    assert.equal(events[0].count, 2);
  });
});
