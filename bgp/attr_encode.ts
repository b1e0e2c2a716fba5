/** Path attributes to wire bytes, in type-code order (RFC 4271 5, RFC 6793 4.2.2). */
import { AS_TRANS, AttrFlag, AttrType } from "./attr_codes.ts";
import { writeSegments } from "./as_path.ts";
import {
  writeCommunities,
  writeExtendedCommunities,
  writeLargeCommunities,
} from "./communities_codec.ts";
import { writeMp } from "./mp_nlri.ts";
import { ipv4ToBytes } from "./prefix.ts";
import type { CodecContext, PathAttributes } from "./types.ts";
import { beginAttr, endAttr, type Writer } from "./wire_writer.ts";

/** Appends one fixed-size well-known or optional attribute holding a 32-bit value. */
function writeU32Attr(w: Writer, attr: { flags: number; code: number; value: number }): void {
  const start = beginAttr(w, attr);
  w.u32(attr.value);
  endAttr(w, start);
}

/**
 * ORIGIN through LOCAL_PREF; true when AS_PATH needed AS_TRANS (a 2-octet session and a
 * wider ASN), so AS4_PATH must follow.
 */
function writeBasics(w: Writer, a: PathAttributes, ctx: CodecContext): boolean {
  let needAs4Path = false;
  if (a.origin !== undefined) {
    const start = beginAttr(w, { flags: 0x40, code: AttrType.ORIGIN });
    w.u8(a.origin);
    endAttr(w, start);
  }
  if (a.asPath !== undefined) {
    const start = beginAttr(w, { flags: 0x40, code: AttrType.AS_PATH });
    const asLen = ctx.fourOctetAs ? 4 : 2;
    needAs4Path = writeSegments(w, a.asPath, { asLen, skipConfed: false });
    endAttr(w, start);
  }
  if (a.nextHop !== undefined) {
    const start = beginAttr(w, { flags: 0x40, code: AttrType.NEXT_HOP });
    w.bytes(ipv4ToBytes(a.nextHop));
    endAttr(w, start);
  }
  if (a.med !== undefined) writeU32Attr(w, { flags: 0x80, code: AttrType.MED, value: a.med });
  if (a.localPref !== undefined) {
    writeU32Attr(w, { flags: 0x40, code: AttrType.LOCAL_PREF, value: a.localPref });
  }
  return needAs4Path;
}

/** ATOMIC_AGGREGATE and AGGREGATOR; true when AGGREGATOR needed AS_TRANS. */
function writeAggregation(w: Writer, a: PathAttributes, ctx: CodecContext): boolean {
  if (a.atomicAggregate) {
    endAttr(w, beginAttr(w, { flags: 0x40, code: AttrType.ATOMIC_AGGREGATE }));
  }
  if (a.aggregator === undefined) return false;
  let wide = false;
  const start = beginAttr(w, { flags: 0xc0, code: AttrType.AGGREGATOR });
  if (ctx.fourOctetAs) w.u32(a.aggregator.asn);
  else if (a.aggregator.asn > 0xffff) {
    wide = true;
    w.u16(AS_TRANS);
  } else w.u16(a.aggregator.asn);
  w.bytes(ipv4ToBytes(a.aggregator.address));
  endAttr(w, start);
  return wide;
}

/** AS4_PATH and AS4_AGGREGATOR for a 2-octet peer, when the wide ASNs needed them. */
function writeAs4(w: Writer, a: PathAttributes, need: { path: boolean; aggregator: boolean }) {
  if (need.path && a.asPath !== undefined) {
    const start = beginAttr(w, { flags: 0xc0, code: AttrType.AS4_PATH });
    writeSegments(w, a.asPath, { asLen: 4, skipConfed: true });
    endAttr(w, start);
  }
  if (need.aggregator && a.aggregator !== undefined) {
    const start = beginAttr(w, { flags: 0xc0, code: AttrType.AS4_AGGREGATOR });
    w.u32(a.aggregator.asn);
    w.bytes(ipv4ToBytes(a.aggregator.address));
    endAttr(w, start);
  }
}

/** Appends the encoded path attributes (type order, extended length only when needed). */
export function writePathAttributes(w: Writer, a: PathAttributes, ctx: CodecContext): void {
  const path = writeBasics(w, a, ctx);
  const aggregator = writeAggregation(w, a, ctx);
  writeCommunities(w, a);
  writeMp(w, a);
  writeExtendedCommunities(w, a);
  writeAs4(w, a, { path, aggregator });
  writeLargeCommunities(w, a);
  for (const raw of a.unknown ?? []) {
    let flags = raw.flags;
    // RFC 4271 5: an unrecognised optional transitive attribute is passed on marked Partial.
    if ((flags & 0xc0) === 0xc0) flags |= AttrFlag.PARTIAL;
    const start = beginAttr(w, { flags, code: raw.code });
    w.bytes(raw.value);
    endAttr(w, start);
  }
}
