import assert from "node:assert/strict";
import { BgpStatusStore } from "./bgp_status_store.ts";
import type { KubeObject } from "./types.ts";

function status(name: string, service: string, peers: readonly string[]): KubeObject {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceBGPStatus",
    metadata: {
      name,
      namespace: "metallb-system",
      labels: {
        "metallb.io/node": "n1",
        "metallb.io/service-name": service,
        "metallb.io/service-namespace": "default",
      },
    },
    status: { node: "n1", serviceName: service, serviceNamespace: "default", peers },
  };
}

Deno.test("ServiceBGPStatus objects read back equal to what was written, as a map", () => {
  const store = new BgpStatusStore();
  const peers = Object.freeze(["p1", "p2"]);
  const a = status("a-n1-x", "a", peers);
  // Another shape (an annotation): kept as written.
  const b = status("b-n1-y", "b", peers);
  b.metadata.annotations = { note: "hand-edited" };
  store.write("metallb-system", "a-n1-x", a);
  store.write("metallb-system", "b-n1-y", b);
  store.write("other", "c", status("c", "c", []));
  assert.equal(store.size, 3);
  assert.deepEqual(store.get("metallb-system/a-n1-x"), a);
  // The shared peer list is handed back, not a copy.
  assert.equal((store.get("metallb-system/a-n1-x")!.status as { peers: unknown }).peers, peers);
  assert.equal(store.get("metallb-system/b-n1-y"), b);
  assert.equal(store.get("metallb-system/c"), undefined);
  // A made-up object of another namespace than its key does not pass for the usual shape.
  assert.equal(store.get("other/c")!.metadata.namespace, "metallb-system");
  assert.deepEqual([...store.keys()], [
    "metallb-system/a-n1-x",
    "metallb-system/b-n1-y",
    "other/c",
  ]);
  assert.deepEqual(new Map(store), new Map([...store.keys()].map((k) => [k, store.get(k)])));
  store.write("metallb-system", "a-n1-x", status("a-n1-x", "a", ["p1"]));
  assert.equal(store.size, 3);
  assert.deepEqual(store.get("metallb-system/a-n1-x"), status("a-n1-x", "a", ["p1"]));
  store.write("metallb-system", "a-n1-x", null);
  store.write("metallb-system", "a-n1-x", null);
  store.write("other", "c", null);
  assert.equal(store.size, 1);
  assert.deepEqual([...store.values()], [b]);
  assert.equal(store.has("other/c"), false);
});

Deno.test("statuses sharing node, namespace and peers read back each as written", () => {
  const store = new BgpStatusStore();
  const written = [
    status("a-n1", "a", ["p1", "p2"]),
    status("b-n1", "b", ["p1", "p2"]),
    status("c-n1", "c", ["p1"]),
    status("d-n1", "d", ["p1\np2"]),
    status("e-n1", "e", ["p1", "p2"]),
  ];
  (written[4].status as { serviceNamespace: string }).serviceNamespace = "prod";
  written[4].metadata.labels!["metallb.io/service-namespace"] = "prod";
  for (const o of written) store.write("metallb-system", o.metadata.name, o);
  for (const o of written) assert.deepEqual(store.get(`metallb-system/${o.metadata.name}`), o);
  const peersOf = (name: string) =>
    (store.get(`metallb-system/${name}`)!.status as { peers: unknown }).peers;
  // Equal lists come back as one list; the first written stands for them.
  assert.equal(peersOf("b-n1"), peersOf("a-n1"));
  assert.notEqual(peersOf("e-n1"), peersOf("a-n1"));
});

Deno.test("statuses read back as written after their shared parts are compacted", () => {
  const store = new BgpStatusStore();
  // Each of these peer lists is used once and then replaced: past the table's limit only
  // the parts in use are kept, renumbered.
  for (let i = 0; i < 5000; i++) {
    store.write("metallb-system", `s${i % 50}`, status(`s${i % 50}`, `s${i % 50}`, [`p${i}`]));
  }
  assert.equal(store.size, 50);
  for (let j = 0; j < 50; j++) {
    const last = 4950 + j;
    assert.deepEqual(store.get(`metallb-system/s${j}`), status(`s${j}`, `s${j}`, [`p${last}`]));
  }
  store.write("metallb-system", "s0", null);
  store.write("metallb-system", "t", status("t", "t", ["p4999"]));
  assert.deepEqual(store.get("metallb-system/t"), status("t", "t", ["p4999"]));
  assert.equal(store.size, 50);
});

Deno.test("more than 65,536 distinct shared parts in use read back as written", () => {
  const store = new BgpStatusStore();
  const n = 70_000;
  for (let i = 0; i < n; i++) {
    store.write("metallb-system", `s${i}`, status(`s${i}`, `s${i}`, [`p${i}`]));
  }
  assert.equal(store.size, n);
  for (const i of [0, 1, 65_535, 65_536, 65_537, n - 1]) {
    assert.deepEqual(store.get(`metallb-system/s${i}`), status(`s${i}`, `s${i}`, [`p${i}`]));
  }
});

Deno.test("a Service's name is read from the status's name when it spells it, else kept", () => {
  const store = new BgpStatusStore();
  const written = [
    // Spelled `<service>-<node>-<hash>`: the name gives the Service's.
    status("web-n1-0123456789", "web", ["p1"]),
    status("a-b-n1-0123456789", "a-b", ["p1"]),
    // Names that look alike but give another Service's name, or none.
    status("web-n1-0123456789x", "web", ["p1"]),
    status("api-n1-0123456789", "web", ["p1"]),
    status("-n1-0123456789", "", ["p1"]),
    status("web-n2-0123456789", "web", ["p1"]),
  ];
  for (const o of written) store.write("metallb-system", o.metadata.name, o);
  for (const o of written) assert.deepEqual(store.get(`metallb-system/${o.metadata.name}`), o);
  // A slot given back and taken again by a status of the other kind.
  store.write("metallb-system", "web-n1-0123456789", null);
  store.write("metallb-system", "api-n1-0123456789", null);
  const again = [status("db-n1-abcdefabcd", "db", []), status("x-n1-abcdefabcd", "y", [])];
  for (const o of again) store.write("metallb-system", o.metadata.name, o);
  for (const o of again) assert.deepEqual(store.get(`metallb-system/${o.metadata.name}`), o);
  assert.equal(store.size, written.length);
});

Deno.test("a status written as its parts reads back as the object they stand for", () => {
  const store = new BgpStatusStore();
  const byObject = new BgpStatusStore();
  const peers = Object.freeze(["p1", "p2"]);
  const parts = (service: string, list: readonly string[]) => ({
    node: "n1",
    serviceName: service,
    serviceNamespace: "default",
    peers: list,
  });
  const names: [string, string, readonly string[]][] = [
    ["web-n1-0123456789", "web", peers],
    ["api-n1-0123456789", "api", peers],
    ["x-n1-abcdefabcd", "y", peers],
    ["db-n1-abcdefabcd", "db", ["p1"]],
  ];
  for (const [name, service, list] of names) {
    store.writeParts("metallb-system", name, parts(service, list));
    byObject.write("metallb-system", name, status(name, service, list));
  }
  assert.equal(store.size, names.length);
  assert.deepEqual(new Map(store), new Map(byObject));
  for (const [name, service, list] of names) {
    assert.deepEqual(store.get(`metallb-system/${name}`), status(name, service, list));
  }
  // Equal parts in a row share one list, the one written.
  const peersOf = (name: string) =>
    (store.get(`metallb-system/${name}`)!.status as { peers: unknown }).peers;
  assert.equal(peersOf("api-n1-0123456789"), peers);
  // Parts over an object of another shape, and an object over parts, replace it.
  const odd = status("odd-n1-0123456789", "odd", peers);
  odd.metadata.annotations = { note: "hand-edited" };
  store.write("metallb-system", "odd-n1-0123456789", odd);
  store.writeParts("metallb-system", "odd-n1-0123456789", parts("odd", ["p2"]));
  assert.deepEqual(
    store.get("metallb-system/odd-n1-0123456789"),
    status("odd-n1-0123456789", "odd", ["p2"]),
  );
  store.write("metallb-system", "web-n1-0123456789", odd);
  assert.equal(store.get("metallb-system/web-n1-0123456789"), odd);
  store.writeParts("metallb-system", "web-n1-0123456789", parts("web", ["p1"]));
  assert.deepEqual(
    store.get("metallb-system/web-n1-0123456789"),
    status("web-n1-0123456789", "web", ["p1"]),
  );
  assert.equal(store.size, names.length + 1);
  store.write("metallb-system", "web-n1-0123456789", null);
  assert.equal(store.size, names.length);
});
