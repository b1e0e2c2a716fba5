import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { createMemorySource } from "../cluster/memory_source.ts";
import { Controller } from "./controller.ts";
import {
  createReflectingWriter,
  poolObject,
  serviceObject,
  TEST_NAMESPACE,
} from "../tests/controller/testing.ts";

Deno.test("controller status: assigned, pending and kept-under-invalid Services, sorted by key; gone ones leave", async () => {
  const source = createMemorySource([
    poolObject("one", ["10.0.0.1/32"]),
    serviceObject("b", "first", { created: "2026-01-01T00:00:01Z" }),
    serviceObject("a", "second", { created: "2026-01-01T00:00:02Z" }),
    serviceObject("c", "other", { spec: { type: "ClusterIP" } }),
  ]);
  const controller = new Controller(source, createReflectingWriter(source), {
    namespace: TEST_NAMESPACE,
    logger: silentLogger,
  });
  await controller.start();
  try {
    assert.deepEqual(controller.status().services, [
      { namespace: "a", name: "second", ips: [], peers: [], pending: "pool exhausted" },
      { namespace: "b", name: "first", ips: ["10.0.0.1"], pool: "one", peers: [] },
    ]);
    // An invalid annotation keeps the address in use: still listed with it, not pending.
    const first = source.snapshot().objects.get("Service")!.get("b/first")!;
    source.put({
      ...first,
      metadata: {
        ...first.metadata,
        annotations: { ...first.metadata.annotations, "metallb.io/loadBalancerIPs": "nope" },
      },
    });
    await controller.idle();
    assert.deepEqual(controller.status().services[1], {
      namespace: "b",
      name: "first",
      ips: ["10.0.0.1"],
      pool: "one",
      peers: [],
    });
    source.remove("Service", "a/second");
    await controller.idle();
    assert.deepEqual(controller.status().services.map((s) => s.name), ["first"]);
  } finally {
    await controller.stop();
  }
});
