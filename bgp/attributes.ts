/**
 * Path attributes (RFC 4271 5, RFC 1997, RFC 4360, RFC 4760, RFC 6793, RFC 8092) and NLRI
 * encoding, with RFC 7606 revised error handling on decode.
 */
import { BgpError, ErrorCode, UpdateSubcode } from "./errors.ts";
import { bytesToIpv4, bytesToIpv6, ipToBytes, ipv4ToBytes } from "./prefix.ts";
import {
  AFI_IPV4,
  AFI_IPV6,
  type AsPathSegment,
  type CodecContext,
  type PathAttributes,
  type Prefix,
  type RawAttribute,
  SAFI_UNICAST,
} from "./types.ts";

/** Attribute flag bits (RFC 4271 4.3). */
export const AttrFlag = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED_LENGTH: 0x10,
} as const;

/** Attribute type codes we interpret. */
export const AttrType = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MED: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  EXTENDED_COMMUNITIES: 16,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  LARGE_COMMUNITIES: 32,
} as const;

/** The 2-octet stand-in for a 4-octet ASN (RFC 6793). */
export const AS_TRANS = 23456;

/** Optional+transitive bits each known attribute must carry (RFC 7606 3(c)). */
const EXPECTED_FLAGS: Record<number, number> = {
  1: 0x40,
  2: 0x40,
  3: 0x40,
  4: 0x80,
  5: 0x40,
  6: 0x40,
  7: 0xc0,
  8: 0xc0,
  14: 0x80,
  15: 0x80,
  16: 0xc0,
  17: 0xc0,
  18: 0xc0,
  32: 0xc0,
};

/** A growable byte buffer reused across encodes so the hot path does not allocate. */
export class Writer {
  /** Backing store; valid bytes are [0, pos). */
  buf: Uint8Array;
  /** Write position. */
  pos = 0;

  /** Starts with `size` bytes of room. */
  constructor(size = 8192) {
    this.buf = new Uint8Array(size);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** Appends one byte. */
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** Appends a big-endian 16-bit value. */
  u16(v: number): void {
    this.ensure(2);
    this.buf[this.pos++] = v >>> 8;
    this.buf[this.pos++] = v;
  }

  /** Appends a big-endian 32-bit value. */
  u32(v: number): void {
    this.ensure(4);
    const b = this.buf;
    b[this.pos++] = v >>> 24;
    b[this.pos++] = v >>> 16;
    b[this.pos++] = v >>> 8;
    b[this.pos++] = v;
  }

  /** Appends raw bytes. */
  bytes(v: Uint8Array): void {
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** Copies out what was written. */
  take(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/** Encoded size of one prefix in NLRI form: length byte plus ceil(len/8) address bytes. */
export function nlriLength(p: Prefix): number {
  return 1 + ((p.length + 7) >> 3);
}

/** Appends prefixes in NLRI form (RFC 4271 4.3). */
export function writeNlri(w: Writer, prefixes: readonly Prefix[]): void {
  let total = 0;
  for (let i = 0; i < prefixes.length; i++) total += 1 + ((prefixes[i].length + 7) >> 3);
  w.ensure(total);
  const b = w.buf;
  let pos = w.pos;
  for (let i = 0; i < prefixes.length; i++) {
    const p = prefixes[i];
    const len = p.length;
    if (len > (p.afi === AFI_IPV4 ? 32 : 128) || len < 0) {
      throw new RangeError(`prefix length ${len} out of range`);
    }
    b[pos++] = len;
    const n = (len + 7) >> 3;
    const a = p.addr;
    for (let j = 0; j < n; j++) b[pos++] = a[j];
  }
  w.pos = pos;
}

/** Parses NLRI in [start, end) into `out`; malformed NLRI is a session reset (RFC 7606 5.3). */
export function readNlri(
  b: Uint8Array,
  range: { start: number; end: number },
  options: { afi: 1 | 2; out: Prefix[] },
): void {
  const { afi, out } = options;
  const max = afi === AFI_IPV4 ? 32 : 128;
  const size = afi === AFI_IPV4 ? 4 : 16;
  const end = range.end;
  // First pass validates and counts, so every address can be a view on one allocation:
  // a separate small ArrayBuffer per prefix costs ~15x more than a view.
  let count = 0;
  for (let pos = range.start; pos < end; count++) {
    const len = b[pos];
    if (len > max || pos + 1 + ((len + 7) >> 3) > end) {
      throw new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.INVALID_NETWORK_FIELD, {
        detail: `bad NLRI prefix length ${len} for AFI ${afi}`,
      });
    }
    pos += 1 + ((len + 7) >> 3);
  }
  if (count === 0) return;
  const store = new ArrayBuffer(count * size);
  const bytes = new Uint8Array(store);
  let pos = range.start;
  for (let k = 0; k < count; k++) {
    const len = b[pos++];
    const n = (len + 7) >> 3;
    const at = k * size;
    for (let j = 0; j < n; j++) bytes[at + j] = b[pos + j];
    const rem = len & 7;
    if (rem !== 0) bytes[at + n - 1] &= (0xff << (8 - rem)) & 0xff;
    pos += n;
    out.push({ afi, addr: new Uint8Array(store, at, size), length: len });
  }
}

function beginAttr(w: Writer, flags: number, code: number): number {
  w.ensure(4);
  const start = w.pos;
  w.buf[start] = flags;
  w.buf[start + 1] = code;
  w.pos += 4;
  return start;
}

/** Finishes an attribute begun with a 4-byte header: picks the 1- or 2-byte length form. */
function endAttr(w: Writer, start: number): void {
  const len = w.pos - start - 4;
  const b = w.buf;
  if (len <= 255) {
    b[start] &= ~AttrFlag.EXTENDED_LENGTH;
    b[start + 2] = len;
    b.copyWithin(start + 3, start + 4, w.pos);
    w.pos--;
  } else {
    if (len > 0xffff) throw new RangeError(`attribute ${b[start + 1]} too long (${len} bytes)`);
    b[start] |= AttrFlag.EXTENDED_LENGTH;
    b[start + 2] = len >>> 8;
    b[start + 3] = len;
  }
}

function writeSegments(
  w: Writer,
  segments: readonly AsPathSegment[],
  options: { asLen: 2 | 4; skipConfed: boolean },
): boolean {
  let wide = false;
  for (const seg of segments) {
    if (options.skipConfed && (seg.type === 3 || seg.type === 4)) continue;
    // A segment holds at most 255 ASNs: longer paths become several segments. An empty
    // segment would be malformed on the wire (RFC 7606 7.2), so it is left out.
    for (let i = 0; i < seg.asns.length; i += 255) {
      const chunk = seg.asns.slice(i, i + 255);
      w.u8(seg.type);
      w.u8(chunk.length);
      for (const asn of chunk) {
        if (options.asLen === 4) w.u32(asn);
        else if (asn > 0xffff) {
          wide = true;
          w.u16(AS_TRANS);
        } else w.u16(asn);
      }
    }
  }
  return wide;
}

function writeAddress(w: Writer, text: string): void {
  w.bytes(ipToBytes(text));
}

/** Appends the encoded path attributes (type order, extended length only when needed). */
export function writePathAttributes(w: Writer, a: PathAttributes, ctx: CodecContext): void {
  const four = ctx.fourOctetAs;
  let start: number;
  if (a.origin !== undefined) {
    start = beginAttr(w, 0x40, AttrType.ORIGIN);
    w.u8(a.origin);
    endAttr(w, start);
  }
  let needAs4Path = false;
  if (a.asPath !== undefined) {
    start = beginAttr(w, 0x40, AttrType.AS_PATH);
    needAs4Path = writeSegments(w, a.asPath, { asLen: four ? 4 : 2, skipConfed: false });
    endAttr(w, start);
  }
  if (a.nextHop !== undefined) {
    start = beginAttr(w, 0x40, AttrType.NEXT_HOP);
    w.bytes(ipv4ToBytes(a.nextHop));
    endAttr(w, start);
  }
  if (a.med !== undefined) {
    start = beginAttr(w, 0x80, AttrType.MED);
    w.u32(a.med);
    endAttr(w, start);
  }
  if (a.localPref !== undefined) {
    start = beginAttr(w, 0x40, AttrType.LOCAL_PREF);
    w.u32(a.localPref);
    endAttr(w, start);
  }
  if (a.atomicAggregate) {
    start = beginAttr(w, 0x40, AttrType.ATOMIC_AGGREGATE);
    endAttr(w, start);
  }
  let needAs4Aggregator = false;
  if (a.aggregator !== undefined) {
    start = beginAttr(w, 0xc0, AttrType.AGGREGATOR);
    if (four) w.u32(a.aggregator.asn);
    else if (a.aggregator.asn > 0xffff) {
      needAs4Aggregator = true;
      w.u16(AS_TRANS);
    } else w.u16(a.aggregator.asn);
    w.bytes(ipv4ToBytes(a.aggregator.address));
    endAttr(w, start);
  }
  if (a.communities !== undefined && a.communities.length > 0) {
    start = beginAttr(w, 0xc0, AttrType.COMMUNITIES);
    for (const c of a.communities) w.u32(c);
    endAttr(w, start);
  }
  if (a.mpReach !== undefined) {
    start = beginAttr(w, 0x80, AttrType.MP_REACH_NLRI);
    w.u16(a.mpReach.afi);
    w.u8(a.mpReach.safi);
    const lenAt = w.pos;
    w.u8(0);
    for (const nh of a.mpReach.nextHops) writeAddress(w, nh);
    w.buf[lenAt] = w.pos - lenAt - 1;
    w.u8(0); // reserved
    writeNlri(w, a.mpReach.nlri);
    endAttr(w, start);
  }
  if (a.mpUnreach !== undefined) {
    start = beginAttr(w, 0x80, AttrType.MP_UNREACH_NLRI);
    w.u16(a.mpUnreach.afi);
    w.u8(a.mpUnreach.safi);
    writeNlri(w, a.mpUnreach.withdrawn);
    endAttr(w, start);
  }
  if (a.extendedCommunities !== undefined && a.extendedCommunities.length > 0) {
    start = beginAttr(w, 0xc0, AttrType.EXTENDED_COMMUNITIES);
    for (const c of a.extendedCommunities) {
      if (c.length !== 8) throw new RangeError(`extended community must be 8 bytes`);
      w.bytes(c);
    }
    endAttr(w, start);
  }
  if (needAs4Path && a.asPath !== undefined) {
    start = beginAttr(w, 0xc0, AttrType.AS4_PATH);
    writeSegments(w, a.asPath, { asLen: 4, skipConfed: true });
    endAttr(w, start);
  }
  if (needAs4Aggregator && a.aggregator !== undefined) {
    start = beginAttr(w, 0xc0, AttrType.AS4_AGGREGATOR);
    w.u32(a.aggregator.asn);
    w.bytes(ipv4ToBytes(a.aggregator.address));
    endAttr(w, start);
  }
  if (a.largeCommunities !== undefined && a.largeCommunities.length > 0) {
    start = beginAttr(w, 0xc0, AttrType.LARGE_COMMUNITIES);
    for (const [g, l1, l2] of a.largeCommunities) {
      w.u32(g);
      w.u32(l1);
      w.u32(l2);
    }
    endAttr(w, start);
  }
  for (const raw of a.unknown ?? []) {
    let flags = raw.flags;
    // RFC 4271 5: an unrecognised optional transitive attribute is passed on marked Partial.
    if ((flags & 0xc0) === 0xc0) flags |= AttrFlag.PARTIAL;
    start = beginAttr(w, flags, raw.code);
    w.bytes(raw.value);
    endAttr(w, start);
  }
}

/** Outcome of decoding an attribute block: RFC 7606 errors short of a session reset. */
export interface DecodedAttributes {
  attributes: PathAttributes;
  /** RFC 7606 treat-as-withdraw: the message's routes must be handled as withdrawn. */
  treatAsWithdraw: boolean;
  /** Why treat-as-withdraw applies. */
  error?: string;
  /** Attributes dropped under RFC 7606 attribute-discard (or ignored duplicates), for logs. */
  discarded: string[];
}

function u16(b: Uint8Array, i: number): number {
  return (b[i] << 8) | b[i + 1];
}

function u32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}

/** Parses AS_PATH segments; null when malformed (RFC 7606 7.2). */
function parseAsPath(b: Uint8Array, s: number, e: number, asLen: number): AsPathSegment[] | null {
  const out: AsPathSegment[] = [];
  let pos = s;
  while (pos < e) {
    if (e - pos < 2) return null;
    const type = b[pos];
    const count = b[pos + 1];
    pos += 2;
    if (type < 1 || type > 4 || count === 0 || pos + count * asLen > e) return null;
    const asns = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      asns[i] = asLen === 4 ? u32(b, pos) : u16(b, pos);
      pos += asLen;
    }
    out.push({ type: type as 1 | 2 | 3 | 4, asns });
  }
  return out;
}

function pathCount(path: readonly AsPathSegment[]): number {
  let n = 0;
  for (const seg of path) {
    if (seg.type === 2) n += seg.asns.length;
    else if (seg.type === 1) n += 1;
  }
  return n;
}

/** RFC 6793 4.2.3: rebuilds the real path from AS_PATH and AS4_PATH. */
export function mergeAs4Path(
  asPath: readonly AsPathSegment[],
  as4Path: readonly AsPathSegment[],
): AsPathSegment[] {
  let need = pathCount(asPath) - pathCount(as4Path);
  if (need < 0) return asPath.map((s) => ({ type: s.type, asns: [...s.asns] }));
  const out: AsPathSegment[] = [];
  for (const seg of asPath) {
    // Confederation segments lead the path and are never in AS4_PATH: always keep them.
    if (seg.type === 3 || seg.type === 4) {
      out.push({ type: seg.type, asns: [...seg.asns] });
      continue;
    }
    if (need === 0) break;
    if (seg.type === 2) {
      const take = Math.min(need, seg.asns.length);
      out.push({ type: 2, asns: seg.asns.slice(0, take) });
      need -= take;
    } else {
      out.push({ type: 1, asns: [...seg.asns] });
      need -= 1;
    }
  }
  const taken = out.length;
  for (const seg of as4Path) {
    const last = out[out.length - 1];
    // Only the seam between the two sources is joined; AS4_PATH's own segments stay as sent.
    if (
      out.length === taken && seg.type === 2 && last !== undefined && last.type === 2 &&
      last.asns.length + seg.asns.length <= 255
    ) {
      last.asns.push(...seg.asns);
    } else {
      out.push({ type: seg.type, asns: [...seg.asns] });
    }
  }
  return out;
}

function attrName(code: number): string {
  for (const [name, value] of Object.entries(AttrType)) if (value === code) return name;
  return `attribute ${code}`;
}

/**
 * Decodes the path attribute block b[start, end). Throws BgpError where RFC 7606 requires a
 * session reset; reports treat-as-withdraw and attribute-discard in the result.
 */
export function decodePathAttributes(
  b: Uint8Array,
  range: { start: number; end: number },
  ctx: CodecContext,
): DecodedAttributes {
  const four = ctx.fourOctetAs;
  const a: PathAttributes = {};
  const result: DecodedAttributes = { attributes: a, treatAsWithdraw: false, discarded: [] };
  const withdraw = (why: string) => {
    if (!result.treatAsWithdraw) {
      result.treatAsWithdraw = true;
      result.error = why;
    }
  };
  const seen = new Uint8Array(256);
  let as4Path: AsPathSegment[] | undefined;
  let as4Aggregator: { asn: number; address: string } | undefined;
  let unknown: RawAttribute[] | undefined;
  let pos = range.start;
  const end = range.end;
  while (pos < end) {
    const at = pos;
    const flags = b[pos];
    const code = end - pos >= 2 ? b[pos + 1] : -1;
    const hlen = flags & AttrFlag.EXTENDED_LENGTH ? 4 : 3;
    if (end - pos < hlen) {
      withdraw("truncated attribute header");
      break;
    }
    const len = hlen === 4 ? u16(b, pos + 2) : b[pos + 2];
    const vs = pos + hlen;
    const ve = vs + len;
    if (ve > end) {
      // The MP attributes carry NLRI: if we cannot delimit them we cannot withdraw them.
      if (code === AttrType.MP_REACH_NLRI || code === AttrType.MP_UNREACH_NLRI) {
        throw new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, {
          detail: `${attrName(code)} overruns the attribute block`,
        });
      }
      withdraw(`${attrName(code)} length ${len} overruns the attribute block`);
      break;
    }
    pos = ve;
    const isMp = code === AttrType.MP_REACH_NLRI || code === AttrType.MP_UNREACH_NLRI;
    if (seen[code]) {
      if (isMp) {
        throw new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, {
          detail: `duplicate ${attrName(code)}`,
        });
      }
      result.discarded.push(`duplicate ${attrName(code)}`);
      continue;
    }
    seen[code] = 1;
    const expected = EXPECTED_FLAGS[code];
    if (expected !== undefined && (flags & 0xc0) !== expected) {
      if (isMp) {
        throw new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, {
          data: b.slice(at, ve),
          detail: `${attrName(code)} flags 0x${flags.toString(16)}`,
        });
      }
      withdraw(`${attrName(code)} has wrong flags 0x${flags.toString(16)}`);
      continue;
    }
    switch (code) {
      case AttrType.ORIGIN:
        if (len !== 1 || b[vs] > 2) withdraw(`bad ORIGIN (length ${len})`);
        else a.origin = b[vs];
        break;
      case AttrType.AS_PATH: {
        const path = parseAsPath(b, vs, ve, four ? 4 : 2);
        if (path === null) withdraw("malformed AS_PATH");
        else a.asPath = path;
        break;
      }
      case AttrType.NEXT_HOP:
        if (len !== 4) withdraw(`NEXT_HOP length ${len}`);
        else a.nextHop = bytesToIpv4(b, vs);
        break;
      case AttrType.MED:
        if (len !== 4) withdraw(`MULTI_EXIT_DISC length ${len}`);
        else a.med = u32(b, vs);
        break;
      case AttrType.LOCAL_PREF:
        if (len !== 4) withdraw(`LOCAL_PREF length ${len}`);
        else a.localPref = u32(b, vs);
        break;
      case AttrType.ATOMIC_AGGREGATE:
        if (len !== 0) result.discarded.push(`ATOMIC_AGGREGATE length ${len}`);
        else a.atomicAggregate = true;
        break;
      case AttrType.AGGREGATOR:
        if (len !== (four ? 8 : 6)) result.discarded.push(`AGGREGATOR length ${len}`);
        else {
          a.aggregator = four
            ? { asn: u32(b, vs), address: bytesToIpv4(b, vs + 4) }
            : { asn: u16(b, vs), address: bytesToIpv4(b, vs + 2) };
        }
        break;
      case AttrType.COMMUNITIES:
        if (len === 0 || len % 4 !== 0) withdraw(`COMMUNITIES length ${len}`);
        else {
          const list = new Array<number>(len / 4);
          for (let i = 0; i < list.length; i++) list[i] = u32(b, vs + 4 * i);
          a.communities = list;
        }
        break;
      case AttrType.EXTENDED_COMMUNITIES:
        if (len === 0 || len % 8 !== 0) withdraw(`EXTENDED_COMMUNITIES length ${len}`);
        else {
          const list: Uint8Array[] = [];
          for (let i = vs; i < ve; i += 8) list.push(b.slice(i, i + 8));
          a.extendedCommunities = list;
        }
        break;
      case AttrType.LARGE_COMMUNITIES:
        if (len === 0 || len % 12 !== 0) withdraw(`LARGE_COMMUNITIES length ${len}`);
        else {
          const list: [number, number, number][] = [];
          for (let i = vs; i < ve; i += 12) list.push([u32(b, i), u32(b, i + 4), u32(b, i + 8)]);
          a.largeCommunities = list;
        }
        break;
      case AttrType.MP_REACH_NLRI:
        decodeMpReach(b, { start: vs, end: ve }, { attrs: a, flags, onRaw: pushRaw });
        break;
      case AttrType.MP_UNREACH_NLRI:
        decodeMpUnreach(b, { start: vs, end: ve }, { attrs: a, flags, onRaw: pushRaw });
        break;
      case AttrType.AS4_PATH: {
        // RFC 6793 6: between NEW speakers, and when malformed, AS4_PATH is discarded.
        const path = four ? null : parseAsPath(b, vs, ve, 4);
        if (path === null || path.some((s) => s.type > 2)) {
          result.discarded.push(four ? "AS4_PATH on a 4-octet session" : "malformed AS4_PATH");
        } else as4Path = path;
        break;
      }
      case AttrType.AS4_AGGREGATOR:
        if (four || len !== 8) {
          result.discarded.push(four ? "AS4_AGGREGATOR on a 4-octet session" : "AS4_AGGREGATOR");
        } else as4Aggregator = { asn: u32(b, vs), address: bytesToIpv4(b, vs + 4) };
        break;
      default:
        if (!(flags & AttrFlag.OPTIONAL)) {
          throw new BgpError(
            ErrorCode.UPDATE_MESSAGE,
            UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
            { data: b.slice(at, ve), detail: `well-known attribute ${code}` },
          );
        }
        // Unknown optional non-transitive attributes are quietly dropped (RFC 4271 5).
        if (flags & AttrFlag.TRANSITIVE) pushRaw(flags, code, b.slice(vs, ve));
    }
  }
  if (unknown !== undefined) a.unknown = unknown;
  if (!four) applyAs4(a, as4Path, as4Aggregator);
  return result;

  function pushRaw(flags: number, code: number, value: Uint8Array): void {
    (unknown ??= []).push({ flags: flags & ~AttrFlag.EXTENDED_LENGTH, code, value });
  }
}

function applyAs4(
  a: PathAttributes,
  as4Path: AsPathSegment[] | undefined,
  as4Aggregator: { asn: number; address: string } | undefined,
): void {
  // RFC 6793 4.2.3: an AGGREGATOR with a real 2-octet AS means the AS4 attributes are stale.
  if (as4Aggregator !== undefined && a.aggregator !== undefined) {
    if (a.aggregator.asn !== AS_TRANS) return;
    a.aggregator = as4Aggregator;
  }
  if (as4Path !== undefined && a.asPath !== undefined) a.asPath = mergeAs4Path(a.asPath, as4Path);
}

type RawSink = (flags: number, code: number, value: Uint8Array) => void;

function mpError(detail: string): BgpError {
  return new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, {
    detail,
  });
}

function decodeMpReach(
  b: Uint8Array,
  range: { start: number; end: number },
  options: { attrs: PathAttributes; flags: number; onRaw: RawSink },
): void {
  const { start: s, end: e } = range;
  if (e - s < 5) throw mpError(`MP_REACH_NLRI too short (${e - s} bytes)`);
  const afi = u16(b, s);
  const safi = b[s + 2];
  const nhLen = b[s + 3];
  const nhStart = s + 4;
  const nlriStart = nhStart + nhLen + 1;
  if (nlriStart > e) throw mpError(`MP_REACH_NLRI next hop length ${nhLen} overruns`);
  if ((afi !== AFI_IPV4 && afi !== AFI_IPV6) || safi !== SAFI_UNICAST) {
    options.onRaw(options.flags, AttrType.MP_REACH_NLRI, b.slice(s, e));
    return;
  }
  const nextHops: string[] = [];
  if (afi === AFI_IPV4 && nhLen === 4) nextHops.push(bytesToIpv4(b, nhStart));
  else if (nhLen === 16) nextHops.push(bytesToIpv6(b, nhStart));
  else if (nhLen === 32) nextHops.push(bytesToIpv6(b, nhStart), bytesToIpv6(b, nhStart + 16));
  else throw mpError(`MP_REACH_NLRI next hop length ${nhLen} for AFI ${afi}`);
  const nlri: Prefix[] = [];
  readNlri(b, { start: nlriStart, end: e }, { afi, out: nlri });
  options.attrs.mpReach = { afi, safi, nextHops, nlri };
}

function decodeMpUnreach(
  b: Uint8Array,
  range: { start: number; end: number },
  options: { attrs: PathAttributes; flags: number; onRaw: RawSink },
): void {
  const { start: s, end: e } = range;
  if (e - s < 3) throw mpError(`MP_UNREACH_NLRI too short (${e - s} bytes)`);
  const afi = u16(b, s);
  const safi = b[s + 2];
  if ((afi !== AFI_IPV4 && afi !== AFI_IPV6) || safi !== SAFI_UNICAST) {
    options.onRaw(options.flags, AttrType.MP_UNREACH_NLRI, b.slice(s, e));
    return;
  }
  const withdrawn: Prefix[] = [];
  readNlri(b, { start: s + 3, end: e }, { afi, out: withdrawn });
  options.attrs.mpUnreach = { afi, safi, withdrawn };
}
