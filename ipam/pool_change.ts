/** What new pools do to one assignment: kept, moved to another pool, shrunk or dropped. */
import { familyOf } from "./rules.ts";
import { poolServes, type PoolSet, type PoolState, spaceOf } from "./pool_set.ts";
import { parseIP } from "./addr.ts";
import type { DroppedAssignment, ServiceRequest } from "./types.ts";

/** A Service's addresses as the allocator holds them. */
export interface Assignment {
  ips: string[];
  pool: string;
  /** The request last seen; its `key` is the assignment's key. */
  request: ServiceRequest;
}

/** What a pool change does to the assignments (see `Allocator.setPools`). */
export interface PoolChangeWork {
  invalid: DroppedAssignment[];
  moved: { key: string; from: string; to: string }[];
  shrink: { key: string; ip: string; pool: PoolState }[];
}

/** Records that the assignment's addresses now lie in pool `to` (when that is news). */
export function movePool(
  rec: Assignment,
  change: { to: PoolState; moved: PoolChangeWork["moved"] },
): void {
  if (rec.pool === change.to.name) return;
  change.moved.push({ key: rec.request.key, from: rec.pool, to: change.to.name });
  rec.pool = change.to.name;
}

/** Why the assignment is invalid under `pools`, or null (moved when its pool is). */
function poolChangeReason(
  pools: PoolSet,
  at: { rec: Assignment; work: PoolChangeWork },
): string | null {
  const { rec, work } = at;
  const found = pools.locate(rec.ips);
  if (!found.ok) return found.reason;
  const pool = found.pool;
  const ip = rec.ips.find((a) => spaceOf(pool, familyOf(a))!.excluded(a));
  if (ip) return `ip ${ip} is excluded by avoidBuggyIPs in pool ${pool.name}`;
  if (!poolServes(pool.allocation, rec.request)) {
    return `pool ${pool.name} does not serve ${rec.request.key}`;
  }
  // The Service asked for a pool by name; its address now lies in another one.
  if (rec.request.pool && rec.request.pool !== pool.name) {
    return `ip ${rec.ips[0]} is not in pool ${rec.request.pool}`;
  }
  movePool(rec, { to: pool, moved: work.moved });
  return null;
}

/**
 * The address of a dual-stack assignment that stays valid on its own after a pool change,
 * preferring one in the assignment's pool; undefined when none does.
 */
function survivor(pools: PoolSet, rec: Assignment): { ip: string; pool: PoolState } | undefined {
  let found: { ip: string; pool: PoolState } | undefined;
  for (const ip of rec.ips) {
    const pool = pools.poolOf(parseIP(ip)!);
    if (!pool || spaceOf(pool, familyOf(ip))!.excluded(ip)) continue;
    if (!poolServes(pool.allocation, rec.request)) continue;
    if (rec.request.pool && rec.request.pool !== pool.name) continue;
    if (pool.name === rec.pool) return { ip, pool };
    found ??= { ip, pool };
  }
  return found;
}

/** Checks one assignment against new pools, noting in `work` what must change. */
export function revalidate(pools: PoolSet, at: { rec: Assignment; work: PoolChangeWork }): void {
  const { rec, work } = at;
  const key = rec.request.key;
  const reason = poolChangeReason(pools, at);
  if (reason === null) return;
  // A dual-stack Service keeps the address still valid and loses only the other one
  // (allocate then gives it the missing family from the same pool).
  const kept = rec.ips.length === 2 ? survivor(pools, rec) : undefined;
  if (kept) {
    work.shrink.push({ key, ...kept });
    work.invalid.push({ key, ips: rec.ips.filter((ip) => ip !== kept.ip), reason });
  } else work.invalid.push({ key, ips: rec.ips, reason });
}
