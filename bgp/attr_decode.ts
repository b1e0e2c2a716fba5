/** Path attributes from wire bytes, with RFC 7606 revised error handling. */
import { AttrFlag, attrName, AttrType, EXPECTED_FLAGS } from "./attr_codes.ts";
import { applyAs4, parseAsPath } from "./as_path.ts";
import {
  readCommunities,
  readExtendedCommunities,
  readLargeCommunities,
} from "./communities_codec.ts";
import { BgpError, ErrorCode, UpdateSubcode } from "./errors.ts";
import { decodeMpReach, decodeMpUnreach } from "./mp_nlri.ts";
import { bytesToIpv4 } from "./prefix.ts";
import type { AsPathSegment, CodecContext, PathAttributes, RawAttribute } from "./types.ts";
import { readU16, readU32 } from "./wire_writer.ts";

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

/** One attribute in the block: header at `at`, value in [start, end). */
interface Field {
  flags: number;
  code: number;
  at: number;
  start: number;
  end: number;
}

/** The block being decoded and what its attributes added so far. */
interface DecodeState {
  b: Uint8Array;
  four: boolean;
  a: PathAttributes;
  result: DecodedAttributes;
  seen: Uint8Array;
  as4Path?: AsPathSegment[];
  as4Aggregator?: { asn: number; address: string };
  unknown?: RawAttribute[];
}

function withdraw(st: DecodeState, why: string): void {
  if (st.result.treatAsWithdraw) return;
  st.result.treatAsWithdraw = true;
  st.result.error = why;
}

function isMp(code: number): boolean {
  return code === AttrType.MP_REACH_NLRI || code === AttrType.MP_UNREACH_NLRI;
}

/** The attribute at `pos`, or null (after treat-as-withdraw) when the block ends early. */
function readField(st: DecodeState, at: { pos: number; end: number }): Field | null {
  const { b } = st;
  const { pos, end } = at;
  const flags = b[pos];
  const code = end - pos >= 2 ? b[pos + 1] : -1;
  const hlen = flags & AttrFlag.EXTENDED_LENGTH ? 4 : 3;
  if (end - pos < hlen) {
    withdraw(st, "truncated attribute header");
    return null;
  }
  const len = hlen === 4 ? readU16(b, pos + 2) : b[pos + 2];
  const start = pos + hlen;
  if (start + len > end) {
    // The MP attributes carry NLRI: if we cannot delimit them we cannot withdraw them.
    if (isMp(code)) {
      throw new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, {
        detail: `${attrName(code)} overruns the attribute block`,
      });
    }
    withdraw(st, `${attrName(code)} length ${len} overruns the attribute block`);
    return null;
  }
  return { flags, code, at: pos, start, end: start + len };
}

/** Whether to decode `f`: not a duplicate, and with the flags its type must carry. */
function admit(st: DecodeState, f: Field): boolean {
  const { code, flags } = f;
  if (st.seen[code]) {
    if (isMp(code)) {
      throw new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, {
        detail: `duplicate ${attrName(code)}`,
      });
    }
    st.result.discarded.push(`duplicate ${attrName(code)}`);
    return false;
  }
  st.seen[code] = 1;
  const expected = EXPECTED_FLAGS[code];
  if (expected === undefined || (flags & 0xc0) === expected) return true;
  if (isMp(code)) {
    throw new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, {
      data: st.b.slice(f.at, f.end),
      detail: `${attrName(code)} flags 0x${flags.toString(16)}`,
    });
  }
  withdraw(st, `${attrName(code)} has wrong flags 0x${flags.toString(16)}`);
  return false;
}

/** A 4-byte value, or treat-as-withdraw naming the attribute when its length is not 4. */
function fixedU32(st: DecodeState, f: Field, name: string): number | undefined {
  const len = f.end - f.start;
  if (len === 4) return readU32(st.b, f.start);
  withdraw(st, `${name} length ${len}`);
  return undefined;
}

/** ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF, ATOMIC_AGGREGATE, AGGREGATOR. */
function decodeBasic(st: DecodeState, f: Field): void {
  const { b, a, four } = st;
  const len = f.end - f.start;
  const vs = f.start;
  switch (f.code) {
    case AttrType.ORIGIN:
      if (len !== 1 || b[vs] > 2) withdraw(st, `bad ORIGIN (length ${len})`);
      else a.origin = b[vs];
      break;
    case AttrType.AS_PATH: {
      const path = parseAsPath(b, { start: vs, end: f.end, asLen: four ? 4 : 2 });
      if (path === null) withdraw(st, "malformed AS_PATH");
      else a.asPath = path;
      break;
    }
    case AttrType.NEXT_HOP:
      if (len !== 4) withdraw(st, `NEXT_HOP length ${len}`);
      else a.nextHop = bytesToIpv4(b, vs);
      break;
    case AttrType.MED: {
      const med = fixedU32(st, f, "MULTI_EXIT_DISC");
      if (med !== undefined) a.med = med;
      break;
    }
    case AttrType.LOCAL_PREF: {
      const pref = fixedU32(st, f, "LOCAL_PREF");
      if (pref !== undefined) a.localPref = pref;
      break;
    }
    case AttrType.ATOMIC_AGGREGATE:
      if (len !== 0) st.result.discarded.push(`ATOMIC_AGGREGATE length ${len}`);
      else a.atomicAggregate = true;
      break;
    case AttrType.AGGREGATOR:
      if (len !== (four ? 8 : 6)) st.result.discarded.push(`AGGREGATOR length ${len}`);
      else {
        a.aggregator = four
          ? { asn: readU32(b, vs), address: bytesToIpv4(b, vs + 4) }
          : { asn: readU16(b, vs), address: bytesToIpv4(b, vs + 2) };
      }
  }
}

/** The three community attributes: a list, or treat-as-withdraw when malformed. */
function decodeCommunities(st: DecodeState, f: Field): void {
  const span = { start: f.start, end: f.end };
  if (f.code === AttrType.COMMUNITIES) {
    const list = readCommunities(st.b, span);
    if (typeof list === "string") withdraw(st, list);
    else st.a.communities = list;
  } else if (f.code === AttrType.EXTENDED_COMMUNITIES) {
    const list = readExtendedCommunities(st.b, span);
    if (typeof list === "string") withdraw(st, list);
    else st.a.extendedCommunities = list;
  } else {
    const list = readLargeCommunities(st.b, span);
    if (typeof list === "string") withdraw(st, list);
    else st.a.largeCommunities = list;
  }
}

/** AS4_PATH and AS4_AGGREGATOR, kept aside to be folded in once the block is read. */
function decodeAs4(st: DecodeState, f: Field): void {
  const { b, four } = st;
  if (f.code === AttrType.AS4_PATH) {
    // RFC 6793 6: between NEW speakers, and when malformed, AS4_PATH is discarded.
    const path = four ? null : parseAsPath(b, { start: f.start, end: f.end, asLen: 4 });
    if (path === null || path.some((s) => s.type > 2)) {
      st.result.discarded.push(four ? "AS4_PATH on a 4-octet session" : "malformed AS4_PATH");
    } else st.as4Path = path;
    return;
  }
  if (four || f.end - f.start !== 8) {
    st.result.discarded.push(four ? "AS4_AGGREGATOR on a 4-octet session" : "AS4_AGGREGATOR");
  } else st.as4Aggregator = { asn: readU32(b, f.start), address: bytesToIpv4(b, f.start + 4) };
}

function pushRaw(st: DecodeState, raw: RawAttribute): void {
  (st.unknown ??= []).push({ ...raw, flags: raw.flags & ~AttrFlag.EXTENDED_LENGTH });
}

/** Attributes we do not interpret: well-known ones reset the session, others pass or drop. */
function decodeUnknown(st: DecodeState, f: Field): void {
  if (!(f.flags & AttrFlag.OPTIONAL)) {
    throw new BgpError(
      ErrorCode.UPDATE_MESSAGE,
      UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
      { data: st.b.slice(f.at, f.end), detail: `well-known attribute ${f.code}` },
    );
  }
  // Unknown optional non-transitive attributes are quietly dropped (RFC 4271 5).
  if (f.flags & AttrFlag.TRANSITIVE) {
    pushRaw(st, { flags: f.flags, code: f.code, value: st.b.slice(f.start, f.end) });
  }
}

function decodeField(st: DecodeState, f: Field): void {
  const onRaw = (flags: number, code: number, value: Uint8Array) =>
    pushRaw(st, { flags, code, value });
  const range = { start: f.start, end: f.end };
  switch (f.code) {
    case AttrType.COMMUNITIES:
    case AttrType.EXTENDED_COMMUNITIES:
    case AttrType.LARGE_COMMUNITIES:
      return decodeCommunities(st, f);
    case AttrType.MP_REACH_NLRI:
      return decodeMpReach(st.b, range, { attrs: st.a, flags: f.flags, onRaw });
    case AttrType.MP_UNREACH_NLRI:
      return decodeMpUnreach(st.b, range, { attrs: st.a, flags: f.flags, onRaw });
    case AttrType.AS4_PATH:
    case AttrType.AS4_AGGREGATOR:
      return decodeAs4(st, f);
    default:
      if (f.code >= AttrType.ORIGIN && f.code <= AttrType.AGGREGATOR) return decodeBasic(st, f);
      return decodeUnknown(st, f);
  }
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
  const a: PathAttributes = {};
  const result: DecodedAttributes = { attributes: a, treatAsWithdraw: false, discarded: [] };
  const st: DecodeState = { b, four: ctx.fourOctetAs, a, result, seen: new Uint8Array(256) };
  let pos = range.start;
  while (pos < range.end) {
    const f = readField(st, { pos, end: range.end });
    if (f === null) break;
    pos = f.end;
    if (admit(st, f)) decodeField(st, f);
  }
  if (st.unknown !== undefined) a.unknown = st.unknown;
  if (!st.four) applyAs4(a, { path: st.as4Path, aggregator: st.as4Aggregator });
  return result;
}
