import assert from "node:assert/strict";
import { SERVICE_VIEW_FIELDS } from "./testing.ts";
import { parseEndpointSlice, parseNode, parseService, parseSnapshotService } from "./objects.ts";
import { matchesAnySelector, matchLabelSelector } from "./selectors.ts";
import { formatConfigError } from "./config.ts";
import { z } from "zod";
import { bgpPeerSpec, crdSpecs, ipAddressPoolSpec } from "./schemas.ts";
import type { KubeObject } from "./kube_object.ts";

Deno.test("parseService reads the fields the controller needs", () => {
  const r = parseService({
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "web",
      namespace: "shop",
      labels: { app: "web" },
      annotations: { "metallb.io/address-pool": "gold" },
    },
    spec: {
      type: "LoadBalancer",
      loadBalancerClass: "x",
      ipFamilies: ["IPv4", "IPv6"],
      ipFamilyPolicy: "RequireDualStack",
      clusterIPs: ["10.96.0.10", "fd00::10"],
      externalTrafficPolicy: "Local",
      selector: { app: "web" },
      ports: [{ name: "http", port: 80 }, { protocol: "UDP", port: 53 }],
    },
    status: { loadBalancer: { ingress: [{ ip: "192.0.2.10" }, { hostname: "x" }] } },
  });
  assert.ok(r.ok);
  assert.deepEqual(r.value, {
    namespace: "shop",
    name: "web",
    labels: { app: "web" },
    annotations: { "metallb.io/address-pool": "gold" },
    type: "LoadBalancer",
    loadBalancerClass: "x",
    ipFamilies: ["IPv4", "IPv6"],
    ipFamilyPolicy: "RequireDualStack",
    clusterIPs: ["10.96.0.10", "fd00::10"],
    externalTrafficPolicy: "Local",
    selector: { app: "web" },
    ports: [{ protocol: "TCP", port: 80, name: "http" }, { protocol: "UDP", port: 53 }],
    ingressIPs: ["192.0.2.10"],
  });
});

Deno.test("parseService reports a bad port with its field", () => {
  const r = parseService({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "shop" },
    spec: { type: "LoadBalancer", ports: [{ port: 80 }, { port: 70000 }] },
  });
  assert.ok(!r.ok);
  assert.deepEqual(r.errors.map(formatConfigError), [
    "Service shop/web: spec.ports[1].port: must be between 1 and 65535",
  ]);
});

Deno.test("parseEndpointSlice applies the serving rule and needs the service label", () => {
  const slice: KubeObject = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: "web-abc",
      namespace: "shop",
      labels: { "kubernetes.io/service-name": "web" },
    },
    endpoints: [
      { addresses: ["10.0.0.1"], nodeName: "n1" },
      { addresses: ["10.0.0.2"], conditions: { ready: false }, nodeName: "n2" },
      { addresses: ["10.0.0.3"], conditions: { ready: false, serving: true, terminating: true } },
    ],
    ports: [{ name: "http", port: 8080, protocol: "TCP" }],
  };
  const r = parseEndpointSlice(slice);
  assert.ok(r.ok);
  assert.equal(r.value.serviceName, "web");
  assert.deepEqual(r.value.endpoints.map((e) => e.serving), [true, false, true]);
  assert.equal(r.value.endpoints[0].nodeName, "n1");
  const bad = parseEndpointSlice({ ...slice, metadata: { name: "x", namespace: "shop" } });
  assert.ok(!bad.ok);
  assert.deepEqual(bad.errors.map(formatConfigError), [
    "EndpointSlice shop/x: metadata.labels[kubernetes.io/service-name]: required",
  ]);
});

Deno.test("parseNode reads NetworkUnavailable", () => {
  const node = (status: string) =>
    parseNode({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: "n1", labels: { zone: "a" } },
      status: {
        conditions: [{ type: "Ready", status: "True" }, { type: "NetworkUnavailable", status }],
        addresses: [{ type: "InternalIP", address: "192.0.2.5" }],
      },
    });
  const up = node("False");
  const down = node("True");
  assert.ok(up.ok && down.ok);
  assert.equal(up.value.networkUnavailable, false);
  assert.equal(down.value.networkUnavailable, true);
  assert.deepEqual(up.value.addresses, [{ type: "InternalIP", address: "192.0.2.5" }]);
});

Deno.test("label selectors match like Kubernetes", () => {
  const labels = { app: "web", tier: "gold" };
  assert.equal(matchLabelSelector({}, labels), true);
  assert.equal(matchLabelSelector({ matchLabels: { app: "web" } }, labels), true);
  assert.equal(matchLabelSelector({ matchLabels: { app: "db" } }, labels), false);
  const expr = (operator: "In" | "NotIn" | "Exists" | "DoesNotExist", values?: string[]) =>
    matchLabelSelector({ matchExpressions: [{ key: "tier", operator, values }] }, labels);
  assert.equal(expr("In", ["gold", "silver"]), true);
  assert.equal(expr("In", ["silver"]), false);
  assert.equal(expr("NotIn", ["silver"]), true);
  assert.equal(expr("NotIn", ["gold"]), false);
  assert.equal(expr("Exists"), true);
  assert.equal(expr("DoesNotExist"), false);
  assert.equal(
    matchLabelSelector(
      { matchExpressions: [{ key: "zone", operator: "NotIn", values: ["a"] }] },
      labels,
    ),
    true,
  );
  assert.equal(matchesAnySelector([], labels), true);
  assert.equal(matchesAnySelector([{ matchLabels: { app: "db" } }], labels), false);
  assert.equal(
    matchesAnySelector([{ matchLabels: { app: "db" } }, { matchLabels: { tier: "gold" } }], labels),
    true,
  );
});

Deno.test("spec schemas convert to JSON Schema with defaults and ranges", () => {
  const pool = z.toJSONSchema(ipAddressPoolSpec, { io: "input" }) as {
    properties: Record<string, { default?: unknown }>;
    required: string[];
  };
  assert.equal(pool.properties.autoAssign.default, true);
  assert.equal(pool.properties.avoidBuggyIPs.default, false);
  assert.deepEqual(pool.required, ["addresses"]);
  const peer = z.toJSONSchema(bgpPeerSpec, { io: "input" }) as {
    properties: Record<string, { default?: unknown; minimum?: number; maximum?: number }>;
  };
  assert.deepEqual(
    [
      peer.properties.peerPort.default,
      peer.properties.peerPort.minimum,
      peer.properties.peerPort.maximum,
    ],
    [179, 1, 16384],
  );
  for (const [kind, versions] of Object.entries(crdSpecs)) {
    for (const [v, schema] of Object.entries(versions)) {
      if (v === "storage") continue;
      assert.doesNotThrow(
        () => z.toJSONSchema(schema as z.ZodType, { io: "input" }),
        `${kind} ${v}`,
      );
    }
  }
});

/** The same object with a metadata the fast path declines, so the schema parses it. */
function viaSchema<T extends { metadata: unknown }>(obj: T): T {
  const copy = structuredClone(obj);
  copy.metadata = Object.assign(Object.create(Object.create(null)), copy.metadata);
  return copy;
}

Deno.test("usual Services and EndpointSlices parse to what the schema gives", () => {
  const services: KubeObject[] = [
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "a", labels: { app: "a" }, annotations: { x: "y" } },
      spec: {
        type: "LoadBalancer",
        loadBalancerClass: "c",
        loadBalancerIP: "192.0.2.9",
        ipFamilies: ["IPv4", "IPv6"],
        ipFamilyPolicy: "PreferDualStack",
        clusterIPs: ["10.96.0.1", "fd00::1"],
        externalTrafficPolicy: "Local",
        selector: { app: "a" },
        ports: [{ port: 80, name: "http", targetPort: "web" }, { protocol: "UDP", port: 53 }],
      },
      status: {
        loadBalancer: { ingress: [{ ip: "192.0.2.1" }, { hostname: "h" }, { ip: "::1" }] },
      },
    },
    { apiVersion: "v1", kind: "Service", metadata: { name: "b", namespace: "ns" }, spec: {} },
    {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "c" },
      spec: { clusterIP: "10.96.0.7", clusterIPs: [] },
      status: {},
    },
    { apiVersion: "v1", kind: "Service", metadata: { name: "d" }, spec: { clusterIP: "10.9.0.1" } },
  ];
  for (const s of services) {
    const quick = parseService(s);
    assert.ok(quick.ok);
    assert.deepEqual(quick, parseService(viaSchema(s)), s.metadata.name);
  }
  const slice: KubeObject = {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "s", namespace: "ns", labels: { "kubernetes.io/service-name": "a" } },
    addressType: "IPv4",
    endpoints: [
      { addresses: ["10.0.0.1"], nodeName: "n1", conditions: { ready: false, serving: true } },
      { addresses: ["10.0.0.2"], conditions: { terminating: true } },
      { addresses: [] },
    ],
    ports: [{ name: "http", protocol: "TCP", port: 8080 }, {}],
  };
  assert.deepEqual(parseEndpointSlice(slice), parseEndpointSlice(viaSchema(slice)));
  const empty = { ...slice, endpoints: null, ports: null } as unknown as KubeObject;
  assert.deepEqual(parseEndpointSlice(empty), parseEndpointSlice(viaSchema(empty)));
  // What the fast path must not accept still gets the schema's error.
  const bad = structuredClone(services[0]);
  (bad.spec as { ports: { port: number }[] }).ports[0].port = 70000;
  assert.equal(parseService(bad).ok, false);
});

Deno.test("snapshot views read what parseService gives, from the object", () => {
  const base = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "a", namespace: "ns", labels: { app: "a" }, annotations: { x: "y" } },
  };
  const specs: unknown[] = [
    {
      type: "LoadBalancer",
      loadBalancerClass: "c",
      loadBalancerIP: "192.0.2.9",
      ipFamilies: ["IPv4", "IPv6"],
      ipFamilyPolicy: "PreferDualStack",
      clusterIPs: ["10.96.0.1", "fd00::1"],
      externalTrafficPolicy: "Local",
      selector: { app: "a" },
      ports: [{ port: 80, name: "http", targetPort: "web" }, { protocol: "UDP", port: 53 }],
    },
    {},
    { clusterIP: "10.96.0.7", clusterIPs: [] },
    { clusterIP: "10.9.0.1", loadBalancerClass: "" },
    { clusterIP: "None", ports: Object.freeze([Object.freeze({ protocol: "TCP", port: 80 })]) },
  ];
  const statuses: unknown[] = [
    undefined,
    {},
    { loadBalancer: { ingress: [{ ip: "192.0.2.1" }, { hostname: "h" }, { ip: "::1" }] } },
  ];
  const fields = SERVICE_VIEW_FIELDS;
  for (const spec of specs) {
    for (const status of statuses) {
      const obj = { ...base, spec, ...(status ? { status } : {}) } as KubeObject;
      const plain = parseService(obj);
      const snap = parseSnapshotService(obj);
      assert.ok(plain.ok && snap.ok);
      for (const f of fields) {
        assert.deepEqual(snap.value[f], plain.value[f], `${JSON.stringify(spec)} ${f}`);
      }
      const again = parseSnapshotService(obj);
      assert.ok(again.ok);
      assert.equal(again.value, snap.value, "memoized");
    }
  }
  // Namespace left out: `default`, as parseService says.
  const bare = { apiVersion: "v1", kind: "Service", metadata: { name: "b" }, spec: {} };
  const v = parseSnapshotService(bare as KubeObject);
  assert.ok(v.ok);
  assert.equal(v.value.namespace, "default");
  // Unusual objects go through the schema: its errors, as before.
  const bad = { ...base, spec: { ports: [{ port: 70000 }] } } as KubeObject;
  assert.deepEqual(parseSnapshotService(bad), parseService(bad));
});
