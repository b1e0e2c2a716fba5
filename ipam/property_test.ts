import assert from "node:assert/strict";
import { type AddressRange, formatIP, parseAddressRange, parseIP } from "./addr.ts";
import { Allocator } from "./allocator.ts";
import type { Family, PoolSpec, ServicePort, ServiceRequest } from "./mod.ts";

// A small seeded generator so a failing sequence can be replayed from its seed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const POOL_CHOICES: PoolSpec[][] = [
  [
    { name: "a", ranges: ["10.0.0.0/29", "fc00::/125"] },
    { name: "b", ranges: ["10.0.1.0/30"], avoidBuggyIPs: true },
    { name: "c", ranges: ["fc00:1::/126"], autoAssign: false },
  ],
  [
    { name: "a", ranges: ["10.0.0.0/30", "fc00::/126"] },
    {
      name: "d",
      ranges: ["10.0.0.4-10.0.0.9", "10.0.1.0/31"],
      serviceAllocation: { priority: 1, namespaces: ["n1"] },
    },
  ],
  [
    { name: "b", ranges: ["10.0.0.0/29"], avoidBuggyIPs: true },
    { name: "e", ranges: ["fc00::/125", "fc00:1::/126", "10.0.1.0/30"] },
  ],
  [{ name: "a", ranges: ["10.0.1.0/31"] }],
];

// Every address any configuration may hold, plus some outside all pools.
const UNIVERSE = [
  ...Array.from({ length: 12 }, (_, i) => `10.0.0.${i}`),
  ...Array.from({ length: 5 }, (_, i) => `10.0.1.${i}`),
  ...Array.from({ length: 9 }, (_, i) => `fc00::${i}`),
  ...Array.from({ length: 5 }, (_, i) => `fc00:1::${i}`),
];

function inRanges(ip: string, ranges: AddressRange[]): boolean {
  const p = parseIP(ip)!;
  const v = p.family === 4 ? BigInt(p.value) : p.value;
  return ranges.some((r) => r.family === p.family && r.start <= v && v <= r.end);
}

function rangesOf(spec: PoolSpec): AddressRange[] {
  return spec.ranges.map((r) => {
    if (typeof r !== "string") return r;
    const parsed = parseAddressRange(r);
    assert.ok(parsed.ok);
    return parsed.value;
  });
}

function compatible(a: ServiceRequest, b: ServiceRequest): boolean {
  if (!a.sharingKey || a.sharingKey !== b.sharingKey || a.backendKey !== b.backendKey) return false;
  return !a.ports.some((p) =>
    b.ports.some((q) => p.port === q.port && p.protocol.toUpperCase() === q.protocol.toUpperCase())
  );
}

const seen = { shared: 0, refusedInUse: 0, invalidated: 0, allocated: 0, keptOneFamily: 0 };

function check(a: Allocator, pools: PoolSpec[], model: Map<string, ServiceRequest>, ctx: string) {
  const byName = new Map(pools.map((p) => [p.name, p]));
  const holders = new Map<string, string[]>();
  const keys: string[] = [];
  for (const [key, view] of a.assignments()) {
    keys.push(key);
    const spec = byName.get(view.pool);
    assert.ok(spec, `${ctx}: ${key} in unknown pool ${view.pool}`);
    const ranges = rangesOf(spec);
    const families = new Set<number>();
    for (const ip of view.ips) {
      assert.ok(inRanges(ip, ranges), `${ctx}: ${key} holds ${ip} outside pool ${view.pool}`);
      if (spec.avoidBuggyIPs) assert.ok(!/\.(0|255)$/.test(ip), `${ctx}: buggy ${ip}`);
      families.add(ip.includes(":") ? 6 : 4);
      holders.set(ip, [...(holders.get(ip) ?? []), key]);
    }
    assert.equal(families.size, view.ips.length, `${ctx}: ${key} has two ips of one family`);
    const req = model.get(key)!;
    if (req.pool) assert.equal(view.pool, req.pool, `${ctx}: ${key} ignores its pool`);
    if (req.requestedIPs?.length) {
      const want = req.requestedIPs.map((t) => formatIP(parseIP(t)!));
      assert.deepEqual([...view.ips].sort(), want.sort(), `${ctx}: ${key}`);
    }
  }
  assert.deepEqual(keys.sort(), [...model.keys()].sort(), `${ctx}: assignments differ`);
  for (const [ip, hs] of holders) {
    if (hs.length > 1) seen.shared++;
    for (let i = 0; i < hs.length; i++) {
      for (let j = i + 1; j < hs.length; j++) {
        assert.ok(
          compatible(model.get(hs[i])!, model.get(hs[j])!),
          `${ctx}: ${ip} given to ${hs[i]} and ${hs[j]}, which may not share`,
        );
      }
    }
  }
  for (const spec of pools) {
    const ranges = rangesOf(spec);
    const counts = a.counts(spec.name)!;
    for (const family of [4, 6] as const) {
      const used = [...holders.keys()].filter((ip) =>
        (ip.includes(":") ? 6 : 4) === family && inRanges(ip, ranges)
      ).length;
      assert.equal(
        counts[family === 4 ? "ipv4" : "ipv6"].used,
        used,
        `${ctx}: ${spec.name} v${family}`,
      );
    }
  }
}

function randomRequest(next: () => number, key: string, pools: PoolSpec[]): ServiceRequest {
  const pick = <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)];
  const shape = pick<[Family[], ServiceRequest["policy"]]>([
    [[4], "SingleStack"],
    [[6], "SingleStack"],
    [[4, 6], "PreferDualStack"],
    [[6, 4], "PreferDualStack"],
    [[4, 6], "RequireDualStack"],
  ]);
  const ports: ServicePort[] = [];
  for (const port of [53, 80]) {
    for (const protocol of ["TCP", "UDP"]) if (next() < 0.3) ports.push({ protocol, port });
  }
  if (ports.length === 0) ports.push({ protocol: "TCP", port: 443 });
  const req: ServiceRequest = {
    key,
    namespace: key.split("/")[0],
    families: shape[0],
    policy: shape[1],
    ports,
    backendKey: next() < 0.8 ? "Cluster" : "Local:app=x",
    sharingKey: pick(["", "k1", "k1", "k2"]),
  };
  const r = next();
  if (r < 0.15) req.pool = pick([...pools.map((p) => p.name), "missing"]);
  else if (r < 0.3) {
    const ip = pick(UNIVERSE);
    req.requestedIPs = [ip];
    req.families = [ip.includes(":") ? 6 : 4];
    req.policy = "SingleStack";
  }
  return req;
}

Deno.test("property: no address goes to two non-sharing Services or outside its pool", () => {
  for (let seed = 1; seed <= 30; seed++) {
    const next = rng(seed);
    let pools = POOL_CHOICES[0];
    let a = new Allocator();
    assert.ok(a.setPools(pools).ok);
    const model = new Map<string, ServiceRequest>();
    for (let step = 0; step < 400; step++) {
      const ctx = `seed ${seed} step ${step}`;
      const op = next();
      const key = `n${Math.floor(next() * 3)}/s${Math.floor(next() * 12)}`;
      if (op < 0.6) {
        const req = randomRequest(next, key, pools);
        const r = a.allocate(req);
        if (r.ok) {
          model.set(key, req);
          seen.allocated++;
        } else {
          if (r.code === "in-use") seen.refusedInUse++;
          model.delete(key);
          assert.equal(a.assignmentOf(key), undefined, `${ctx}: refused but still assigned`);
        }
      } else if (op < 0.85) {
        assert.equal(a.release(key), model.delete(key), ctx);
      } else if (op < 0.97) {
        pools = POOL_CHOICES[Math.floor(next() * POOL_CHOICES.length)];
        const held = new Map([...a.assignments()].map(([k, v]) => [k, v.ips]));
        const report = a.setPools(pools);
        assert.ok(report.ok, ctx);
        for (const d of report.invalid) {
          // A dual-stack Service may keep its one still valid address; nothing else stays.
          const left = a.assignmentOf(d.key)?.ips;
          const expect = held.get(d.key)!.filter((ip) => !d.ips.includes(ip));
          if (left === undefined) model.delete(d.key);
          else {
            assert.deepEqual([left, left.length], [expect, 1], `${ctx}: ${d.key}`);
            seen.keptOneFamily++;
          }
        }
        seen.invalidated += report.invalid.length;
      } else {
        // Restart: a fresh allocator restores every assignment, in shuffled order.
        const existing = [...a.assignments()].map(([k, v]) => ({
          request: model.get(k)!,
          ips: v.ips,
        }));
        existing.sort(() => next() - 0.5);
        a = new Allocator();
        assert.ok(a.setPools(pools).ok);
        const report = a.restore(existing);
        assert.deepEqual(report.refused, [], ctx);
        assert.equal(report.restored, existing.length, ctx);
      }
      check(a, pools, model, ctx);
    }
  }
  // The sequences must reach the interesting cases, or the property proves little.
  for (const [what, n] of Object.entries(seen)) assert.ok(n > 0, `never saw ${what}`);
});

Deno.test("property: restoring conflicting claims keeps the first and refuses the rest", () => {
  for (let seed = 100; seed < 130; seed++) {
    const next = rng(seed);
    const pools = POOL_CHOICES[0];
    const a = new Allocator();
    assert.ok(a.setPools(pools).ok);
    const claims = Array.from({ length: 25 }, (_, i) => {
      const req = randomRequest(next, `n/s${i}`, pools);
      const ip = UNIVERSE[Math.floor(next() * UNIVERSE.length)];
      return { request: { ...req, requestedIPs: undefined, pool: undefined }, ips: [ip] };
    });
    const report = a.restore(claims);
    const model = new Map<string, ServiceRequest>();
    for (const [key] of a.assignments()) {
      model.set(
        key,
        claims.find((c) => c.request.key === key)!.request,
      );
    }
    check(a, pools, model, `seed ${seed}`);
    assert.equal(report.restored + report.refused.length, claims.length);
    // The first claimant of each address inside a pool is always kept.
    const seen = new Set<string>();
    for (const c of claims) {
      const ip = formatIP(parseIP(c.ips[0])!);
      const inPool = pools.some((p) =>
        inRanges(ip, rangesOf(p)) && !(p.avoidBuggyIPs && /\.(0|255)$/.test(ip))
      );
      if (inPool && !seen.has(ip)) {
        assert.ok(model.has(c.request.key), `seed ${seed}: ${c.request.key}`);
      }
      seen.add(ip);
    }
  }
});
