/** The byte buffer the encoders write into, attribute framing, and big-endian reads. */
import { AttrFlag } from "./attr_codes.ts";

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

/**
 * Starts an attribute with room for a 2-byte length; returns where it starts, for
 * {@linkcode endAttr}. The value's size is not known yet, so the length form is chosen last.
 */
export function beginAttr(w: Writer, header: { flags: number; code: number }): number {
  w.ensure(4);
  const start = w.pos;
  w.buf[start] = header.flags;
  w.buf[start + 1] = header.code;
  w.pos += 4;
  return start;
}

/** Finishes an attribute begun with a 4-byte header: picks the 1- or 2-byte length form. */
export function endAttr(w: Writer, start: number): void {
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

/** Big-endian 16-bit value at `i`. */
export function readU16(b: Uint8Array, i: number): number {
  return (b[i] << 8) | b[i + 1];
}

/** Big-endian unsigned 32-bit value at `i`. */
export function readU32(b: Uint8Array, i: number): number {
  return ((b[i] << 24) | (b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]) >>> 0;
}
