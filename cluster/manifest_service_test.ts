import assert from "node:assert/strict";
import { parseSnapshotService } from "../api/objects.ts";
import { SERVICE_VIEW_FIELDS } from "../api/testing.ts";
import { freezeShared, newShared } from "./freeze_shared.ts";
import { asManifestService } from "./manifest_service.ts";
import type { KubeObject } from "./types.ts";

/** Every field of a Service view (or the failed result), as one plain object. */
function viewFields(o: KubeObject): unknown {
  const r = parseSnapshotService(o);
  if (!r.ok) return r;
  return Object.fromEntries(SERVICE_VIEW_FIELDS.map((f) => [f, r.value[f]]));
}

function service(spec: unknown, metadata: KubeObject["metadata"] = { name: "web" }): KubeObject {
  return { apiVersion: "v1", kind: "Service", metadata, spec };
}

Deno.test("a manifest Service reads and serializes as its plain object", () => {
  const plain = service({ type: "LoadBalancer", ports: [{ protocol: "TCP", port: 80 }] }, {
    name: "web",
    namespace: "shop",
  });
  const o = asManifestService(plain);
  assert.equal(JSON.stringify(o), JSON.stringify(plain));
  for (const k of ["apiVersion", "kind", "metadata", "spec", "status"]) {
    assert.deepEqual(o[k], plain[k], k);
  }
  // A spec of another shape than `{type: LoadBalancer, selector: {app}, ports}` is the
  // manifest's own object, and so is metadata of another shape than a name and a namespace.
  assert.equal(o.spec, plain.spec);
  const labelled = service({}, { name: "web", labels: { a: "b" } });
  assert.equal(asManifestService(labelled).metadata, labelled.metadata);
  assert.equal(JSON.stringify(asManifestService(labelled)), JSON.stringify(labelled));
  // Shared and frozen by the publisher, as every object of a snapshot.
  freezeShared(o, newShared());
  assert.ok(Object.isFrozen(o) && Object.isFrozen(o.spec));
  assert.equal(JSON.stringify(o), JSON.stringify(plain));
  assert.deepEqual(viewFields(o), viewFields(plain), "frozen, as the publisher leaves it");
});

Deno.test("a manifest Service's view is the view of its plain object", () => {
  const specs: unknown[] = [
    { type: "LoadBalancer", selector: { app: "web" }, ports: [{ protocol: "TCP", port: 80 }] },
    { type: "NodePort", selector: { app: "web" }, ports: [{ protocol: "TCP", port: 80 }] },
    { type: "LoadBalancer", selector: { app: "web", tier: "db" }, ports: [] },
    { type: "LoadBalancer", ports: [{ protocol: "TCP", port: 80 }] },
    {
      type: "LoadBalancer",
      loadBalancerIP: "192.0.2.7",
      ipFamilies: ["IPv6"],
      ipFamilyPolicy: "SingleStack",
      clusterIPs: ["fd00::1"],
      externalTrafficPolicy: "Local",
      selector: { app: "web" },
      ports: [{ name: "dns", protocol: "UDP", port: 53 }],
    },
    { type: "ClusterIP", clusterIP: "None" },
    // Refused by the fast path: the schema's verdict, as for the plain object.
    { type: "LoadBalancer", ports: [{ protocol: "TCP", port: 70000 }] },
    "not a spec",
  ];
  for (const spec of specs) {
    for (
      const metadata of [{ name: "web" }, { name: "web", namespace: "shop", labels: { a: "b" } }]
    ) {
      const plain = service(spec, metadata);
      const o = asManifestService(service(spec, metadata));
      assert.deepEqual(viewFields(o), viewFields(plain), JSON.stringify(plain));
    }
  }
});

Deno.test("a spec of the usual shape is kept as its parts and reads as the plain one", () => {
  const spec = { type: "LoadBalancer", selector: { app: "web" }, ports: [{ port: 80 }] };
  const plain = service(spec, { name: "web", namespace: "shop" });
  const o = asManifestService(service(structuredClone(spec), plain.metadata));
  assert.equal(JSON.stringify(o), JSON.stringify(plain));
  assert.deepEqual(o.spec, spec);
  assert.deepEqual(Object.keys(o.spec as object), ["type", "selector", "ports"]);
  freezeShared(o, newShared());
  const frozen = o.spec as typeof spec;
  assert.ok(Object.isFrozen(frozen) && Object.isFrozen(frozen.selector));
  assert.ok(Object.isFrozen(frozen.ports) && Object.isFrozen(frozen.ports[0]));
  assert.deepEqual(frozen, spec);
  assert.deepEqual(viewFields(o), viewFields(plain), "frozen, as the publisher leaves it");
});

Deno.test("objects of another kind or shape stay as they are", () => {
  const others: KubeObject[] = [
    { ...service({}), status: { loadBalancer: {} } },
    { ...service({}), apiVersion: "v2" },
    { apiVersion: "v1", kind: "Service", metadata: { name: "a" } },
    { apiVersion: "v1", kind: "Node", metadata: { name: "a" }, spec: {} },
    { kind: "Service", apiVersion: "v1", metadata: { name: "a" }, spec: {} },
  ];
  for (const o of others) assert.equal(asManifestService(o), o);
});
