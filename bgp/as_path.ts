/** AS_PATH and AS4_PATH (RFC 4271 5.1.2, RFC 6793 4.2.3): segments on the wire and merged. */
import { AS_TRANS } from "./attr_codes.ts";
import type { AsPathSegment, PathAttributes } from "./types.ts";
import { readU16, readU32, type Writer } from "./wire_writer.ts";

/**
 * Appends AS_PATH segments with 2- or 4-byte ASNs; true when a 2-byte path had to stand
 * AS_TRANS in for a wider ASN (the caller then adds AS4_PATH).
 */
export function writeSegments(
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

/** Parses AS_PATH segments in b[start, end); null when malformed (RFC 7606 7.2). */
export function parseAsPath(
  b: Uint8Array,
  range: { start: number; end: number; asLen: 2 | 4 },
): AsPathSegment[] | null {
  const { end: e, asLen } = range;
  const out: AsPathSegment[] = [];
  let pos = range.start;
  while (pos < e) {
    if (e - pos < 2) return null;
    const type = b[pos];
    const count = b[pos + 1];
    pos += 2;
    if (type < 1 || type > 4 || count === 0 || pos + count * asLen > e) return null;
    const asns = new Array<number>(count);
    for (let i = 0; i < count; i++) {
      asns[i] = asLen === 4 ? readU32(b, pos) : readU16(b, pos);
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

/** The leading part of AS_PATH that AS4_PATH does not cover (RFC 6793 4.2.3). */
function leadingPart(asPath: readonly AsPathSegment[], need: number): AsPathSegment[] {
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
  return out;
}

/** RFC 6793 4.2.3: rebuilds the real path from AS_PATH and AS4_PATH. */
export function mergeAs4Path(
  asPath: readonly AsPathSegment[],
  as4Path: readonly AsPathSegment[],
): AsPathSegment[] {
  const need = pathCount(asPath) - pathCount(as4Path);
  if (need < 0) return asPath.map((s) => ({ type: s.type, asns: [...s.asns] }));
  const out = leadingPart(asPath, need);
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

/** Folds AS4_PATH and AS4_AGGREGATOR from an old (2-octet) speaker into `a` (RFC 6793). */
export function applyAs4(
  a: PathAttributes,
  as4: { path?: AsPathSegment[]; aggregator?: { asn: number; address: string } },
): void {
  // RFC 6793 4.2.3: an AGGREGATOR with a real 2-octet AS means the AS4 attributes are stale.
  if (as4.aggregator !== undefined && a.aggregator !== undefined) {
    if (a.aggregator.asn !== AS_TRANS) return;
    a.aggregator = as4.aggregator;
  }
  if (as4.path !== undefined && a.asPath !== undefined) a.asPath = mergeAs4Path(a.asPath, as4.path);
}
