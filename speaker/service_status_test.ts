import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { createRegistry, defineMetallbMetrics } from "../api/metrics.ts";
import type { KubeObject, ObjectWriter, ServiceBGPStatusParts } from "../cluster/types.ts";
import type { ServiceAnnouncement } from "./announce_types.ts";
import type { PeerSet } from "./peer_set.ts";
import { serviceBGPStatusName, ServiceStatusReporter } from "./service_status.ts";
import type { WriteQueue } from "./write_queue.ts";

/** A reporter whose peer `p1` holds every route, writing at once into `log`. */
function reporter(
  metrics?: ReturnType<typeof defineMetallbMetrics>,
  more: Partial<ObjectWriter> = {},
) {
  const log: string[] = [];
  const writer = {
    setServiceBGPStatus(_ns: string, name: string, o: KubeObject | null) {
      log.push(o ? `set ${name} ${(o.status as { peers: string[] }).peers}` : `delete ${name}`);
      return Promise.resolve();
    },
    recordEvent() {
      return Promise.resolve();
    },
    // Writers of the test's own replace those above.
    ...more,
  } as unknown as ObjectWriter;
  const queue = {
    push: <A, B, C>(_: string, fn: (a: A, b: B, c?: C) => Promise<void>, a: A, b: B, c?: C) =>
      void fn(a, b, c),
  } as unknown as WriteQueue;
  const peers = {
    established: () => true,
    routeState: () => "sent",
    label: (p: string) => p,
  } as unknown as PeerSet;
  const r = new ServiceStatusReporter({
    node: "n1",
    namespace: "metallb-system",
    log: silentLogger,
    writer,
    queue,
    peers,
    metrics,
    now: () => 0,
  });
  r.peerChanged("p1", true);
  return { r, log };
}

const decision = (name: string, peers: string[] = ["p1"]): ServiceAnnouncement => ({
  namespace: "default",
  name,
  ips: ["192.0.2.1"],
  peers,
  prefixes: "192.0.2.1/32",
});

function pass(r: ServiceStatusReporter, services: ServiceAnnouncement[]): void {
  for (const _ of r.observe(services, () => new Map())) { /* run it through */ }
  for (const _ of r.confirm()) { /* run it through */ }
}

const nameOf = (service: string) => serviceBGPStatusName("default", service, "n1");

Deno.test("reporter: Services added, gone, back and withdrawn keep their objects apart", () => {
  const { r, log } = reporter();
  pass(r, [decision("a"), decision("b"), decision("c")]);
  assert.deepEqual(log.splice(0), ["a", "b", "c"].map((s) => `set ${nameOf(s)} p1`));
  // b goes, d comes.
  pass(r, [decision("a"), decision("c"), decision("d")]);
  assert.deepEqual(log.splice(0).sort(), [`delete ${nameOf("b")}`, `set ${nameOf("d")} p1`]);
  // b comes back; a is announced to no peer; c is unchanged (a new but equal decision).
  pass(r, [decision("a", []), decision("b"), decision("c"), decision("d")]);
  assert.deepEqual(log.splice(0).sort(), [`delete ${nameOf("a")}`, `set ${nameOf("b")} p1`]);
  assert.deepEqual(
    r.services().map((s) => [s.name, s.peers]),
    [["a", []], ["b", ["p1"]], ["c", ["p1"]], ["d", ["p1"]]],
  );
  // Everything goes at once.
  pass(r, []);
  assert.deepEqual(log.splice(0).sort(), ["b", "c", "d"].map((s) => `delete ${nameOf(s)}`));
  assert.deepEqual(r.services(), []);
  // Sweeping finds nothing of ours standing.
  pass(r, [decision("e")]);
  assert.deepEqual(log.splice(0), [`set ${nameOf("e")} p1`]);
});

Deno.test("reporter: two decisions of one Service share its object", () => {
  const { r, log } = reporter();
  pass(r, [decision("a"), decision("a"), decision("b")]);
  assert.deepEqual(log.splice(0), ["a", "b"].map((s) => `set ${nameOf(s)} p1`));
  pass(r, [decision("a"), decision("a"), decision("b")]);
  assert.deepEqual(log.splice(0), []);
  pass(r, [decision("b")]);
  assert.deepEqual(log.splice(0), [`delete ${nameOf("a")}`]);
});

Deno.test("reporter: metallb_speaker_announced follows what peers hold, at confirmation", () => {
  const registry = createRegistry();
  const metrics = defineMetallbMetrics(registry);
  const { r } = reporter(metrics);
  const shown = (ip: string) => {
    const one = metrics.speakerAnnounced.get({
      service: "default/a",
      protocol: "bgp",
      node: "n1",
      ip,
    });
    // The series listed say the same.
    const listed = registry.render().includes(
      `service="default/a",protocol="bgp",node="n1",ip="${ip}"} 1`,
    );
    assert.equal(listed, one === 1, ip);
    return one;
  };
  const withIp = (ip: string): ServiceAnnouncement => ({ ...decision("a"), ips: [ip] });
  pass(r, [withIp("192.0.2.1")]);
  assert.equal(shown("192.0.2.1"), 1);
  // A new IP shows once confirmed; until then the old one stands.
  for (const _ of r.observe([withIp("192.0.2.2")], () => new Map())) { /* run it through */ }
  assert.equal(shown("192.0.2.1"), 1);
  assert.equal(shown("192.0.2.2"), undefined);
  for (const _ of r.confirm()) { /* run it through */ }
  assert.equal(shown("192.0.2.1"), undefined);
  assert.equal(shown("192.0.2.2"), 1);
  // Gone and back with another IP before a confirmation: the IP shown stays until then.
  for (const _ of r.observe([], () => new Map())) { /* run it through */ }
  for (const _ of r.observe([withIp("192.0.2.3")], () => new Map())) { /* run it through */ }
  assert.equal(shown("192.0.2.2"), 1);
  assert.equal(shown("192.0.2.3"), undefined);
  for (const _ of r.confirm()) { /* run it through */ }
  assert.equal(shown("192.0.2.2"), undefined);
  assert.equal(shown("192.0.2.3"), 1);
  // Its IP list made again with the same IPs: still shown.
  for (const _ of r.observe([withIp("192.0.2.3")], () => new Map())) { /* run it through */ }
  assert.equal(shown("192.0.2.3"), 1);
  for (const _ of r.confirm()) { /* run it through */ }
  assert.equal(shown("192.0.2.3"), 1);
  // Gone: shown until its object is deleted.
  for (const _ of r.observe([], () => new Map())) { /* run it through */ }
  assert.equal(shown("192.0.2.3"), 1);
  for (const _ of r.confirm()) { /* run it through */ }
  assert.equal(shown("192.0.2.3"), undefined);
});

Deno.test("reporter: a writer taking a status's parts gets those of the object", () => {
  const objects: [string, string, KubeObject | null][] = [];
  const parts: [string, string, ServiceBGPStatusParts][] = [];
  const plain = reporter(undefined, {
    setServiceBGPStatus(ns, name, o) {
      objects.push([ns, name, o]);
      return Promise.resolve();
    },
  });
  const split = reporter(undefined, {
    setServiceBGPStatus(ns, name, o) {
      objects.push([ns, name, o]);
      return Promise.resolve();
    },
    setServiceBGPStatusParts(ns, name, p) {
      parts.push([ns, name, p]);
      return Promise.resolve();
    },
  });
  pass(plain.r, [decision("a"), decision("b", ["p1", "p2"])]);
  const written = objects.splice(0);
  pass(split.r, [decision("a"), decision("b", ["p1", "p2"])]);
  assert.equal(objects.length, 0);
  assert.equal(parts.length, written.length);
  parts.forEach(([ns, name, p], i) => {
    assert.deepEqual([ns, name], written[i].slice(0, 2));
    assert.deepEqual(written[i][2], {
      apiVersion: "metallb.io/v1beta1",
      kind: "ServiceBGPStatus",
      metadata: {
        name,
        namespace: ns,
        labels: {
          "metallb.io/node": p.node,
          "metallb.io/service-name": p.serviceName,
          "metallb.io/service-namespace": p.serviceNamespace,
        },
      },
      status: { ...p },
    });
  });
  // Deletes still go through setServiceBGPStatus.
  pass(split.r, []);
  // (b, whose peer p2 never came up, stayed unconfirmed: it is looked at first.)
  assert.deepEqual(objects.map(([, name, o]) => [name, o]), [
    [nameOf("b"), null],
    [nameOf("a"), null],
  ]);
});
