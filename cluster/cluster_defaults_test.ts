import assert from "node:assert/strict";
import { HOSTNAME_LABEL, syntheticEndpointSlice, withClusterDefaults } from "./cluster_defaults.ts";
import { parseEndpointSlice, parseNode } from "../api/objects.ts";
import { createMemorySource } from "./memory_source.ts";
import { asManifestService } from "./manifest_service.ts";
import type { KubeObject, ObjectSource } from "./types.ts";

function service(name: string, namespace = "default"): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace },
    spec: { type: "LoadBalancer", ports: [{ protocol: "TCP", port: 80 }] },
  };
}

function slice(name: string, svc: string, namespace: string, nodeName: string): KubeObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace, labels: { "kubernetes.io/service-name": svc } },
    endpoints: [{ addresses: ["10.0.0.9"], conditions: { ready: false }, nodeName }],
  };
}

Deno.test("cluster defaults: node NAME exists, ready and labelled, unless a manifest says", async () => {
  const inner = createMemorySource([]);
  const src = withClusterDefaults(inner, { nodeName: "host1" });
  await src.start();
  const node = src.snapshot().objects.get("Node")?.get("host1");
  assert.ok(node);
  const view = parseNode(node);
  assert.ok(view.ok);
  assert.equal(view.value.labels[HOSTNAME_LABEL], "host1");
  assert.equal(view.value.networkUnavailable, false);

  inner.put({
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: "host1", labels: { zone: "a" } },
    status: { conditions: [{ type: "NetworkUnavailable", status: "True" }] },
  });
  await Promise.resolve();
  const own = parseNode(src.snapshot().objects.get("Node")!.get("host1")!);
  assert.ok(own.ok);
  assert.equal(own.value.networkUnavailable, true);
  assert.deepEqual(own.value.labels, { zone: "a" });
});

Deno.test("cluster defaults: Services without an EndpointSlice get a ready one on this node", async () => {
  const inner = createMemorySource([
    service("web"),
    service("db"),
    service("web", "other"),
    slice("db-abc", "db", "default", "host2"),
  ]);
  const src = withClusterDefaults(inner, { nodeName: "host1" });
  await src.start();
  const slices = [...src.snapshot().objects.get("EndpointSlice")!.values()]
    .map((o) => parseEndpointSlice(o))
    .map((r) => (r.ok ? r.value : assert.fail(JSON.stringify(r.errors))));
  const byService = (ns: string, name: string) =>
    slices.filter((s) => s.namespace === ns && s.serviceName === name);
  for (const ns of ["default", "other"]) {
    const [web, ...more] = byService(ns, "web");
    assert.equal(more.length, 0);
    assert.deepEqual(web.endpoints.map((e) => [e.serving, e.nodeName]), [[true, "host1"]]);
  }
  // The directory's own slice is honoured as it is: not ready, elsewhere.
  const db = byService("default", "db");
  assert.equal(db.length, 1);
  assert.deepEqual(db[0].endpoints.map((e) => [e.serving, e.nodeName]), [[false, "host2"]]);

  inner.remove("Service", "other/web");
  await Promise.resolve();
  assert.equal(
    [...src.snapshot().objects.get("EndpointSlice")!.values()].filter((o) =>
      o.metadata.namespace === "other"
    ).length,
    0,
  );
});

Deno.test("cluster defaults: starts the inner source once, follows its revision and changes", async () => {
  let starts = 0;
  const inner = createMemorySource([service("web")]);
  const counting: ObjectSource = {
    ...inner,
    start: () => {
      starts++;
      return inner.start();
    },
  };
  const src = withClusterDefaults(counting, { nodeName: "n" });
  await Promise.all([src.start(), src.start()]);
  assert.equal(starts, 1);
  const before = src.snapshot();
  assert.equal(src.snapshot(), before, "unchanged source gives the same snapshot");
  const seen: string[][] = [];
  src.subscribe((kinds) => seen.push([...kinds].sort()));
  inner.put(service("api"));
  await new Promise((r) => setTimeout(r, 0));
  assert.ok(src.snapshot().revision > before.revision);
  // A Service change changes the synthetic slices, so EndpointSlice is reported too.
  assert.deepEqual(seen, [["EndpointSlice", "Service"]]);
});

Deno.test("cluster defaults: unchanged Services keep the same made-up slice object", async () => {
  const inner = createMemorySource([service("web"), service("db")]);
  const src = withClusterDefaults(inner, { nodeName: "host1" });
  await src.start();
  const before = src.snapshot().objects.get("EndpointSlice")!;
  inner.put(service("api"));
  await new Promise((r) => setTimeout(r, 0));
  const after = src.snapshot().objects.get("EndpointSlice")!;
  assert.equal(after.size, 3);
  for (const key of before.keys()) assert.equal(after.get(key), before.get(key), key);
});

Deno.test("cluster defaults: made-up slices read alike by key, by iteration and by size", async () => {
  const inner = createMemorySource([
    service("web"),
    service("db"),
    service("api", "other"),
    slice("db-abc", "db", "default", "host2"),
    // A real slice with a made-up one's name that covers another Service: replaced.
    slice("web-ferrolb-local", "old", "default", "host2"),
  ]);
  const src = withClusterDefaults(inner, { nodeName: "host1" });
  await src.start();
  const slices = src.snapshot().objects.get("EndpointSlice")!;
  const expected = new Map<string, KubeObject>();
  for (const [k, v] of inner.snapshot().objects.get("EndpointSlice")!) expected.set(k, v);
  for (const k of ["default/web", "other/api"]) {
    const [ns, name] = k.split("/");
    expected.set(`${ns}/${name}-ferrolb-local`, slices.get(`${ns}/${name}-ferrolb-local`)!);
  }
  assert.deepEqual([...slices.keys()], [...expected.keys()]);
  assert.equal(slices.size, expected.size);
  for (const [k, v] of slices) {
    assert.equal(slices.get(k), v, k);
    assert.ok(slices.has(k));
  }
  assert.equal(slices.get("default/db-ferrolb-local"), undefined, "db has its own slice");
  assert.equal(
    slices.get("default/web-ferrolb-local")?.metadata.labels?.[
      "kubernetes.io/service-name"
    ],
    "web",
  );
  assert.equal(slices.has("default/nothing"), false);
  let n = 0;
  slices.forEach(() => n++);
  assert.equal(n, slices.size);
});

Deno.test("cluster defaults: a made-up slice reads and serializes as the plain object", async () => {
  const inner = createMemorySource([service("web", "shop")]);
  const src = withClusterDefaults(inner, { nodeName: "host1" });
  await src.start();
  const made = src.snapshot().objects.get("EndpointSlice")!.get("shop/web-ferrolb-local")!;
  const svc = inner.snapshot().objects.get("Service")!.get("shop/web")!;
  const plain = syntheticEndpointSlice(svc, "host1");
  assert.deepEqual(JSON.parse(JSON.stringify(made)), JSON.parse(JSON.stringify(plain)));
  assert.deepEqual(made.metadata, plain.metadata);
  assert.equal(made.apiVersion, plain.apiVersion);
  assert.equal(made.kind, plain.kind);
  assert.deepEqual((made as unknown as { endpoints: unknown }).endpoints, plain.endpoints);
});

/** A slice view's fields as one plain object (views may read them through getters). */
function viewFields(r: ReturnType<typeof parseEndpointSlice>): Record<string, unknown> {
  assert.ok(r.ok, JSON.stringify(r));
  const v = r.value;
  return {
    namespace: v.namespace,
    name: v.name,
    serviceName: v.serviceName,
    endpoints: v.endpoints,
    ports: v.ports,
  };
}

Deno.test("cluster defaults: a made-up slice parses to the view of its plain object", async () => {
  const inner = createMemorySource([
    service("web", "shop"),
    { ...service("bare"), metadata: { name: "bare" } },
  ]);
  const src = withClusterDefaults(inner, { nodeName: "host1" });
  await src.start();
  const slices = src.snapshot().objects.get("EndpointSlice")!;
  for (const key of ["shop/web-ferrolb-local", "default/bare-ferrolb-local"]) {
    const made = slices.get(key)!;
    const plain = JSON.parse(JSON.stringify(made)) as KubeObject;
    assert.deepEqual(viewFields(parseEndpointSlice(made)), viewFields(parseEndpointSlice(plain)));
  }
  assert.deepEqual(viewFields(parseEndpointSlice(slices.get("shop/web-ferrolb-local")!)), {
    namespace: "shop",
    name: "web-ferrolb-local",
    serviceName: "web",
    endpoints: [{ addresses: ["127.0.0.1"], serving: true, ready: true, nodeName: "host1" }],
    ports: [],
  });
});

Deno.test("cluster defaults: a made-up slice of a Service with odd metadata parses as its plain object", async () => {
  // The file source keeps objects whose namespace is not a string for the schema to refuse.
  const odd = {
    ...service("odd"),
    metadata: { name: "odd", namespace: 7 },
  } as unknown as KubeObject;
  const inner = createMemorySource([odd]);
  const src = withClusterDefaults(inner, { nodeName: "host1" });
  await src.start();
  const [made] = [...src.snapshot().objects.get("EndpointSlice")!.values()];
  const plain = JSON.parse(JSON.stringify(made)) as KubeObject;
  assert.equal(parseEndpointSlice(made).ok, false);
  assert.deepEqual(parseEndpointSlice(made), parseEndpointSlice(plain));
});

Deno.test("cluster defaults: manifest Services keep their made-up slice, one per node", () => {
  const services = new Map(
    ["web", "db"].map((n) => [`default/${n}`, Object.freeze(asManifestService(service(n)))]),
  );
  let revision = 1;
  const inner: ObjectSource = {
    start: () => Promise.resolve(),
    snapshot: () => ({ revision, objects: new Map([["Service", services]]) }),
    subscribe: () => () => true,
    close: () => Promise.resolve(),
  };
  const one = withClusterDefaults(inner, { nodeName: "host1" });
  const two = withClusterDefaults(inner, { nodeName: "host2" });
  // Each read now (the maps are lazy): the slices as objects, and where their endpoint is.
  const read = (src: ObjectSource) => {
    const slices = src.snapshot().objects.get("EndpointSlice")!;
    return ["default/web-ferrolb-local", "default/db-ferrolb-local"].map((key) => {
      const obj = slices.get(key)!;
      const json = JSON.parse(JSON.stringify(obj)) as { endpoints: { nodeName: string }[] };
      return { obj, node: json.endpoints[0].nodeName };
    });
  };
  const first = read(one);
  const other = read(two);
  revision++;
  const again = read(one);
  const otherAgain = read(two);
  for (let i = 0; i < 2; i++) {
    assert.equal(again[i].obj, first[i].obj, "same Service, same slice");
    assert.equal(otherAgain[i].obj, other[i].obj, "on the other node too");
    assert.deepEqual([first[i].node, other[i].node], ["host1", "host2"]);
  }
});
