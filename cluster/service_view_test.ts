import assert from "node:assert/strict";
import { parseSnapshotService } from "../api/objects.ts";
import { sameState, SavedState, ServicesWithState } from "./service_view.ts";
import { freezeShared, newShared } from "./freeze_shared.ts";
import { asManifestService } from "./manifest_service.ts";
import type { KubeObject } from "./types.ts";

function service(extra: Partial<KubeObject> = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "shop" },
    spec: { type: "LoadBalancer", ports: [{ protocol: "TCP", port: 80 }] },
    ...extra,
  };
}

/** The fields a reader reads, as one plain object. */
function fieldsOf(o: KubeObject): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of ["apiVersion", "kind", "metadata", "spec", "status"] as const) {
    if (o[k] !== undefined) out[k] = o[k];
  }
  return out;
}

Deno.test("a laid-over Service reads and serializes as the plain object with the state", () => {
  const state = new SavedState(["192.0.2.1", "2001:db8::1"], { pool: "a" });
  const want = {
    ...service(),
    metadata: { name: "web", namespace: "shop", annotations: { pool: "a" } },
    status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }, { ip: "2001:db8::1" }] } },
  };
  const base = service();
  const shown = state.over(base);
  assert.deepEqual(fieldsOf(shown), want);
  assert.deepEqual(JSON.parse(JSON.stringify(shown)), want);
  assert.equal(shown.spec, base.spec, "the manifest's spec, not a copy");
  assert.equal(state.over(base), shown, "one object per state and manifest object");
  assert.notEqual(state.over(service()), shown);
  const view = parseSnapshotService(shown);
  assert.ok(view.ok);
  assert.deepEqual(view.value.ingressIPs, ["192.0.2.1", "2001:db8::1"]);
  assert.deepEqual(view.value.annotations, { pool: "a" });
});

Deno.test("a Service of another shape is laid over by copying its fields", () => {
  const base = service({
    metadata: { name: "web", namespace: "shop", labels: { a: "b" }, annotations: { own: "1" } },
    status: { loadBalancer: { ingress: [{ ip: "198.51.100.9" }] }, conditions: [] },
  });
  const shown = new SavedState(["192.0.2.1"], { pool: "a" }).over(base);
  assert.deepEqual(shown, {
    ...base,
    metadata: {
      name: "web",
      namespace: "shop",
      labels: { a: "b" },
      annotations: { own: "1", pool: "a" },
    },
    status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] }, conditions: [] },
  });
  const view = parseSnapshotService(shown);
  assert.ok(view.ok);
  assert.deepEqual(view.value.ingressIPs, ["192.0.2.1"]);
});

Deno.test("a state lays over each manifest object once, whatever its shape", () => {
  const state = new SavedState(["192.0.2.1"], {});
  for (const extra of [{}, { status: {} }]) {
    const base = service(extra);
    const shown = state.over(base);
    assert.equal(state.over(base), shown);
    const other = service(extra);
    const again = state.over(other);
    assert.notEqual(again, shown);
    assert.equal(state.over(other), again);
    assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(shown)));
  }
});

Deno.test("a state saves as {ingress, annotations} and compares by addresses and annotations", () => {
  const ips = ["192.0.2.1"];
  const state = new SavedState(ips, { pool: "a" });
  ips.push("192.0.2.2");
  assert.deepEqual(JSON.parse(JSON.stringify(state)), {
    ingress: ["192.0.2.1"],
    annotations: { pool: "a" },
  });
  const copy = state.ingress;
  copy.push("x");
  assert.deepEqual(state.ingress, ["192.0.2.1"], "callers get a copy");
  assert.ok(sameState(state, new SavedState(["192.0.2.1"], { pool: "a" })));
  assert.ok(!sameState(state, new SavedState(["192.0.2.2"], { pool: "a" })));
  assert.ok(!sameState(state, new SavedState(["192.0.2.1"], { pool: "b" })));
  assert.ok(!sameState(state, new SavedState([], { pool: "a" })));
  const empty = new SavedState([], {}).over(service());
  assert.deepEqual(fieldsOf(empty).status, { loadBalancer: { ingress: [] } });
});

Deno.test("the Services with state read as the manifests' map with states laid over", () => {
  const a = service();
  const b = service({ metadata: { name: "db", namespace: "shop" } });
  const state = new SavedState(["192.0.2.1"], {});
  const view = new ServicesWithState(
    new Map([["shop/web", a], ["shop/db", b]]),
    new Map([["shop/db", state]]),
  );
  assert.equal(view.size, 2);
  assert.equal(view.get("shop/web"), a);
  assert.equal(view.get("shop/db"), state.over(b));
  assert.deepEqual([...view.keys()], ["shop/web", "shop/db"]);
  assert.deepEqual([...view.values()], [a, state.over(b)]);
  assert.deepEqual([...view.entries()], [["shop/web", a], ["shop/db", state.over(b)]]);
  assert.equal(view.get("shop/none"), undefined);
});

/** Every field of a Service view, as one plain object. */
function viewFields(o: KubeObject): unknown {
  const r = parseSnapshotService(o);
  if (!r.ok) return r;
  const v = r.value;
  return {
    namespace: v.namespace,
    name: v.name,
    labels: v.labels,
    annotations: v.annotations,
    type: v.type,
    loadBalancerClass: v.loadBalancerClass,
    loadBalancerIP: v.loadBalancerIP,
    ipFamilies: v.ipFamilies,
    ipFamilyPolicy: v.ipFamilyPolicy,
    clusterIPs: v.clusterIPs,
    externalTrafficPolicy: v.externalTrafficPolicy,
    selector: v.selector,
    ports: v.ports,
    ingressIPs: v.ingressIPs,
  };
}

Deno.test("a laid-over Service's view is the view of the plain object it reads as", () => {
  const specs: unknown[] = [
    { type: "LoadBalancer", ports: [{ protocol: "TCP", port: 80 }] },
    {
      type: "LoadBalancer",
      loadBalancerIP: "192.0.2.7",
      loadBalancerClass: "x",
      ipFamilies: ["IPv4", "IPv6"],
      ipFamilyPolicy: "PreferDualStack",
      clusterIP: "10.0.0.1",
      externalTrafficPolicy: "Local",
      selector: { app: "web" },
      ports: [{ name: "http", protocol: "UDP", port: 53, targetPort: "dns" }],
    },
    { type: "ClusterIP" },
    // Not a valid Service: the view is the schema's verdict, as for the plain object.
    { type: "LoadBalancer", ports: [{ protocol: "TCP", port: 0 }] },
  ];
  const metas = [
    { name: "web", namespace: "shop" },
    { name: "web", namespace: "shop", labels: { a: "b" }, annotations: { own: "1" } },
  ];
  const states = [
    new SavedState(["192.0.2.1"], { pool: "a" }),
    new SavedState(["192.0.2.1", "", "2001:db8::1"], {}),
    new SavedState([], { pool: "a" }),
  ];
  for (const spec of specs) {
    for (const metadata of metas) {
      for (const state of states) {
        const shown = state.over(service({ metadata, spec }));
        const plain = JSON.parse(JSON.stringify(shown)) as KubeObject;
        assert.deepEqual(viewFields(shown), viewFields(plain), JSON.stringify(plain));
        // Asked again: the same verdict.
        assert.deepEqual(viewFields(shown), viewFields(plain));
      }
    }
  }
});

Deno.test("over a manifest Service the laid-over Service is its own view, equal to the plain one's", () => {
  const metas = [
    { name: "web", namespace: "shop" },
    { name: "web" },
    { name: "web", namespace: "shop", labels: { a: "b" }, annotations: { own: "1", pool: "x" } },
  ];
  for (const metadata of metas) {
    const base = asManifestService(service({ metadata }));
    freezeShared(base, newShared());
    const state = new SavedState(["192.0.2.1"], { pool: "a" });
    const shown = state.over(base);
    // As over the plain object, key order included.
    const overPlain = state.over(service({ metadata }));
    assert.equal(JSON.stringify(shown), JSON.stringify(overPlain));
    const r = parseSnapshotService(shown);
    assert.ok(r.ok);
    assert.equal(r.value, shown, "no view object of its own");
    const plain = JSON.parse(JSON.stringify(shown)) as KubeObject;
    assert.deepEqual(viewFields(shown), viewFields(plain));
    assert.deepEqual(shown.metadata, plain.metadata);
  }
});
