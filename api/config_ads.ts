/**
 * BGPAdvertisements: which pools they select, their communities, and MetalLB's rules per
 * selected pool (aggregation length vs. each address entry, one LOCAL_PREF per route).
 */
import { type CommunityValue, isCommunityLiteral, parseCommunity } from "./community.ts";
import { describeRange, rangePrefixes } from "./ip.ts";
import { parsePathControl, type PathControl } from "./path_control.ts";
import type { KubeObject } from "./kube_object.ts";
import { type LabelSelector, selectorKey } from "./schemas.ts";
import { matchesAnySelector } from "./selectors.ts";
import {
  type AdvertisementConfig,
  cmp,
  type Parsed,
  type PeerConfig,
  type PoolConfig,
  type Reporter,
} from "./config_types.ts";

/** What advertisements refer to. */
export interface AdContext {
  report: Reporter;
  pools: PoolConfig[];
  aliases: Map<string, { value: CommunityValue; owner: string }>;
  peers: PeerConfig[];
  /** Nodes, when known: LOCAL_PREF conflicts are then judged on the nodes really selected. */
  nodes: KubeObject[];
  invalidNames: Map<string, Set<string>>;
}

type Ad = AdvertisementConfig & { p: Parsed };

/** Builds every advertisement and checks the rules that span advertisements and pools. */
export function buildAdvertisements(parsed: Parsed[], ctx: AdContext): AdvertisementConfig[] {
  const ads = [...parsed].sort((a, b) => cmp(a.data.metadata.name, b.data.metadata.name))
    .map((p) => buildAd(p, ctx));
  const poolsByName = new Map(ctx.pools.map((p) => [p.name, p]));
  const attached = new Map<string, Ad[]>();
  for (const ad of ads) {
    for (const name of ad.pools) {
      const pool = poolsByName.get(name)!;
      checkAggregation(ad, pool, ctx.report);
      const earlier = attached.get(name) ?? [];
      checkLocalPref(ad, earlier, pool, ctx);
      attached.set(name, [...earlier, ad]);
    }
  }
  checkBfdEcho(ads, poolsByName, ctx);
  return ads.map(({ p: _p, ...rest }) => rest);
}

function selectPools(p: Parsed, ctx: AdContext): string[] {
  const spec = p.data.spec;
  const names: string[] = spec.ipAddressPools ?? [];
  const selectors: LabelSelector[] = spec.ipAddressPoolSelectors ?? [];
  // Neither set: every pool (MetalLB's docs' BGPAdvertisement has no spec at all).
  if (names.length === 0 && selectors.length === 0) return ctx.pools.map((x) => x.name).sort();
  const selected = new Set<string>();
  names.forEach((n, i) => {
    if (ctx.pools.some((x) => x.name === n)) selected.add(n);
    else if (!ctx.invalidNames.get("IPAddressPool")?.has(n)) {
      ctx.report.warn(p, `spec.ipAddressPools[${i}]`, `IPAddressPool "${n}" not found`);
    }
  });
  for (const pool of ctx.pools) {
    if (selectors.some((s) => matchesAnySelector([s], pool.labels))) selected.add(pool.name);
  }
  return [...selected].sort();
}

function resolveCommunities(p: Parsed, ctx: AdContext): CommunityValue[] {
  const out: CommunityValue[] = [];
  (p.data.spec.communities ?? []).forEach((c: string, i: number) => {
    if (isCommunityLiteral(c)) {
      const r = parseCommunity(c);
      if (r.ok) out.push(r.value); // a bad literal is reported by the schema
      return;
    }
    const alias = ctx.aliases.get(c);
    if (alias) out.push(alias.value);
    else {
      ctx.report.err(
        p,
        `spec.communities[${i}]`,
        `unknown community alias "${c}" (not defined in any Community object)`,
        true,
      );
    }
  });
  return out;
}

/** ferrolb's annotations; a bad one makes the config invalid, naming the annotation. */
function resolvePathControl(p: Parsed, ctx: AdContext): PathControl {
  const { control, errors } = parsePathControl(p.data.metadata.annotations);
  for (const e of errors) ctx.report.err(p, e.field, e.reason);
  return control;
}

function buildAd(p: Parsed, ctx: AdContext): Ad {
  const spec = p.data.spec;
  (spec.peers ?? []).forEach((n: string, i: number) => {
    if (!ctx.peers.some((x) => x.name === n)) {
      ctx.report.warn(p, `spec.peers[${i}]`, `BGPPeer "${n}" not found`);
    }
  });
  return {
    p,
    name: p.data.metadata.name,
    aggregationLength: spec.aggregationLength,
    aggregationLengthV6: spec.aggregationLengthV6,
    ...(spec.localPref !== undefined ? { localPref: spec.localPref } : {}),
    ...resolvePathControl(p, ctx),
    communities: resolveCommunities(p, ctx),
    pools: selectPools(p, ctx),
    nodeSelectors: spec.nodeSelectors ?? [],
    peers: spec.peers ?? [],
    serviceSelectors: spec.serviceSelectors ?? [],
  };
}

/**
 * A route is `ip/aggregationLength`; it must not be more specific than the entry it comes
 * from. Like MetalLB, a range entry is judged by its widest CIDR block, so an aggregate
 * that fits some part of the range is accepted.
 */
function checkAggregation(ad: Ad, pool: PoolConfig, report: Reporter): void {
  for (const family of [4, 6] as const) {
    const agg = family === 4 ? ad.aggregationLength : ad.aggregationLengthV6;
    for (const range of pool.ranges) {
      if (range.family !== family) continue;
      const widest = Math.min(...rangePrefixes(range));
      if (agg >= widest) continue;
      report.err(
        ad.p,
        family === 4 ? "spec.aggregationLength" : "spec.aggregationLengthV6",
        `${agg} is shorter than the /${widest} prefix of ${
          describeRange(range)
        } in IPAddressPool ${pool.name}`,
      );
      break;
    }
  }
}

function families(pool: PoolConfig): { v4: boolean; v6: boolean } {
  return {
    v4: pool.ranges.some((r) => r.family === 4),
    v6: pool.ranges.some((r) => r.family === 6),
  };
}

/** Whether two advertisements of `pool` yield different prefixes (MetalLB's rule). */
function samePrefixes(a: Ad, b: Ad, pool: PoolConfig): boolean {
  const { v4, v6 } = families(pool);
  const diff4 = a.aggregationLength !== b.aggregationLength;
  const diff6 = a.aggregationLengthV6 !== b.aggregationLengthV6;
  if (!v4 && !v6) return false;
  if ((diff4 && !v6) || (diff6 && !v4) || (diff4 && diff6)) return false;
  return true;
}

function nodesOverlap(a: Ad, b: Ad, nodes: KubeObject[]): boolean {
  if (nodes.length === 0) {
    // No Node objects to judge by (a manifest directory): selectors that could pick the
    // same nodes are assumed to.
    return a.nodeSelectors.length === 0 || b.nodeSelectors.length === 0 ||
      a.nodeSelectors.map(selectorKey).sort().join() ===
        b.nodeSelectors.map(selectorKey).sort().join();
  }
  return nodes.some((n) =>
    matchesAnySelector(a.nodeSelectors, n.metadata.labels) &&
    matchesAnySelector(b.nodeSelectors, n.metadata.labels)
  );
}

/**
 * Two advertisements sending the same prefix to the same peer from the same node must
 * agree on LOCAL_PREF (unset counts as 0, as in MetalLB). Advertisements with
 * serviceSelectors are exempt: which Services they carry is unknown here.
 */
function checkLocalPref(ad: Ad, earlier: Ad[], pool: PoolConfig, ctx: AdContext): void {
  if (ad.serviceSelectors.length > 0) return;
  for (const other of earlier) {
    if (other.serviceSelectors.length > 0) continue;
    if ((ad.localPref ?? 0) === (other.localPref ?? 0)) continue;
    if (!samePrefixes(ad, other, pool)) continue;
    const peersMeet = ad.peers.length === 0 || other.peers.length === 0 ||
      ad.peers.some((x) => other.peers.includes(x));
    if (!peersMeet || !nodesOverlap(ad, other, ctx.nodes)) continue;
    ctx.report.err(
      ad.p,
      "spec.localPref",
      `${ad.localPref ?? 0} conflicts with localPref ${other.localPref ?? 0} of ` +
        `BGPAdvertisement ${other.p.data.metadata.namespace}/${other.name} for pool ` +
        `"${pool.name}": same prefixes to the same peers from the same nodes`,
    );
    return;
  }
}

/** MetalLB refuses BFD echo mode on a peer that IPv6 routes are advertised to. */
function checkBfdEcho(ads: Ad[], pools: Map<string, PoolConfig>, ctx: AdContext): void {
  for (const ad of ads) {
    if (!ad.pools.some((name) => families(pools.get(name)!).v6)) continue;
    const peers = ad.peers.length === 0
      ? ctx.peers
      : ctx.peers.filter((x) => ad.peers.includes(x.name));
    const echo = peers.find((x) => x.bfdProfile?.echoMode);
    if (!echo) continue;
    ctx.report.err(
      ad.p,
      ad.peers.length === 0 ? "spec" : "spec.peers",
      `advertises IPv6 pools to BGPPeer ${echo.name}, whose BFDProfile ` +
        `${echo.bfdProfile!.name} has echoMode (not possible with IPv6)`,
    );
  }
}
