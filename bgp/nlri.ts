/** NLRI: prefixes in the length-and-significant-bytes form of RFC 4271 4.3. */
import { BgpError, ErrorCode, UpdateSubcode } from "./errors.ts";
import { ipv4Byte, ipv6Byte, prefixAt } from "./prefix.ts";
import { AFI_IPV4, type Prefix } from "./types.ts";
import type { Writer } from "./wire_writer.ts";

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
    if (p.afi === AFI_IPV4) { for (let j = 0; j < n; j++) b[pos++] = ipv4Byte(p, j); }
    else for (let j = 0; j < n; j++) b[pos++] = ipv6Byte(p, j);
  }
  w.pos = pos;
}

/** How many prefixes b[start, end) holds; throws on a malformed one (RFC 7606 5.3). */
function countNlri(b: Uint8Array, range: { start: number; end: number }, afi: 1 | 2): number {
  const max = afi === AFI_IPV4 ? 32 : 128;
  let count = 0;
  for (let pos = range.start; pos < range.end; count++) {
    const len = b[pos];
    if (len > max || pos + 1 + ((len + 7) >> 3) > range.end) {
      throw new BgpError(ErrorCode.UPDATE_MESSAGE, UpdateSubcode.INVALID_NETWORK_FIELD, {
        detail: `bad NLRI prefix length ${len} for AFI ${afi}`,
      });
    }
    pos += 1 + ((len + 7) >> 3);
  }
  return count;
}

/** Parses NLRI in [start, end) into `out`; malformed NLRI is a session reset (RFC 7606 5.3). */
export function readNlri(
  b: Uint8Array,
  range: { start: number; end: number },
  options: { afi: 1 | 2; out: Prefix[] },
): void {
  const { afi, out } = options;
  // Counted first, so a malformed field adds nothing to `out`.
  const count = countNlri(b, range, afi);
  let pos = range.start;
  for (let k = 0; k < count; k++) {
    const len = b[pos++];
    out.push(prefixAt(b, { afi, offset: pos, length: len }));
    pos += (len + 7) >> 3;
  }
}
