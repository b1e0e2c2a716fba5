/**
 * Addresses and pool ranges for the allocator. IPv4 travels as a plain number (fast on the
 * hot path), IPv6 as a bigint. Address text is parsed and printed by the shared pure module
 * `addr/ip.ts`, re-exported here so the allocator's callers keep one import.
 */
import {
  canonicalIP,
  type Family,
  formatIP,
  formatIPv4,
  formatIPv6,
  type IP,
  parseIP,
} from "../addr/ip.ts";

export {
  canonicalIP,
  type Family,
  formatIP,
  formatIPv4,
  formatIPv6,
  type IP,
  parseIP,
  parseIPv4,
  parseIPv6,
} from "../addr/ip.ts";

/** An inclusive address range of one family, as pools are given to the allocator. */
export interface AddressRange {
  family: Family;
  start: bigint;
  end: bigint;
}

/** A parse outcome: a value, or the reason it was refused. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

function toBig(ip: IP): bigint {
  return ip.family === 4 ? BigInt(ip.value) : ip.value;
}

/**
 * Parses one pool address entry: a CIDR (`172.19.0.0/24`, host bits are masked as MetalLB
 * does) or an inclusive range (`192.168.10.0-192.168.10.18`).
 */
export function parseAddressRange(text: string): Parsed<AddressRange> {
  // As MetalLB: spaces around a range's two addresses are trimmed, a CIDR is taken as is.
  const dash = text.indexOf("-");
  if (dash !== -1) {
    const a = parseIP(text.slice(0, dash).trim());
    const b = parseIP(text.slice(dash + 1).trim());
    if (a === null || b === null) return { ok: false, reason: `invalid range "${text}"` };
    if (a.family !== b.family) {
      return { ok: false, reason: `range "${text}" mixes IPv4 and IPv6` };
    }
    const start = toBig(a);
    const end = toBig(b);
    if (start > end) return { ok: false, reason: `range "${text}" has start after end` };
    return { ok: true, value: { family: a.family, start, end } };
  }
  const slash = text.indexOf("/");
  if (slash === -1) return { ok: false, reason: `invalid CIDR "${text}": no prefix length` };
  const ip = parseIP(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
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

/**
 * Canonical address text that is `text` itself when `text` already is canonical: an
 * address kept for a Service is then the string its status holds, not one more copy.
 * Null when `text` is not an address.
 */
export function canonicalKeep(text: string): string | null {
  const canonical = canonicalIP(text);
  return canonical === text ? text : canonical;
}

/** The canonical text of `ip`, `text` itself when they are equal (see `canonicalKeep`). */
export function formatKeep(ip: IP, text: string): string {
  const formatted = formatIP(ip);
  return formatted === text ? text : formatted;
}
