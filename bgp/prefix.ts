/**
 * IP prefixes and addresses: text ⇄ bytes, hand-written because they sit on the UPDATE
 * encode/decode hot path.
 */
import { AFI_IPV4, AFI_IPV6, type Prefix } from "./types.ts";

/** Dotted quad to 4 bytes; throws TypeError on bad text. */
export function ipv4ToBytes(text: string): Uint8Array {
  const out = new Uint8Array(4);
  if (!parseIpv4Into(text, out, 0)) throw new TypeError(`invalid IPv4 address "${text}"`);
  return out;
}

/** 4 bytes (from `offset`) to a dotted quad. */
export function bytesToIpv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** IPv6 text (with `::` and an optional trailing dotted quad) to 16 bytes; throws TypeError. */
export function ipv6ToBytes(text: string): Uint8Array {
  const out = new Uint8Array(16);
  if (!parseIpv6Into(text, out)) throw new TypeError(`invalid IPv6 address "${text}"`);
  return out;
}

/** 16 bytes (from `offset`) to RFC 5952 canonical IPv6 text. */
export function bytesToIpv6(bytes: Uint8Array, offset = 0): string {
  const words = new Array<number>(8);
  for (let i = 0; i < 8; i++) words[i] = (bytes[offset + 2 * i] << 8) | bytes[offset + 2 * i + 1];
  // RFC 5952: compress the longest run (>= 2) of zero words, the first one on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestStart < 0) return words.map((w) => w.toString(16)).join(":");
  const head = words.slice(0, bestStart).map((w) => w.toString(16)).join(":");
  const tail = words.slice(bestStart + bestLen).map((w) => w.toString(16)).join(":");
  return `${head}::${tail}`;
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

function parseIpv4Into(text: string, out: Uint8Array, offset: number): boolean {
  let part = 0;
  let value = 0;
  let digits = 0;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 46;
    if (c === 46) {
      if (digits === 0 || part > 3) return false;
      out[offset + part++] = value;
      value = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      // Leading zeros are ambiguous (octal in some parsers): reject them.
      if (digits > 0 && value === 0) return false;
      value = value * 10 + (c - 48);
      if (value > 255 || ++digits > 3) return false;
    } else {
      return false;
    }
  }
  return part === 4;
}

function parseHexWord(text: string): number {
  if (!/^[0-9a-fA-F]{1,4}$/.test(text)) return -1;
  return parseInt(text, 16);
}

function parseIpv6Into(text: string, out: Uint8Array): boolean {
  if (text.length < 2 || text.length > 45) return false;
  const dbl = text.indexOf("::");
  if (dbl >= 0 && text.indexOf("::", dbl + 1) >= 0) return false;
  const headText = dbl >= 0 ? text.slice(0, dbl) : text;
  const tailText = dbl >= 0 ? text.slice(dbl + 2) : "";
  const head = headText === "" ? [] : headText.split(":");
  const tail = tailText === "" ? [] : tailText.split(":");
  const words: number[] = [];
  const tailWords: number[] = [];
  for (const [list, dest, isLast] of [[head, words, dbl < 0], [tail, tailWords, true]] as const) {
    for (let i = 0; i < list.length; i++) {
      const piece = list[i];
      if (isLast && i === list.length - 1 && piece.includes(".")) {
        const v4 = new Uint8Array(4);
        if (!parseIpv4Into(piece, v4, 0)) return false;
        dest.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
        continue;
      }
      const w = parseHexWord(piece);
      if (w < 0) return false;
      dest.push(w);
    }
  }
  const total = words.length + tailWords.length;
  if (dbl >= 0 ? total > 7 : total !== 8) return false;
  const all = [...words, ...new Array<number>(8 - total).fill(0), ...tailWords];
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return true;
}
