import assert from "node:assert/strict";
import { admitObject, collectionPath, slimObject } from "./kube_kinds.ts";
import type { KubeObject } from "./types.ts";

Deno.test("slimObject keeps what the roles read and drops managedFields, last-applied, Node images", () => {
  const svc = slimObject("Service", {
    metadata: {
      name: "web",
      namespace: "default",
      resourceVersion: "7",
      managedFields: [{ manager: "kubectl", fieldsV1: { "f:spec": {} } }],
      annotations: {
        "kubectl.kubernetes.io/last-applied-configuration": '{"a":"whole object"}',
        "metallb.io/loadBalancerIPs": "192.0.2.1",
      },
    },
    spec: { type: "LoadBalancer" },
  });
  assert.equal(svc.apiVersion, "v1", "list items come without apiVersion; it is set");
  assert.equal(svc.kind, "Service");
  assert.deepEqual(svc.metadata, {
    name: "web",
    namespace: "default",
    resourceVersion: "7",
    annotations: { "metallb.io/loadBalancerIPs": "192.0.2.1" },
  });
  assert.deepEqual(svc.spec, { type: "LoadBalancer" });

  const conditions = [{ type: "NetworkUnavailable", status: "False" }];
  const addresses = [{ type: "InternalIP", address: "10.0.0.1" }];
  const node = slimObject("Node", {
    metadata: { name: "n1", labels: { a: "b" } },
    spec: { podCIDR: "10.244.0.0/24" },
    status: { conditions, addresses, images: [{ names: ["x"], sizeBytes: 1 }], nodeInfo: {} },
  });
  assert.deepEqual(node.status, { conditions, addresses });
  assert.deepEqual(node.metadata.labels, { a: "b" });
  assert.deepEqual(node.spec, { podCIDR: "10.244.0.0/24" });
});

Deno.test("slimObject keeps an endpoint's addresses, conditions and node, not its pod reference", () => {
  const slice = slimObject("EndpointSlice", {
    metadata: { name: "web-1", namespace: "default" },
    addressType: "IPv4",
    endpoints: [{
      addresses: ["10.244.0.5"],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: "n1",
      zone: "z1",
      hints: { forZones: [{ name: "z1" }] },
      targetRef: { kind: "Pod", name: "web-abc", namespace: "default", uid: "u" },
    }, "not an object"],
    ports: [{ name: "http", port: 80, protocol: "TCP" }],
  });
  assert.deepEqual(slice.endpoints, [{
    addresses: ["10.244.0.5"],
    conditions: { ready: true, serving: true, terminating: false },
    nodeName: "n1",
  }, "not an object"]);
  assert.deepEqual(slice.ports, [{ name: "http", port: 80, protocol: "TCP" }]);
  assert.equal(slice.addressType, "IPv4");
});

Deno.test("collectionPath: install-namespace kinds are namespaced, others cluster-wide", () => {
  assert.equal(
    collectionPath("IPAddressPool", "metallb-system"),
    "/apis/metallb.io/v1beta1/namespaces/metallb-system/ipaddresspools",
  );
  assert.equal(collectionPath("BGPPeer", "x"), "/apis/metallb.io/v1beta2/namespaces/x/bgppeers");
  assert.equal(collectionPath("Service", "x"), "/api/v1/services");
  assert.equal(collectionPath("Node", "x"), "/api/v1/nodes");
});

Deno.test("admitObject: an API object nested past the bound is refused by name, a normal one kept", () => {
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 200; i++) deep = { x: deep };
  const bomb = {
    metadata: { name: "web", namespace: "default" },
    spec: { type: "LoadBalancer", extra: deep },
  };
  const refused = admitObject("Service", bomb);
  assert.equal(typeof refused, "string");
  assert.match(refused as string, /^Service default\/web: nesting exceeds depth 64/);
  const wide = {
    metadata: { name: "wide", namespace: "default" },
    spec: { ports: Array.from({ length: 250_000 }, (_, i) => i) },
  };
  assert.match(admitObject("Service", wide) as string, /holds 250,00\d nodes \(limit 200,000\)/);
  const ok = admitObject("Service", {
    metadata: { name: "web", namespace: "default", managedFields: [{}] },
    spec: { type: "LoadBalancer" },
  });
  assert.equal(typeof ok, "object");
  assert.equal((ok as KubeObject).kind, "Service");
  assert.equal("managedFields" in (ok as KubeObject).metadata, false);
});
