/**
 * A dual-stack Service re-assigned keeps the address of the family it already holds and gets
 * only the missing family, from the pool of the address it keeps (as MetalLB does).
 */
import assert from "node:assert/strict";
import { serviceRequest } from "./testing.ts";
import { Allocator } from "./allocator.ts";
import type { AllocateResult, PoolSpec, ServiceRequest } from "./types.ts";

/** A RequireDualStack request (both families). */
function svc(key: string, extra: Partial<ServiceRequest> = {}): ServiceRequest {
  return serviceRequest(key, { families: [4, 6], policy: "RequireDualStack", ...extra });
}

function allocator(pools: PoolSpec[]): Allocator {
  const a = new Allocator();
  const r = a.setPools(pools);
  assert.ok(r.ok, JSON.stringify(r));
  return a;
}

function ok(r: AllocateResult): { ips: string[]; pool: string; kept: boolean } {
  assert.ok(r.ok, JSON.stringify(r));
  return { ips: r.ips, pool: r.pool, kept: r.kept };
}

const DUAL: PoolSpec = { name: "dual", ranges: ["10.0.0.0/30", "fc00::/126"] };

Deno.test("dual stack keep: RequireDualStack restored with only its IPv6 keeps it, gets an IPv4", () => {
  const a = allocator([DUAL]);
  const restored = a.restore([{ request: svc("ns/ds"), ips: ["fc00::2"] }]);
  assert.deepEqual(restored, { restored: 1, refused: [] });
  assert.deepEqual(ok(a.allocate(svc("ns/ds"))), {
    ips: ["10.0.0.0", "fc00::2"],
    pool: "dual",
    kept: false,
  });
  // One IPv6 in use, not two: the kept address was never freed and taken again.
  assert.equal(a.counts("dual")!.ipv6.used, 1);
  assert.deepEqual(a.holdersOf("fc00::2"), ["ns/ds"]);
  // Settled: the next pass keeps it as is.
  assert.equal(ok(a.allocate(svc("ns/ds"))).kept, true);
});

Deno.test("dual stack keep: SingleStack IPv6 becoming RequireDualStack keeps its IPv6", () => {
  const a = allocator([DUAL]);
  const single = svc("ns/ds", { families: [6], policy: "SingleStack" });
  assert.deepEqual(ok(a.allocate(svc("ns/other", { families: [6], policy: "SingleStack" }))).ips, [
    "fc00::",
  ]);
  assert.deepEqual(ok(a.allocate(single)).ips, ["fc00::1"]);
  const dual = svc("ns/ds", { families: [6, 4] });
  assert.deepEqual(ok(a.allocate(dual)), {
    ips: ["fc00::1", "10.0.0.0"],
    pool: "dual",
    kept: false,
  });
  assert.deepEqual(a.counts("dual")!.ipv6.used, 2);
});

Deno.test("dual stack keep: a pool change for IPv4 only keeps the IPv6, reports the IPv4", () => {
  const a = allocator([DUAL]);
  assert.deepEqual(ok(a.allocate(svc("ns/ds"))).ips, ["10.0.0.0", "fc00::"]);
  const report = a.setPools([{ name: "dual", ranges: ["10.0.1.0/30", "fc00::/126"] }]);
  assert.ok(report.ok);
  assert.deepEqual(report.invalid, [
    { key: "ns/ds", ips: ["10.0.0.0"], reason: "ip 10.0.0.0 is not in any pool" },
  ]);
  // Nothing outside every pool is held in the meantime.
  assert.deepEqual(a.holdersOf("10.0.0.0"), []);
  assert.deepEqual(a.assignmentOf("ns/ds"), { ips: ["fc00::"], pool: "dual" });
  assert.deepEqual(ok(a.allocate(svc("ns/ds"))), {
    ips: ["10.0.1.0", "fc00::"],
    pool: "dual",
    kept: false,
  });
  assert.deepEqual(a.counts("dual")!.ipv6, { total: 4n, used: 1, available: 3n });
  assert.deepEqual(a.counts("dual")!.ipv4, { total: 4n, used: 1, available: 3n });
});

Deno.test("dual stack keep: the IPv4 range moving to another pool keeps the IPv6 in its pool", () => {
  const a = allocator([DUAL]);
  assert.deepEqual(ok(a.allocate(svc("ns/ds"))).ips, ["10.0.0.0", "fc00::"]);
  const report = a.setPools([
    { name: "dual", ranges: ["10.0.2.0/30", "fc00::/126"] },
    { name: "v4", ranges: ["10.0.0.0/30"] },
  ]);
  assert.ok(report.ok);
  assert.deepEqual(report.invalid.map((d) => [d.key, d.ips]), [["ns/ds", ["10.0.0.0"]]]);
  const r = ok(a.allocate(svc("ns/ds")));
  assert.deepEqual([r.ips, r.pool], [["10.0.2.0", "fc00::"], "dual"]);
});

Deno.test("dual stack keep: RequireDualStack whose kept pool lost IPv4 moves to a pool with both", () => {
  const a = allocator([DUAL]);
  assert.deepEqual(ok(a.allocate(svc("ns/ds"))).ips, ["10.0.0.0", "fc00::"]);
  const report = a.setPools([
    { name: "dual", ranges: ["fc00::/126"] },
    { name: "z-both", ranges: ["10.0.9.0/30", "fd00::/126"] },
  ]);
  assert.ok(report.ok);
  const r = ok(a.allocate(svc("ns/ds")));
  // Both families must come from one pool, so the IPv6 cannot stay.
  assert.deepEqual([r.ips, r.pool, r.kept], [["10.0.9.0", "fd00::"], "z-both", false]);
  assert.equal(a.counts("dual")!.ipv6.used, 0);
});

Deno.test("dual stack keep: PreferDualStack holding one family gets the other from its pool", () => {
  const a = allocator([{ name: "p", ranges: ["fc00::/126"] }]);
  const prefer = svc("ns/pd", { policy: "PreferDualStack" });
  assert.deepEqual(ok(a.allocate(prefer)).ips, ["fc00::"]);
  // Its pool has no IPv4: the single address stays, unchanged.
  assert.deepEqual(ok(a.allocate(prefer)), { ips: ["fc00::"], pool: "p", kept: true });
  assert.ok(a.setPools([{ name: "p", ranges: ["fc00::/126", "10.0.0.0/30"] }]).ok);
  assert.deepEqual(ok(a.allocate(prefer)), {
    ips: ["10.0.0.0", "fc00::"],
    pool: "p",
    kept: false,
  });
});

Deno.test("dual stack keep: restore drops only the status IP outside every pool", () => {
  const a = allocator([DUAL]);
  const r = a.restore([{ request: svc("ns/ds"), ips: ["192.168.1.1", "fc00::3"] }]);
  assert.deepEqual(r, {
    restored: 1,
    refused: [{ key: "ns/ds", ips: ["192.168.1.1"], reason: "ip 192.168.1.1 is not in any pool" }],
  });
  assert.deepEqual(ok(a.allocate(svc("ns/ds"))).ips, ["10.0.0.0", "fc00::3"]);
});

Deno.test("dual stack keep: an address another Service now holds is not kept", () => {
  const a = allocator([DUAL]);
  // Two restored Services with one IPv6, no sharing key: the later one is refused.
  const r = a.restore([
    { request: svc("ns/a"), ips: ["fc00::1"] },
    { request: svc("ns/b"), ips: ["10.0.0.3", "fc00::1"] },
  ]);
  assert.equal(r.refused.length, 1);
  assert.deepEqual(ok(a.allocate(svc("ns/a"))).ips, ["10.0.0.0", "fc00::1"]);
  const b = ok(a.allocate(svc("ns/b")));
  assert.equal(b.ips.includes("fc00::1"), false);
});
