/**
 * Interned parts of the announcement planner: endpoint counts patched per changed slice,
 * attribute sets and peer lists shared by identity.
 */
import type { AdvertisementConfig } from "../api/config.ts";
import type { EndpointSliceView } from "../api/objects.ts";
import { mergePathControl } from "../api/path_control.ts";
import type { RouteAttributes } from "../bgp/mod.ts";
import type { LargeCommunity } from "../bgp/types.ts";
import {
  type AnnounceCache,
  anyOf,
  CACHE_LIMIT,
  type Counts,
  countsAt,
  localOf,
  readyOf,
  sameCounts,
  type ServiceRecord,
  type SliceCounts,
} from "./announce_types.ts";

/**
 * Link bandwidth one ready local endpoint stands for, in bytes per second (1 Gbit/s ÷ 8).
 * Only ratios matter to routers, so the unit is a convention, documented in README.md.
 */
export const BANDWIDTH_PER_ENDPOINT = 125_000_000;
/** AS_TRANS (RFC 6793), used in two-octet AS fields when the real AS does not fit. */
export const AS_TRANS = 23456;

/**
 * The link-bandwidth extended community (draft-ietf-idr-link-bandwidth): type 0x40
 * (two-octet AS specific, non-transitive), subtype 0x04, the AS (AS_TRANS when it needs
 * four octets), then the bandwidth in bytes per second as an IEEE-754 single.
 */
export function linkBandwidthCommunity(asn: number, bytesPerSecond: number): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  out[0] = 0x40;
  out[1] = 0x04;
  dv.setUint16(2, asn > 0xffff ? AS_TRANS : asn);
  dv.setFloat32(4, bytesPerSecond);
  return out;
}

/** One slice's serving endpoints, and those on `nodeName` (ready ones apart). */
function sliceCounts(s: EndpointSliceView, nodeName: string): SliceCounts {
  const n = { key: `${s.namespace}/${s.serviceName}`, any: 0, local: 0, ready: 0 };
  for (const e of s.endpoints) {
    if (!e.serving) continue;
    n.any++;
    if (e.nodeName === nodeName) {
      n.local++;
      if (e.ready !== false) n.ready++;
    }
  }
  return n;
}

/** The record of Service `key`, made when missing. */
export function recordOf(cache: AnnounceCache, key: string): ServiceRecord {
  let rec = cache.records.get(key);
  if (!rec) {
    rec = {
      key,
      epoch: 0,
      counts: 0,
      out: undefined,
    };
    cache.records.set(key, rec);
  }
  return rec;
}

/** Sets `rec`'s counts to `from.sums[from.at..from.at+2]` (zeros past the end). */
function setCounts(rec: ServiceRecord, from: { sums: readonly number[]; at: number }): void {
  const counts = countsAt(from.sums, from.at);
  if (sameCounts(rec.counts, counts)) return;
  rec.counts = counts;
  // Its decision was made from other counts.
  rec.epoch = 0;
}

/**
 * Counts serving endpoints into each Service's record. A list of the same length as last
 * time is compared by identity and only the slices that differ are counted again; the
 * result then names the records whose counts changed (undefined: counted from scratch).
 */
export function* countEndpoints(
  cache: AnnounceCache,
  input: { slices: readonly EndpointSliceView[]; nodeName: string },
): Generator<void, Set<ServiceRecord> | undefined> {
  const { slices, nodeName } = input;
  const last = cache.endpoints;
  if (!last || last.node !== nodeName || last.slices.length !== slices.length) {
    yield* recountAll(cache, input);
    return undefined;
  }
  const { slices: prev, nums } = last;
  const owned = !Object.isFrozen(prev);
  // Each affected record's counts before, so that a slice replaced by an equal one (or
  // moved between slices) decides nothing again.
  const before = new Map<ServiceRecord, Counts>();
  const sum = [0, 0, 0];
  const add = (slice: EndpointSliceView, at: number, sign: 1 | -1) => {
    if (nums[at] === 0) return;
    // The key is made again from the slice rather than kept per slice (100,000s of them).
    const rec = recordOf(cache, `${slice.namespace}/${slice.serviceName}`);
    const c = rec.counts;
    if (!before.has(rec)) before.set(rec, c);
    sum[0] = anyOf(c) + sign * nums[at];
    sum[1] = localOf(c) + sign * nums[at + 1];
    sum[2] = readyOf(c) + sign * nums[at + 2];
    rec.counts = countsAt(sum, 0);
  };
  for (let i = 0; i < slices.length; i++) {
    if ((i & 16383) === 16383) yield;
    if (slices[i] === prev[i]) continue;
    add(prev[i], 3 * i, -1);
    storeCounts(nums, 3 * i, sliceCounts(slices[i], nodeName));
    add(slices[i], 3 * i, 1);
    if (owned) (prev as EndpointSliceView[])[i] = slices[i];
  }
  // A frozen list cannot change under us: kept as it is, not copied (100,000s long).
  if (Object.isFrozen(slices)) last.slices = slices;
  else if (!owned) last.slices = slices.slice();
  const touched = new Set<ServiceRecord>();
  for (const [rec, was] of before) {
    if (sameCounts(rec.counts, was)) continue;
    rec.epoch = 0;
    touched.add(rec);
  }
  return touched;
}

/** Writes a slice's counts at `nums[at..at+2]`; returns its Service's key. */
function storeCounts(nums: Int32Array, at: number, n: SliceCounts): string {
  nums[at] = n.any;
  nums[at + 1] = n.local;
  nums[at + 2] = n.ready;
  return n.key;
}

/** Counts every slice again; records whose counts differ are decided again. */
function* recountAll(
  cache: AnnounceCache,
  { slices, nodeName }: { slices: readonly EndpointSliceView[]; nodeName: string },
): Generator<void, void> {
  const nums = new Int32Array(3 * slices.length);
  // Sums by key as offsets into one array: no object per Service.
  const at = new Map<string, number>();
  const sums: number[] = [];
  for (let i = 0; i < slices.length; i++) {
    if ((i & 4095) === 4095) yield;
    const key = storeCounts(nums, 3 * i, sliceCounts(slices[i], nodeName));
    if (nums[3 * i] === 0) continue;
    let o = at.get(key);
    if (o === undefined) at.set(key, o = sums.push(0, 0, 0) - 3);
    for (let j = 0; j < 3; j++) sums[o + j] += nums[3 * i + j];
  }
  let n = 0;
  for (const rec of cache.records.values()) {
    if ((++n & 4095) === 0) yield;
    if (!at.has(rec.key)) setCounts(rec, { sums, at: sums.length });
  }
  for (const [key, o] of at) setCounts(recordOf(cache, key), { sums, at: o });
  const kept = Object.isFrozen(slices) ? slices : slices.slice();
  cache.endpoints = { node: nodeName, slices: kept, nums };
}

/** Map key of an attribute set. */
export function attributesKey(a: RouteAttributes): string {
  let key = a.localPref === undefined ? "" : `L${a.localPref}`;
  if (a.med !== undefined) key += `M${a.med}`;
  if (a.asPathPrepend) key += `P${a.asPathPrepend}`;
  if (a.communities) key += `C${a.communities.join(",")}`;
  if (a.largeCommunities) key += `G${a.largeCommunities.map((l) => l.join(":")).join(",")}`;
  if (a.extendedCommunities) {
    key += `E${a.extendedCommunities.map((e) => e.join(".")).join(",")}`;
  }
  return key;
}

/** The one shared object for attributes equal to `a`. */
export function intern(cache: AnnounceCache, a: RouteAttributes): RouteAttributes {
  const key = attributesKey(a);
  const found = cache.attributes.get(key);
  if (found) return found;
  if (cache.attributes.size >= CACHE_LIMIT) cache.attributes.clear();
  cache.attributes.set(key, a);
  return a;
}

/** The merged attributes of the advertisements a route comes from. */
export function buildAttributes(
  ads: readonly AdvertisementConfig[],
  extended?: Uint8Array,
): RouteAttributes {
  const attributes: RouteAttributes = {};
  // Validation rejects real localPref conflicts; when two still meet, the higher wins so
  // the result does not depend on the order advertisements were listed in.
  let localPref: number | undefined;
  const communities = new Set<number>();
  const large = new Map<string, LargeCommunity>();
  for (const ad of ads) {
    if (ad.localPref !== undefined) localPref = Math.max(localPref ?? 0, ad.localPref);
    for (const c of ad.communities) {
      if (c.kind === "standard") communities.add(c.value);
      else large.set(`${c.global}:${c.local1}:${c.local2}`, [c.global, c.local1, c.local2]);
    }
  }
  if (localPref !== undefined) attributes.localPref = localPref;
  const path = mergePathControl(ads);
  if (path.med !== undefined) attributes.med = path.med;
  if (path.asPathPrepend !== undefined) attributes.asPathPrepend = path.asPathPrepend;
  if (communities.size) attributes.communities = [...communities].sort((a, b) => a - b);
  if (large.size) {
    attributes.largeCommunities = [...large.values()].sort((a, b) =>
      a[0] - b[0] || a[1] - b[1] || a[2] - b[2]
    );
  }
  if (extended) attributes.extendedCommunities = [extended];
  return attributes;
}

/** One array per distinct peer list: most Services go to the same peers. */
export function internPeers(cache: AnnounceCache, names: string[]): string[] {
  if (names.length === 0) return names;
  const key = names.join("\n");
  const found = cache.peerLists.get(key);
  if (found) return found;
  if (cache.peerLists.size >= CACHE_LIMIT) cache.peerLists.clear();
  cache.peerLists.set(key, names);
  return names;
}
