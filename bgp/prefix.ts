/**
 * IP prefixes and addresses as wire bytes. Address text is read and printed by the shared
 * pure module `addr/ip.ts` (as the allocator and the configuration checks do); this file
 * only moves it between text and the byte layout the UPDATE codec needs.
 */
import { formatIPv4, formatIPv6Groups, parseIPv4, parseIPv6Groups } from "../addr/ip.ts";
import { AFI_IPV4, AFI_IPV6, type Prefix } from "./types.ts";

// Reused by the conversions below: JavaScript runs them one at a time.
const groups: number[] = new Array(8).fill(0);

/** Dotted quad to 4 bytes; throws TypeError on bad text. */
export function ipv4ToBytes(text: string): Uint8Array {
  const v = parseIPv4(text);
  if (v === null) throw new TypeError(`invalid IPv4 address "${text}"`);
  const out = new Uint8Array(4);
  out[0] = v >>> 24;
  out[1] = (v >>> 16) & 255;
  out[2] = (v >>> 8) & 255;
  out[3] = v & 255;
  return out;
}

/** 4 bytes (from `offset`) to a dotted quad. */
export function bytesToIpv4(bytes: Uint8Array, offset = 0): string {
  const v = bytes[offset] * 16777216 + bytes[offset + 1] * 65536 + bytes[offset + 2] * 256 +
    bytes[offset + 3];
  return formatIPv4(v);
}

/** IPv6 text (with `::` and an optional trailing dotted quad) to 16 bytes; throws TypeError. */
export function ipv6ToBytes(text: string): Uint8Array {
  if (!parseIPv6Groups(text, groups)) throw new TypeError(`invalid IPv6 address "${text}"`);
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i] >> 8;
    out[2 * i + 1] = groups[i] & 0xff;
  }
  return out;
}

/** 16 bytes (from `offset`) to RFC 5952 canonical IPv6 text. */
export function bytesToIpv6(bytes: Uint8Array, offset = 0): string {
  for (let i = 0; i < 8; i++) groups[i] = (bytes[offset + 2 * i] << 8) | bytes[offset + 2 * i + 1];
  return formatIPv6Groups(groups);
}

/** Address text of either family to 4 or 16 bytes; throws TypeError on bad text. */
export function ipToBytes(text: string): Uint8Array {
  return text.includes(":") ? ipv6ToBytes(text) : ipv4ToBytes(text);
}

/** 4 or 16 bytes to address text. */
export function bytesToIp(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytesToIpv4(bytes);
  if (bytes.length === 16) return bytesToIpv6(bytes);
  throw new TypeError(`an IP address has 4 or 16 bytes, not ${bytes.length}`);
}

/**
 * Parses "10.0.0.1/32", "2001:db8::/64" or a bare address (full-length prefix). Host bits
 * past the length are cleared unless `strict`, which rejects them. Throws TypeError.
 */
export function parsePrefix(text: string, options: { strict?: boolean } = {}): Prefix {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const v6 = addrText.includes(":");
  const max = v6 ? 128 : 32;
  let length = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText)) throw new TypeError(`invalid prefix length in "${text}"`);
    length = Number(lenText);
    if (length > max) throw new TypeError(`prefix length ${length} exceeds ${max} in "${text}"`);
  }
  let addr: Uint8Array;
  try {
    addr = v6 ? ipv6ToBytes(addrText) : ipv4ToBytes(addrText);
  } catch {
    throw new TypeError(`invalid prefix "${text}": bad address`);
  }
  const hostBits = clearHostBits(addr, length);
  if (hostBits && options.strict) {
    throw new TypeError(`invalid prefix "${text}": host bits set past /${length}`);
  }
  return { afi: v6 ? AFI_IPV6 : AFI_IPV4, addr, length };
}

/** Prefix to "a.b.c.d/len" or canonical IPv6 "x::/len". */
export function formatPrefix(p: Prefix): string {
  return `${p.afi === AFI_IPV4 ? bytesToIpv4(p.addr) : bytesToIpv6(p.addr)}/${p.length}`;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** A cheap unique map key: digits for IPv4, "x"+hex for IPv6 (so families never collide). */
export function prefixKey(p: Prefix): string {
  const a = p.addr;
  if (p.afi === AFI_IPV4) {
    const n = ((a[0] << 24) | (a[1] << 16) | (a[2] << 8) | a[3]) >>> 0;
    return String(n * 33 + p.length);
  }
  let s = "x";
  const n = (p.length + 7) >> 3;
  for (let i = 0; i < n; i++) s += HEX[a[i]];
  return `${s}/${p.length}`;
}

/** Builds a prefix from wire bytes: copies ceil(length/8) bytes and clears trailing bits. */
export function makePrefix(afi: 1 | 2, bytes: Uint8Array, length: number): Prefix {
  const addr = new Uint8Array(afi === AFI_IPV4 ? 4 : 16);
  const n = (length + 7) >> 3;
  for (let i = 0; i < n; i++) addr[i] = bytes[i];
  clearHostBits(addr, length);
  return { afi, addr, length };
}

/** Whether two prefixes are the same route. */
export function prefixEquals(a: Prefix, b: Prefix): boolean {
  if (a.afi !== b.afi || a.length !== b.length) return false;
  const n = (a.length + 7) >> 3;
  for (let i = 0; i < n; i++) if (a.addr[i] !== b.addr[i]) return false;
  return true;
}

/** Clears bits past `length` in place; returns whether any were set. */
function clearHostBits(addr: Uint8Array, length: number): boolean {
  let dirty = false;
  const full = length >> 3;
  const rem = length & 7;
  let i = full;
  if (rem !== 0) {
    const mask = (0xff << (8 - rem)) & 0xff;
    if (addr[i] & ~mask) dirty = true;
    addr[i] &= mask;
    i++;
  }
  for (; i < addr.length; i++) {
    if (addr[i] !== 0) {
      dirty = true;
      addr[i] = 0;
    }
  }
  return dirty;
}
