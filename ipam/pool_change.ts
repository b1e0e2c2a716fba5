/** What new pools do to one assignment: kept, moved to another pool, shrunk or dropped. */
import { familyOf } from "./rules.ts";
import { poolServes, type PoolSet, type PoolState, spaceOf } from "./pool_set.ts";
import { parseIP } from "./addr.ts";
import type { Assignment } from "./assignment.ts";
import type { DroppedAssignment } from "./types.ts";

/** What a pool change does to the assignments (see `Allocator.setPools`). */
export interface PoolChangeWork {
  invalid: DroppedAssignment[];
  moved: { key: string; from: string; to: string }[];
  shrink: { key: string; ip: string; pool: PoolState }[];
}

/** An assignment and its Service's key (the allocator's map key). */
export interface Keyed {
  key: string;
  rec: Assignment;
}

/** Records that the assignment's addresses now lie in pool `to` (when that is news). */
export function movePool(
  at: Keyed,
  change: { to: PoolState; moved: PoolChangeWork["moved"] },
): void {
  const { key, rec } = at;
  if (rec.pool === change.to.name) return;
  change.moved.push({ key, from: rec.pool, to: change.to.name });
  rec.pool = change.to.name;
}

/** Why the assignment is invalid under `pools`, or null (moved when its pool is). */
function poolChangeReason(
  pools: PoolSet,
  at: Keyed & { ips: readonly string[]; work: PoolChangeWork },
): string | null {
  const { key, rec, ips, work } = at;
  const found = pools.locate(ips);
  if (!found.ok) return found.reason;
  const pool = found.pool;
  const ip = ips.find((a) => spaceOf(pool, familyOf(a))!.excluded(a));
  if (ip) return `ip ${ip} is excluded by avoidBuggyIPs in pool ${pool.name}`;
  if (!poolServes(pool.allocation, rec)) return `pool ${pool.name} does not serve ${key}`;
  // The Service asked for a pool by name; its address now lies in another one.
  const named = rec.requestedPool;
  if (named && named !== pool.name) return `ip ${ips[0]} is not in pool ${named}`;
  movePool(at, { to: pool, moved: work.moved });
  return null;
}

/**
 * The address of a dual-stack assignment that stays valid on its own after a pool change,
 * preferring one in the assignment's pool; undefined when none does.
 */
function survivor(
  pools: PoolSet,
  at: { rec: Assignment; ips: readonly string[] },
): { ip: string; pool: PoolState } | undefined {
  const { rec, ips } = at;
  let found: { ip: string; pool: PoolState } | undefined;
  for (const ip of ips) {
    const pool = pools.poolOf(parseIP(ip)!);
    if (!pool || spaceOf(pool, familyOf(ip))!.excluded(ip)) continue;
    if (!poolServes(pool.allocation, rec)) continue;
    if (rec.requestedPool && rec.requestedPool !== pool.name) continue;
    if (pool.name === rec.pool) return { ip, pool };
    found ??= { ip, pool };
  }
  return found;
}

/** Checks one assignment against new pools, noting in `work` what must change. */
export function revalidate(pools: PoolSet, at: Keyed & { work: PoolChangeWork }): void {
  const { key, rec, work } = at;
  const ips = rec.list();
  const reason = poolChangeReason(pools, { ...at, ips });
  if (reason === null) return;
  // A dual-stack Service keeps the address still valid and loses only the other one
  // (allocate then gives it the missing family from the same pool).
  const kept = ips.length === 2 ? survivor(pools, { rec, ips }) : undefined;
  if (kept) {
    work.shrink.push({ key, ...kept });
    work.invalid.push({ key, ips: ips.filter((ip) => ip !== kept.ip), reason });
  } else work.invalid.push({ key, ips: [...ips], reason });
}
