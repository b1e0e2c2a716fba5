/**
 * BGP-4 messages on the wire (RFC 4271 4, RFC 2918, RFC 5492): encode, decode, and
 * reassembly of a TCP byte stream into frames.
 */
import {
  AS_TRANS,
  decodePathAttributes,
  nlriLength,
  readNlri,
  writeNlri,
  writePathAttributes,
  Writer,
} from "./attributes.ts";
import { BgpError, ErrorCode, HeaderSubcode, OpenSubcode, UpdateSubcode } from "./errors.ts";
import { bytesToIpv4, ipv4ToBytes } from "./prefix.ts";
import {
  AFI_IPV4,
  type Capability,
  type CodecContext,
  type Message,
  MessageType,
  type OpenMessage,
  type PathAttributes,
  type Prefix,
  type UpdateMessage,
} from "./types.ts";

export { AS_TRANS, nlriLength };

/** Largest BGP message without RFC 8654 extended messages. */
export const MAX_MESSAGE_SIZE = 4096;
/** Fixed header: 16-byte marker, 2-byte length, 1-byte type. */
export const HEADER_SIZE = 19;
/** UPDATE overhead before attributes and NLRI: header + two 2-byte length fields. */
export const UPDATE_OVERHEAD = 23;

/** Smallest legal length of each message type (RFC 4271 4.2-4.5, RFC 2918). */
const MIN_LENGTH: Record<number, number> = { 1: 29, 2: 23, 3: 21, 4: 19, 5: 23 };

const shared = new Writer(MAX_MESSAGE_SIZE * 2);

function writeHeader(w: Writer, type: number): void {
  w.ensure(HEADER_SIZE);
  w.buf.fill(0xff, w.pos, w.pos + 16);
  w.pos += 18;
  w.buf[w.pos++] = type;
}

/** Encodes a whole message (marker, length, type, body). Throws RangeError if it cannot fit. */
export function encodeMessage(msg: Message, ctx: CodecContext): Uint8Array {
  const w = shared;
  w.pos = 0;
  writeHeader(w, msg.type);
  switch (msg.type) {
    case MessageType.OPEN:
      writeOpen(w, msg);
      break;
    case MessageType.UPDATE: {
      const wl = w.pos;
      w.pos += 2;
      w.ensure(0);
      writeNlri(w, msg.withdrawn);
      w.buf[wl] = (w.pos - wl - 2) >>> 8;
      w.buf[wl + 1] = w.pos - wl - 2;
      const al = w.pos;
      w.u16(0);
      writePathAttributes(w, msg.attributes, ctx);
      w.buf[al] = (w.pos - al - 2) >>> 8;
      w.buf[al + 1] = w.pos - al - 2;
      writeNlri(w, msg.nlri);
      break;
    }
    case MessageType.NOTIFICATION:
      w.u8(msg.code);
      w.u8(msg.subcode);
      w.bytes(msg.data);
      break;
    case MessageType.KEEPALIVE:
      break;
    case MessageType.ROUTE_REFRESH:
      w.u16(msg.afi);
      w.u8(msg.subtype ?? 0);
      w.u8(msg.safi);
      break;
    default:
      throw new RangeError(`unknown message type ${(msg as { type: number }).type}`);
  }
  if (w.pos > MAX_MESSAGE_SIZE) {
    throw new RangeError(`message of ${w.pos} bytes exceeds ${MAX_MESSAGE_SIZE}`);
  }
  w.buf[16] = w.pos >>> 8;
  w.buf[17] = w.pos;
  return w.take();
}

/** The path attribute block alone, so a packer can size UPDATEs before building them. */
export function encodePathAttributes(attrs: PathAttributes, ctx: CodecContext): Uint8Array {
  const w = shared;
  w.pos = 0;
  writePathAttributes(w, attrs, ctx);
  return w.take();
}

/** Prefixes in NLRI form (length byte + significant address bytes each). */
export function encodeNlri(prefixes: readonly Prefix[]): Uint8Array {
  const w = shared;
  w.pos = 0;
  writeNlri(w, prefixes);
  return w.take();
}

function writeCapability(w: Writer, cap: Capability): void {
  w.u8(cap.code);
  const lenAt = w.pos;
  w.u8(0);
  if ("raw" in cap) {
    w.bytes(cap.raw);
  } else if (cap.code === 1) {
    const mp = cap as { afi: number; safi: number };
    w.u16(mp.afi);
    w.u8(0);
    w.u8(mp.safi);
  } else if (cap.code === 64) {
    const gr = cap as Extract<Capability, { code: 64 }>;
    w.u16(
      (gr.restarting ? 0x8000 : 0) | (gr.notification ? 0x4000 : 0) | (gr.restartTime & 0x0fff),
    );
    for (const f of gr.families) {
      w.u16(f.afi);
      w.u8(f.safi);
      w.u8(f.forwardingPreserved ? 0x80 : 0);
    }
  } else if (cap.code === 65) {
    w.u32((cap as { asn: number }).asn);
  }
  const len = w.pos - lenAt - 1;
  if (len > 255) throw new RangeError(`capability ${cap.code} too long`);
  w.buf[lenAt] = len;
}

function writeOpen(w: Writer, msg: OpenMessage): void {
  w.u8(msg.version);
  w.u16(msg.myAs);
  w.u16(msg.holdTime);
  w.bytes(ipv4ToBytes(msg.routerId));
  const lenAt = w.pos;
  w.u8(0);
  // One capability per optional parameter: the form every implementation accepts.
  for (const cap of msg.capabilities) {
    w.u8(2);
    const paramLenAt = w.pos;
    w.u8(0);
    writeCapability(w, cap);
    w.buf[paramLenAt] = w.pos - paramLenAt - 1;
  }
  const len = w.pos - lenAt - 1;
  if (len > 255) throw new RangeError(`OPEN optional parameters too long (${len})`);
  w.buf[lenAt] = len;
}

function u16(b: Uint8Array, i: number): number {
  return (b[i] << 8) | b[i + 1];
}

/** Checks a header at b[0..19); returns the message length. Throws BgpError 1/x. */
function checkHeader(b: Uint8Array, at: number): number {
  for (let i = 0; i < 16; i++) {
    if (b[at + i] !== 0xff) {
      throw new BgpError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED, {
        detail: "marker is not all ones",
      });
    }
  }
  const length = u16(b, at + 16);
  const type = b[at + 18];
  if (length < HEADER_SIZE || length > MAX_MESSAGE_SIZE) {
    throw new BgpError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, {
      data: b.slice(at + 16, at + 18),
      detail: `length ${length}`,
    });
  }
  if (type < 1 || type > 5) {
    throw new BgpError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_TYPE, {
      data: b.slice(at + 18, at + 19),
      detail: `type ${type}`,
    });
  }
  return length;
}

/**
 * Decodes one whole frame, header included. Throws only BgpError: the NOTIFICATION to send.
 * RFC 7606 treat-as-withdraw is reported in the returned UPDATE, not thrown.
 */
export function decodeMessage(frame: Uint8Array, ctx: CodecContext): Message {
  try {
    return decodeUnchecked(frame, ctx);
  } catch (err) {
    if (err instanceof BgpError) throw err;
    // A decoder bug must not take the process down: report it as a malformed message.
    const type = frame[18];
    const code = type === 1 ? ErrorCode.OPEN_MESSAGE : type === 2 ? ErrorCode.UPDATE_MESSAGE : 1;
    throw new BgpError(code, 0, { detail: `undecodable message: ${err}` });
  }
}

function badLength(frame: Uint8Array, detail: string): BgpError {
  return new BgpError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, {
    data: frame.slice(16, 18),
    detail,
  });
}

function decodeUnchecked(frame: Uint8Array, ctx: CodecContext): Message {
  if (frame.length < HEADER_SIZE) {
    throw new BgpError(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, {
      detail: `frame of ${frame.length} bytes is shorter than a header`,
    });
  }
  const length = checkHeader(frame, 0);
  if (length !== frame.length) {
    throw badLength(frame, `header says ${length} bytes, frame has ${frame.length}`);
  }
  const type = frame[18];
  if (length < MIN_LENGTH[type]) throw badLength(frame, `length ${length} too short for type`);
  switch (type) {
    case MessageType.OPEN:
      return decodeOpen(frame);
    case MessageType.UPDATE:
      return decodeUpdate(frame, ctx);
    case MessageType.NOTIFICATION:
      return { type: 3, code: frame[19], subcode: frame[20], data: frame.slice(21) };
    case MessageType.KEEPALIVE:
      if (length !== HEADER_SIZE) throw badLength(frame, `KEEPALIVE of ${length} bytes`);
      return { type: 4 };
    default:
      if (length !== 23) throw badLength(frame, `ROUTE-REFRESH of ${length} bytes`);
      return frame[21] === 0
        ? { type: 5, afi: u16(frame, 19), safi: frame[22] }
        : { type: 5, afi: u16(frame, 19), safi: frame[22], subtype: frame[21] };
  }
}

function openError(subcode: number, detail: string, data?: Uint8Array): BgpError {
  return new BgpError(ErrorCode.OPEN_MESSAGE, subcode, { detail, data });
}

function decodeOpen(b: Uint8Array): OpenMessage {
  const version = b[19];
  if (version !== 4) {
    // RFC 4271 6.2: the data is the largest version we support.
    throw openError(
      OpenSubcode.UNSUPPORTED_VERSION_NUMBER,
      `version ${version}`,
      Uint8Array.of(0, 4),
    );
  }
  const myAs = u16(b, 20);
  const holdTime = u16(b, 22);
  if (holdTime === 1 || holdTime === 2) {
    throw openError(OpenSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${holdTime}`);
  }
  const routerId = bytesToIpv4(b, 24);
  if (routerId === "0.0.0.0") throw openError(OpenSubcode.BAD_BGP_IDENTIFIER, "router id 0");
  // RFC 9072: length 255 followed by type 255 announces 2-byte parameter lengths.
  const extended = b[28] === 255 && b.length >= 32 && b[29] === 255;
  const optLen = extended ? u16(b, 30) : b[28];
  let pos = extended ? 32 : 29;
  if (pos + optLen !== b.length) {
    throw openError(0, `optional parameters length ${optLen} disagrees with message length`);
  }
  const capabilities: Capability[] = [];
  const phdr = extended ? 3 : 2;
  while (pos < b.length) {
    if (b.length - pos < phdr) throw openError(0, "truncated optional parameter");
    const ptype = b[pos];
    const plen = extended ? u16(b, pos + 1) : b[pos + 1];
    const ps = pos + phdr;
    const pe = ps + plen;
    if (pe > b.length) throw openError(0, "optional parameter overruns");
    if (ptype !== 2) {
      throw openError(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, `parameter type ${ptype}`);
    }
    let c = ps;
    while (c < pe) {
      if (pe - c < 2) throw openError(0, "truncated capability");
      const code = b[c];
      const clen = b[c + 1];
      const cs = c + 2;
      const ce = cs + clen;
      if (ce > pe) throw openError(0, `capability ${code} overruns its parameter`);
      capabilities.push(decodeCapability(b, code, { start: cs, end: ce }));
      c = ce;
    }
    pos = pe;
  }
  return { type: 1, version, myAs, holdTime, routerId, capabilities };
}

function decodeCapability(
  b: Uint8Array,
  code: number,
  range: { start: number; end: number },
): Capability {
  const { start: s, end: e } = range;
  const len = e - s;
  const bad = () => openError(0, `capability ${code} has bad length ${len}`);
  switch (code) {
    case 1:
      if (len !== 4) throw bad();
      return { code: 1, afi: u16(b, s), safi: b[s + 3] };
    case 2:
      if (len !== 0) throw bad();
      return { code: 2 };
    case 64: {
      if (len < 2 || (len - 2) % 4 !== 0) throw bad();
      const families: { afi: number; safi: number; forwardingPreserved: boolean }[] = [];
      for (let i = s + 2; i < e; i += 4) {
        families.push({
          afi: u16(b, i),
          safi: b[i + 2],
          forwardingPreserved: (b[i + 3] & 0x80) !== 0,
        });
      }
      const gr: Extract<Capability, { code: 64 }> = {
        code: 64,
        restarting: (b[s] & 0x80) !== 0,
        restartTime: u16(b, s) & 0x0fff,
        families,
      };
      // Only when set, so capabilities without the RFC 8538 bit compare equal as before.
      if (b[s] & 0x40) gr.notification = true;
      return gr;
    }
    case 65:
      if (len !== 4) throw bad();
      return {
        code: 65,
        asn: ((b[s] << 24) | (b[s + 1] << 16) | (b[s + 2] << 8) | b[s + 3]) >>> 0,
      };
    default:
      return { code, raw: b.slice(s, e) };
  }
}

function decodeUpdate(b: Uint8Array, ctx: CodecContext): UpdateMessage {
  const end = b.length;
  const wlen = u16(b, 19);
  const wEnd = 21 + wlen;
  if (wEnd + 2 > end) {
    throw new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, {
      detail: `withdrawn routes length ${wlen} overruns the message`,
    });
  }
  const alen = u16(b, wEnd);
  const aStart = wEnd + 2;
  const aEnd = aStart + alen;
  if (aEnd > end) {
    throw new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, {
      detail: `path attribute length ${alen} overruns the message`,
    });
  }
  const withdrawn: Prefix[] = [];
  readNlri(b, { start: 21, end: wEnd }, { afi: AFI_IPV4, out: withdrawn });
  const nlri: Prefix[] = [];
  readNlri(b, { start: aEnd, end }, { afi: AFI_IPV4, out: nlri });
  const decoded = decodePathAttributes(b, { start: aStart, end: aEnd }, ctx);
  const a = decoded.attributes;
  const msg: UpdateMessage = { type: 2, withdrawn, attributes: a, nlri };
  let error = decoded.error;
  if (!decoded.treatAsWithdraw) {
    // RFC 7606 3(d): a missing well-known mandatory attribute is treat-as-withdraw.
    const announces = nlri.length > 0 || (a.mpReach !== undefined && a.mpReach.nlri.length > 0);
    if (announces) {
      if (a.origin === undefined) error = "missing ORIGIN";
      else if (a.asPath === undefined) error = "missing AS_PATH";
      else if (nlri.length > 0 && a.nextHop === undefined) error = "missing NEXT_HOP";
    }
  }
  if (error !== undefined) {
    msg.treatAsWithdraw = true;
    msg.attributeError = error;
  }
  return msg;
}

/**
 * Reassembles a TCP byte stream into whole frames. Bytes are appended into one growing
 * buffer that is compacted lazily, so the cost stays linear in the bytes received.
 */
export class FrameReader {
  #buf = new Uint8Array(MAX_MESSAGE_SIZE * 4);
  #start = 0;
  #end = 0;

  /** Appends bytes received from the socket. */
  push(chunk: Uint8Array): void {
    const n = chunk.length;
    if (this.#end + n > this.#buf.length) {
      const live = this.#end - this.#start;
      if (live + n <= this.#buf.length >> 1) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        let size = this.#buf.length * 2;
        while (size < (live + n) * 2) size *= 2;
        const next = new Uint8Array(size);
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(chunk, this.#end);
    this.#end += n;
  }

  /** The next whole frame (a copy), or null until more bytes arrive. Throws BgpError 1/x. */
  next(): Uint8Array | null {
    const avail = this.#end - this.#start;
    if (avail < HEADER_SIZE) return null;
    const length = checkHeader(this.#buf, this.#start);
    if (avail < length) return null;
    const frame = this.#buf.slice(this.#start, this.#start + length);
    this.#start += length;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    return frame;
  }

  /** Bytes received but not yet returned as a frame. */
  get buffered(): number {
    return this.#end - this.#start;
  }
}
