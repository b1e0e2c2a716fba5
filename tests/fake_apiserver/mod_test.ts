import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { type FakeApiServer, startFakeApiServer } from "./mod.ts";

const MERGE = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
const JSON_PATCH = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch);

async function withServer(fn: (s: FakeApiServer, kc: k8s.KubeConfig) => Promise<void>) {
  const server = await startFakeApiServer();
  const kc = server.kubeConfig();
  try {
    await fn(server, kc);
  } finally {
    await server.close();
  }
}

function service(name: string, labels: Record<string, string> = {}): k8s.V1Service {
  return {
    metadata: { name, namespace: "default", labels },
    spec: { type: "LoadBalancer", ports: [{ port: 80 }] },
  };
}

async function eventually(what: string, cond: () => boolean, boundMs = 10_000): Promise<void> {
  const until = Date.now() + boundMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rejectsWith(p: Promise<unknown>, code: number): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof k8s.ApiException, `expected ApiException, got ${err}`);
    assert.equal(err.code, code);
    return typeof err.body === "string" ? JSON.parse(err.body) : err.body;
  }
  assert.fail(`expected HTTP ${code}`);
}

interface WatchLine {
  type: string;
  object: { metadata: { name?: string; resourceVersion?: string }; code?: number };
}

function startWatch(
  kc: k8s.KubeConfig,
  path: string,
  params: Record<string, string | number | boolean | undefined>,
) {
  const events: WatchLine[] = [];
  let ended = false;
  let endError: unknown;
  const ctl = new k8s.Watch(kc).watch(path, params, (type, object) => {
    events.push({ type, object });
  }, (err) => {
    ended = true;
    endError = err;
  });
  return {
    events,
    ended: () => ended,
    endError: () => endError,
    stop: async () => (await ctl).abort(),
  };
}

Deno.test("fake apiserver: create, list across namespaces, get, 409 AlreadyExists, delete", async () => {
  await withServer(async (server, kc) => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const created = await core.createNamespacedService({
      namespace: "default",
      body: service("a"),
    });
    assert.ok(created.metadata?.uid);
    assert.ok(Number(created.metadata?.resourceVersion) > 0);
    await core.createNamespacedService({
      namespace: "other",
      body: { ...service("b"), metadata: { name: "b", namespace: "other" } },
    });
    const all = await core.listServiceForAllNamespaces();
    assert.deepEqual(all.items.map((s) => `${s.metadata?.namespace}/${s.metadata?.name}`), [
      "default/a",
      "other/b",
    ]);
    assert.equal(all.metadata?.resourceVersion, String(server.objects.resourceVersion()));
    const ns = await core.listNamespacedService({ namespace: "other" });
    assert.deepEqual(ns.items.map((s) => s.metadata?.name), ["b"]);
    const dup = await rejectsWith(
      core.createNamespacedService({ namespace: "default", body: service("a") }),
      409,
    ) as { kind: string; reason: string };
    assert.equal(dup.kind, "Status");
    assert.equal(dup.reason, "AlreadyExists");
    const gen = await core.createNamespacedService({
      namespace: "default",
      body: { ...service(""), metadata: { generateName: "gen-" } },
    });
    assert.match(gen.metadata?.name ?? "", /^gen-.{5}$/);
    await core.deleteNamespacedService({ name: "a", namespace: "default" });
    const gone = await rejectsWith(
      core.readNamespacedService({ name: "a", namespace: "default" }),
      404,
    ) as {
      reason: string;
    };
    assert.equal(gone.reason, "NotFound");
    await rejectsWith(core.deleteNamespacedService({ name: "a", namespace: "default" }), 404);
    assert.ok(server.requestLog.some((r) => r.verb === "delete" && r.status === 404));
  });
});

Deno.test("fake apiserver: PUT with stale resourceVersion is 409 Conflict, without it unconditional", async () => {
  await withServer(async (_server, kc) => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const v1 = await core.createNamespacedService({ namespace: "default", body: service("a") });
    const v2 = await core.replaceNamespacedService({
      name: "a",
      namespace: "default",
      body: { ...v1, metadata: { ...v1.metadata, labels: { x: "1" } } },
    });
    assert.notEqual(v2.metadata?.resourceVersion, v1.metadata?.resourceVersion);
    assert.equal(v2.metadata?.generation, 1, "labels are not spec: generation unchanged");
    const stale = await rejectsWith(
      core.replaceNamespacedService({
        name: "a",
        namespace: "default",
        body: { ...v1, metadata: { ...v1.metadata, labels: { x: "2" } } },
      }),
      409,
    ) as { reason: string };
    assert.equal(stale.reason, "Conflict");
    const v3 = await core.replaceNamespacedService({
      name: "a",
      namespace: "default",
      body: {
        ...v1,
        metadata: { ...v1.metadata, resourceVersion: undefined },
        spec: { ...v1.spec, ports: [{ port: 443 }] },
      },
    });
    assert.equal(v3.spec?.ports?.[0].port, 443);
    assert.equal(v3.metadata?.generation, 2, "spec change bumps generation");
  });
});

Deno.test("fake apiserver: status subresource is kept apart from the main object", async () => {
  await withServer(async (_server, kc) => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedService({ namespace: "default", body: service("a") });
    const patched = await core.patchNamespacedServiceStatus({
      name: "a",
      namespace: "default",
      body: {
        status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] } },
        spec: { ports: [{ port: 9999 }] },
      },
    }, MERGE);
    assert.equal(patched.status?.loadBalancer?.ingress?.[0].ip, "192.0.2.1");
    assert.equal(patched.spec?.ports?.[0].port, 80, "a status patch must not touch spec");
    const main = await core.patchNamespacedService({
      name: "a",
      namespace: "default",
      body: { status: { loadBalancer: { ingress: [{ ip: "198.51.100.9" }] } } },
    }, MERGE);
    assert.equal(main.status?.loadBalancer?.ingress?.[0].ip, "192.0.2.1");
    const replaced = await core.replaceNamespacedService({
      name: "a",
      namespace: "default",
      body: { ...main, status: {} },
    });
    assert.equal(replaced.status?.loadBalancer?.ingress?.[0].ip, "192.0.2.1");
    const jp = await core.patchNamespacedService({
      name: "a",
      namespace: "default",
      body: [{ op: "add", path: "/metadata/annotations", value: { k: "v" } }],
    }, JSON_PATCH);
    assert.equal(jp.metadata?.annotations?.k, "v");
    const smp = await core.patchNamespacedService({
      name: "a",
      namespace: "default",
      body: { metadata: { annotations: { k: null, s: "1" } } },
    }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.StrategicMergePatch));
    assert.deepEqual(smp.metadata?.annotations, { s: "1" });
  });
});

Deno.test("fake apiserver: custom objects, status merge patch, v1beta1 and v1beta2 BGPPeer", async () => {
  await withServer(async (_server, kc) => {
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    await custom.createNamespacedCustomObject({
      group: "metallb.io",
      version: "v1beta1",
      namespace: "metallb-system",
      plural: "ipaddresspools",
      body: {
        apiVersion: "metallb.io/v1beta1",
        kind: "IPAddressPool",
        metadata: { name: "p" },
        spec: { addresses: ["192.0.2.0/24"] },
      },
    });
    const st = await custom.patchNamespacedCustomObjectStatus({
      group: "metallb.io",
      version: "v1beta1",
      namespace: "metallb-system",
      plural: "ipaddresspools",
      name: "p",
      body: { status: { assignedIPv4: 1, availableIPv4: 255 } },
    }, MERGE);
    assert.equal(st.status.assignedIPv4, 1);
    assert.deepEqual(st.spec.addresses, ["192.0.2.0/24"]);
    await custom.createNamespacedCustomObject({
      group: "metallb.io",
      version: "v1beta2",
      namespace: "metallb-system",
      plural: "bgppeers",
      body: { metadata: { name: "peer" }, spec: { myASN: 64500, peerASN: 64501 } },
    });
    const old = await custom.listNamespacedCustomObject({
      group: "metallb.io",
      version: "v1beta1",
      namespace: "metallb-system",
      plural: "bgppeers",
    });
    assert.equal(old.items[0].apiVersion, "metallb.io/v1beta1");
    assert.equal(old.items[0].spec.peerASN, 64501);
  });
});

Deno.test("fake apiserver: list with label and field selectors", async () => {
  await withServer(async (_server, kc) => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedService({ namespace: "default", body: service("a", { app: "x" }) });
    await core.createNamespacedService({ namespace: "default", body: service("b", { app: "y" }) });
    await core.createNamespacedService({ namespace: "default", body: service("c") });
    const names = async (labelSelector?: string, fieldSelector?: string) =>
      (await core.listNamespacedService({ namespace: "default", labelSelector, fieldSelector }))
        .items.map((s) => s.metadata?.name);
    assert.deepEqual(await names("app=x"), ["a"]);
    assert.deepEqual(await names("app!=x"), ["b", "c"]);
    assert.deepEqual(await names("app in (x, y)"), ["a", "b"]);
    assert.deepEqual(await names("app notin (x)"), ["b", "c"]);
    assert.deepEqual(await names("app"), ["a", "b"]);
    assert.deepEqual(await names("!app"), ["c"]);
    assert.deepEqual(await names(undefined, "metadata.name=b"), ["b"]);
  });
});

Deno.test("fake apiserver: watch from a resourceVersion with bookmarks and label selector", async () => {
  await withServer(async (_server, kc) => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedService({
      namespace: "default",
      body: service("before", { w: "1" }),
    });
    const listed = await core.listNamespacedService({ namespace: "default" });
    const w = startWatch(kc, "/api/v1/namespaces/default/services", {
      resourceVersion: listed.metadata?.resourceVersion,
      allowWatchBookmarks: true,
      labelSelector: "w=1",
    });
    await core.createNamespacedService({ namespace: "default", body: service("a", { w: "1" }) });
    await core.createNamespacedService({ namespace: "default", body: service("hidden") });
    await core.patchNamespacedService({
      name: "a",
      namespace: "default",
      body: { metadata: { annotations: { n: "1" } } },
    }, MERGE);
    await core.patchNamespacedService({
      name: "a",
      namespace: "default",
      body: { metadata: { labels: { w: null } } },
    }, MERGE);
    await eventually(
      "ADDED, MODIFIED, DELETED for a",
      () => w.events.filter((e) => e.type !== "BOOKMARK").length >= 3,
    );
    assert.deepEqual(
      w.events.filter((e) => e.type !== "BOOKMARK").map((e) =>
        `${e.type} ${e.object.metadata.name}`
      ),
      ["ADDED a", "MODIFIED a", "DELETED a"],
    );
    await eventually("a bookmark", () => w.events.some((e) => e.type === "BOOKMARK"));
    await w.stop();
  });
});

Deno.test("fake apiserver: a watch ends at its timeoutSeconds", async () => {
  await withServer(async (server, kc) => {
    const w = startWatch(kc, "/api/v1/nodes", {
      resourceVersion: String(server.objects.resourceVersion()),
      timeoutSeconds: 1,
    });
    await eventually("watch open", () => server.openWatches() === 1);
    await eventually("watch ended by the server", w.ended);
    assert.equal(w.endError(), null);
    assert.equal(server.openWatches(), 0);
  });
});

Deno.test("fake apiserver: a too old resourceVersion gets an ERROR 410 event", async () => {
  await withServer(async (server, kc) => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedService({ namespace: "default", body: service("a") });
    const rv = server.objects.resourceVersion();
    await core.createNamespacedService({ namespace: "default", body: service("b") });
    server.objects.compact();
    const w = startWatch(kc, "/api/v1/services", { resourceVersion: String(rv) });
    await eventually("watch ends", w.ended);
    assert.equal(w.events.length, 1);
    assert.equal(w.events[0].type, "ERROR");
    assert.equal(w.events[0].object.code, 410);
    const ok = startWatch(kc, "/api/v1/services", {
      resourceVersion: String(server.objects.resourceVersion()),
    });
    await core.createNamespacedService({ namespace: "default", body: service("c") });
    await eventually("event after compaction", () => ok.events.length === 1);
    assert.equal(ok.events[0].object.metadata.name, "c");
    await ok.stop();
  });
});

Deno.test("fake apiserver: fault switches", async () => {
  await withServer(async (server, kc) => {
    const core = kc.makeApiClient(k8s.CoreV1Api);
    server.faults.failNext(2);
    await rejectsWith(core.listNamespacedService({ namespace: "default" }), 500);
    await rejectsWith(core.listNamespacedService({ namespace: "default" }), 500);
    await core.listNamespacedService({ namespace: "default" });

    const created = await core.createNamespacedService({
      namespace: "default",
      body: service("a"),
    });
    server.faults.conflictNextWrites(1);
    await rejectsWith(
      core.patchNamespacedService(
        { name: "a", namespace: "default", body: { metadata: {} } },
        MERGE,
      ),
      409,
    );

    const w = startWatch(kc, "/api/v1/services", {
      resourceVersion: created.metadata?.resourceVersion,
    });
    await eventually("watch open", () => server.openWatches() === 1);
    server.faults.dropWatches();
    await eventually("watch dropped", w.ended);

    server.faults.goneNextWatch("http");
    const h = startWatch(kc, "/api/v1/services", {
      resourceVersion: String(server.objects.resourceVersion()),
    });
    await eventually("forced HTTP 410", h.ended);
    assert.equal((h.endError() as { statusCode?: number }).statusCode, 410);

    server.faults.goneNextWatch();
    const g = startWatch(kc, "/api/v1/services", {
      resourceVersion: String(server.objects.resourceVersion()),
    });
    await eventually("forced 410", g.ended);
    assert.equal(g.events[0]?.object.code, 410);

    server.faults.failFraction(0.5, 42);
    let failures = 0;
    for (let i = 0; i < 20; i++) {
      try {
        await core.listNamespacedService({ namespace: "default" });
      } catch {
        failures++;
      }
    }
    assert.ok(failures > 0 && failures < 20, `expected some failures, got ${failures}`);
    server.faults.reset();

    await server.restart();
    const after = await core.readNamespacedService({ name: "a", namespace: "default" });
    assert.equal(after.metadata?.uid, created.metadata?.uid, "store survives a restart");
  });
});

Deno.test("fake apiserver: wrong bearer token is 401", async () => {
  await withServer(async (server) => {
    const kc = new k8s.KubeConfig();
    kc.loadFromString(server.kubeConfigYaml.replace(server.token, "wrong"));
    await rejectsWith(kc.makeApiClient(k8s.CoreV1Api).listNode(), 401);
  });
});

Deno.test("fake apiserver: per-user tokens are told apart in the request log", async () => {
  const server = await startFakeApiServer({ users: ["alice", "bob"] });
  try {
    for (const user of ["alice", "bob"]) {
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(server.kubeconfigFor(user));
      await kc.makeApiClient(k8s.CoreV1Api).listNode();
    }
    await server.kubeConfig().makeApiClient(k8s.CoreV1Api).listNode();
    const lists = server.requestLog.filter((r) => r.verb === "list" && r.resource === "nodes");
    assert.deepEqual(lists.map((r) => r.user), ["alice", "bob", undefined]);
    assert.throws(() => server.kubeconfigFor("carol"), /no user "carol"/);
  } finally {
    await server.close();
  }
});

Deno.test("fake apiserver: the authorizer forbids a user's request with 403", async () => {
  const server = await startFakeApiServer({
    users: ["reader"],
    authorize: (_user, r) => r.verb === "list",
  });
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigFor("reader"));
    const api = kc.makeApiClient(k8s.CoreV1Api);
    await api.listNode();
    const body = await rejectsWith(api.createNode({ body: { metadata: { name: "n1" } } }), 403);
    assert.equal((body as { reason: string }).reason, "Forbidden");
    assert.equal(server.objects.list("nodes").length, 0);
    // The admin token is not subject to it.
    await server.kubeConfig().makeApiClient(k8s.CoreV1Api).createNode({
      body: { metadata: { name: "n1" } },
    });
  } finally {
    await server.close();
  }
});
