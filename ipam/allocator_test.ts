import assert from "node:assert/strict";
import { serviceRequest } from "./testing.ts";
import { Allocator } from "./allocator.ts";
import type { AllocateResult, PoolSpec, ServiceRequest } from "./types.ts";

const svc = serviceRequest;

function allocator(pools: PoolSpec[]): Allocator {
  const a = new Allocator();
  const r = a.setPools(pools);
  assert.ok(r.ok, JSON.stringify(r));
  return a;
}

function ips(r: AllocateResult): string[] {
  assert.ok(r.ok, JSON.stringify(r));
  return r.ips;
}

function reason(r: AllocateResult): string {
  assert.ok(!r.ok, `expected a refusal, got ${JSON.stringify(r)}`);
  return r.reason;
}

Deno.test("pools from CIDRs and ranges, IPv4 and IPv6 mixed in one pool", () => {
  const a = allocator([{
    name: "mixed",
    ranges: ["10.0.0.0/31", "10.0.1.5-10.0.1.5", "fc00::/126"],
  }]);
  assert.deepEqual(ips(a.allocate(svc("ns/a"))), ["10.0.0.0"]); // .0 allocatable by default
  assert.deepEqual(ips(a.allocate(svc("ns/b"))), ["10.0.0.1"]);
  assert.deepEqual(ips(a.allocate(svc("ns/c"))), ["10.0.1.5"]);
  assert.equal(reason(a.allocate(svc("ns/d"))), "pool exhausted");
  assert.deepEqual(ips(a.allocate(svc("ns/e", { families: [6] }))), ["fc00::"]);
  const c = a.counts("mixed")!;
  assert.deepEqual(c.ipv4, { total: 3n, used: 3, available: 0n });
  assert.deepEqual(c.ipv6, { total: 4n, used: 1, available: 3n });
});

Deno.test("avoidBuggyIPs skips .0 and .255 and is left out of the counts", () => {
  const a = allocator([{ name: "p", ranges: ["10.0.0.254-10.0.1.1"], avoidBuggyIPs: true }]);
  assert.deepEqual(a.counts("p")!.ipv4.total, 2n);
  assert.deepEqual(ips(a.allocate(svc("ns/a"))), ["10.0.0.254"]);
  assert.deepEqual(ips(a.allocate(svc("ns/b"))), ["10.0.1.1"]);
  assert.equal(reason(a.allocate(svc("ns/c"))), "pool exhausted");
  assert.equal(
    reason(a.allocate(svc("ns/d", { requestedIPs: ["10.0.1.0"] }))),
    "ip 10.0.1.0 is excluded by avoidBuggyIPs in pool p",
  );
  const big = allocator([{ name: "q", ranges: ["10.0.0.0/16"], avoidBuggyIPs: true }]);
  assert.equal(big.counts("q")!.ipv4.total, 65536n - 512n);
});

Deno.test("autoAssign false pools serve only Services asking for them", () => {
  const a = allocator([
    { name: "manual", ranges: ["10.0.0.0/30"], autoAssign: false },
    { name: "zauto", ranges: ["10.1.0.0/30"] },
  ]);
  assert.deepEqual(ips(a.allocate(svc("ns/auto"))), ["10.1.0.0"]);
  assert.deepEqual(ips(a.allocate(svc("ns/annotated", { pool: "manual" }))), ["10.0.0.0"]);
  assert.deepEqual(ips(a.allocate(svc("ns/requested", { requestedIPs: ["10.0.0.3"] }))), [
    "10.0.0.3",
  ]);
  const only = allocator([{ name: "manual", ranges: ["10.0.0.0/30"], autoAssign: false }]);
  assert.equal(reason(only.allocate(svc("ns/x"))), "no pool with IPv4 addresses serves ns/x");
});

Deno.test("pool order: matching serviceAllocation by priority, 0 last, then others by name", () => {
  const pools: PoolSpec[] = [
    { name: "b-plain", ranges: ["10.9.0.0/30"] },
    { name: "a-plain", ranges: ["10.8.0.0/30"] },
    { name: "prio0", ranges: ["10.3.0.0/30"], serviceAllocation: { namespaces: ["team"] } },
    { name: "prio2", ranges: ["10.2.0.0/32"], serviceAllocation: { priority: 2 } },
    {
      name: "prio1",
      ranges: ["10.1.0.0/32"],
      serviceAllocation: { priority: 1, namespaces: ["team"] },
    },
  ];
  const a = allocator(pools);
  const order = Array.from({ length: 5 }, (_, i) => a.allocate(svc(`team/s${i}`)))
    .map((r) => (r.ok ? r.pool : r.reason));
  assert.deepEqual(order, ["prio1", "prio2", "prio0", "prio0", "prio0"]);
  // Other namespaces skip the team-only pools.
  const b = allocator(pools);
  assert.deepEqual(
    Array.from({ length: 3 }, (_, i) => b.allocate(svc(`other/s${i}`))).map((r) => r.ok && r.pool),
    ["prio2", "a-plain", "a-plain"],
  );
  // Spec order does not matter.
  const c = allocator([...pools].reverse());
  assert.deepEqual(
    Array.from({ length: 5 }, (_, i) => c.allocate(svc(`team/s${i}`))).map((r) => r.ok && r.pool),
    order,
  );
});

Deno.test("serviceAllocation matching: namespaces, namespace and service selectors", () => {
  const pools: PoolSpec[] = [
    {
      name: "sel",
      ranges: ["10.0.0.0/24"],
      serviceAllocation: {
        namespaces: ["listed"],
        namespaceSelectors: [{ matchLabels: { env: "prod" } }],
        serviceSelectors: [{ matchExpressions: [{ key: "lb", operator: "Exists" }] }],
      },
    },
    { name: "zfallback", ranges: ["10.1.0.0/24"] },
  ];
  const cases: [string, Partial<ServiceRequest>, string][] = [
    [
      "listed namespace and service label",
      { namespace: "listed", serviceLabels: { lb: "" } },
      "sel",
    ],
    ["namespace by selector", {
      namespace: "x",
      namespaceLabels: { env: "prod" },
      serviceLabels: { lb: "1" },
    }, "sel"],
    ["namespace matches, service label missing", { namespace: "listed" }, "zfallback"],
    ["namespace not matched", {
      namespace: "x",
      namespaceLabels: { env: "dev" },
      serviceLabels: { lb: "1" },
    }, "zfallback"],
  ];
  for (const [name, extra, want] of cases) {
    const a = allocator(pools);
    const r = a.allocate(svc("x/s", extra));
    assert.ok(r.ok);
    assert.equal(r.pool, want, name);
  }
  const a = allocator(pools);
  assert.equal(
    reason(a.allocate(svc("x/s", { pool: "sel" }))),
    "pool sel does not serve x/s",
  );
});

Deno.test("requested IPs and annotated pools: refusals name the reason", () => {
  const pools: PoolSpec[] = [
    { name: "x", ranges: ["10.0.0.0/24"] },
    { name: "y", ranges: ["1.2.3.0/24", "fc00::/120"] },
  ];
  const cases: [string, Partial<ServiceRequest>, string][] = [
    [
      "requested ip outside requested pool",
      { requestedIPs: ["1.2.3.4"], pool: "x" },
      "ip 1.2.3.4 is not in pool x",
    ],
    [
      "requested ip outside every pool",
      { requestedIPs: ["9.9.9.9"] },
      "ip 9.9.9.9 is not in any pool",
    ],
    ["unknown annotated pool", { pool: "nope" }, "unknown pool nope"],
    [
      "two IPv4 requested",
      { requestedIPs: ["1.2.3.4", "1.2.3.5"] },
      "at most one ip per family: 1.2.3.4,1.2.3.5",
    ],
    [
      "family not of the Service",
      { requestedIPs: ["fc00::1"] },
      "ip fc00::1 is not of the service's families",
    ],
    ["garbage", { requestedIPs: ["1.2.3"] }, 'invalid ip "1.2.3"'],
    [
      "dual requested for single stack",
      { families: [4, 6], requestedIPs: ["1.2.3.4", "fc00::1"] },
      "SingleStack service requests 2 ips",
    ],
    ["require dual with one ip", {
      families: [4, 6],
      policy: "RequireDualStack",
      requestedIPs: ["1.2.3.4"],
    }, "RequireDualStack needs one requested ip of each family"],
    ["dual ips from two pools", {
      families: [4, 6],
      policy: "PreferDualStack",
      requestedIPs: ["10.0.0.1", "fc00::1"],
    }, "ips 10.0.0.1 and fc00::1 are not in one pool"],
  ];
  for (const [name, extra, want] of cases) {
    assert.equal(reason(allocator(pools).allocate(svc("ns/s", extra))), want, name);
  }
  const a = allocator(pools);
  assert.deepEqual(ips(a.allocate(svc("ns/a", { requestedIPs: ["1.2.3.4"], pool: "y" }))), [
    "1.2.3.4",
  ]);
  assert.deepEqual(a.assignmentOf("ns/a"), { ips: ["1.2.3.4"], pool: "y" });
  assert.deepEqual(ips(a.allocate(svc("ns/b", { pool: "y" }))), ["1.2.3.0"]);
  // A requested address in non-canonical form is stored canonically.
  const r = a.allocate(svc("ns/c", { families: [6], requestedIPs: ["FC00:0::0001"] }));
  assert.deepEqual(ips(r), ["fc00::1"]);
});

Deno.test("sharing: same key, no port overlap, same backends", () => {
  const base = { sharingKey: "k", requestedIPs: ["10.0.0.5"] };
  const cases: [string, Partial<ServiceRequest>, Partial<ServiceRequest>, string | null][] = [
    ["compatible", base, { ...base, ports: [{ protocol: "TCP", port: 443 }] }, null],
    ["same port, other protocol", base, { ...base, ports: [{ protocol: "UDP", port: 80 }] }, null],
    ["ports overlap", base, { ...base, ports: [{ protocol: "tcp", port: 80 }] }, "ports overlap"],
    [
      "different key",
      base,
      { ...base, sharingKey: "j", ports: [{ protocol: "TCP", port: 443 }] },
      "sharing key differs",
    ],
    ["no key on the second", base, {
      requestedIPs: ["10.0.0.5"],
      ports: [{ protocol: "TCP", port: 443 }],
    }, "no sharing key"],
    ["no key on the first", { requestedIPs: ["10.0.0.5"] }, {
      ...base,
      ports: [{ protocol: "TCP", port: 443 }],
    }, "no sharing key"],
    ["backends differ", base, {
      ...base,
      ports: [{ protocol: "TCP", port: 443 }],
      backendKey: "Local:app=x",
    }, "backends differ"],
  ];
  for (const [name, first, second, why] of cases) {
    const a = allocator([{ name: "p", ranges: ["10.0.0.0/24"] }]);
    ips(a.allocate(svc("ns/first", first)));
    const r = a.allocate(svc("ns/second", second));
    if (why === null) {
      assert.deepEqual(ips(r), ["10.0.0.5"], name);
      assert.deepEqual(a.holdersOf("10.0.0.5"), ["ns/first", "ns/second"]);
      assert.equal(a.counts("p")!.ipv4.used, 1, "a shared address counts once");
    } else {
      assert.equal(reason(r), `ip in use by ns/first and not shareable: ${why}`, name);
    }
  }
});

Deno.test("sharing without requested IPs gives the already shared address", () => {
  const a = allocator([{ name: "p", ranges: ["10.0.0.0/24"] }]);
  const dns = (key: string, proto: string, port: number) =>
    svc(key, { sharingKey: "dns", ports: [{ protocol: proto, port }] });
  assert.deepEqual(ips(a.allocate(svc("ns/other"))), ["10.0.0.0"]);
  assert.deepEqual(ips(a.allocate(dns("ns/udp", "UDP", 53))), ["10.0.0.1"]);
  assert.deepEqual(ips(a.allocate(dns("ns/tcp", "TCP", 53))), ["10.0.0.1"]);
  // Overlapping ports cannot share, so the next one gets its own address.
  assert.deepEqual(ips(a.allocate(dns("ns/tcp2", "TCP", 53))), ["10.0.0.2"]);
  // Releasing one holder keeps the address for the other.
  a.release("ns/udp");
  assert.deepEqual(a.holdersOf("10.0.0.1"), ["ns/tcp"]);
  assert.deepEqual(ips(a.allocate(svc("ns/next"))), ["10.0.0.3"]);
});

Deno.test("changing ports so sharing breaks moves the Service", () => {
  const a = allocator([{ name: "p", ranges: ["10.0.0.0/24"] }]);
  const s1 = svc("ns/a", { sharingKey: "k" });
  const s2 = svc("ns/b", { sharingKey: "k", ports: [{ protocol: "TCP", port: 81 }] });
  ips(a.allocate(s1));
  assert.deepEqual(ips(a.allocate(s2)), ["10.0.0.0"]);
  const again = a.allocate({ ...s2, ports: [{ protocol: "TCP", port: 80 }] });
  assert.ok(again.ok && !again.kept);
  assert.deepEqual(again.ips, ["10.0.0.1"]);
  assert.deepEqual(a.holdersOf("10.0.0.0"), ["ns/a"]);
});

Deno.test("dual stack: both families from one pool", () => {
  const pools: PoolSpec[] = [
    { name: "a-v4", ranges: ["10.0.0.0/24"] },
    { name: "b-v6", ranges: ["fc00::/64"] },
    { name: "c-dual", ranges: ["10.1.0.0/24", "fd00::/120"] },
  ];
  const cases: [string, Partial<ServiceRequest>, string[] | string, string?][] = [
    ["require", { families: [4, 6], policy: "RequireDualStack" }, ["10.1.0.0", "fd00::"], "c-dual"],
    ["require, IPv6 first", { families: [6, 4], policy: "RequireDualStack" }, [
      "fd00::",
      "10.1.0.0",
    ], "c-dual"],
    [
      "prefer takes both",
      { families: [4, 6], policy: "PreferDualStack" },
      ["10.1.0.0", "fd00::"],
      "c-dual",
    ],
    [
      "prefer with one family listed",
      { families: [6], policy: "PreferDualStack" },
      ["fc00::"],
      "b-v6",
    ],
    ["single stack v6", { families: [6, 4], policy: "SingleStack" }, ["fc00::"], "b-v6"],
    [
      "require in a v4-only pool",
      { families: [4, 6], policy: "RequireDualStack", pool: "a-v4" },
      "no pool with both IPv4 and IPv6 serves ns/s",
    ],
    [
      "prefer in a v4-only pool falls back to the first family",
      { families: [4, 6], policy: "PreferDualStack", pool: "a-v4" },
      ["10.0.0.0"],
      "a-v4",
    ],
    [
      "prefer in a v4-only pool, IPv6 first, falls back to IPv4",
      { families: [6, 4], policy: "PreferDualStack", pool: "a-v4" },
      ["10.0.0.0"],
      "a-v4",
    ],
    [
      "single stack v6 in a v4-only pool",
      { families: [6], pool: "a-v4" },
      "no pool with IPv6 addresses serves ns/s",
    ],
    [
      "require needs two families",
      { families: [4], policy: "RequireDualStack" },
      "ns/s: RequireDualStack needs both IP families",
    ],
    [
      "requested pair",
      { families: [4, 6], policy: "RequireDualStack", requestedIPs: ["fd00::9", "10.1.0.9"] },
      ["10.1.0.9", "fd00::9"],
      "c-dual",
    ],
  ];
  for (const [name, extra, want, pool] of cases) {
    const r = allocator(pools).allocate(svc("ns/s", extra));
    if (typeof want === "string") assert.equal(reason(r), want, name);
    else {
      assert.deepEqual(ips(r), want, name);
      assert.equal(r.ok && r.pool, pool, name);
    }
  }
});

Deno.test("dual stack: a pool with one family exhausted is skipped as a whole", () => {
  const a = allocator([
    { name: "a", ranges: ["10.0.0.0/32", "fc00::/127"] },
    { name: "b", ranges: ["10.1.0.0/30", "fd00::/127"] },
  ]);
  const dual = (key: string) => svc(key, { families: [4, 6], policy: "RequireDualStack" });
  assert.deepEqual(ips(a.allocate(dual("ns/1"))), ["10.0.0.0", "fc00::"]);
  // Pool a still has fc00::1 but no IPv4: both come from b.
  assert.deepEqual(ips(a.allocate(dual("ns/2"))), ["10.1.0.0", "fd00::"]);
  assert.deepEqual(ips(a.allocate(dual("ns/3"))), ["10.1.0.1", "fd00::1"]);
  assert.equal(reason(a.allocate(dual("ns/4"))), "pool exhausted");
  assert.equal(a.counts("a")!.ipv6.used, 1, "a refused pair leaves nothing behind");
  const prefer = a.allocate(svc("ns/5", { families: [6, 4], policy: "PreferDualStack" }));
  assert.deepEqual(ips(prefer), ["fc00::1"]);
});

Deno.test("an existing assignment is kept while valid, moved when the request changes", () => {
  const a = allocator([
    { name: "x", ranges: ["10.0.0.0/24"] },
    { name: "y", ranges: ["10.1.0.0/24"] },
  ]);
  const first = a.allocate(svc("ns/a"));
  assert.ok(first.ok && !first.kept);
  const again = a.allocate(svc("ns/a", { ports: [{ protocol: "TCP", port: 8080 }] }));
  assert.ok(again.ok && again.kept);
  assert.deepEqual(again.ips, first.ips);
  const moved = a.allocate(svc("ns/a", { pool: "y" }));
  assert.ok(moved.ok && !moved.kept);
  assert.deepEqual(moved.ips, ["10.1.0.0"]);
  const requested = a.allocate(svc("ns/a", { requestedIPs: ["10.0.0.77"] }));
  assert.deepEqual(ips(requested), ["10.0.0.77"]);
  const upgraded = a.allocate(svc("ns/a", { families: [4, 6], policy: "RequireDualStack" }));
  assert.equal(reason(upgraded), "no pool with both IPv4 and IPv6 serves ns/a");
  assert.equal(a.assignmentOf("ns/a"), undefined);
});

Deno.test("freed addresses are reused last, oldest freed first", () => {
  const a = allocator([{ name: "p", ranges: ["10.0.0.0/30"] }]);
  for (const k of ["a", "b", "c"]) ips(a.allocate(svc(`ns/${k}`)));
  assert.ok(a.release("ns/b"));
  assert.ok(a.release("ns/a"));
  assert.equal(a.release("ns/a"), false);
  // A never-used address first, then the freed ones in the order they were freed.
  assert.deepEqual(ips(a.allocate(svc("ns/d"))), ["10.0.0.3"]);
  assert.deepEqual(ips(a.allocate(svc("ns/e"))), ["10.0.0.1"]);
  assert.deepEqual(ips(a.allocate(svc("ns/f"))), ["10.0.0.0"]);
  assert.equal(reason(a.allocate(svc("ns/g"))), "pool exhausted");
  // A freed address taken by request is no longer in the reuse line.
  a.release("ns/e");
  a.release("ns/f");
  assert.deepEqual(ips(a.allocate(svc("ns/h", { requestedIPs: ["10.0.0.1"] }))), ["10.0.0.1"]);
  assert.deepEqual(ips(a.allocate(svc("ns/i"))), ["10.0.0.0"]);
  assert.equal(reason(a.allocate(svc("ns/j"))), "pool exhausted");
});

Deno.test("a released requested address ahead of the cursor still goes to the back", () => {
  const a = allocator([{ name: "p", ranges: ["10.0.0.0/30"] }]);
  ips(a.allocate(svc("ns/r", { requestedIPs: ["10.0.0.1"] })));
  a.release("ns/r");
  const got = ["a", "b", "c", "d"].map((k) => ips(a.allocate(svc(`ns/${k}`)))[0]);
  assert.deepEqual(got, ["10.0.0.0", "10.0.0.2", "10.0.0.3", "10.0.0.1"]);
});

Deno.test("restore rebuilds state first and reports the later of two claimants", () => {
  const a = allocator([
    { name: "p", ranges: ["10.0.0.0/29"] },
    { name: "q", ranges: ["fc00::/64"] },
  ]);
  const report = a.restore([
    { request: svc("ns/old"), ips: ["10.0.0.0"] },
    { request: svc("ns/new"), ips: ["10.0.0.0"] },
    { request: svc("ns/s1", { sharingKey: "k" }), ips: ["10.0.0.2"] },
    {
      request: svc("ns/s2", { sharingKey: "k", ports: [{ protocol: "UDP", port: 80 }] }),
      ips: ["10.0.0.2"],
    },
    { request: svc("ns/gone"), ips: ["192.168.0.1"] },
    {
      request: svc("ns/dual", { families: [4, 6], policy: "RequireDualStack" }),
      ips: ["10.0.0.3", "fc00::5"],
    },
    { request: svc("ns/v6", { families: [6] }), ips: ["fc00::5"] },
    { request: svc("ns/pending"), ips: [] },
  ]);
  assert.equal(report.restored, 4);
  assert.deepEqual(report.refused, [
    {
      key: "ns/new",
      ips: ["10.0.0.0"],
      reason: "ip in use by ns/old and not shareable: no sharing key",
    },
    { key: "ns/gone", ips: ["192.168.0.1"], reason: "ip 192.168.0.1 is not in any pool" },
    {
      key: "ns/dual",
      ips: ["10.0.0.3", "fc00::5"],
      reason: "ips 10.0.0.3 and fc00::5 are not in one pool",
    },
  ]);
  assert.deepEqual(a.holdersOf("10.0.0.0"), ["ns/old"]);
  assert.deepEqual(a.holdersOf("10.0.0.2"), ["ns/s1", "ns/s2"]);
  // New allocations never take a restored address.
  const got = ["x", "y", "z"].map((k) => ips(a.allocate(svc(`ns/${k}`)))[0]);
  assert.deepEqual(got, ["10.0.0.1", "10.0.0.3", "10.0.0.4"]);
  // The restored Service keeps its address when it is reconciled.
  const kept = a.allocate(svc("ns/old"));
  assert.ok(kept.ok && kept.kept);
  assert.deepEqual(kept.ips, ["10.0.0.0"]);
  assert.deepEqual(a.counts("p")!.ipv4, { total: 8n, used: 5, available: 3n });
});

Deno.test("pool changes report invalid assignments and never keep an address outside pools", () => {
  const a = allocator([
    { name: "p", ranges: ["10.0.0.0/24"] },
    { name: "q", ranges: ["10.1.0.0/24"] },
  ]);
  ips(a.allocate(svc("ns/a")));
  ips(a.allocate(svc("ns/b", { pool: "q" })));
  ips(a.allocate(svc("ns/c", { pool: "q" })));
  ips(a.allocate(svc("ns/d", { pool: "p" })));
  // A bad configuration changes nothing.
  const bad = a.setPools([
    { name: "p", ranges: ["10.0.0.0/24"] },
    { name: "r", ranges: ["10.0.0.128/25"] },
  ]);
  assert.deepEqual(bad, {
    ok: false,
    reason: "10.0.0.128-10.0.0.255 in pool r overlaps 10.0.0.0-10.0.0.255 in pool p",
  });
  assert.deepEqual(a.assignmentOf("ns/b"), { ips: ["10.1.0.0"], pool: "q" });
  // Removing q and renaming p's range to pool "renamed".
  const report = a.setPools([
    { name: "renamed", ranges: ["10.0.0.0/24"] },
    { name: "q", ranges: ["10.1.0.1/32"] },
  ]);
  assert.deepEqual(report, {
    ok: true,
    invalid: [
      { key: "ns/b", ips: ["10.1.0.0"], reason: "ip 10.1.0.0 is not in any pool" },
      { key: "ns/d", ips: ["10.0.0.1"], reason: "ip 10.0.0.1 is not in pool p" },
    ],
    moved: [{ key: "ns/a", from: "p", to: "renamed" }],
  });
  assert.equal(a.assignmentOf("ns/b"), undefined);
  assert.deepEqual(a.counts("renamed")!.ipv4.used, 1);
  assert.deepEqual(a.counts("q")!.ipv4, { total: 1n, used: 1, available: 0n });
  assert.equal(a.counts("p"), undefined);
  // Turning avoidBuggyIPs on invalidates a .0 address; adding serviceAllocation a mismatch.
  const r2 = a.setPools([
    { name: "renamed", ranges: ["10.0.0.0/24"], avoidBuggyIPs: true },
    { name: "q", ranges: ["10.1.0.1/32"], serviceAllocation: { namespaces: ["other"] } },
  ]);
  assert.ok(r2.ok);
  assert.deepEqual(r2.invalid.map((d) => d.reason), [
    "ip 10.0.0.0 is excluded by avoidBuggyIPs in pool renamed",
    "pool q does not serve ns/c",
  ]);
  assert.deepEqual([...a.assignments()], []);
  // Never-used addresses come before the freed 10.0.0.1.
  const again = a.allocate(svc("ns/a"));
  assert.deepEqual(ips(again), ["10.0.0.2"]);
});

Deno.test("setPools refuses duplicate names, empty pools and bad ranges", () => {
  const cases: [PoolSpec[], string][] = [
    [
      [{ name: "p", ranges: ["10.0.0.0/30"] }, { name: "p", ranges: ["10.1.0.0/30"] }],
      "duplicate pool p",
    ],
    [[{ name: "p", ranges: [] }], "pool p is empty"],
    [
      [{ name: "p", ranges: ["10.0.0.5-10.0.0.1"] }],
      'pool p: range "10.0.0.5-10.0.0.1" has start after end',
    ],
    [
      [{ name: "p", ranges: [{ family: 4, start: 0n, end: 1n << 32n }] }],
      "pool p: bad range 0-4294967296",
    ],
    [
      [{ name: "p", ranges: ["fc00::/64", "fc00::5-fc00::9"] }],
      "fc00::5-fc00::9 in pool p overlaps fc00::-fc00::ffff:ffff:ffff:ffff in pool p",
    ],
  ];
  for (const [pools, want] of cases) {
    assert.deepEqual(new Allocator().setPools(pools), { ok: false, reason: want });
  }
});

Deno.test("counts of an IPv6 /64 are exact without enumerating", () => {
  const a = allocator([{ name: "big", ranges: ["fc00::/64", "10.0.0.0/8"] }]);
  for (let i = 0; i < 3; i++) ips(a.allocate(svc(`ns/${i}`, { families: [6] })));
  const c = a.counts("big")!;
  assert.deepEqual(c.ipv6, { total: 1n << 64n, used: 3, available: (1n << 64n) - 3n });
  assert.deepEqual(c.ipv4, { total: 1n << 24n, used: 0, available: 1n << 24n });
  const whole = allocator([{ name: "all", ranges: ["::/0"] }]);
  assert.equal(whole.counts("all")!.ipv6.total, 1n << 128n);
});

Deno.test("determinism: the same inputs in the same order give the same result", () => {
  function run(): unknown[] {
    const a = allocator([
      { name: "z", ranges: ["10.2.0.0/28", "fc00::/124"] },
      { name: "m", ranges: ["10.1.0.0/28"], serviceAllocation: { priority: 3 } },
    ]);
    const out: unknown[] = [];
    for (let i = 0; i < 40; i++) {
      out.push(a.allocate(svc(`ns/${i % 23}`, {
        families: i % 3 === 0 ? [4, 6] : [4],
        policy: i % 3 === 0 ? "PreferDualStack" : "SingleStack",
      })));
      if (i % 5 === 0) a.release(`ns/${(i * 7) % 23}`);
    }
    return out;
  }
  assert.deepEqual(run(), run());
});

Deno.test("sharing with dual stack: each family's shared address, within one pool", () => {
  const a = allocator([
    { name: "a", ranges: ["10.0.0.0/24", "fc00::/120"] },
    { name: "b", ranges: ["10.1.0.0/24", "fd00::/120"] },
  ]);
  const shared = (key: string, port: number, extra: Partial<ServiceRequest> = {}) =>
    svc(key, {
      sharingKey: "k",
      families: [4, 6],
      policy: "RequireDualStack",
      ports: [{ protocol: "TCP", port }],
      ...extra,
    });
  assert.deepEqual(ips(a.allocate(shared("ns/a", 80))), ["10.0.0.0", "fc00::"]);
  assert.deepEqual(ips(a.allocate(shared("ns/b", 81))), ["10.0.0.0", "fc00::"]);
  // A single-stack IPv6 member of the group gets the group's IPv6 address.
  assert.deepEqual(ips(a.allocate(shared("ns/c", 82, { families: [6], policy: "SingleStack" }))), [
    "fc00::",
  ]);
  // Compatible with b but not with a: it must be compatible with every holder.
  assert.deepEqual(ips(a.allocate(shared("ns/d", 80))), ["10.0.0.1", "fc00::1"]);
  // Asking for another pool: the group's addresses are not there, so fresh ones.
  assert.deepEqual(ips(a.allocate(shared("ns/e", 90, { pool: "b" }))), ["10.1.0.0", "fd00::"]);
  assert.deepEqual(a.holdersOf("fc00::"), ["ns/a", "ns/b", "ns/c"]);
  assert.equal(a.counts("a")!.ipv6.used, 2);
});

Deno.test("IPv6 pools ignore avoidBuggyIPs", () => {
  const a = allocator([{ name: "p", ranges: ["fc00::ff-fc00::100"], avoidBuggyIPs: true }]);
  assert.equal(a.counts("p")!.ipv6.total, 2n);
  assert.deepEqual(ips(a.allocate(svc("ns/a", { families: [6] }))), ["fc00::ff"]);
  assert.deepEqual(ips(a.allocate(svc("ns/b", { families: [6] }))), ["fc00::100"]);
});
