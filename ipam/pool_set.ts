/** The configured pools as the allocator sees them: validated, ordered, found by address. */
import {
  type AddressRange,
  type Family,
  formatRange,
  type IP,
  parseAddressRange,
  parseIP,
} from "./addr.ts";
import { type AddressSpace, buildSpace } from "./pool.ts";
import type { ServiceFacts } from "./assignment.ts";
import { matchesSelector } from "./selector.ts";
import type { PoolSpec, ServiceAllocation, ServiceRequest } from "./types.ts";

/** One pool: its spec's facts and one address space per family it has. */
export interface PoolState {
  name: string;
  autoAssign: boolean;
  allocation: ServiceAllocation | null;
  priority: number;
  ranges: AddressRange[];
  v4: AddressSpace | null;
  v6: AddressSpace | null;
}

/** The pool's addresses of `family`, or null when it has none. */
export function spaceOf(pool: PoolState, family: Family): AddressSpace | null {
  return family === 4 ? pool.v4 : pool.v6;
}

/** Whether a pool's serviceAllocation admits this Service (pools without one serve all). */
export function poolServes(
  allocation: ServiceAllocation | undefined | null,
  request: ServiceFacts,
): boolean {
  if (!allocation) return true;
  const namespaces = allocation.namespaces ?? [];
  const nsSelectors = allocation.namespaceSelectors ?? [];
  // MetalLB folds namespaceSelectors into the namespace set: either admits the namespace.
  if (namespaces.length > 0 || nsSelectors.length > 0) {
    const labels = request.namespaceLabels ?? {};
    const ok = namespaces.includes(request.namespace) ||
      nsSelectors.some((s) => matchesSelector(s, labels));
    if (!ok) return false;
  }
  const svcSelectors = allocation.serviceSelectors ?? [];
  if (svcSelectors.length > 0) {
    const labels = request.serviceLabels ?? {};
    if (!svcSelectors.some((s) => matchesSelector(s, labels))) return false;
  }
  return true;
}

/** Auto-assign order: serviceAllocation pools by priority, then other such pools, then the rest. */
function autoOrder(a: PoolState, b: PoolState): number {
  const rank = (p: PoolState) => (p.allocation ? (p.priority > 0 ? 0 : 1) : 2);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0 && a.priority !== b.priority) return a.priority - b.priority;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

type Built<T> = { ok: true; value: T } | { ok: false; reason: string };

function parseRanges(spec: PoolSpec): Built<AddressRange[]> {
  const ranges: AddressRange[] = [];
  for (const r of spec.ranges) {
    if (typeof r === "string") {
      const parsed = parseAddressRange(r);
      if (!parsed.ok) return { ok: false, reason: `pool ${spec.name}: ${parsed.reason}` };
      ranges.push(parsed.value);
    } else {
      const max = r.family === 4 ? (1n << 32n) - 1n : (1n << 128n) - 1n;
      if (r.start < 0n || r.end > max || r.start > r.end) {
        return { ok: false, reason: `pool ${spec.name}: bad range ${r.start}-${r.end}` };
      }
      ranges.push({ family: r.family, start: r.start, end: r.end });
    }
  }
  return { ok: true, value: ranges };
}

function buildPool(spec: PoolSpec): Built<PoolState> {
  if (spec.ranges.length === 0) return { ok: false, reason: `pool ${spec.name} is empty` };
  const ranges = parseRanges(spec);
  if (!ranges.ok) return ranges;
  return {
    ok: true,
    value: {
      name: spec.name,
      autoAssign: spec.autoAssign ?? true,
      allocation: spec.serviceAllocation ?? null,
      priority: spec.serviceAllocation?.priority ?? 0,
      ranges: ranges.value,
      v4: buildSpace(4, ranges.value, { avoidBuggyIPs: spec.avoidBuggyIPs ?? false }),
      v6: buildSpace(6, ranges.value),
    },
  };
}

/** Why two pools' ranges overlap, or null. */
function overlap(pools: readonly PoolState[]): string | null {
  const all = pools.flatMap((p) => p.ranges.map((range) => ({ range, pool: p.name })));
  all.sort((a, b) =>
    a.range.family - b.range.family ||
    (a.range.start < b.range.start ? -1 : a.range.start > b.range.start ? 1 : 0)
  );
  for (let i = 1; i < all.length; i++) {
    const prev = all[i - 1];
    const cur = all[i];
    if (prev.range.family === cur.range.family && cur.range.start <= prev.range.end) {
      return `${formatRange(cur.range)} in pool ${cur.pool} overlaps ${
        formatRange(prev.range)
      } in pool ${prev.pool}`;
    }
  }
  return null;
}

/** The pools of one configuration, immutable once built (only their counts move). */
export class PoolSet {
  readonly #byKey: Map<string, PoolState>;
  /** Sorted by name. */
  readonly byName: readonly PoolState[];
  /** autoAssign pools in the order they are tried. */
  readonly #auto: readonly PoolState[];
  readonly #autoFiltered: boolean;

  private constructor(pools: PoolState[]) {
    this.#byKey = new Map(pools.map((p) => [p.name, p]));
    this.byName = [...pools].sort((a, b) => (a.name < b.name ? -1 : 1));
    this.#auto = pools.filter((p) => p.autoAssign).sort(autoOrder);
    this.#autoFiltered = this.#auto.some((p) => p.allocation !== null);
  }

  /** Validates specs (names, ranges, no overlaps) into a pool set, or says why not. */
  static build(specs: PoolSpec[]): Built<PoolSet> {
    const pools: PoolState[] = [];
    const names = new Set<string>();
    for (const spec of specs) {
      if (!spec.name) return { ok: false, reason: "pool with empty name" };
      if (names.has(spec.name)) return { ok: false, reason: `duplicate pool ${spec.name}` };
      names.add(spec.name);
      const pool = buildPool(spec);
      if (!pool.ok) return pool;
      pools.push(pool.value);
    }
    const why = overlap(pools);
    return why === null ? { ok: true, value: new PoolSet(pools) } : { ok: false, reason: why };
  }

  /** The pool named `name`. */
  get(name: string): PoolState | undefined {
    return this.#byKey.get(name);
  }

  /** Keeps the cursors of pools whose ranges did not change, so freed order survives. */
  adoptCursors(old: PoolSet): void {
    for (const pool of this.byName) {
      const prev = old.get(pool.name);
      if (!prev) continue;
      for (const family of [4, 6] as const) {
        const next = spaceOf(pool, family);
        const before = spaceOf(prev, family);
        if (next && before && next.sameRanges(before)) next.adoptCursor(before);
      }
    }
  }

  /** autoAssign pools that serve the Service, in the order to try them. */
  autoFor(request: ServiceRequest): readonly PoolState[] {
    if (!this.#autoFiltered) return this.#auto;
    return this.#auto.filter((p) => poolServes(p.allocation, request));
  }

  /** The pool whose ranges hold `ip`. */
  poolOf(ip: IP): PoolState | undefined {
    for (const pool of this.byName) {
      if (spaceOf(pool, ip.family)?.contains(ip)) return pool;
    }
    return undefined;
  }

  /** The one pool holding every address of `ips` (canonical text), or why there is none. */
  locate(ips: readonly string[]): { ok: true; pool: PoolState } | { ok: false; reason: string } {
    let pool: PoolState | undefined;
    for (const ip of ips) {
      const p = this.poolOf(parseIP(ip)!);
      if (!p) return { ok: false, reason: `ip ${ip} is not in any pool` };
      if (pool && pool !== p) {
        return { ok: false, reason: `ips ${ips.join(" and ")} are not in one pool` };
      }
      pool = p;
    }
    return { ok: true, pool: pool! };
  }
}
