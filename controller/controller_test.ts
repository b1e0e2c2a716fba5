import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { createRegistry, defineMetallbMetrics } from "../api/metrics.ts";
import { createFileSource } from "../cluster/file_source.ts";
import { createMemorySource, type MemorySource } from "../cluster/memory_source.ts";
import { createOverlaySource } from "../cluster/overlay_source.ts";
import { openStateStore } from "../cluster/state_store.ts";
import type { KubeObject } from "../cluster/types.ts";
import { Controller, type ControllerOptions } from "./controller.ts";
import {
  createReflectingWriter,
  ingressOf,
  namespaceObject,
  poolObject,
  type ReflectingWriter,
  serviceObject,
  TEST_NAMESPACE,
} from "../tests/controller/testing.ts";

const NS = TEST_NAMESPACE;
const POOL_ANN = "metallb.io/ip-allocated-from-pool";
const OLD_POOL_ANN = "metallb.universe.tf/ip-allocated-from-pool";

interface Rig {
  source: MemorySource;
  writer: ReflectingWriter;
  controller: Controller;
  svc(key: string): KubeObject | undefined;
  ips(key: string): string[];
  events(reason?: string, name?: string): string[];
  settle(): Promise<void>;
  stop(): Promise<void>;
}

async function rig(
  objects: KubeObject[],
  options: Partial<ControllerOptions> = {},
): Promise<Rig> {
  const source = createMemorySource(objects);
  const writer = createReflectingWriter(source);
  const controller = new Controller(source, writer, {
    namespace: NS,
    logger: silentLogger,
    retryDelayMs: 20,
    ...options,
  });
  await controller.start();
  const r: Rig = {
    source,
    writer,
    controller,
    svc: (key) => source.snapshot().objects.get("Service")!.get(key),
    ips: (key) => ingressOf(r.svc(key)),
    events: (reason, name) =>
      writer.events.filter((e) =>
        (reason === undefined || e.reason === reason) &&
        (name === undefined || e.involved.name === name)
      ).map((e) => `${e.involved.name} ${e.type} ${e.reason}: ${e.message}`),
    settle: () => controller.idle(),
    stop: () => controller.stop(),
  };
  return r;
}

Deno.test("controller: the seed example assigns from the annotated pool with both annotations", async () => {
  const r = await rig([
    poolObject("example-pool", ["172.19.0.0/24"], { autoAssign: false }),
    serviceObject("default", "example-service", {
      annotations: { "metallb.universe.tf/address-pool": "example-pool" },
    }),
  ]);
  try {
    assert.deepEqual(r.ips("default/example-service"), ["172.19.0.0"]);
    const ann = r.svc("default/example-service")!.metadata.annotations!;
    assert.equal(ann[POOL_ANN], "example-pool");
    assert.equal(ann[OLD_POOL_ANN], "example-pool");
    assert.deepEqual(r.events("IPAllocated"), [
      'example-service Normal IPAllocated: Assigned IP ["172.19.0.0"]',
    ]);
    const dep = r.events("DeprecatedAnnotation");
    assert.equal(dep.length, 1);
    assert.match(
      dep[0],
      /Warning.*metallb\.universe\.tf\/address-pool.*use metallb\.io\/address-pool/,
    );
    // Pool status counts, written once.
    const pool = r.source.snapshot().objects.get("IPAddressPool")!.get(`${NS}/example-pool`)!;
    assert.deepEqual(pool.status, {
      assignedIPv4: 1,
      assignedIPv6: 0,
      availableIPv4: 255,
      availableIPv6: 0,
    });
    assert.deepEqual(
      (r.writer.configurationStates.get(`${NS}/controller`) as { result: string }).result,
      "Valid",
    );
    // Reconciling again changes nothing and repeats no event.
    const before = r.writer.writes();
    r.controller.reconcile();
    r.source.put(namespaceObject("unrelated"));
    await r.settle();
    assert.equal(r.writer.writes(), before);
    // A change to the Service that keeps the old annotation warns again only if it changes.
    const svc = r.svc("default/example-service")!;
    r.source.put({ ...svc, metadata: { ...svc.metadata, labels: { x: "1" } } });
    await r.settle();
    assert.equal(r.events("DeprecatedAnnotation").length, 1);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: seed manifests through the file source and overlay state dir", async () => {
  const state = await Deno.makeTempDir();
  const files = createFileSource("tests/testdata/config/seed", {
    logger: silentLogger,
    pollMs: 60_000,
  });
  const overlay = createOverlaySource(files, openStateStore(state, { logger: silentLogger }), {
    logger: silentLogger,
  });
  const c = new Controller(overlay, overlay, { namespace: NS, logger: silentLogger });
  try {
    await c.start();
    await c.idle();
    const st = overlay.serviceStates().get("default/example-service");
    assert.deepEqual(st?.ingress, ["172.19.0.0"]);
    assert.equal(st?.annotations[POOL_ANN], "example-pool");
    assert.equal(st?.annotations[OLD_POOL_ANN], "example-pool");
    const reasons = overlay.events().map((e) => `${e.type} ${e.reason}`);
    assert.ok(reasons.includes("Normal IPAllocated"), reasons.join());
    assert.ok(reasons.includes("Warning DeprecatedAnnotation"), reasons.join());
    const status = c.status();
    assert.equal(status.config.valid, true);
    assert.deepEqual(status.pools, [{ name: "example-pool", ipv4: { used: 1, total: 256 } }]);
    assert.deepEqual(status.services.map((s) => [s.name, s.ips, s.pool]), [
      ["example-service", ["172.19.0.0"], "example-pool"],
    ]);
  } finally {
    await c.stop();
    await overlay.close();
  }
  // Restart over the same state dir: same IP, and no Service write or Event at all.
  const files2 = createFileSource("tests/testdata/config/seed", {
    logger: silentLogger,
    pollMs: 60_000,
  });
  const overlay2 = createOverlaySource(files2, openStateStore(state, { logger: silentLogger }), {
    logger: silentLogger,
  });
  const c2 = new Controller(overlay2, overlay2, { namespace: NS, logger: silentLogger });
  try {
    await c2.start();
    await c2.idle();
    assert.deepEqual(c2.assignmentOf("default/example-service")?.ips, ["172.19.0.0"]);
    const counts = overlay2.writeCounts();
    assert.equal(counts.setServiceIngress ?? 0, 0);
    assert.equal(counts.patchServiceAnnotations ?? 0, 0);
    assert.equal(counts.recordEvent ?? 0, 0);
  } finally {
    await c2.stop();
    await overlay2.close();
    await Deno.remove(state, { recursive: true });
  }
});

Deno.test("controller: allocation order — requested IP, annotated pool, serviceAllocation priority, autoAssign by name", async () => {
  const r = await rig([
    poolObject("b-auto", ["10.2.0.0/30"]),
    poolObject("a-auto", ["10.1.0.0/30"]),
    poolObject("manual", ["10.9.0.0/30"], { autoAssign: false }),
    poolObject("prio2", ["10.5.0.0/30"], {
      serviceAllocation: { priority: 2, namespaces: ["team"] },
    }),
    poolObject("prio1", ["10.4.0.0/30"], {
      serviceAllocation: { priority: 1, serviceSelectors: [{ matchLabels: { tier: "gold" } }] },
    }),
    serviceObject("default", "plain", { created: "2026-01-01T00:00:01Z" }),
    serviceObject("default", "requested", {
      created: "2026-01-01T00:00:02Z",
      spec: { loadBalancerIP: "10.9.0.2" },
    }),
    serviceObject("default", "annotated", {
      created: "2026-01-01T00:00:03Z",
      annotations: { "metallb.io/address-pool": "manual" },
    }),
    serviceObject("team", "teamsvc", { created: "2026-01-01T00:00:04Z" }),
    serviceObject("team", "gold", {
      created: "2026-01-01T00:00:05Z",
      labels: { tier: "gold" },
    }),
    serviceObject("default", "ipsann", {
      created: "2026-01-01T00:00:06Z",
      annotations: { "metallb.io/loadBalancerIPs": "10.2.0.3" },
    }),
  ]);
  try {
    assert.deepEqual(r.ips("default/plain"), ["10.1.0.0"]);
    assert.deepEqual(r.ips("default/requested"), ["10.9.0.2"]);
    assert.deepEqual(r.ips("default/annotated"), ["10.9.0.0"]);
    assert.deepEqual(r.ips("team/teamsvc"), ["10.5.0.0"]);
    assert.deepEqual(r.ips("team/gold"), ["10.4.0.0"]);
    assert.deepEqual(r.ips("default/ipsann"), ["10.2.0.3"]);
    assert.equal(r.svc("team/gold")!.metadata.annotations![POOL_ANN], "prio1");
    // An unknown pool is a configuration problem: LoadBalancerFailed, no address.
    r.source.put(serviceObject("default", "nopool", {
      annotations: { "metallb.io/address-pool": "missing" },
    }));
    await r.settle();
    assert.deepEqual(r.ips("default/nopool"), []);
    assert.match(r.events("LoadBalancerFailed", "nopool").join(), /unknown pool missing/);
    const st = r.controller.status().services.find((s) => s.name === "nopool")!;
    assert.match(st.pending!, /unknown pool missing/);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: sharing and dual stack", async () => {
  const r = await rig([
    poolObject("dual", ["10.0.0.0/30", "fc00::/126"]),
    serviceObject("default", "tcp", {
      created: "2026-01-01T00:00:01Z",
      annotations: { "metallb.io/allow-shared-ip": "k" },
      spec: { ports: [{ port: 80, protocol: "TCP" }] },
    }),
    serviceObject("default", "udp", {
      created: "2026-01-01T00:00:02Z",
      annotations: { "metallb.io/allow-shared-ip": "k" },
      spec: { ports: [{ port: 53, protocol: "UDP" }] },
    }),
    serviceObject("default", "clash", {
      created: "2026-01-01T00:00:03Z",
      annotations: { "metallb.io/allow-shared-ip": "k" },
      spec: { ports: [{ port: 80, protocol: "TCP" }] },
    }),
    serviceObject("default", "ds", {
      created: "2026-01-01T00:00:04Z",
      spec: { ipFamilies: ["IPv6", "IPv4"], ipFamilyPolicy: "RequireDualStack" },
    }),
  ]);
  try {
    assert.deepEqual(r.ips("default/tcp"), ["10.0.0.0"]);
    assert.deepEqual(r.ips("default/udp"), ["10.0.0.0"]);
    assert.deepEqual(r.ips("default/clash"), ["10.0.0.1"]);
    assert.deepEqual(r.ips("default/ds"), ["fc00::", "10.0.0.2"]);
    const pool = r.source.snapshot().objects.get("IPAddressPool")!.get(`${NS}/dual`)!;
    assert.deepEqual(pool.status, {
      assignedIPv4: 3,
      assignedIPv6: 1,
      availableIPv4: 1,
      availableIPv6: 3,
    });
  } finally {
    await r.stop();
  }
});

Deno.test("controller: exhaustion leaves a Service pending; a delete frees the address for it", async () => {
  const r = await rig([
    poolObject("tiny", ["10.0.0.1-10.0.0.2"]),
    serviceObject("default", "a", { created: "2026-01-01T00:00:01Z" }),
    serviceObject("default", "b", { created: "2026-01-01T00:00:02Z" }),
    serviceObject("default", "c", { created: "2026-01-01T00:00:03Z" }),
  ]);
  try {
    assert.deepEqual(r.ips("default/a"), ["10.0.0.1"]);
    assert.deepEqual(r.ips("default/b"), ["10.0.0.2"]);
    assert.deepEqual(r.ips("default/c"), []);
    assert.equal(r.events("AllocationFailed", "c").length, 1);
    assert.match(r.events("AllocationFailed", "c")[0], /Warning.*exhausted/);
    // Nothing else changes: no repeated failure event.
    r.controller.reconcile();
    await r.settle();
    assert.equal(r.events("AllocationFailed", "c").length, 1);
    r.source.remove("Service", "default/a");
    await r.settle();
    assert.deepEqual(r.ips("default/c"), ["10.0.0.1"]);
    assert.equal(r.events("IPAllocated", "c").length, 1);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: leaving type LoadBalancer or changing class releases and clears", async () => {
  const r = await rig([
    poolObject("p", ["10.0.0.1-10.0.0.1"]),
    serviceObject("default", "a", { created: "2026-01-01T00:00:01Z" }),
    serviceObject("default", "b", { created: "2026-01-01T00:00:02Z" }),
  ]);
  try {
    assert.deepEqual(r.ips("default/a"), ["10.0.0.1"]);
    assert.deepEqual(r.ips("default/b"), []);
    const a = r.svc("default/a")!;
    r.source.put({ ...a, spec: { ...(a.spec as object), type: "ClusterIP" } });
    await r.settle();
    assert.deepEqual(r.ips("default/a"), []);
    assert.equal(r.svc("default/a")!.metadata.annotations?.[POOL_ANN], undefined);
    assert.equal(r.svc("default/a")!.metadata.annotations?.[OLD_POOL_ANN], undefined);
    assert.deepEqual(r.ips("default/b"), ["10.0.0.1"]);
    // Changing class: no longer ours.
    const b = r.svc("default/b")!;
    r.source.put({ ...b, spec: { ...(b.spec as object), loadBalancerClass: "other" } });
    await r.settle();
    assert.deepEqual(r.ips("default/b"), []);
    assert.equal(r.controller.assignmentOf("default/b"), undefined);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: --lb-class handles only that class", async () => {
  const r = await rig([
    poolObject("p", ["10.0.0.0/30"]),
    serviceObject("default", "mine", { spec: { loadBalancerClass: "ferrolb" } }),
    serviceObject("default", "classless"),
  ], { lbClass: "ferrolb" });
  try {
    assert.deepEqual(r.ips("default/mine"), ["10.0.0.0"]);
    assert.deepEqual(r.ips("default/classless"), []);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: a pool edit that drops an assigned IP reassigns it; removing a pool clears", async () => {
  const r = await rig([
    poolObject("p", ["10.0.0.0/30"]),
    poolObject("q", ["10.1.0.0/30"], { autoAssign: false }),
    serviceObject("default", "a"),
    serviceObject("default", "inq", { annotations: { "metallb.io/address-pool": "q" } }),
  ]);
  try {
    assert.deepEqual(r.ips("default/a"), ["10.0.0.0"]);
    r.source.put(poolObject("p", ["10.0.0.8/30"]));
    await r.settle();
    assert.deepEqual(r.ips("default/a"), ["10.0.0.8"]);
    assert.equal(r.events("ClearAssignment", "a").length, 1);
    assert.match(r.events("ClearAssignment", "a")[0], /10\.0\.0\.0.*not in any pool/);
    assert.equal(r.events("IPAllocated", "a").length, 2);
    // Removing pool q: its Service loses the address (never kept outside every pool).
    assert.deepEqual(r.ips("default/inq"), ["10.1.0.0"]);
    r.source.remove("IPAddressPool", `${NS}/q`);
    await r.settle();
    assert.deepEqual(r.ips("default/inq"), []);
    assert.equal(r.svc("default/inq")!.metadata.annotations?.[POOL_ANN], undefined);
    assert.equal(r.events("ClearAssignment", "inq").length, 1);
    assert.match(r.events("LoadBalancerFailed", "inq").join(), /unknown pool q/);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: an invalid edit keeps the running configuration; a valid edit recovers", async () => {
  const registry = createRegistry();
  const metrics = defineMetallbMetrics(registry);
  const r = await rig([
    poolObject("p", ["10.0.0.0/30"]),
    serviceObject("default", "a"),
  ], { metrics });
  try {
    assert.deepEqual(r.ips("default/a"), ["10.0.0.0"]);
    // Overlapping pool: the whole configuration is invalid.
    r.source.put(poolObject("overlap", ["10.7.0.2/31"]));
    r.source.put(poolObject("p", ["10.7.0.0/30"]));
    await r.settle();
    assert.deepEqual(r.ips("default/a"), ["10.0.0.0"], "not withdrawn or moved");
    const cs = r.writer.configurationStates.get(`${NS}/controller`) as {
      result: string;
      errorSummary: string;
    };
    assert.equal(cs.result, "Invalid");
    assert.match(cs.errorSummary, /overlaps/);
    assert.ok(r.events("InvalidConfiguration").length >= 1);
    assert.equal(r.controller.status().config.valid, false);
    assert.equal(metrics.configStale.get(), 1);
    // New Services are still served from the running pools.
    r.source.put(serviceObject("default", "b"));
    await r.settle();
    assert.deepEqual(r.ips("default/b"), ["10.0.0.1"]);
    // Fix: drop the overlapping pool; p's new range applies and a, b move into it.
    r.source.remove("IPAddressPool", `${NS}/overlap`);
    await r.settle();
    assert.equal(
      (r.writer.configurationStates.get(`${NS}/controller`) as { result: string }).result,
      "Valid",
    );
    assert.deepEqual(r.ips("default/a"), ["10.7.0.0"]);
    assert.deepEqual(r.ips("default/b"), ["10.7.0.1"]);
    assert.equal(metrics.configStale.get(), 0);
    assert.match(registry.render(), /metallb_allocator_addresses_in_use_total\{pool="p"\} 2/);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: invalid at first start touches nothing; valid config then restores", async () => {
  const r = await rig([
    poolObject("p", ["10.0.0.0/30"]),
    poolObject("bad", ["10.0.0.0/31"]),
    serviceObject("default", "old", { ingress: ["10.0.0.3"] }),
    serviceObject("default", "new"),
  ]);
  try {
    assert.deepEqual(r.ips("default/old"), ["10.0.0.3"]);
    assert.deepEqual(r.ips("default/new"), []);
    assert.equal(r.writer.calls.setServiceIngress ?? 0, 0);
    assert.equal(r.writer.calls.patchServiceAnnotations ?? 0, 0);
    r.source.remove("IPAddressPool", `${NS}/bad`);
    await r.settle();
    assert.deepEqual(r.ips("default/old"), ["10.0.0.3"]);
    assert.deepEqual(r.ips("default/new"), ["10.0.0.0"]);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: a missing Secret is reported and heals when it appears", async () => {
  const peer: KubeObject = {
    apiVersion: "metallb.io/v1beta2",
    kind: "BGPPeer",
    metadata: { name: "peer", namespace: NS },
    spec: {
      myASN: 64512,
      peerASN: 64513,
      peerAddress: "192.0.2.1",
      passwordSecret: { name: "bgp-pass" },
    },
  };
  const r = await rig([poolObject("p", ["10.0.0.0/30"]), peer, serviceObject("default", "a")]);
  try {
    assert.deepEqual(r.ips("default/a"), []);
    assert.equal(r.controller.status().config.valid, false);
    assert.match(r.controller.status().config.errors.join(), /bgp-pass/);
    r.source.put({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "bgp-pass", namespace: NS },
      type: "kubernetes.io/basic-auth",
      data: { password: btoa("s3cret") },
    });
    await r.settle();
    assert.equal(
      r.controller.status().config.valid,
      true,
      r.controller.status().config.errors.join(),
    );
    assert.deepEqual(r.ips("default/a"), ["10.0.0.0"]);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: restart with 1,000 assigned Services makes no write and keeps every IP", async () => {
  const objects: KubeObject[] = [poolObject("big", ["10.0.0.0/16"])];
  for (let i = 0; i < 1000; i++) {
    objects.push(serviceObject(`ns${i % 10}`, `svc${i}`, {
      created: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    }));
  }
  const first = await rig(objects);
  const assigned = new Map<string, string[]>();
  for (const [key, obj] of first.source.snapshot().objects.get("Service")!) {
    assigned.set(key, ingressOf(obj));
  }
  await first.stop();
  assert.equal(new Set([...assigned.values()].map((v) => v.join())).size, 1000);
  // The cluster as the first controller left it (status, annotations, pool status).
  const cluster = [
    ...first.source.snapshot().objects.get("Service")!.values(),
    ...first.source.snapshot().objects.get("IPAddressPool")!.values(),
  ];
  const second = await rig(cluster);
  try {
    const calls = { ...second.writer.calls };
    delete calls.setConfigurationState; // not readable back through the source; see report
    assert.deepEqual(calls, {});
    for (const [key, ips] of assigned) {
      assert.deepEqual(second.controller.assignmentOf(key)?.ips, ips, key);
      assert.deepEqual(second.ips(key), ips);
    }
  } finally {
    await second.stop();
  }
});

Deno.test("controller: restart resolves a double claim: the older Service keeps the IP", async () => {
  const r = await rig([
    poolObject("p", ["10.0.0.0/30"]),
    serviceObject("default", "young", { created: "2026-02-01T00:00:00Z", ingress: ["10.0.0.1"] }),
    serviceObject("default", "old", { created: "2026-01-01T00:00:00Z", ingress: ["10.0.0.1"] }),
  ]);
  try {
    assert.deepEqual(r.ips("default/old"), ["10.0.0.1"]);
    assert.deepEqual(r.ips("default/young"), ["10.0.0.0"]);
    assert.match(r.events("ClearAssignment", "young").join(), /in use by default\/old/);
    assert.equal(r.events("ClearAssignment", "old").length, 0);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: a burst of Services requesting one IP: exactly one gets it", async () => {
  const r = await rig([poolObject("p", ["10.0.0.0/24"])]);
  try {
    for (let i = 0; i < 50; i++) {
      r.source.put(serviceObject("default", `s${String(i).padStart(2, "0")}`, {
        created: new Date(Date.UTC(2026, 0, 1, 0, 0, 50 - i)).toISOString(),
        annotations: { "metallb.io/loadBalancerIPs": "10.0.0.42" },
      }));
    }
    await r.settle();
    const holders = [...r.source.snapshot().objects.get("Service")!.values()]
      .filter((o) => ingressOf(o).includes("10.0.0.42"))
      .map((o) => o.metadata.name);
    assert.deepEqual(holders, ["s49"], "the oldest");
    const failed = r.events("AllocationFailed");
    assert.equal(failed.length, 49);
    for (const f of failed) assert.match(f, /in use by default\/s49/);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: failed writes are retried; no double allocation", async () => {
  const r = await rig([poolObject("p", ["10.0.0.0/30"])]);
  try {
    r.writer.failNext = 3;
    r.source.put(serviceObject("default", "a"));
    r.source.put(serviceObject("default", "b"));
    const until = Date.now() + 10_000;
    while (r.ips("default/a").length === 0 || r.ips("default/b").length === 0) {
      if (Date.now() > until) throw new Error("not converged");
      await new Promise((res) => setTimeout(res, 20));
    }
    await r.settle();
    assert.notDeepEqual(r.ips("default/a"), r.ips("default/b"));
  } finally {
    await r.stop();
  }
});

Deno.test("controller: not leader computes but writes nothing; on leadership it writes", async () => {
  let leader = false;
  const r = await rig([poolObject("p", ["10.0.0.0/30"]), serviceObject("default", "a")], {
    isLeader: () => leader,
  });
  try {
    assert.equal(r.writer.writes(), 0);
    assert.deepEqual(r.ips("default/a"), []);
    leader = true;
    r.controller.leadershipChanged();
    await r.settle();
    assert.deepEqual(r.ips("default/a"), ["10.0.0.0"]);
    assert.equal(r.events("IPAllocated", "a").length, 1);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: bad annotation keeps the address in use and reports LoadBalancerFailed", async () => {
  const r = await rig([poolObject("p", ["10.0.0.0/30"]), serviceObject("default", "a")]);
  try {
    assert.deepEqual(r.ips("default/a"), ["10.0.0.0"]);
    const a = r.svc("default/a")!;
    r.source.put({
      ...a,
      metadata: {
        ...a.metadata,
        annotations: { ...a.metadata.annotations, "metallb.io/loadBalancerIPs": "nope" },
      },
    });
    await r.settle();
    assert.deepEqual(r.ips("default/a"), ["10.0.0.0"]);
    assert.match(r.events("LoadBalancerFailed", "a").join(), /"nope" is not an IP address/);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: IPv6 pool counts beyond 2^53 stay exact in /status and metrics", async () => {
  const registry = createRegistry();
  const metrics = defineMetallbMetrics(registry);
  const r = await rig([
    poolObject("v6", ["fc00::/64"]),
    serviceObject("default", "a", { spec: { ipFamilies: ["IPv6"] } }),
  ], { metrics });
  try {
    assert.deepEqual(r.ips("default/a"), ["fc00::"]);
    const pool = r.controller.status().pools.find((p) => p.name === "v6")!;
    assert.deepEqual(pool.ipv6, { used: 1, total: "18446744073709551616" });
    assert.match(
      registry.render(),
      /metallb_allocator_ipv6_addresses_total\{pool="v6"\} 18446744073709551616/,
    );
    const st = r.source.snapshot().objects.get("IPAddressPool")!.get(`${NS}/v6`)!.status as Record<
      string,
      number | bigint
    >;
    assert.equal(st.assignedIPv6, 1);
    // The CRD's counts are int64: 2^64 - 1 available saturates at 2^63 - 1, never wraps.
    assert.equal(st.availableIPv6, (1n << 63n) - 1n);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: as MetalLB, a dual-stack Service asking for one IP is refused (AllocationFailed)", async () => {
  const r = await rig([
    poolObject("p", ["10.0.0.0/30", "fd00::/126"]),
    serviceObject("default", "ds", {
      annotations: { "metallb.io/loadBalancerIPs": "10.0.0.1" },
      spec: { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv4", "IPv6"] },
    }),
    serviceObject("default", "prefer", {
      spec: {
        ipFamilyPolicy: "PreferDualStack",
        ipFamilies: ["IPv6", "IPv4"],
        loadBalancerIP: "fd00::2",
      },
    }),
    serviceObject("default", "both", {
      annotations: { "metallb.io/loadBalancerIPs": "10.0.0.2,fd00::1" },
      spec: { ipFamilyPolicy: "RequireDualStack", ipFamilies: ["IPv4", "IPv6"] },
    }),
  ]);
  try {
    assert.deepEqual(r.ips("default/ds"), []);
    assert.deepEqual(r.ips("default/prefer"), []);
    assert.deepEqual(r.events("AllocationFailed", "ds"), [
      'ds Warning AllocationFailed: Failed to allocate IP for "default/ds": requested ' +
      'loadBalancer IP(s) ["10.0.0.1"] does not match the ipFamily of the service',
    ]);
    assert.equal(r.events("AllocationFailed", "prefer").length, 1);
    assert.deepEqual(r.ips("default/both").sort(), ["10.0.0.2", "fd00::1"]);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: as MetalLB, dropping an IP outside every pool is a Normal ClearAssignment", async () => {
  const r = await rig([poolObject("p", ["10.0.0.0/30"]), serviceObject("default", "a")]);
  try {
    assert.deepEqual(r.ips("default/a"), ["10.0.0.0"]);
    r.source.put(poolObject("p", ["10.0.0.8/30"]));
    await r.settle();
    const cleared = r.events("ClearAssignment", "a");
    assert.equal(cleared.length, 1);
    assert.match(
      cleared[0],
      /^a Normal ClearAssignment: current IP \["10\.0\.0\.0"\] for "default\/a" not allowed by config, will attempt for new IP assignment: /,
    );
  } finally {
    await r.stop();
  }
});

Deno.test("controller: as MetalLB, with no pool configured Services wait without an Event each", async () => {
  const r = await rig([serviceObject("default", "a"), serviceObject("default", "b")]);
  try {
    assert.deepEqual(r.ips("default/a"), []);
    assert.deepEqual(r.events(undefined, "a"), []);
    assert.deepEqual(r.events(undefined, "b"), []);
    const pending = r.controller.status().services.map((s) => [s.name, s.pending !== undefined]);
    assert.deepEqual(pending, [["a", true], ["b", true]]);
    // A pool arriving later assigns them as usual.
    r.source.put(poolObject("p", ["10.0.0.0/30"]));
    await r.settle();
    assert.equal(r.ips("default/a").length, 1);
    assert.equal(r.events("IPAllocated").length, 2);
  } finally {
    await r.stop();
  }
});

Deno.test("controller: a Lease won while the source is still listing runs no pass on the partial view", async () => {
  // The source lists the pool first and the Service (already assigned) later, as a slow API
  // server does: a pass in between would see no Service and assign it again after.
  const assigned = serviceObject("default", "web", { ingress: ["192.0.2.10"] });
  const source = createMemorySource([poolObject("pool-a", ["192.0.2.0/28"])]);
  let listed!: () => void;
  const slow = Object.create(source) as MemorySource;
  slow.start = () => new Promise<void>((resolve) => listed = resolve);
  const writer = createReflectingWriter(source);
  const controller = new Controller(slow, writer, { namespace: NS, logger: silentLogger });
  const started = controller.start();
  try {
    controller.leadershipChanged();
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(controller.passes(), 0, "no pass before the source synced");
    source.put(assigned);
    listed();
    await started;
    await controller.idle();
    assert.deepEqual(ingressOf(source.snapshot().objects.get("Service")!.get("default/web")), [
      "192.0.2.10",
    ]);
    assert.deepEqual(writer.events.filter((e) => e.reason === "IPAllocated"), []);
  } finally {
    await controller.stop();
  }
});

Deno.test("controller: a Lease won in the middle of a pass loses no Event (leadership read once per pass)", async () => {
  // The first leadership check of a pass says standby, every later one says leader: the
  // moment a Lease is won while the pass yields.
  let checks = 0;
  const r = await rig([
    poolObject("example-pool", ["172.19.0.0/24"]),
    serviceObject("default", "web", {
      annotations: { "metallb.universe.tf/address-pool": "example-pool" },
    }),
  ], { isLeader: () => checks++ > 0 });
  try {
    r.controller.leadershipChanged();
    await r.settle();
    assert.deepEqual(r.ips("default/web"), ["172.19.0.0"]);
    assert.equal(r.events("DeprecatedAnnotation", "web").length, 1, r.events().join("\n"));
    assert.equal(r.events("IPAllocated", "web").length, 1, r.events().join("\n"));
  } finally {
    await r.stop();
  }
});
