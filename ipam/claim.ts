/** The pool of a claim (requested or restored addresses). */
import type { IP } from "./addr.ts";
import type { PoolSet, PoolState } from "./pool_set.ts";
import { spaceOf } from "./pool_set.ts";
import { refuse } from "./rules.ts";
import type { Refusal } from "./types.ts";

/** Claimed addresses, parsed and as canonical text, in the same order. */
export interface Claim {
  parsed: IP[];
  ips: string[];
}

/** The annotated pool of a claim, when it holds every claimed address. */
function namedPool(pools: PoolSet, at: { claim: Claim; name: string }): PoolState | Refusal {
  const { claim, name } = at;
  const pool = pools.get(name);
  if (!pool) return refuse("unknown-pool", `unknown pool ${name}`);
  for (let i = 0; i < claim.parsed.length; i++) {
    if (!spaceOf(pool, claim.parsed[i].family)?.contains(claim.parsed[i])) {
      const ip = claim.ips[i];
      return refuse("not-in-pool", `ip ${ip} is not in pool ${pool.name}`, {
        ip,
        pool: pool.name,
      });
    }
  }
  return pool;
}

/** The one pool holding every claimed address. */
export function poolByAddress(pools: PoolSet, claim: Claim): PoolState | Refusal {
  let pool: PoolState | undefined;
  for (let i = 0; i < claim.parsed.length; i++) {
    const p = pools.poolOf(claim.parsed[i]);
    const ip = claim.ips[i];
    if (!p) return refuse("not-in-pool", `ip ${ip} is not in any pool`, { ip });
    if (pool && p !== pool) {
      return refuse("not-in-pool", `ips ${claim.ips.join(" and ")} are not in one pool`);
    }
    pool = p;
  }
  return pool ?? refuse("bad-request", "no ip given");
}

/**
 * The pool a claim takes its addresses from: the `named` pool (an annotation, for requested
 * IPs) when it holds them all, else the one pool whose ranges hold them.
 */
export function claimPool(
  pools: PoolSet,
  at: { claim: Claim; named?: string },
): PoolState | Refusal {
  return at.named
    ? namedPool(pools, { claim: at.claim, name: at.named })
    : poolByAddress(pools, at.claim);
}
