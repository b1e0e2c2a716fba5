/** MP_REACH_NLRI and MP_UNREACH_NLRI (RFC 4760): other families' routes inside attributes. */
import { AttrType } from "./attr_codes.ts";
import { BgpError, ErrorCode, UpdateSubcode } from "./errors.ts";
import { readNlri, writeNlri } from "./nlri.ts";
import { bytesToIpv4, bytesToIpv6, ipToBytes } from "./prefix.ts";
import { AFI_IPV4, AFI_IPV6, type PathAttributes, type Prefix, SAFI_UNICAST } from "./types.ts";
import { beginAttr, endAttr, readU16, type Writer } from "./wire_writer.ts";

/** Where an undecodable (other AFI/SAFI) MP attribute goes: kept raw, passed on. */
export type RawSink = (flags: number, code: number, value: Uint8Array) => void;

/** What the MP decoders need besides the bytes. */
export interface MpOptions {
  attrs: PathAttributes;
  flags: number;
  onRaw: RawSink;
}

/** Appends MP_REACH_NLRI and MP_UNREACH_NLRI when `a` has them. */
export function writeMp(w: Writer, a: PathAttributes): void {
  if (a.mpReach !== undefined) {
    const start = beginAttr(w, { flags: 0x80, code: AttrType.MP_REACH_NLRI });
    w.u16(a.mpReach.afi);
    w.u8(a.mpReach.safi);
    const lenAt = w.pos;
    w.u8(0);
    for (const nh of a.mpReach.nextHops) w.bytes(ipToBytes(nh));
    w.buf[lenAt] = w.pos - lenAt - 1;
    w.u8(0); // reserved
    writeNlri(w, a.mpReach.nlri);
    endAttr(w, start);
  }
  if (a.mpUnreach !== undefined) {
    const start = beginAttr(w, { flags: 0x80, code: AttrType.MP_UNREACH_NLRI });
    w.u16(a.mpUnreach.afi);
    w.u8(a.mpUnreach.safi);
    writeNlri(w, a.mpUnreach.withdrawn);
    endAttr(w, start);
  }
}

function mpError(detail: string): BgpError {
  return new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, {
    detail,
  });
}

/** Next hops of an MP_REACH_NLRI: one address, or a global and a link-local IPv6 one. */
function readNextHops(b: Uint8Array, at: { start: number; len: number; afi: number }): string[] {
  const { start, len, afi } = at;
  if (afi === AFI_IPV4 && len === 4) return [bytesToIpv4(b, start)];
  if (len === 16) return [bytesToIpv6(b, start)];
  if (len === 32) return [bytesToIpv6(b, start), bytesToIpv6(b, start + 16)];
  throw mpError(`MP_REACH_NLRI next hop length ${len} for AFI ${afi}`);
}

/** Decodes MP_REACH_NLRI in b[range] into `options.attrs`; malformed is a session reset. */
export function decodeMpReach(
  b: Uint8Array,
  range: { start: number; end: number },
  options: MpOptions,
): void {
  const { start: s, end: e } = range;
  if (e - s < 5) throw mpError(`MP_REACH_NLRI too short (${e - s} bytes)`);
  const afi = readU16(b, s);
  const safi = b[s + 2];
  const nhLen = b[s + 3];
  const nlriStart = s + 4 + nhLen + 1;
  if (nlriStart > e) throw mpError(`MP_REACH_NLRI next hop length ${nhLen} overruns`);
  if ((afi !== AFI_IPV4 && afi !== AFI_IPV6) || safi !== SAFI_UNICAST) {
    options.onRaw(options.flags, AttrType.MP_REACH_NLRI, b.slice(s, e));
    return;
  }
  const nextHops = readNextHops(b, { start: s + 4, len: nhLen, afi });
  const nlri: Prefix[] = [];
  readNlri(b, { start: nlriStart, end: e }, { afi, out: nlri });
  options.attrs.mpReach = { afi, safi, nextHops, nlri };
}

/** Decodes MP_UNREACH_NLRI in b[range] into `options.attrs`; malformed is a session reset. */
export function decodeMpUnreach(
  b: Uint8Array,
  range: { start: number; end: number },
  options: MpOptions,
): void {
  const { start: s, end: e } = range;
  if (e - s < 3) throw mpError(`MP_UNREACH_NLRI too short (${e - s} bytes)`);
  const afi = readU16(b, s);
  const safi = b[s + 2];
  if ((afi !== AFI_IPV4 && afi !== AFI_IPV6) || safi !== SAFI_UNICAST) {
    options.onRaw(options.flags, AttrType.MP_UNREACH_NLRI, b.slice(s, e));
    return;
  }
  const withdrawn: Prefix[] = [];
  readNlri(b, { start: s + 3, end: e }, { afi, out: withdrawn });
  options.attrs.mpUnreach = { afi, safi, withdrawn };
}
