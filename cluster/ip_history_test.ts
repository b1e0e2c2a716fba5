/**
 * IP history end to end: the controller against the fake API server through the real client,
 * its changes kept in the ConfigMap ferrolb-ip-history (batched writes), read back after a
 * restart; and the file backend of file mode.
 */
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { silentLogger } from "../api/log.ts";
import type { HistoryEntry } from "../api/ip_history.ts";
import { createKubeSource } from "./kube_source.ts";
import { createKubeWriter } from "./kube_writer.ts";
import { fileHistoryBackend, HISTORY_NAME, HistoryKeeper } from "./ip_history_store.ts";
import { configMapHistoryBackend, HISTORY_KEY } from "./ip_history_configmap.ts";
import { type FakeApiServer, startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { eventually } from "../tests/fake_apiserver/testing.ts";
import { Controller } from "../controller/controller.ts";
import { poolObject, serviceObject, TEST_NAMESPACE } from "../tests/controller/testing.ts";
import type { KubeObject } from "./types.ts";

const NS = TEST_NAMESPACE;
const WRITES = new Set(["create", "update", "patch"]);

function kubeConfig(server: FakeApiServer): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  return kc;
}

function summary(entries: HistoryEntry[]) {
  return entries.map((e) => [e.ip, e.service, e.why, e.to === undefined ? "holds" : e.ended]);
}

Deno.test("ip history: assigned, type changed, reused last, deleted, pool removed; in a ConfigMap", async () => {
  const server = await startFakeApiServer();
  const kc = kubeConfig(server);
  const put = (resource: string, o: KubeObject) => server.objects.put(resource, o as never);
  put("ipaddresspools.metallb.io", poolObject("a", ["10.0.0.10-10.0.0.11"]));
  put("services", serviceObject("default", "web"));
  const source = createKubeSource(kc, {
    namespace: NS,
    logger: silentLogger,
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    watchTimeoutSeconds: 60,
  });
  const keeper = new HistoryKeeper(configMapHistoryBackend(kc, { namespace: NS }), {
    logger: silentLogger,
    flushMs: 200,
  });
  await keeper.start();
  const controller = new Controller(
    source,
    createKubeWriter(kc, { namespace: NS, logger: silentLogger }),
    {
      namespace: NS,
      logger: silentLogger,
      retryDelayMs: 50,
      onAddressChanges: keeper.record,
    },
  );
  const cmWrites = () =>
    server.requestLog.filter((r) => r.resource === "configmaps" && WRITES.has(r.verb)).length;
  const has = (n: number) => () => keeper.query().length >= n;
  try {
    await controller.start();
    await eventually("web assigned", has(1));
    // web becomes a NodePort: its address is released.
    put("services", serviceObject("default", "web", { spec: { type: "NodePort" } }));
    await eventually("web released", () => keeper.query("10.0.0.10")[0]?.to !== undefined);
    // api gets the other address (freed ones are reused last), db the freed one.
    put("services", serviceObject("default", "api", { created: "2026-01-01T00:00:01Z" }));
    await eventually("api assigned", () => keeper.query("default/api").length === 1);
    put("services", serviceObject("default", "db", { created: "2026-01-01T00:00:02Z" }));
    await eventually("db assigned", () => keeper.query("default/db").length === 1);
    server.objects.delete("services", "default", "api");
    await eventually("api released", () => keeper.query("default/api")[0]?.to !== undefined);
    // Pool a replaced by pool c: db moves to c's address.
    put("ipaddresspools.metallb.io", poolObject("c", ["10.2.0.1/32"]));
    await controller.idle();
    server.objects.delete("ipaddresspools.metallb.io", NS, "a");
    await eventually("db moved", () => keeper.query("default/db").length === 2);
    assert.deepEqual(summary(keeper.query()), [
      ["10.0.0.10", "default/web", "assigned", "type changed: NodePort"],
      ["10.0.0.11", "default/api", "assigned", "Service deleted"],
      ["10.0.0.10", "default/db", "re-assigned", "pool removed: a"],
      ["10.2.0.1", "default/db", "assigned", "holds"],
    ]);
    assert.deepEqual(keeper.query("10.0.0.10").map((e) => e.service), [
      "default/web",
      "default/db",
    ]);
    await controller.stop();
    await keeper.close();
    // Far fewer writes than changes would be with one write each is not the point on 6
    // changes; the point is no write per assignment under a burst, checked below.
    const cm = server.objects.get("configmaps", NS, HISTORY_NAME) as
      | { binaryData?: Record<string, string> }
      | undefined;
    assert.ok(cm?.binaryData?.[HISTORY_KEY], "history saved in the ConfigMap");
    const again = new HistoryKeeper(configMapHistoryBackend(kc, { namespace: NS }), {
      logger: silentLogger,
    });
    await again.start();
    assert.deepEqual(again.query(), keeper.query(), "read back after a restart");

    // A burst of 50 Services is one batch, not 50 writes.
    put("ipaddresspools.metallb.io", poolObject("b", ["10.1.0.0/24"], { autoAssign: true }));
    const before = cmWrites();
    const c2 = new Controller(
      source,
      createKubeWriter(kc, { namespace: NS, logger: silentLogger }),
      {
        namespace: NS,
        logger: silentLogger,
        onAddressChanges: again.record,
      },
    );
    await c2.start();
    for (let i = 0; i < 50; i++) put("services", serviceObject("burst", `s${i}`));
    await eventually(
      "50 assigned",
      () => again.query().filter((e) => e.service.startsWith("burst/")).length === 50,
    );
    await c2.stop();
    await again.close();
    const burstWrites = cmWrites() - before;
    assert.ok(
      burstWrites >= 1 && burstWrites <= 5,
      `${burstWrites} ConfigMap writes for 50 assignments`,
    );
  } finally {
    await controller.stop();
    await source.close();
    await server.close();
  }
});

Deno.test("ip history: the file backend keeps it in the state directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flb-history-" });
  try {
    const k = new HistoryKeeper(fileHistoryBackend(dir), { logger: silentLogger, flushMs: 10_000 });
    await k.start();
    k.record([{ service: "ns/a", ips: ["10.0.0.1"], pool: "p", change: "assigned" }], {
      pools: new Set(["p"]),
    });
    await k.close();
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/${HISTORY_NAME}.json`));
    assert.equal(saved.version, 1);
    const k2 = new HistoryKeeper(fileHistoryBackend(dir), { logger: silentLogger });
    await k2.start();
    assert.deepEqual(summary(k2.query("ns/a")), [["10.0.0.1", "ns/a", "assigned", "holds"]]);
    // A damaged file is logged and the history starts afresh rather than stopping the controller.
    await Deno.writeTextFile(`${dir}/${HISTORY_NAME}.json`, "{not json");
    const k3 = new HistoryKeeper(fileHistoryBackend(dir), { logger: silentLogger });
    await k3.start();
    assert.deepEqual(k3.query(), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file backend: a large history is written in pieces as the same JSON", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const backend = fileHistoryBackend(dir);
    const entries: HistoryEntry[] = Array.from({ length: 5000 }, (_, i) => ({
      ip: `10.${i >> 8}.${i & 255}.1`,
      service: `ns/svc-${i}`,
      ...(i % 3 === 0 ? { pool: "p" } : {}),
      from: "2026-01-01T00:00:00.000Z",
      why: "assigned" as const,
    }));
    const file = { version: 1 as const, entries };
    await backend.save(file);
    const text = await Deno.readTextFile(`${dir}/${HISTORY_NAME}.json`);
    assert.equal(text, JSON.stringify(file));
    await backend.save({ version: 1, entries: [] });
    assert.deepEqual(await backend.load(), { version: 1, entries: [] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
