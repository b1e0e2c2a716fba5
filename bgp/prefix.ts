/**
 * IP prefixes and addresses as wire bytes. Address text is read and printed by the shared
 * pure module `addr/ip.ts` (as the allocator and the configuration checks do); this file
 * only moves it between text and the byte layout the UPDATE codec needs.
 */
import { formatIPv4, formatIPv6Groups, parseIPv4, parseIPv6Groups } from "../addr/ip.ts";
import { AFI_IPV4, AFI_IPV6, type Prefix, type Prefix4, type Prefix6 } from "./types.ts";

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

/** The network mask of an IPv4 `/length`, as an unsigned number. */
function mask4(length: number): number {
  return length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0;
}

/** The IPv4 prefix `addr/length`, host bits cleared. */
function prefix4(addr: number, length: number): Prefix4 {
  return { afi: AFI_IPV4, addr: addr & mask4(length), length };
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
// Joined rather than concatenated: a flat string, not a tree of 16 cons strings.
const hexParts: string[] = new Array(16).fill("00");

/** 16 bytes (host bits already cleared) as the hex text of a {@linkcode Prefix6}. */
function hexOf(bytes: Uint8Array): string {
  for (let i = 0; i < 16; i++) hexParts[i] = HEX[bytes[i]];
  return hexParts.join("");
}

/** Value of the hex digit with code `c` (0-9, a-f). */
function hexDigit(c: number): number {
  return c <= 57 ? c - 48 : c - 87;
}

/** Byte `i` of a {@linkcode Prefix6}'s address. */
export function ipv6Byte(p: Prefix6, i: number): number {
  return (hexDigit(p.addr.charCodeAt(2 * i)) << 4) | hexDigit(p.addr.charCodeAt(2 * i + 1));
}

/** Byte `i` (0-3) of a {@linkcode Prefix4}'s address. */
export function ipv4Byte(p: Prefix4, i: number): number {
  return (p.addr >>> (24 - 8 * i)) & 255;
}

// Reused by the IPv6 conversions (JavaScript runs them one at a time).
const scratch6 = new Uint8Array(16);

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
  const v4 = v6 ? null : parseIPv4(addrText);
  if (v6 ? !parseIPv6Groups(addrText, groups) : v4 === null) {
    throw new TypeError(`invalid prefix "${text}": bad address`);
  }
  let hostBits: boolean;
  if (v4 !== null) hostBits = (v4 & ~mask4(length)) !== 0;
  else {
    for (let i = 0; i < 8; i++) {
      scratch6[2 * i] = groups[i] >> 8;
      scratch6[2 * i + 1] = groups[i] & 0xff;
    }
    hostBits = clearHostBits(scratch6, length);
  }
  if (hostBits && options.strict) {
    throw new TypeError(`invalid prefix "${text}": host bits set past /${length}`);
  }
  return v4 !== null ? prefix4(v4, length) : { afi: AFI_IPV6, addr: hexOf(scratch6), length };
}

/** Prefix to "a.b.c.d/len" or canonical IPv6 "x::/len". */
export function formatPrefix(p: Prefix): string {
  if (p.afi === AFI_IPV4) return `${formatIPv4(p.addr >>> 0)}/${p.length}`;
  for (let i = 0; i < 8; i++) groups[i] = parseInt(p.addr.slice(4 * i, 4 * i + 4), 16);
  return `${formatIPv6Groups(groups)}/${p.length}`;
}

/** A cheap unique map key: digits for IPv4, "x"+hex for IPv6 (so families never collide). */
export function prefixKey(p: Prefix): string {
  if (p.afi === AFI_IPV4) return String((p.addr >>> 0) * 33 + p.length);
  return `x${p.addr.slice(0, 2 * ((p.length + 7) >> 3))}/${p.length}`;
}

/** Builds a prefix from wire bytes: reads ceil(length/8) bytes and clears trailing bits. */
export function makePrefix(afi: 1 | 2, bytes: Uint8Array, length: number): Prefix {
  return prefixAt(bytes, { afi, offset: 0, length });
}

/** {@linkcode makePrefix} of the bytes from `at.offset` (NLRI are read in place). */
export function prefixAt(
  b: Uint8Array,
  at: { afi: 1 | 2; offset: number; length: number },
): Prefix {
  const { offset, length } = at;
  const n = (length + 7) >> 3;
  if (at.afi === AFI_IPV4) {
    let v = 0;
    for (let i = 0; i < 4; i++) v = v * 256 + (i < n ? b[offset + i] : 0);
    return prefix4(v, length);
  }
  scratch6.fill(0);
  for (let i = 0; i < n; i++) scratch6[i] = b[offset + i];
  clearHostBits(scratch6, length);
  return { afi: AFI_IPV6, addr: hexOf(scratch6), length };
}

/** Whether two prefixes are the same route. */
export function prefixEquals(a: Prefix, b: Prefix): boolean {
  return a.afi === b.afi && a.length === b.length && a.addr === b.addr;
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
