/** COMMUNITIES (RFC 1997), EXTENDED_COMMUNITIES (RFC 4360), LARGE_COMMUNITIES (RFC 8092). */
import { AttrType } from "./attr_codes.ts";
import type { LargeCommunity, PathAttributes } from "./types.ts";
import { beginAttr, endAttr, readU32, type Writer } from "./wire_writer.ts";

/** A value's bytes: b[start, end). */
export interface Span {
  start: number;
  end: number;
}

/** Appends COMMUNITIES when `a` has any. */
export function writeCommunities(w: Writer, a: PathAttributes): void {
  if (a.communities === undefined || a.communities.length === 0) return;
  const start = beginAttr(w, { flags: 0xc0, code: AttrType.COMMUNITIES });
  for (const c of a.communities) w.u32(c);
  endAttr(w, start);
}

/** Appends EXTENDED_COMMUNITIES when `a` has any; each must be 8 bytes. */
export function writeExtendedCommunities(w: Writer, a: PathAttributes): void {
  if (a.extendedCommunities === undefined || a.extendedCommunities.length === 0) return;
  const start = beginAttr(w, { flags: 0xc0, code: AttrType.EXTENDED_COMMUNITIES });
  for (const c of a.extendedCommunities) {
    if (c.length !== 8) throw new RangeError(`extended community must be 8 bytes`);
    w.bytes(c);
  }
  endAttr(w, start);
}

/** Appends LARGE_COMMUNITIES when `a` has any. */
export function writeLargeCommunities(w: Writer, a: PathAttributes): void {
  if (a.largeCommunities === undefined || a.largeCommunities.length === 0) return;
  const start = beginAttr(w, { flags: 0xc0, code: AttrType.LARGE_COMMUNITIES });
  for (const [g, l1, l2] of a.largeCommunities) {
    w.u32(g);
    w.u32(l1);
    w.u32(l2);
  }
  endAttr(w, start);
}

/** COMMUNITIES in b[span], or why they are malformed (treat-as-withdraw, RFC 7606 7.8). */
export function readCommunities(b: Uint8Array, span: Span): number[] | string {
  const len = span.end - span.start;
  if (len === 0 || len % 4 !== 0) return `COMMUNITIES length ${len}`;
  const list = new Array<number>(len / 4);
  for (let i = 0; i < list.length; i++) list[i] = readU32(b, span.start + 4 * i);
  return list;
}

/** EXTENDED_COMMUNITIES in b[span], or why they are malformed (RFC 7606 7.14). */
export function readExtendedCommunities(b: Uint8Array, span: Span): Uint8Array[] | string {
  const len = span.end - span.start;
  if (len === 0 || len % 8 !== 0) return `EXTENDED_COMMUNITIES length ${len}`;
  const list: Uint8Array[] = [];
  for (let i = span.start; i < span.end; i += 8) list.push(b.slice(i, i + 8));
  return list;
}

/** LARGE_COMMUNITIES in b[span], or why they are malformed (RFC 8092 6). */
export function readLargeCommunities(b: Uint8Array, span: Span): LargeCommunity[] | string {
  const len = span.end - span.start;
  if (len === 0 || len % 12 !== 0) return `LARGE_COMMUNITIES length ${len}`;
  const list: [number, number, number][] = [];
  for (let i = span.start; i < span.end; i += 12) {
    list.push([readU32(b, i), readU32(b, i + 4), readU32(b, i + 8)]);
  }
  return list;
}
