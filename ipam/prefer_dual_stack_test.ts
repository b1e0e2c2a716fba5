import assert from "node:assert/strict";
import { serviceRequest } from "./testing.ts";
import { Allocator } from "./allocator.ts";
import type { AllocateResult, ServiceRequest } from "./types.ts";

// A PreferDualStack Service listing one family (as in a single-stack cluster) gets the
// other family too from the pool of the one it holds, as MetalLB's additional assignment.

/** A PreferDualStack request listing IPv4, in namespace `ns`. */
function svc(key: string, extra: Partial<ServiceRequest> = {}): ServiceRequest {
  return serviceRequest(key, { namespace: "ns", policy: "PreferDualStack", ...extra });
}

function allocator(ranges: string[]): Allocator {
  const a = new Allocator();
  assert.ok(a.setPools([{ name: "p", ranges }]).ok);
  return a;
}

function ok(r: AllocateResult): { ips: string[]; additional?: string; kept: boolean } {
  assert.ok(r.ok, JSON.stringify(r));
  return r;
}

Deno.test("prefer dual stack: one family listed, a dual pool gives both, the listed one first", () => {
  const a = allocator(["10.0.0.0/30", "fd00::/126"]);
  const r = ok(a.allocate(svc("ns/a")));
  assert.deepEqual(r.ips, ["10.0.0.0", "fd00::"]);
  assert.equal(r.additional, "fd00::");
  // Kept as it is on the next call: no second additional address.
  const again = ok(a.allocate(svc("ns/a")));
  assert.deepEqual([again.ips, again.kept, again.additional], [r.ips, true, undefined]);
  const six = ok(a.allocate(svc("ns/b", { families: [6] })));
  assert.deepEqual(six.ips, ["fd00::1", "10.0.0.1"]);
});

Deno.test("prefer dual stack: an IPv4-only pool keeps one; SingleStack never gets a second", () => {
  const a = allocator(["10.0.0.0/30"]);
  const r = ok(a.allocate(svc("ns/a")));
  assert.deepEqual([r.ips, r.additional], [["10.0.0.0"], undefined]);
  const b = allocator(["10.0.0.0/30", "fd00::/126"]);
  assert.deepEqual(ok(b.allocate(svc("ns/s", { policy: "SingleStack" }))).ips, ["10.0.0.0"]);
  // The listed family is the one the Service must have: an IPv6-only pool gives nothing.
  assert.ok(!allocator(["fd00::/126"]).allocate(svc("ns/c")).ok);
});

Deno.test("prefer dual stack: a restored IPv4 stays and gets the IPv6 added from its pool", () => {
  const a = allocator(["10.0.0.0/30", "fd00::/126"]);
  const restored = a.restore([{ request: svc("ns/a"), ips: ["10.0.0.2"] }]);
  assert.equal(restored.restored, 1);
  const r = ok(a.allocate(svc("ns/a")));
  assert.deepEqual([r.ips, r.additional, r.kept], [["10.0.0.2", "fd00::"], "fd00::", false]);
  // A freed IPv6 is what a Service that could not get one gets later.
  const full = allocator(["10.0.0.0/30", "fd00::/128"]);
  ok(full.allocate(svc("ns/x")));
  assert.deepEqual(ok(full.allocate(svc("ns/y"))).ips, ["10.0.0.1"]);
  full.release("ns/x");
  const y = ok(full.allocate(svc("ns/y")));
  assert.deepEqual([y.ips, y.additional], [["10.0.0.1", "fd00::"], "fd00::"]);
});

Deno.test("prefer dual stack: requested addresses get no additional family", () => {
  const a = allocator(["10.0.0.0/30", "fd00::/126"]);
  const r = ok(a.allocate(svc("ns/a", { requestedIPs: ["10.0.0.3"] })));
  assert.deepEqual([r.ips, r.additional], [["10.0.0.3"], undefined]);
  assert.equal(ok(a.allocate(svc("ns/a", { requestedIPs: ["10.0.0.3"] }))).kept, true);
});
