/**
 * The controller against the fake API server through the real client (kube source and
 * writer): what users see with kubectl, and what the API server sees in its request log.
 */
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { silentLogger } from "../api/log.ts";
import { createKubeSource, type KubeSource } from "../cluster/kube_source.ts";
import { createKubeWriter } from "../cluster/kube_writer.ts";
import { type FakeApiServer, startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { eventually } from "../tests/fake_apiserver/testing.ts";
import { Controller } from "./controller.ts";
import {
  ingressOf,
  poolObject,
  serviceObject,
  TEST_NAMESPACE,
} from "../tests/controller/testing.ts";
import type { KubeObject } from "../cluster/types.ts";

const NS = TEST_NAMESPACE;
const WRITE_VERBS = new Set(["create", "update", "patch", "delete"]);

interface Running {
  source: KubeSource;
  controller: Controller;
  stop(): Promise<void>;
}

async function startController(server: FakeApiServer): Promise<Running> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  const source = createKubeSource(kc, {
    namespace: NS,
    logger: silentLogger,
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    watchTimeoutSeconds: 60,
  });
  const writer = createKubeWriter(kc, { namespace: NS, logger: silentLogger });
  const controller = new Controller(source, writer, {
    namespace: NS,
    logger: silentLogger,
    retryDelayMs: 50,
  });
  await controller.start();
  return {
    source,
    controller,
    async stop() {
      await controller.stop();
      await source.close();
    },
  };
}

function putPool(server: FakeApiServer, obj: KubeObject): void {
  server.objects.put("ipaddresspools.metallb.io", obj as never);
}

function putService(server: FakeApiServer, obj: KubeObject): void {
  server.objects.put("services", obj as never);
}

function serviceIPs(server: FakeApiServer, ns: string, name: string): string[] {
  return ingressOf(server.objects.get("services", ns, name) as KubeObject | undefined);
}

function writes(server: FakeApiServer, from = 0) {
  return server.requestLog.slice(from).filter((r) => WRITE_VERBS.has(r.verb));
}

Deno.test("scenario: seed example through the API server (status subresource, annotations, Events)", async () => {
  const server = await startFakeApiServer();
  putPool(server, poolObject("example-pool", ["172.19.0.0/24"], { autoAssign: false }));
  putService(
    server,
    serviceObject("default", "example-service", {
      annotations: { "metallb.universe.tf/address-pool": "example-pool" },
    }),
  );
  const c = await startController(server);
  try {
    await eventually(
      "service has an address",
      () => serviceIPs(server, "default", "example-service").length > 0,
    );
    assert.deepEqual(serviceIPs(server, "default", "example-service"), ["172.19.0.0"]);
    await eventually("annotations written", () => {
      const a = server.objects.get("services", "default", "example-service")?.metadata
        .annotations as Record<string, string> | undefined;
      return a?.["metallb.io/ip-allocated-from-pool"] === "example-pool" &&
        a?.["metallb.universe.tf/ip-allocated-from-pool"] === "example-pool";
    });
    const statusWrites = server.requestLog.filter((r) =>
      r.resource === "services" && r.subresource === "status" && WRITE_VERBS.has(r.verb)
    );
    assert.ok(statusWrites.length >= 1, "status written through the status subresource");
    await eventually("events recorded", () => {
      const reasons = server.objects.list("events", "default").map((e) => e.reason);
      return reasons.includes("IPAllocated") && reasons.includes("DeprecatedAnnotation");
    });
    const allocated = server.objects.list("events", "default").find((e) =>
      e.reason === "IPAllocated"
    )!;
    assert.equal(allocated.message, 'Assigned IP ["172.19.0.0"]');
    assert.equal((allocated.involvedObject as { name: string }).name, "example-service");
    await eventually("pool status written", () => {
      const p = server.objects.get("ipaddresspools.metallb.io", NS, "example-pool");
      return (p?.status as { assignedIPv4?: number } | undefined)?.assignedIPv4 === 1;
    });
    const cs = server.objects.get("configurationstates.metallb.io", NS, "controller");
    assert.equal((cs?.status as { result?: string } | undefined)?.result, "Valid");
  } finally {
    await c.stop();
    await server.close();
  }
});

Deno.test("scenario: restart with 1,000 assigned Services sends no write and keeps every IP", async () => {
  const server = await startFakeApiServer();
  putPool(server, poolObject("big", ["10.10.0.0/16"]));
  for (let i = 0; i < 1000; i++) {
    putService(
      server,
      serviceObject(`ns${i % 10}`, `svc${i}`, {
        created: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
      }),
    );
  }
  const first = await startController(server);
  const before = new Map<string, string>();
  try {
    await eventually(
      "all 1,000 assigned",
      () => server.objects.list("services").every((s) => ingressOf(s as KubeObject).length === 1),
      {
        boundMs: 120_000,
      },
    );
    await eventually("pool status caught up", () => {
      const p = server.objects.get("ipaddresspools.metallb.io", NS, "big");
      return (p?.status as { assignedIPv4?: number } | undefined)?.assignedIPv4 === 1000;
    }, { boundMs: 60_000 });
    await first.controller.idle();
  } finally {
    await first.stop();
  }
  for (const s of server.objects.list("services")) {
    before.set(`${s.metadata.namespace}/${s.metadata.name}`, ingressOf(s as KubeObject).join());
  }
  assert.equal(new Set(before.values()).size, 1000, "no address given twice");
  const mark = server.requestLog.length;
  const second = await startController(server);
  try {
    await second.controller.idle();
    const sent = writes(server, mark);
    assert.deepEqual(sent.map((r) => `${r.verb} ${r.path}`), []);
    for (const [key, ips] of before) {
      assert.equal(second.controller.assignmentOf(key)?.ips.join(), ips, key);
    }
  } finally {
    await second.stop();
    await server.close();
  }
});

Deno.test("scenario: API outage mid-way (dropped watches, 500s, server restart) converges without double allocation", async () => {
  const server = await startFakeApiServer();
  putPool(server, poolObject("p", ["10.20.0.0/26"]));
  for (let i = 0; i < 10; i++) putService(server, serviceObject("default", `a${i}`));
  const c = await startController(server);
  try {
    await eventually(
      "first batch assigned",
      () => server.objects.list("services").every((s) => ingressOf(s as KubeObject).length === 1),
    );
    server.faults.dropWatches();
    server.faults.failNext(30);
    for (let i = 0; i < 10; i++) {
      putService(
        server,
        serviceObject("default", `b${i}`, {
          created: new Date(Date.UTC(2026, 0, 2, 0, 0, i)).toISOString(),
        }),
      );
    }
    server.objects.delete("services", "default", "a0");
    await server.restart();
    for (let i = 0; i < 5; i++) {
      putService(
        server,
        serviceObject("default", `c${i}`, {
          created: new Date(Date.UTC(2026, 0, 3, 0, 0, i)).toISOString(),
        }),
      );
    }
    server.faults.dropWatches();
    await eventually(
      "every Service assigned after the outage",
      () =>
        server.objects.list("services").length === 24 &&
        server.objects.list("services").every((s) => ingressOf(s as KubeObject).length === 1),
      {
        boundMs: 60_000,
      },
    );
    const ips = server.objects.list("services").map((s) => ingressOf(s as KubeObject)[0]);
    assert.equal(new Set(ips).size, ips.length, `duplicate address in ${ips.join(",")}`);
    assert.equal(c.controller.assignmentOf("default/a0"), undefined);
  } finally {
    await c.stop();
    await server.close();
  }
});

Deno.test("scenario: 409 conflicts on writes are retried", async () => {
  const server = await startFakeApiServer();
  putPool(server, poolObject("p", ["10.30.0.0/30"]));
  const c = await startController(server);
  try {
    server.faults.conflictNextWrites(3);
    putService(server, serviceObject("default", "web"));
    await eventually(
      "assigned despite conflicts",
      () =>
        serviceIPs(server, "default", "web").length === 1 &&
        (server.objects.get("services", "default", "web")?.metadata.annotations as
            | Record<string, string>
            | undefined)?.["metallb.io/ip-allocated-from-pool"] === "p",
    );
    assert.deepEqual(serviceIPs(server, "default", "web"), ["10.30.0.0"]);
    assert.ok(server.requestLog.some((r) => r.status === 409), "conflicts were served");
  } finally {
    await c.stop();
    await server.close();
  }
});
