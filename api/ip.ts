/**
 * IP address, CIDR and range parsing into bigint intervals, so pools of any size (a /64
 * has 2^64 addresses) can be compared and counted without overflow. Address text itself is
 * read and printed by the shared module `addr/ip.ts`, as the allocator and the codec do.
 */
import { formatIPv4, formatIPv6, parseIP as parseAddress } from "../addr/ip.ts";

/** One `spec.addresses[]` entry as an inclusive interval of addresses of one family. */
export interface AddressRange {
  family: 4 | 6;
  start: bigint;
  end: bigint;
  /** Set when the entry was written as a CIDR: the normalised network, e.g. `10.0.0.0/24`. */
  cidr?: string;
  /** The entry as the user wrote it. */
  text: string;
}

/** A parsed IP address. */
export interface ParsedIP {
  family: 4 | 6;
  value: bigint;
}

/** Result type used by the parsers here: a value or a reason. */
export type IPResult<T> = { ok: true; value: T } | { ok: false; error: string };

/**
 * Parses a plain IPv4 (dotted quad only) or IPv6 address (no zone). As Go's net.ParseIP,
 * which MetalLB uses, surrounding spaces make it invalid.
 */
export function parseIP(text: string): IPResult<ParsedIP> {
  const ip = parseAddress(text);
  if (ip === null) return { ok: false, error: `invalid IP address "${text}"` };
  return {
    ok: true,
    value: ip.family === 4 ? { family: 4, value: BigInt(ip.value) } : ip,
  };
}

/** Bits in an address of `family`. */
export function familyBits(family: 4 | 6): number {
  return family === 4 ? 32 : 128;
}

/** Formats an address value of `family` in canonical text form. */
export function formatIP(family: 4 | 6, value: bigint): string {
  return family === 4 ? formatIPv4(Number(value)) : formatIPv6(value);
}

/** Parses a CIDR (`172.19.0.0/24`, `fc00::/120`) or range (`a-b`) pool entry. */
export function parseAddressEntry(text: string): IPResult<AddressRange> {
  // As MetalLB: spaces around a range's two addresses are trimmed, a CIDR is taken as is.
  if (text.includes("/")) {
    const [addr, prefixText, extra] = text.split("/");
    if (extra !== undefined || !/^\d{1,3}$/.test(prefixText ?? "")) {
      return { ok: false, error: `invalid CIDR "${text}"` };
    }
    const ip = parseIP(addr);
    if (!ip.ok) return { ok: false, error: `invalid CIDR "${text}": bad address` };
    const bits = familyBits(ip.value.family);
    const prefix = Number(prefixText);
    if (prefix > bits) {
      return { ok: false, error: `invalid CIDR "${text}": prefix length above ${bits}` };
    }
    const hostBits = BigInt(bits - prefix);
    const start = (ip.value.value >> hostBits) << hostBits;
    const end = start | ((1n << hostBits) - 1n);
    const cidr = `${formatIP(ip.value.family, start)}/${prefix}`;
    return { ok: true, value: { family: ip.value.family, start, end, cidr, text } };
  }
  const parts = text.split("-");
  if (parts.length !== 2) {
    return { ok: false, error: `invalid address "${text}": expected a CIDR or a range "a-b"` };
  }
  const a = rangeEnd(parts[0].trim());
  const b = rangeEnd(parts[1].trim());
  if (!a.ok) return { ok: false, error: `invalid range "${text}": bad start address` };
  if (!b.ok) return { ok: false, error: `invalid range "${text}": bad end address` };
  if (a.value.family !== b.value.family) {
    return { ok: false, error: `invalid range "${text}": start and end are of different families` };
  }
  if (a.value.value > b.value.value) {
    return { ok: false, error: `invalid range "${text}": start is after end` };
  }
  return {
    ok: true,
    value: { family: a.value.family, start: a.value.value, end: b.value.value, text },
  };
}

/** The IPv4-mapped IPv6 block `::ffff:0:0/96`. */
const V4_MAPPED = 0xffffn << 32n;

/**
 * One end of a range. MetalLB reads it with Go's net.ParseIP and takes an address whose
 * To4() is set as IPv4, so an IPv4-mapped IPv6 address (`::ffff:10.0.0.1`) is that IPv4
 * address there: the range `::ffff:10.0.0.1-10.0.0.5` is one IPv4 range of five.
 */
function rangeEnd(text: string): IPResult<ParsedIP> {
  const ip = parseIP(text);
  if (!ip.ok || ip.value.family === 4 || ip.value.value >> 32n !== 0xffffn) return ip;
  return { ok: true, value: { family: 4, value: ip.value.value - V4_MAPPED } };
}

/** The prefix lengths of the smallest set of CIDRs exactly covering `range`. */
export function rangePrefixes(range: Pick<AddressRange, "family" | "start" | "end">): number[] {
  const bits = familyBits(range.family);
  const out: number[] = [];
  let cur = range.start;
  while (cur <= range.end) {
    let size = 0;
    // Grow the block while it stays aligned on `cur` and inside the range.
    while (
      size < bits && (cur & ((1n << BigInt(size + 1)) - 1n)) === 0n &&
      cur + (1n << BigInt(size + 1)) - 1n <= range.end
    ) size++;
    out.push(bits - size);
    cur += 1n << BigInt(size);
  }
  return out;
}

/** Text of a range for messages: its CIDR if it has one, else `start-end`. */
export function describeRange(range: AddressRange): string {
  return range.cidr ??
    `${formatIP(range.family, range.start)}-${formatIP(range.family, range.end)}`;
}
