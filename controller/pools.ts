/**
 * Pool helpers of the controller: the allocator's view of a configured pool and the counts
 * written to `IPAddressPool.status` and shown on /status.
 */
import type { Config } from "../api/config.ts";
import type { LabelSelector as IpamSelector, PoolSpec } from "../ipam/mod.ts";

/** The allocator's spec of a configured pool. */
export function poolSpecOf(p: Config["pools"][number]): PoolSpec {
  return {
    name: p.name,
    ranges: p.ranges.map((r) => ({ family: r.family, start: r.start, end: r.end })),
    autoAssign: p.autoAssign,
    avoidBuggyIPs: p.avoidBuggyIPs,
    ...(p.serviceAllocation
      ? {
        serviceAllocation: {
          priority: p.serviceAllocation.priority,
          namespaces: [...p.serviceAllocation.namespaces],
          namespaceSelectors: structuredClone(
            p.serviceAllocation.namespaceSelectors,
          ) as IpamSelector[],
          serviceSelectors: structuredClone(p.serviceAllocation.serviceSelectors) as IpamSelector[],
        },
      }
      : {}),
  };
}

/** JSON.stringify replacer that writes bigints as decimal strings. */
export function bigintJson(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}

/** A count as /status shows it: a number when exact, else a decimal string. */
export function displayCount(v: bigint | number): number | string {
  const b = BigInt(v);
  return b <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(b) : b.toString();
}

/**
 * A count for `IPAddressPool.status`. ObjectWriter takes numbers and the kube writer sends
 * JSON.stringify output, which throws on bigints; so counts past 2^53 (IPv6 pools) are sent
 * as the nearest double until both accept bigint. Metrics and /status stay exact.
 */
/** The CRD's counts are int64: exact up to 2^63-1, saturated above (an IPv6 /64 has 2^64). */
const INT64_MAX = (1n << 63n) - 1n;

export function statusCount(v: bigint): number | bigint {
  if (v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return v > INT64_MAX ? INT64_MAX : v;
}
