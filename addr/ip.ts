/**
 * IPv4 and IPv6 address text, parsed and printed in one place for the whole program: the
 * allocator, the BGP codec and the configuration checks all go through these functions, so
 * they agree by construction on what an address is and how it prints.
 *
 * What is an address follows Go's `net.ParseIP`, which MetalLB uses: dotted-quad IPv4
 * without leading zeros, IPv6 with at most one `::` (standing for at least one zero group)
 * and an optional dotted-quad tail, no zone (`%eth0`), and no surrounding spaces. Callers
 * that accept spaces around an address (MetalLB trims the two ends of a pool range) trim
 * before calling. Output is canonical (RFC 5952 for IPv6), so it can serve as a map key.
 *
 * Pure and dependency-free: it sits on the allocator's and the codec's hot paths.
 */

/** An IP family. */
export type Family = 4 | 6;

/** A parsed address: IPv4 as a number in [0, 2^32), IPv6 as a bigint in [0, 2^128). */
export type IP = { family: 4; value: number } | { family: 6; value: bigint };

const DOT = 46;
const COLON = 58;

/** Parses dotted-quad IPv4 (no leading zeros, as Go's net.ParseIP); null when it is not one. */
export function parseIPv4(text: string): number | null {
  return scanIPv4(text, 0);
}

// Scans IPv4 from `from` to the end of `text`; a hand loop, since this runs per address on
// the allocator's restore path and per NEXT_HOP in the codec.
function scanIPv4(text: string, from: number): number | null {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let parts = 0;
  for (let i = from; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : DOT;
    if (c === DOT) {
      if (digits === 0 || parts === 4) return null;
      value = value * 256 + octet;
      parts++;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // A leading zero reads as octal in some parsers: Go rejects it, and so do we.
      if (digits > 0 && octet === 0) return null;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return null;
      digits++;
    } else {
      return null;
    }
  }
  return parts === 4 ? value : null;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses IPv6 text into eight 16-bit groups written to `out`; false when it is not an
 * address (then `out` holds garbage). The codec calls this with a reused array.
 */
export function parseIPv6Groups(text: string, out: number[] | Uint16Array): boolean {
  const n = text.length;
  // The longest address is six full groups and a dotted quad (45 characters).
  if (n < 2 || n > 45) return false;
  let count = 0;
  let gap = -1;
  let i = 0;
  if (text.charCodeAt(0) === COLON) {
    if (text.charCodeAt(1) !== COLON) return false;
    gap = 0;
    i = 2;
  }
  while (i < n) {
    let value = 0;
    let digits = 0;
    while (i + digits < n) {
      const h = hexValue(text.charCodeAt(i + digits));
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
    }
    if (i + digits < n && text.charCodeAt(i + digits) === DOT) {
      // A dotted-quad tail ends the text and fills the last two groups.
      const v4 = count <= 6 ? scanIPv4(text, i) : null;
      if (v4 === null) return false;
      out[count++] = Math.floor(v4 / 65536);
      out[count++] = v4 % 65536;
      break;
    }
    if (digits === 0 || digits > 4 || count === 8) return false;
    out[count++] = value;
    i += digits;
    if (i === n) break;
    if (text.charCodeAt(i) !== COLON || ++i === n) return false;
    if (text.charCodeAt(i) === COLON) {
      if (gap >= 0) return false;
      gap = count;
      i++;
    }
  }
  if (gap < 0) return count === 8;
  // `::` stands for at least one zero group (RFC 4291; Go rejects it for none).
  if (count > 7) return false;
  const tail = count - gap;
  for (let k = 1; k <= tail; k++) out[8 - k] = out[count - k];
  for (let k = gap; k < 8 - tail; k++) out[k] = 0;
  return true;
}

const scratch: number[] = new Array(8).fill(0);

/** Parses IPv6 text (with `::` and an optional dotted IPv4 tail) into a bigint. */
export function parseIPv6(text: string): bigint | null {
  if (!parseIPv6Groups(text, scratch)) return null;
  return (halfToBig(scratch, 0) << 64n) | halfToBig(scratch, 4);
}

// 48 bits fit a double exactly, so each half costs two bigint operations.
function halfToBig(g: number[], at: number): bigint {
  const top = BigInt(g[at] * 4294967296 + g[at + 1] * 65536 + g[at + 2]);
  return (top << 16n) | BigInt(g[at + 3]);
}

/** Parses an IPv4 or IPv6 address; null when it is neither. */
export function parseIP(text: string): IP | null {
  if (text.includes(":")) {
    const v6 = parseIPv6(text);
    return v6 === null ? null : { family: 6, value: v6 };
  }
  const v4 = scanIPv4(text, 0);
  return v4 === null ? null : { family: 4, value: v4 };
}

/** Formats an IPv4 number as dotted quad. */
export function formatIPv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}

/** Formats eight 16-bit groups in RFC 5952 canonical form (lowercase, longest zero run `::`). */
export function formatIPv6Groups(groups: ArrayLike<number>): string {
  // RFC 5952 4.2: compress the longest run of two or more zero groups, the first on a tie.
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
  if (bestStart < 0) return hexRun(groups, 0, 8);
  return `${hexRun(groups, 0, bestStart)}::${hexRun(groups, bestStart + bestLen, 8)}`;
}

function hexRun(groups: ArrayLike<number>, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) {
    s += i === from ? groups[i].toString(16) : `:${groups[i].toString(16)}`;
  }
  return s;
}

const fmtScratch: number[] = new Array(8).fill(0);

/** Formats an IPv6 bigint in RFC 5952 canonical form. */
export function formatIPv6(value: bigint): string {
  // Four exact 32-bit chunks: a handful of bigint operations, the rest on numbers.
  putChunk(Number(value >> 96n), 0);
  putChunk(Number((value >> 64n) & 0xffffffffn), 2);
  putChunk(Number((value >> 32n) & 0xffffffffn), 4);
  putChunk(Number(value & 0xffffffffn), 6);
  return formatIPv6Groups(fmtScratch);
}

function putChunk(chunk: number, at: number): void {
  fmtScratch[at] = chunk >>> 16;
  fmtScratch[at + 1] = chunk & 0xffff;
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
