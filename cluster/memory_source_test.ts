import assert from "node:assert/strict";
import { createMemorySource } from "./memory_source.ts";

const svc = (name: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: "default" },
  spec: { type: "LoadBalancer" },
});

Deno.test("memory source: put and remove notify once per batch with the kinds changed", async () => {
  const src = createMemorySource([svc("a")]);
  await src.start();
  assert.equal(src.snapshot().objects.get("Service")!.size, 1);
  const seen: string[][] = [];
  src.subscribe((kinds) => seen.push([...kinds]));
  src.put(svc("b"));
  src.remove("Service", "default/a");
  await Promise.resolve();
  assert.deepEqual(seen, [["Service"]]);
  assert.deepEqual([...src.snapshot().objects.get("Service")!.keys()], ["default/b"]);
});

Deno.test("memory source: snapshots are immutable views", () => {
  const src = createMemorySource([svc("a")]);
  const before = src.snapshot();
  src.put(svc("b"));
  assert.equal(before.objects.get("Service")!.size, 1);
  assert.ok(src.snapshot().revision > before.revision);
  src.replaceAll(["Service"], [svc("c")]);
  assert.deepEqual([...src.snapshot().objects.get("Service")!.keys()], ["default/c"]);
});
