/**
 * Prefix order and prefix keys ({@linkcode prefixKey}) read back: the Adj-RIB-Out keeps its
 * table as an array sorted in this order and finds a key in it by binary search, so it needs
 * no Map entry per prefix and peer.
 */
import type { Family } from "./fsm.ts";
import { AFI_IPV4, AFI_IPV6, type Prefix } from "./types.ts";

/** Prefix order: family, address bytes, length (the speaker hands routes over in this order). */
export function comparePrefix(a: Prefix, b: Prefix): number {
  if (a.afi !== b.afi) return a.afi - b.afi;
  if (a.addr !== b.addr) {
    // IPv4 bits compared unsigned; IPv6 hex texts of equal length order as their bytes.
    if (a.afi === AFI_IPV4) return (a.addr >>> 0) < ((b.addr as number) >>> 0) ? -1 : 1;
    return a.addr < b.addr ? -1 : 1;
  }
  return a.length - b.length;
}

/** Family of a {@linkcode prefixKey}: IPv6 keys start with "x". */
export function familyOfKey(k: string): Family {
  return k.charCodeAt(0) === 0x78 ? "ipv6" : "ipv4";
}

/**
 * A prefix whose fields are overwritten in place, for look-ups that must not allocate. A
 * class, so that it never shares the hidden class of the callers' Prefix literals: a double
 * stored in a shared `length` field would box that field in every Prefix (16 B each).
 */
class ScratchPrefix {
  constructor(public afi: 1 | 2, public addr: number | string, public length: number) {}
}

const ZEROS = "0".repeat(32);

/** Decodes key `k` into `into`. */
function decodeKey(k: string, into: ScratchPrefix): void {
  if (k.charCodeAt(0) !== 0x78) {
    const n = Number(k);
    // `| 0` keeps the length a small integer (see ScratchPrefix).
    const length = (n % 33) | 0;
    into.afi = AFI_IPV4;
    into.addr = ((n - length) / 33) | 0;
    into.length = length;
    return;
  }
  const slash = k.indexOf("/");
  into.afi = AFI_IPV6;
  into.addr = k.slice(1, slash) + ZEROS.slice(slash - 1);
  into.length = Number(k.slice(slash + 1)) | 0;
}

/** The scratch prefix as the {@linkcode Prefix} it holds (its afi says which addr it has). */
function asPrefix(p: ScratchPrefix): Prefix {
  return p as unknown as Prefix;
}

/**
 * The prefix a {@linkcode prefixKey} stands for. Withdrawals of prefixes no longer wanted
 * rebuild them from the key, since nothing else of them is kept.
 */
export function prefixOfKey(k: string): Prefix {
  const p = new ScratchPrefix(AFI_IPV4, 0, 0);
  decodeKey(k, p);
  return p.afi === AFI_IPV4
    ? { afi: AFI_IPV4, addr: p.addr as number, length: p.length }
    : { afi: AFI_IPV6, addr: p.addr as string, length: p.length };
}

// One scratch prefix reused by every look-up (JavaScript runs them one at a time).
const PROBE = new ScratchPrefix(AFI_IPV4, 0, 0);

/**
 * Index in `sorted` (strictly ordered by prefix) of the item whose prefix has key `k`, or -1.
 * `hint`, an index where the key probably is (callers often go through keys in table order),
 * is tried first.
 */
export function findByKey<T extends { prefix: Prefix }>(
  sorted: readonly T[],
  k: string,
  options: { hint?: number } = {},
): number {
  decodeKey(k, PROBE);
  return findByPrefix(sorted, asPrefix(PROBE), options);
}

/** {@linkcode findByKey} of a prefix itself (no key string made to find it). */
export function findByPrefix<T extends { prefix: Prefix }>(
  sorted: readonly T[],
  p: Prefix,
  options: { hint?: number } = {},
): number {
  const hint = options.hint ?? -1;
  if (hint >= 0 && hint < sorted.length && comparePrefix(sorted[hint].prefix, p) === 0) {
    return hint;
  }
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const c = comparePrefix(sorted[mid].prefix, p);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/** Index of the first item of `sorted` whose prefix is not before `p` (`sorted.length` if none). */
export function lowerBound<T extends { prefix: Prefix }>(sorted: readonly T[], p: Prefix): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (comparePrefix(sorted[mid].prefix, p) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
