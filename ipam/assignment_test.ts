import assert from "node:assert/strict";
import { serviceRequest } from "./testing.ts";
import { Allocator } from "./allocator.ts";
import { Assignment } from "./assignment.ts";

const svc = serviceRequest;

Deno.test("assignment: one address kept as text, two as a list, in the order given", () => {
  const one = new Assignment(["10.0.0.1"], "p", svc("ns/a"));
  assert.equal(one.ips, "10.0.0.1");
  assert.equal(one.count, 1);
  assert.deepEqual(one.list(), ["10.0.0.1"]);
  const two = new Assignment(["fc00::1", "10.0.0.2"], "p", svc("ns/b", { families: [6, 4] }));
  assert.equal(two.count, 2);
  assert.deepEqual(two.list(), ["fc00::1", "10.0.0.2"]);
  two.setIps(["10.0.0.2"]);
  assert.equal(two.ips, "10.0.0.2");
});

Deno.test("assignment: keeps the request only when it names a pool or a sharing key", () => {
  const plain = new Assignment(["10.0.0.1"], "p", svc("ns/a", { serviceLabels: { app: "x" } }));
  assert.equal(plain.named, undefined);
  assert.equal(plain.sharingKey, undefined);
  assert.equal(plain.requestedPool, undefined);
  assert.deepEqual(plain.serviceLabels, { app: "x" });
  assert.equal(plain.sharing.sharingKey, undefined, "a plain holder shares with nobody");
  const shared = svc("ns/a", { sharingKey: "k", backendKey: "Local:x" });
  plain.adopt(shared);
  assert.equal(plain.sharingKey, "k");
  assert.equal(plain.sharing.backendKey, "Local:x");
  plain.adopt(svc("ns/a", { pool: "q", namespace: "ns", namespaceLabels: { team: "t" } }));
  assert.equal(plain.requestedPool, "q");
  assert.equal(plain.sharingKey, undefined);
  assert.deepEqual(plain.namespaceLabels, { team: "t" });
});

Deno.test("allocator: the labels a kept Service last showed decide the next pool change", () => {
  const a = new Allocator();
  const sel = { serviceSelectors: [{ matchLabels: { lb: "yes" } }] };
  assert.ok(a.setPools([{ name: "p", ranges: ["10.0.0.0/30"] }]).ok);
  assert.ok(a.allocate(svc("ns/a", { serviceLabels: { lb: "yes" } })).ok);
  assert.ok(a.allocate(svc("ns/b", { serviceLabels: { lb: "yes" } })).ok);
  // ns/b is kept with new labels: the pool then serving only `lb: yes` drops it, not ns/a.
  const kept = a.allocate(svc("ns/b", { serviceLabels: { lb: "no" } }));
  assert.ok(kept.ok && kept.kept);
  const r = a.setPools([{ name: "p", ranges: ["10.0.0.0/30"], serviceAllocation: sel }]);
  assert.ok(r.ok);
  assert.deepEqual(r.invalid.map((d) => d.key), ["ns/b"]);
  assert.deepEqual(a.assignmentOf("ns/a"), { ips: ["10.0.0.0"], pool: "p" });
  assert.equal(a.assignmentOf("ns/b"), undefined);
});

Deno.test("allocator: a sharing key added to a kept Service lets another share its address", () => {
  const a = new Allocator();
  assert.ok(a.setPools([{ name: "p", ranges: ["10.0.0.0/31"] }]).ok);
  assert.ok(a.allocate(svc("ns/a")).ok);
  const other = svc("ns/b", { sharingKey: "k", ports: [{ protocol: "TCP", port: 443 }] });
  assert.deepEqual(a.allocate({ ...other, requestedIPs: ["10.0.0.0"] }).ok, false);
  assert.ok(a.allocate(svc("ns/a", { sharingKey: "k" })).ok, "kept, now with a sharing key");
  const r = a.allocate({ ...other, requestedIPs: ["10.0.0.0"] });
  assert.ok(r.ok && r.ips[0] === "10.0.0.0", JSON.stringify(r));
  assert.deepEqual(a.holdersOf("10.0.0.0"), ["ns/a", "ns/b"]);
});

Deno.test("allocator: ipsOf and poolOf read an assignment without a copy of it", () => {
  const a = new Allocator();
  assert.ok(a.setPools([{ name: "p", ranges: ["10.0.0.0/31", "fc00::/127"] }]).ok);
  assert.ok(a.allocate(svc("ns/a")).ok);
  const dual = svc("ns/b", { families: [6, 4], policy: "RequireDualStack" });
  assert.ok(a.allocate(dual).ok);
  assert.deepEqual(a.ipsOf("ns/a"), ["10.0.0.0"]);
  assert.deepEqual(a.ipsOf("ns/b"), ["fc00::", "10.0.0.1"]);
  assert.equal(a.ipsOf("ns/b"), a.ipsOf("ns/b"), "a list of two is the assignment's own");
  assert.equal(a.poolOf("ns/b"), "p");
  assert.ok(a.release("ns/b"));
  assert.equal(a.ipsOf("ns/b"), undefined);
  assert.equal(a.poolOf("ns/b"), undefined);
  assert.deepEqual([...a.keys()], ["ns/a"]);
});

Deno.test("assignment: namespace facts are shared within a namespace and follow its labels", () => {
  const team = { team: "t" };
  const a = new Assignment(["10.0.0.1"], "p", svc("ns/a", { namespaceLabels: team }));
  const b = new Assignment(["10.0.0.2"], "p", svc("ns/b", { namespaceLabels: team }));
  assert.equal(a.namespace, "ns");
  assert.equal(b.namespaceLabels, team);
  const relabelled = { team: "u" };
  const c = new Assignment(["10.0.0.3"], "p", svc("ns/c", { namespaceLabels: relabelled }));
  assert.equal(c.namespaceLabels, relabelled);
  assert.equal(a.namespaceLabels, team, "an assignment keeps the labels it saw");
  const named = svc("other/d", { pool: "p", namespaceLabels: team, serviceLabels: { x: "y" } });
  const d = new Assignment(["10.0.0.4"], "p", named);
  assert.equal(d.named, named);
  assert.equal(d.namespace, "other");
  assert.equal(d.namespaceLabels, team);
  assert.deepEqual(d.serviceLabels, { x: "y" });
  d.adopt(svc("other/d", { namespaceLabels: relabelled }));
  assert.equal(d.named, undefined);
  assert.equal(d.namespaceLabels, relabelled);
});

Deno.test("allocator: heldOf gives one address as its text and two as the assignment's list", () => {
  const a = new Allocator();
  assert.ok(a.setPools([{ name: "p", ranges: ["10.0.0.0/31", "fc00::/127"] }]).ok);
  assert.ok(a.allocate(svc("ns/a")).ok);
  assert.ok(a.allocate(svc("ns/b", { families: [6, 4], policy: "RequireDualStack" })).ok);
  assert.equal(a.heldOf("ns/a"), "10.0.0.0");
  assert.deepEqual(a.heldOf("ns/b"), ["fc00::", "10.0.0.1"]);
  assert.equal(a.heldOf("ns/b"), a.ipsOf("ns/b"));
  assert.equal(a.heldOf("ns/c"), undefined);
});

Deno.test("assignment: the pool is kept with the namespace facts, and moves alone", () => {
  const labels = { team: "t" };
  const a = new Assignment(["10.0.0.1"], "p", svc("ns/a", { namespaceLabels: labels }));
  const b = new Assignment(["10.0.0.2"], "p", svc("ns/b", { namespaceLabels: labels }));
  a.pool = "q";
  assert.equal(a.pool, "q");
  assert.equal(b.pool, "p", "another assignment of the namespace stays in its pool");
  assert.equal(a.namespace, "ns");
  assert.equal(a.namespaceLabels, labels);
  const named = new Assignment(["10.0.0.3"], "p", svc("ns/c", { sharingKey: "k" }));
  named.pool = "q";
  named.adopt(svc("ns/c", { sharingKey: "j" }));
  assert.equal(named.pool, "q");
  assert.equal(named.sharingKey, "j");
  named.adopt(svc("ns/c"));
  assert.equal(named.pool, "q", "the pool stays when the request stops naming a key");
  assert.equal(named.named, undefined);
  a.adopt(svc("ns/a", { pool: "q" }));
  assert.equal(a.pool, "q");
  assert.equal(a.requestedPool, "q");
});
