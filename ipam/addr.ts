/**
 * IP address parsing and formatting for the allocator. IPv4 travels as a plain number (fast
 * on the hot path), IPv6 as a bigint. Text output is canonical (RFC 5952 for IPv6), so the
 * string form can serve as a map key.
 */

/** An IP family. */
export type Family = 4 | 6;

/** A parsed address: IPv4 as a number in [0, 2^32), IPv6 as a bigint in [0, 2^128). */
export type IP = { family: 4; value: number } | { family: 6; value: bigint };

/** An inclusive address range of one family, as pools are given to the allocator. */
export interface AddressRange {
  family: Family;
  start: bigint;
  end: bigint;
}

/** A parse outcome: a value, or the reason it was refused. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const V4_PART = /^(0|[1-9][0-9]{0,2})$/;
const V6_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parses dotted-quad IPv4 (no leading zeros, as Go's net.ParseIP) into a number. */
export function parseIPv4(text: string): number | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  let value = 0;
  for (const part of parts) {
    if (!V4_PART.test(part)) return null;
    const n = Number(part);
    if (n > 255) return null;
    value = value * 256 + n;
  }
  return value;
}

function parseGroups(text: string, allowV4Tail: boolean): number[] | null {
  if (text === "") return [];
  const items = text.split(":");
  const out: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    if (allowV4Tail && i === items.length - 1 && item.includes(".")) {
      const v4 = parseIPv4(item);
      if (v4 === null) return null;
      out.push(Math.floor(v4 / 65536), v4 % 65536);
      continue;
    }
    if (!V6_GROUP.test(item)) return null;
    out.push(parseInt(item, 16));
  }
  return out;
}

/** Parses IPv6 text (with `::` and an optional dotted IPv4 tail) into a bigint. */
export function parseIPv6(text: string): bigint | null {
  if (text.length < 2 || text.length > 45) return null;
  const gap = text.indexOf("::");
  let groups: number[];
  if (gap === -1) {
    const all = parseGroups(text, true);
    if (all === null || all.length !== 8) return null;
    groups = all;
  } else {
    if (text.indexOf("::", gap + 1) !== -1) return null;
    const head = parseGroups(text.slice(0, gap), false);
    const tail = parseGroups(text.slice(gap + 2), true);
    if (head === null || tail === null || head.length + tail.length > 7) return null;
    groups = [...head, ...new Array(8 - head.length - tail.length).fill(0), ...tail];
  }
  let value = 0n;
  for (const g of groups) value = (value << 16n) | BigInt(g);
  return value;
}

/** Parses an IPv4 or IPv6 address; null when it is neither. */
export function parseIP(text: string): IP | null {
  if (text.includes(":")) {
    const v6 = parseIPv6(text);
    return v6 === null ? null : { family: 6, value: v6 };
  }
  const v4 = parseIPv4(text);
  return v4 === null ? null : { family: 4, value: v4 };
}

/** Formats an IPv4 number as dotted quad. */
export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** Formats an IPv6 bigint in RFC 5952 canonical form (lowercase, longest zero run as `::`). */
export function formatIPv6(value: bigint): string {
  // Two 64-bit halves keep the bigint work to a few operations per address.
  const hi = value >> 64n;
  const lo = value & 0xffffffffffffffffn;
  const groups: number[] = new Array(8);
  for (let i = 0; i < 4; i++) {
    groups[i] = Number((hi >> BigInt(48 - 16 * i)) & 0xffffn);
    groups[i + 4] = Number((lo >> BigInt(48 - 16 * i)) & 0xffffn);
  }
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (bestStart === -1) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/** Formats a parsed address canonically. */
export function formatIP(ip: IP): string {
  return ip.family === 4 ? formatIPv4(ip.value) : formatIPv6(ip.value);
}

/** Returns the canonical text of an address, or null when it does not parse. */
export function canonicalIP(text: string): string | null {
  const ip = parseIP(text);
  return ip === null ? null : formatIP(ip);
}

function toBig(ip: IP): bigint {
  return ip.family === 4 ? BigInt(ip.value) : ip.value;
}

/**
 * Parses one pool address entry: a CIDR (`172.19.0.0/24`, host bits are masked as MetalLB
 * does) or an inclusive range (`192.168.10.0-192.168.10.18`).
 */
export function parseAddressRange(text: string): Parsed<AddressRange> {
  const entry = text.trim();
  const dash = entry.indexOf("-");
  if (dash !== -1) {
    const a = parseIP(entry.slice(0, dash).trim());
    const b = parseIP(entry.slice(dash + 1).trim());
    if (a === null || b === null) return { ok: false, reason: `invalid range "${text}"` };
    if (a.family !== b.family) {
      return { ok: false, reason: `range "${text}" mixes IPv4 and IPv6` };
    }
    const start = toBig(a);
    const end = toBig(b);
    if (start > end) return { ok: false, reason: `range "${text}" has start after end` };
    return { ok: true, value: { family: a.family, start, end } };
  }
  const slash = entry.indexOf("/");
  if (slash === -1) return { ok: false, reason: `invalid CIDR "${text}": no prefix length` };
  const ip = parseIP(entry.slice(0, slash));
  const lenText = entry.slice(slash + 1);
  if (ip === null || !/^[0-9]{1,3}$/.test(lenText)) {
    return { ok: false, reason: `invalid CIDR "${text}"` };
  }
  const bits = ip.family === 4 ? 32 : 128;
  const len = Number(lenText);
  if (len > bits) {
    return { ok: false, reason: `invalid CIDR "${text}": prefix longer than ${bits}` };
  }
  const host = (1n << BigInt(bits - len)) - 1n;
  const start = toBig(ip) & ~host;
  return { ok: true, value: { family: ip.family, start, end: start | host } };
}

/**
 * Parses an IPAddressPool's `addresses` list, e.g.
 * `["172.19.0.0/24", "192.168.10.0-192.168.10.18", "fc00::/120"]`.
 */
export function parsePoolAddresses(entries: string[]): Parsed<AddressRange[]> {
  const ranges: AddressRange[] = [];
  for (const entry of entries) {
    const r = parseAddressRange(entry);
    if (!r.ok) return r;
    ranges.push(r.value);
  }
  return { ok: true, value: ranges };
}

/** Formats a range for messages: `start-end`. */
export function formatRange(range: AddressRange): string {
  const f = range.family === 4
    ? (v: bigint) => formatIPv4(Number(v))
    : (v: bigint) => formatIPv6(v);
  return `${f(range.start)}-${f(range.end)}`;
}
