/**
 * `deno task bench ipam`: allocation speed and heap growth at scale, and whether the cost of
 * one allocation stays flat from 10k to 1M addresses assigned.
 */
import { type BenchResult, type BenchSuite, result } from "./types.ts";
import { formatIPv4, formatIPv6, parseIP } from "../../ipam/addr.ts";
import { Allocator } from "../../ipam/allocator.ts";
import type { Family } from "../../ipam/addr.ts";
import type { ExistingAssignment, ServiceRequest } from "../../ipam/types.ts";

const NAMES = [
  "ipam_alloc_1m_v4",
  "ipam_alloc_1m_v4_mem",
  "ipam_flatness",
  "ipam_alloc_100k_v6",
  "ipam_alloc_100k_v6_mem",
  "ipam_restore_100k",
  "ipam_restore_100k_mem",
];

const gc = (globalThis as { gc?: () => void }).gc;

// Heap in MB after a forced collection when `--v8-flags=--expose-gc` is given.
function heapMB(): number {
  gc?.();
  return Deno.memoryUsage().heapUsed / 1e6;
}

function request(i: number, family: Family): ServiceRequest {
  return {
    key: `ns${i % 100}/svc-${i}`,
    namespace: `ns${i % 100}`,
    families: [family],
    policy: "SingleStack",
    ports: [{ protocol: "TCP", port: 80 }],
    backendKey: "Cluster",
  };
}

function requests(n: number, family: Family, offset = 0): ServiceRequest[] {
  return Array.from({ length: n }, (_, i) => request(offset + i, family));
}

function allocateAll(a: Allocator, reqs: ServiceRequest[], from = 0, to = reqs.length): void {
  for (let i = from; i < to; i++) {
    const r = a.allocate(reqs[i]);
    if (!r.ok) throw new Error(`allocation ${i} refused: ${r.reason}`);
  }
}

// Median per-operation time (ns) over batches, so one GC pause does not decide the figure.
function perOpNs(a: Allocator, reqs: ServiceRequest[], from: number, batches: number): number {
  const size = 4000;
  const times: number[] = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    allocateAll(a, reqs, from + b * size, from + (b + 1) * size);
    times.push(((performance.now() - t0) * 1e6) / size);
  }
  times.sort((x, y) => x - y);
  return times[Math.floor(times.length / 2)];
}

// The floor any map-based allocator pays: make each address's text and insert it into a
// Map, once per allocation. Ratios against it show the allocator's own overhead.
function floorSeconds(n: number, make: (i: number) => string): number {
  const keys = Array.from({ length: n }, (_, i) => `ns/svc-${i}`);
  const m = new Map<string, string>();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const ip = make(i);
    if (!m.has(ip)) m.set(ip, keys[i]);
  }
  return (performance.now() - t0) / 1000;
}

function memExtra(): Record<string, unknown> {
  return { forced_gc: gc !== undefined };
}

async function* run(filter: (name: string) => boolean): AsyncIterable<BenchResult> {
  const want = (...names: string[]) => names.some(filter);

  // Warm the JIT first so the 10k figure measures the allocator, not the compiler.
  const warm = new Allocator();
  warm.setPools([{ name: "warm", ranges: ["10.0.0.0/16", "fd00::/64"] }]);
  allocateAll(warm, [...requests(30_000, 4), ...requests(20_000, 6, 30_000)]);

  if (want("ipam_alloc_1m_v4", "ipam_alloc_1m_v4_mem", "ipam_flatness")) {
    const n = 1_000_000;
    const batches = 9;
    const reqs = requests(n + batches * 4000, 4);
    const a = new Allocator();
    a.setPools([{ name: "bench", ranges: ["10.0.0.0/12"] }]);
    const before = heapMB();
    const t0 = performance.now();
    allocateAll(a, reqs, 0, 10_000);
    const at10k = perOpNs(a, reqs, 10_000, batches);
    allocateAll(a, reqs, 10_000 + batches * 4000, n);
    const seconds = (performance.now() - t0) / 1000;
    const at1m = perOpNs(a, reqs, n, batches);
    const after = heapMB();
    if (filter("ipam_alloc_1m_v4")) {
      const baseline = floorSeconds(n, (i) => formatIPv4(0x0a000000 + i));
      yield result("ipam_alloc_1m_v4", seconds, "s", {
        baseline,
        extra: {
          allocations: n,
          pool: "10.0.0.0/12",
          per_op_us: (seconds * 1e6) / n,
          baseline_is: "format + Map.set of the same number of addresses",
        },
      });
    }
    if (filter("ipam_alloc_1m_v4_mem")) {
      yield result("ipam_alloc_1m_v4_mem", after - before, "MB", {
        extra: { ...memExtra(), bytes_per_assignment: ((after - before) * 1e6) / n },
      });
    }
    if (filter("ipam_flatness")) {
      yield result("ipam_flatness", at1m / at10k, "ratio", {
        extra: { ns_per_op_at_10k: at10k, ns_per_op_at_1m: at1m },
      });
    }
  }

  if (want("ipam_alloc_100k_v6", "ipam_alloc_100k_v6_mem")) {
    const n = 100_000;
    const reqs = requests(n, 6);
    const a = new Allocator();
    a.setPools([{ name: "bench6", ranges: ["fd00:1234:5678:9abc::/64"] }]);
    const before = heapMB();
    const t0 = performance.now();
    allocateAll(a, reqs);
    const seconds = (performance.now() - t0) / 1000;
    const after = heapMB();
    if (filter("ipam_alloc_100k_v6")) {
      const base = 0xfd00123456789abcn << 64n;
      const baseline = floorSeconds(n, (i) => formatIPv6(base + BigInt(i)));
      yield result("ipam_alloc_100k_v6", seconds, "s", {
        baseline,
        extra: {
          allocations: n,
          pool: "fd00:1234:5678:9abc::/64",
          baseline_is: "format + Map.set of the same number of addresses",
        },
      });
    }
    if (filter("ipam_alloc_100k_v6_mem")) {
      yield result("ipam_alloc_100k_v6_mem", after - before, "MB", { extra: memExtra() });
    }
  }

  if (want("ipam_restore_100k", "ipam_restore_100k_mem")) {
    const n = 100_000;
    const pools = [{ name: "bench", ranges: ["10.0.0.0/12", "fd00::/64"] }];
    const source = new Allocator();
    source.setPools(pools);
    const existing: ExistingAssignment[] = requests(n, 4).map((req, i) => {
      // Every tenth Service is dual stack, as a real cluster might have.
      const request: ServiceRequest = i % 10 === 0
        ? { ...req, families: [4, 6], policy: "RequireDualStack" }
        : req;
      const r = source.allocate(request);
      if (!r.ok) throw new Error(r.reason);
      return { request, ips: r.ips };
    });
    const a = new Allocator();
    a.setPools(pools);
    const before = heapMB();
    const t0 = performance.now();
    const report = a.restore(existing);
    const seconds = (performance.now() - t0) / 1000;
    const after = heapMB();
    if (report.restored !== n) throw new Error(`restored ${report.restored} of ${n}`);
    if (filter("ipam_restore_100k")) {
      const texts = existing.map((e) => e.ips[0]);
      const baseline = floorSeconds(n, (i) => {
        const ip = parseIP(texts[i])!;
        return ip.family === 4 ? formatIPv4(ip.value) : formatIPv6(ip.value);
      });
      yield result("ipam_restore_100k", seconds, "s", {
        baseline,
        extra: { assignments: n, baseline_is: "parse + format + Map.set of each address" },
      });
    }
    if (filter("ipam_restore_100k_mem")) {
      yield result("ipam_restore_100k_mem", after - before, "MB", { extra: memExtra() });
    }
  }
}

/** The ipam benchmark suite. */
export const suite: BenchSuite = { names: NAMES, run };
