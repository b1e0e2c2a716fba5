import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { type FakeApiServer, startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { eventually } from "../tests/fake_apiserver/testing.ts";
import { createKubeSource, type KubeSource } from "./kube_source.ts";
import { READ_KINDS, type ReadKind } from "./types.ts";

const NS = "metallb-system";

function seed(server: FakeApiServer): void {
  const put = (resource: string, name: string, namespace?: string, extra = {}) =>
    server.objects.put(resource, { metadata: { name, namespace }, ...extra });
  for (
    const r of [
      "ipaddresspools.metallb.io",
      "bgpadvertisements.metallb.io",
      "communities.metallb.io",
      "bfdprofiles.metallb.io",
      "l2advertisements.metallb.io",
      "secrets",
    ]
  ) {
    put(r, "in-install", NS);
    put(r, "elsewhere", "default");
  }
  put("bgppeers.metallb.io", "peer", NS, { spec: { myASN: 64500, peerASN: 64501 } });
  put("services", "web", "default", { spec: { type: "LoadBalancer" } });
  put("services", "db", "team-a", { spec: { type: "LoadBalancer" } });
  put("endpointslices.discovery.k8s.io", "web-abc", "default", { endpoints: [] });
  put("nodes", "node-1");
  put("namespaces", "default");
  put("namespaces", NS);
}

async function withSource(
  fn: (server: FakeApiServer, source: KubeSource) => Promise<void> | void,
  beforeStart?: (server: FakeApiServer) => void,
): Promise<void> {
  const server = await startFakeApiServer();
  seed(server);
  beforeStart?.(server);
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  const source = createKubeSource(kc, {
    namespace: NS,
    backoffInitialMs: 20,
    backoffMaxMs: 200,
    watchTimeoutSeconds: 60,
    watchIdleTimeoutMs: 3000,
  });
  try {
    await source.start();
    await fn(server, source);
  } finally {
    await source.close();
    await server.close();
  }
}

function keys(source: KubeSource, kind: ReadKind): string[] {
  return [...source.snapshot().objects.get(kind)!.keys()].sort();
}

function countRequests(server: FakeApiServer, verb: string, resource: string): number {
  return server.requestLog.filter((r) => r.verb === verb && r.resource === resource).length;
}

Deno.test("kube source: syncs every kind, install-namespace kinds only from the install namespace", async () => {
  await withSource((_server, source) => {
    for (
      const kind of [
        "IPAddressPool",
        "BGPAdvertisement",
        "Community",
        "BFDProfile",
        "L2Advertisement",
        "Secret",
      ] as const
    ) {
      assert.deepEqual(keys(source, kind), [`${NS}/in-install`], kind);
    }
    assert.deepEqual(keys(source, "BGPPeer"), [`${NS}/peer`]);
    const peer = source.snapshot().objects.get("BGPPeer")!.get(`${NS}/peer`)!;
    assert.equal(peer.apiVersion, "metallb.io/v1beta2");
    assert.equal(peer.kind, "BGPPeer");
    assert.deepEqual(keys(source, "Service"), ["default/web", "team-a/db"]);
    assert.deepEqual(keys(source, "EndpointSlice"), ["default/web-abc"]);
    assert.deepEqual(keys(source, "Node"), ["node-1"]);
    assert.deepEqual(keys(source, "Namespace"), ["default", NS]);
    assert.deepEqual([...source.snapshot().objects.keys()].sort(), [...READ_KINDS].sort());
    const m = source.metrics();
    assert.equal(m.configLoaded, true);
    assert.equal(m.stale, false);
    assert.equal(m.updatesTotal, 13, "one update per object listed");
  });
});

Deno.test("kube source: created, modified and deleted objects reach the snapshot and subscribers", async () => {
  await withSource(async (server, source) => {
    const batches: ReadKind[][] = [];
    source.subscribe((changed) => batches.push([...changed]));
    const before = source.snapshot();
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(server.kubeconfigPath);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    await core.createNamespacedService({
      namespace: "default",
      body: { metadata: { name: "new" }, spec: { type: "LoadBalancer" } },
    });
    await eventually("new service seen", () => keys(source, "Service").includes("default/new"));
    // The snapshot shows a change at once; subscribers hear of it after the coalescing window.
    await eventually("service change notified", () => batches.some((b) => b.includes("Service")));
    assert.ok(!before.objects.get("Service")!.has("default/new"), "old snapshots never change");
    assert.ok(source.snapshot().revision > before.revision);

    await core.patchNamespacedService({
      name: "new",
      namespace: "default",
      body: { metadata: { labels: { a: "b" } } },
    }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
    await eventually(
      "label seen",
      () =>
        source.snapshot().objects.get("Service")!.get("default/new")?.metadata.labels?.a === "b",
    );

    server.objects.delete("nodes", undefined, "node-1");
    await eventually("node deleted", () => keys(source, "Node").length === 0);
    await eventually("node change notified", () => batches.some((b) => b.includes("Node")));
    server.objects.put("ipaddresspools.metallb.io", {
      metadata: { name: "other", namespace: "x" },
    });
    server.objects.put("ipaddresspools.metallb.io", { metadata: { name: "p2", namespace: NS } });
    await eventually("pool seen", () => keys(source, "IPAddressPool").includes(`${NS}/p2`));
    assert.ok(!keys(source, "IPAddressPool").includes("x/other"));
  });
});

Deno.test("kube source: a dropped watch resumes from its resourceVersion without relisting", async () => {
  await withSource(async (server, source) => {
    await eventually("watches open", () => server.openWatches() === READ_KINDS.length);
    const lists = countRequests(server, "list", "services");
    server.faults.dropWatches();
    server.objects.put("services", { metadata: { name: "while-away", namespace: "default" } });
    await eventually("caught up", () => keys(source, "Service").includes("default/while-away"));
    await eventually("watches reopened", () => server.openWatches() === READ_KINDS.length);
    assert.equal(countRequests(server, "list", "services"), lists, "no relist needed");
    const rewatch = server.requestLog.filter((r) =>
      r.verb === "watch" && r.resource === "services"
    );
    assert.ok(rewatch.length >= 2);
  });
});

Deno.test("kube source: 410 Gone relists and applies the differences, deletions included", async () => {
  await withSource(async (server, source) => {
    await eventually("watches open", () => server.openWatches() === READ_KINDS.length);
    const lists = countRequests(server, "list", "services");
    server.faults.dropWatches();
    server.objects.delete("services", "default", "web");
    server.objects.put("services", { metadata: { name: "added", namespace: "default" } });
    server.objects.compact();
    await eventually("relisted", () => {
      const k = keys(source, "Service");
      return k.includes("default/added") && !k.includes("default/web");
    });
    assert.ok(countRequests(server, "list", "services") > lists);

    // The same through an ERROR event on an otherwise healthy watch: one kind relists.
    const allLists = () => server.requestLog.filter((r) => r.verb === "list").length;
    const before = allLists();
    server.faults.goneNextWatch();
    server.faults.dropWatches();
    await eventually("a relist after a forced 410", () => allLists() > before);
    await eventually("watches reopened", () => server.openWatches() === READ_KINDS.length);
    assert.deepEqual(keys(source, "Node"), ["node-1"]);
    assert.equal(source.metrics().stale, false);

    // And as the HTTP status of the watch request itself.
    const before2 = allLists();
    server.faults.goneNextWatch("http");
    server.faults.dropWatches();
    await eventually("a relist after an HTTP 410", () => allLists() > before2);
    server.objects.put("nodes", { metadata: { name: "node-3" } });
    await eventually("still watching", () => keys(source, "Node").includes("node-3"));
  });
});

Deno.test("kube source: recovers after the API server restarts", async () => {
  await withSource(async (server, source) => {
    await eventually("watches open", () => server.openWatches() === READ_KINDS.length);
    await server.restart();
    server.objects.put("nodes", { metadata: { name: "node-2" } });
    await eventually("node-2 seen", () => keys(source, "Node").includes("node-2"));
    server.objects.put("services", { metadata: { name: "after", namespace: "team-a" } });
    await eventually("service seen", () => keys(source, "Service").includes("team-a/after"));

    // A crash: connections cut with no clean end of the watch streams. The client does not
    // notice, the source's idle bound (3 s here) reopens the watches.
    await eventually("watches reopened", () => server.openWatches() === READ_KINDS.length);
    await server.restart({ abrupt: true });
    server.objects.put("services", { metadata: { name: "after-crash", namespace: "team-a" } });
    await eventually(
      "seen after a crash",
      () => keys(source, "Service").includes("team-a/after-crash"),
    );
  });
});

Deno.test("kube source: retries through 500s and counts the errors", async () => {
  await withSource(async (server, source) => {
    assert.ok(source.metrics().updateErrorsTotal >= 1);
    assert.equal(source.metrics().configLoaded, true);
    server.faults.failFraction(0.5, 7);
    server.faults.dropWatches();
    server.objects.put("services", { metadata: { name: "flaky", namespace: "default" } });
    await eventually("flaky seen", () => keys(source, "Service").includes("default/flaky"));
    server.faults.reset();

    server.faults.failNext(1_000_000);
    server.faults.dropWatches();
    await eventually("stale while the API fails", () => source.metrics().stale);
    const errors = source.metrics().updateErrorsTotal;
    await eventually("errors counted", () => source.metrics().updateErrorsTotal > errors);
    server.faults.reset();
    await eventually("fresh again", () => !source.metrics().stale);
    server.objects.put("services", { metadata: { name: "healed", namespace: "default" } });
    await eventually("healed seen", () => keys(source, "Service").includes("default/healed"));
  }, (server) => server.faults.failNext(5));
});
