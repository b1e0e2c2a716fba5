/**
 * Random and mutated BGP messages for the fuzz soak. Every case is rebuilt from (seed, index)
 * alone, so any failing message can be replayed. Header-level mutations carry the
 * NOTIFICATION RFC 4271 6.1 calls for, known by construction rather than asked of our decoder.
 */
import { encodeMessage } from "../../bgp/packets.ts";
import { bytesToIpv6, makePrefix } from "../../bgp/prefix.ts";
import type { Capability, Message, PathAttributes, Prefix } from "../../bgp/types.ts";
import { Rng } from "./types.ts";

/** One fuzz input. */
export interface FuzzCase {
  /** Which generator or mutation made it, for the per-class counts. */
  kind: string;
  bytes: Uint8Array;
  /** NOTIFICATION code/subcode known by construction, when the mutation fixes it. */
  expect?: [number, number];
  /** Whether the decoder should see a 4-octet-AS session. */
  fourOctetAs: boolean;
}

/** The RNG of case `index` of run `seed`: independent per index so each case replays alone. */
export function caseRng(seed: number, index: number): Rng {
  return new Rng((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

function bytes(g: Rng, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = g.int(256);
  return b;
}

function ipv4(g: Rng): string {
  return `${1 + g.int(254)}.${g.int(256)}.${g.int(256)}.${g.int(256)}`;
}

function prefix(g: Rng, afi: 1 | 2): Prefix {
  const max = afi === 1 ? 32 : 128;
  return makePrefix(afi, bytes(g, afi === 1 ? 4 : 16), g.int(max + 1));
}

function list<T>(g: Rng, max: number, make: () => T): T[] {
  return Array.from({ length: g.int(max + 1) }, make);
}

function randomOpen(g: Rng): Message {
  const caps: Capability[] = [];
  if (g.chance(0.8)) caps.push({ code: 1, afi: 1, safi: 1 });
  if (g.chance(0.5)) caps.push({ code: 1, afi: 2, safi: 1 });
  if (g.chance(0.7)) caps.push({ code: 2 });
  if (g.chance(0.7)) caps.push({ code: 65, asn: g.int(2 ** 32) });
  if (g.chance(0.3)) {
    caps.push({
      code: 64,
      restarting: g.chance(0.5),
      restartTime: g.int(4096),
      families: [{ afi: 1, safi: 1, forwardingPreserved: g.chance(0.5) }],
    });
  }
  if (g.chance(0.2)) caps.push({ code: 128 + g.int(100), raw: bytes(g, g.int(8)) });
  return {
    type: 1,
    version: g.chance(0.95) ? 4 : g.int(256),
    myAs: g.int(65536),
    holdTime: g.pick([0, 3, 9, 90, 180, 65535, g.int(65536)]),
    routerId: g.chance(0.97) ? ipv4(g) : "0.0.0.0",
    capabilities: caps,
  };
}

function randomAttributes(g: Rng, four: boolean, announce: boolean): PathAttributes {
  const a: PathAttributes = {};
  const maxAs = four ? 2 ** 32 : 65536;
  if (announce || g.chance(0.3)) {
    a.origin = g.int(3);
    a.asPath = list(g, 3, () => ({
      type: g.pick([1, 2] as const),
      asns: list(g, 6, () => g.int(maxAs)),
    }));
    a.nextHop = ipv4(g);
  }
  if (g.chance(0.3)) a.med = g.int(2 ** 32);
  if (g.chance(0.3)) a.localPref = g.int(2 ** 32);
  if (g.chance(0.1)) a.atomicAggregate = true;
  if (g.chance(0.1)) a.aggregator = { asn: g.int(maxAs), address: ipv4(g) };
  if (g.chance(0.3)) a.communities = list(g, 8, () => g.int(2 ** 32));
  if (g.chance(0.15)) a.extendedCommunities = list(g, 4, () => bytes(g, 8));
  if (g.chance(0.2)) {
    a.largeCommunities = list(g, 4, () => [g.int(2 ** 32), g.int(2 ** 32), g.int(2 ** 32)]);
  }
  if (g.chance(0.2)) {
    a.mpReach = {
      afi: 2,
      safi: 1,
      nextHops: [bytesToIpv6(bytes(g, 16))],
      nlri: list(g, 6, () => prefix(g, 2)),
    };
  }
  if (g.chance(0.1)) a.mpUnreach = { afi: 2, safi: 1, withdrawn: list(g, 6, () => prefix(g, 2)) };
  return a;
}

/** A well-formed message of a random type, encoded by our encoder. */
export function validMessage(g: Rng, four: boolean): Uint8Array {
  const ctx = { fourOctetAs: four };
  for (;;) {
    const t = g.pick([1, 2, 2, 2, 3, 4, 5]);
    let msg: Message;
    switch (t) {
      case 1:
        msg = randomOpen(g);
        break;
      case 2: {
        const nlri = list(g, 12, () => prefix(g, 1));
        msg = {
          type: 2,
          withdrawn: list(g, 6, () => prefix(g, 1)),
          attributes: randomAttributes(g, four, nlri.length > 0),
          nlri,
        };
        break;
      }
      case 3:
        msg = { type: 3, code: 1 + g.int(7), subcode: g.int(12), data: bytes(g, g.int(16)) };
        break;
      case 4:
        msg = { type: 4 };
        break;
      default:
        msg = { type: 5, afi: g.pick([1, 2, g.int(65536)]), safi: g.pick([1, g.int(256)]) };
    }
    try {
      return encodeMessage(msg, ctx).slice();
    } catch {
      // Too big for 4096 bytes: draw again.
    }
  }
}

function header(type: number, body: Uint8Array, length = 19 + body.length): Uint8Array {
  const out = new Uint8Array(19 + body.length);
  out.fill(0xff, 0, 16);
  out[16] = (length >> 8) & 0xff;
  out[17] = length & 0xff;
  out[18] = type;
  out.set(body, 19);
  return out;
}

interface RawAttr {
  flags: number;
  code: number;
  value: Uint8Array;
  /** Length field to write instead of the value's length. */
  length?: number;
}

function attrBytes(a: RawAttr): Uint8Array {
  const ext = (a.flags & 0x10) !== 0;
  const len = a.length ?? a.value.length;
  const out = new Uint8Array((ext ? 4 : 3) + a.value.length);
  out[0] = a.flags;
  out[1] = a.code;
  if (ext) {
    out[2] = (len >> 8) & 0xff;
    out[3] = len & 0xff;
  } else out[2] = len & 0xff;
  out.set(a.value, ext ? 4 : 3);
  return out;
}

function asPathValue(g: Rng, four: boolean, budget: number): Uint8Array {
  // Huge paths: many full segments, up to the room left in a 4096-byte message.
  const asLen = four ? 4 : 2;
  const parts: number[] = [];
  while (parts.length + 2 + asLen < budget) {
    const room = Math.floor((budget - parts.length - 2) / asLen);
    const n = Math.min(room, g.chance(0.7) ? 255 : 1 + g.int(255));
    if (n <= 0) break;
    parts.push(g.chance(0.9) ? 2 : g.pick([1, 3, 4, 0, 5, 255]), n);
    for (let i = 0; i < n; i++) {
      const asn = g.int(four ? 2 ** 32 : 65536);
      for (let k = asLen - 1; k >= 0; k--) parts.push((asn >>> (8 * k)) & 0xff);
    }
    if (g.chance(0.3)) break;
  }
  return Uint8Array.from(parts);
}

/**
 * An UPDATE built attribute by attribute, then broken in one attribute: flags, length field,
 * value length, extended-length bit, segment headers of a (possibly huge) AS_PATH.
 */
function brokenAttributeUpdate(g: Rng, four: boolean): FuzzCase {
  const huge = g.chance(0.3);
  const attrs: RawAttr[] = [
    { flags: 0x40, code: 1, value: Uint8Array.of(g.int(3)) },
    {
      flags: huge ? 0x50 : 0x40,
      code: 2,
      value: asPathValue(g, four, huge ? 3900 : 40),
    },
    { flags: 0x40, code: 3, value: bytes(g, 4) },
  ];
  if (g.chance(0.4)) attrs.push({ flags: 0x80, code: 4, value: bytes(g, 4) });
  if (g.chance(0.4)) attrs.push({ flags: 0x40, code: 5, value: bytes(g, 4) });
  if (g.chance(0.4)) attrs.push({ flags: 0xc0, code: 8, value: bytes(g, 4 * (1 + g.int(4))) });
  if (g.chance(0.3)) attrs.push({ flags: 0xc0, code: 32, value: bytes(g, 12) });
  if (g.chance(0.2)) {
    // MP_REACH for IPv6: afi 2, safi 1, nh len 16, nh, reserved, one /64.
    const v = new Uint8Array(5 + 16 + 1 + 9);
    v[1] = 2;
    v[2] = 1;
    v[3] = 16;
    v.set(bytes(g, 16), 4);
    v[21] = 0;
    v[22] = 64;
    v.set(bytes(g, 8), 23);
    attrs.push({ flags: 0x80, code: 14, value: v });
  }
  if (g.chance(0.2)) {
    attrs.push({ flags: g.int(256) & 0xef, code: g.int(256), value: bytes(g, g.int(9)) });
  }
  const victim = attrs[g.int(attrs.length)];
  const how = g.int(6);
  switch (how) {
    case 0: // flag error
      victim.flags = (victim.flags ^ g.pick([0x80, 0x40, 0xc0, 0x20])) & 0xff;
      break;
    case 1: // length field lies
      victim.length = g.int(victim.flags & 0x10 ? 65536 : 256);
      break;
    case 2: // value cut short, length field adjusted
      victim.value = victim.value.slice(0, g.int(victim.value.length + 1));
      break;
    case 3: // extended-length bit toggled without re-encoding
      victim.flags ^= 0x10;
      break;
    case 4: // value padded
      victim.value = Uint8Array.from([...victim.value, ...bytes(g, 1 + g.int(4))]);
      break;
    default: // attribute duplicated
      attrs.push({ ...victim });
  }
  const attrBlock = attrs.map(attrBytes);
  const nlri = Uint8Array.of(24, 10, g.int(256), g.int(256));
  const alen = attrBlock.reduce((n, b) => n + b.length, 0);
  const body = new Uint8Array(4 + alen + nlri.length);
  body[2] = (alen >> 8) & 0xff;
  body[3] = alen & 0xff;
  let off = 4;
  for (const b of attrBlock) {
    body.set(b, off);
    off += b.length;
  }
  body.set(nlri, off);
  return {
    kind: `attr_${["flags", "length", "cut", "extbit", "pad", "dup"][how]}`,
    bytes: header(2, body.slice(0, 4096 - 19)),
    fourOctetAs: four,
  };
}

function setLength(b: Uint8Array, len: number): void {
  b[16] = (len >> 8) & 0xff;
  b[17] = len & 0xff;
}

/** Case `index` of run `seed`. */
export function fuzzCase(seed: number, index: number): FuzzCase {
  const g = caseRng(seed, index);
  const four = g.chance(0.7);
  const roll = g.int(100);
  if (roll < 8) return { kind: "valid", bytes: validMessage(g, four), fourOctetAs: four };
  if (roll < 30) return brokenAttributeUpdate(g, four);
  if (roll < 33) {
    return { kind: "garbage", bytes: bytes(g, g.int(64)), fourOctetAs: four };
  }
  const b = validMessage(g, four);
  const how = g.int(12);
  switch (how) {
    case 0: { // marker
      b[g.int(16)] ^= 1 + g.int(255);
      return { kind: "marker", bytes: b, expect: [1, 1], fourOctetAs: four };
    }
    case 1: { // header length out of range
      setLength(b, g.chance(0.5) ? g.int(19) : 4097 + g.int(65536 - 4097));
      return { kind: "length_range", bytes: b, expect: [1, 2], fourOctetAs: four };
    }
    case 2: { // unknown type
      b[18] = g.chance(0.5) ? 0 : 6 + g.int(250);
      return { kind: "type", bytes: b, expect: [1, 3], fourOctetAs: four };
    }
    case 3: { // header length disagrees with the frame (wrong length)
      setLength(b, 19 + g.int(4096 - 19));
      return { kind: "length_wrong", bytes: b, fourOctetAs: four };
    }
    case 4: { // truncated, header length fixed up
      const cut = b.slice(0, 19 + g.int(Math.max(1, b.length - 19)));
      setLength(cut, cut.length);
      return { kind: "truncate_fixed", bytes: cut, fourOctetAs: four };
    }
    case 5: // truncated anywhere, header left alone
      return { kind: "truncate", bytes: b.slice(0, g.int(b.length)), fourOctetAs: four };
    case 6: { // bit flips in the body
      for (let i = 1 + g.int(4); i > 0 && b.length > 19; i--) {
        b[19 + g.int(b.length - 19)] ^= 1 << g.int(8);
      }
      return { kind: "bitflip", bytes: b, fourOctetAs: four };
    }
    case 7: { // random byte overwrites in the body
      for (let i = 1 + g.int(8); i > 0 && b.length > 19; i--) {
        b[19 + g.int(b.length - 19)] = g.int(256);
      }
      return { kind: "overwrite", bytes: b, fourOctetAs: four };
    }
    case 8: { // inner length fields (withdrawn/attribute/optional-parameter lengths) broken
      if (b.length > 22) {
        const at = b[18] === 1 ? 28 : 19 + g.int(Math.min(4, b.length - 20));
        b[at] = g.int(256);
      }
      return { kind: "inner_length", bytes: b, fourOctetAs: four };
    }
    case 9: { // bytes inserted, header length fixed up
      const at = 19 + g.int(b.length - 18);
      const ins = bytes(g, 1 + g.int(16));
      const out = new Uint8Array(Math.min(4096, b.length + ins.length));
      out.set(b.subarray(0, at));
      out.set(ins.subarray(0, out.length - at), at);
      out.set(b.subarray(at, at + out.length - at - ins.length), at + ins.length);
      setLength(out, out.length);
      return { kind: "insert", bytes: out, fourOctetAs: four };
    }
    case 10: // decoded on the other AS width than it was built for
      return { kind: "as_width", bytes: b, fourOctetAs: !four };
    default: { // type swapped to another known type, body kept
      b[18] = 1 + g.int(5);
      return { kind: "type_swap", bytes: b, fourOctetAs: four };
    }
  }
}
