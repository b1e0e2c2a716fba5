import assert from "node:assert/strict";
import { BgpError } from "./errors.ts";
import {
  decodeMessage,
  encodeMessage,
  encodeNlri,
  encodePathAttributes,
  FrameReader,
  MAX_MESSAGE_SIZE,
  nlriLength,
} from "./packets.ts";
import { bytesToIpv6, makePrefix, parsePrefix } from "./prefix.ts";
import type { CodecContext, Message, PathAttributes, Prefix, UpdateMessage } from "./types.ts";

const FOUR: CodecContext = { fourOctetAs: true };
const TWO: CodecContext = { fourOctetAs: false };
const MARKER = "ffffffffffffffffffffffffffffffff";

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+|#[^\n]*/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function assertBytes(actual: Uint8Array, expected: Uint8Array): void {
  assert.equal(toHex(actual), toHex(expected));
}

function expectBgpError(fn: () => unknown, code: number, subcode: number): BgpError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof BgpError, `expected BgpError, got ${err}`);
    assert.equal(`${err.code}/${err.subcode}`, `${code}/${subcode}`, err.message);
    return err;
  }
  assert.fail(`expected BgpError ${code}/${subcode}`);
}

// ---- Byte-exact vectors, computed by hand from RFC 4271 4.x layouts ----

const KEEPALIVE = hex(`${MARKER} 0013 04`); // marker, length 19, type 4

Deno.test("KEEPALIVE is 19 bytes: marker, length, type", () => {
  const bytes = encodeMessage({ type: 4 }, FOUR);
  assertBytes(bytes, KEEPALIVE);
  assert.equal(bytes.length, 19);
  assert.deepEqual(decodeMessage(KEEPALIVE, FOUR), { type: 4 });
});

const OPEN_HEX = `${MARKER} 0043 01   # length 67, type OPEN
  04          # version 4
  5ba0        # my AS 23456 (AS_TRANS)
  005a        # hold time 90
  c0000201    # BGP identifier 192.0.2.1
  26          # optional parameters length 38
  02 06 01 04 0001 00 01   # param 2 (capabilities): MP, AFI 1 reserved SAFI 1
  02 06 01 04 0002 00 01   # MP, AFI 2 SAFI 1
  02 02 02 00              # route refresh, empty
  02 06 41 04 fa56ea00     # 4-octet AS 4200000000
  02 08 40 06 0078 0001 01 00  # graceful restart: R=0 time 120; AFI 1 SAFI 1 F=0
`;

const OPEN_MSG: Message = {
  type: 1,
  version: 4,
  myAs: 23456,
  holdTime: 90,
  routerId: "192.0.2.1",
  capabilities: [
    { code: 1, afi: 1, safi: 1 },
    { code: 1, afi: 2, safi: 1 },
    { code: 2 },
    { code: 65, asn: 4200000000 },
    {
      code: 64,
      restarting: false,
      restartTime: 120,
      families: [{ afi: 1, safi: 1, forwardingPreserved: false }],
    },
  ],
};

Deno.test("OPEN with capabilities matches the hand-computed bytes", () => {
  assertBytes(encodeMessage(OPEN_MSG, FOUR), hex(OPEN_HEX));
  assert.deepEqual(decodeMessage(hex(OPEN_HEX), FOUR), OPEN_MSG);
});

Deno.test("graceful restart R and N flags (RFC 4724, RFC 8538) round-trip", () => {
  const caps = [
    { restarting: true, notification: true, flags: 0xc0 },
    { restarting: false, notification: true, flags: 0x40 },
    { restarting: true, notification: false, flags: 0x80 },
  ];
  for (const c of caps) {
    const msg: Message = {
      ...OPEN_MSG,
      capabilities: [{
        code: 64,
        restarting: c.restarting,
        notification: c.notification,
        restartTime: 300,
        families: [{ afi: 1, safi: 1, forwardingPreserved: true }],
      }],
    };
    const bytes = encodeMessage(msg, FOUR);
    // header 19, version, my AS(2), hold(2), id(4), opt len, param type, param len,
    // cap code, cap len, then the flags/restart-time word.
    const at = 19 + 1 + 2 + 2 + 4 + 1 + 2 + 2;
    assert.equal(bytes[at] & 0xf0, c.flags);
    assert.equal(((bytes[at] & 0x0f) << 8) | bytes[at + 1], 300);
    const back = decodeMessage(bytes, FOUR) as Extract<Message, { type: 1 }>;
    const gr = back.capabilities[0] as Extract<Message, { type: 1 }>["capabilities"][0];
    assert.ok("restartTime" in gr);
    assert.equal(gr.restarting, c.restarting);
    assert.equal(gr.notification === true, c.notification);
    assert.equal(gr.restartTime, 300);
    assert.equal(gr.families[0].forwardingPreserved, true);
  }
});

Deno.test("OPEN with several capabilities in one parameter decodes the same", () => {
  const bytes = hex(`${MARKER} 0033 01 04 5ba0 005a c0000201
    16 02 14                 # optional params length 22: one param of 20 bytes
    01 04 0001 00 01  01 04 0002 00 01  02 00  41 04 fa56ea00`);
  const msg = decodeMessage(bytes, FOUR) as Extract<Message, { type: 1 }>;
  assert.deepEqual(msg.capabilities, [
    { code: 1, afi: 1, safi: 1 },
    { code: 1, afi: 2, safi: 1 },
    { code: 2 },
    { code: 65, asn: 4200000000 },
  ]);
});

Deno.test("OPEN keeps unknown capabilities raw and rejects bad fields", () => {
  const raw = hex(`${MARKER} 0021 01 04 fde8 00b4 0a000001 04 02 02 46 00`);
  const msg = decodeMessage(raw, FOUR) as Extract<Message, { type: 1 }>;
  assert.deepEqual(msg.capabilities, [{ code: 0x46, raw: new Uint8Array(0) }]);
  assertBytes(encodeMessage(msg, FOUR), raw);
  // Version 3: 2/1 with the version we support as data.
  const v3 = expectBgpError(
    () => decodeMessage(hex(`${MARKER} 001d 01 03 fde8 00b4 0a000001 00`), FOUR),
    2,
    1,
  );
  assertBytes(v3.data, hex("0004"));
  expectBgpError(
    () => decodeMessage(hex(`${MARKER} 001d 01 04 fde8 0002 0a000001 00`), FOUR),
    2,
    6,
  );
  expectBgpError(
    () => decodeMessage(hex(`${MARKER} 001d 01 04 fde8 00b4 00000000 00`), FOUR),
    2,
    3,
  );
  // Optional parameter type 1 (authentication, deprecated).
  expectBgpError(
    () => decodeMessage(hex(`${MARKER} 001f 01 04 fde8 00b4 0a000001 02 01 00`), FOUR),
    2,
    4,
  );
  // Optional parameters length disagrees with the message length.
  expectBgpError(
    () => decodeMessage(hex(`${MARKER} 001f 01 04 fde8 00b4 0a000001 05 02 00`), FOUR),
    2,
    0,
  );
});

const UPDATE_HEX = `${MARKER} 0052 02  # length 82, type UPDATE
  0000                     # withdrawn routes length 0
  0031                     # total path attribute length 49
  40 01 01 00              # ORIGIN (well-known transitive) IGP
  40 02 06 02 01 0000fc00  # AS_PATH: AS_SEQUENCE of 1 four-octet ASN 64512
  40 03 04 c0000201        # NEXT_HOP 192.0.2.1
  40 05 04 00000064        # LOCAL_PREF 100
  c0 08 04 ffffff02        # COMMUNITIES (optional transitive) 65535:65282
  c0 20 0c 00000001 00000002 00000003  # LARGE_COMMUNITIES 1:2:3
  20 c6336401              # NLRI 198.51.100.1/32
  20 c6336402              # NLRI 198.51.100.2/32
`;

const UPDATE_MSG: UpdateMessage = {
  type: 2,
  withdrawn: [],
  attributes: {
    origin: 0,
    asPath: [{ type: 2, asns: [64512] }],
    nextHop: "192.0.2.1",
    localPref: 100,
    communities: [(65535 << 16 | 65282) >>> 0],
    largeCommunities: [[1, 2, 3]],
  },
  nlri: [parsePrefix("198.51.100.1/32"), parsePrefix("198.51.100.2/32")],
};

Deno.test("IPv4 UPDATE matches the hand-computed bytes (4-octet session)", () => {
  assertBytes(encodeMessage(UPDATE_MSG, FOUR), hex(UPDATE_HEX));
  assert.deepEqual(decodeMessage(hex(UPDATE_HEX), FOUR), UPDATE_MSG);
});

Deno.test("IPv4 UPDATE on a 2-octet session carries 2-byte ASNs", () => {
  const expected = hex(`${MARKER} 0050 02 0000
    002f                   # attribute length 47
    40 01 01 00
    40 02 04 02 01 fc00    # AS_PATH: AS_SEQUENCE of 1 two-octet ASN 64512
    40 03 04 c0000201  40 05 04 00000064  c0 08 04 ffffff02
    c0 20 0c 00000001 00000002 00000003
    20 c6336401  20 c6336402`);
  assertBytes(encodeMessage(UPDATE_MSG, TWO), expected);
  assert.deepEqual(decodeMessage(expected, TWO), UPDATE_MSG);
});

const MP_REACH_HEX = `${MARKER} 0054 02  # length 84
  0000 003d                # no withdrawn, attribute length 61
  40 01 01 00              # ORIGIN IGP
  40 02 06 02 01 0000fc00  # AS_PATH 64512
  80 0e 2d                 # MP_REACH_NLRI (optional non-transitive), length 45
  0002 01                  # AFI IPv6, SAFI unicast
  10 20010db8000000000000000000000001  # next hop length 16: 2001:db8::1
  00                       # reserved
  30 20010db80001          # 2001:db8:1::/48
  80 20010db8000200000000000000000001  # 2001:db8:2::1/128
`;

const MP_REACH_MSG: UpdateMessage = {
  type: 2,
  withdrawn: [],
  attributes: {
    origin: 0,
    asPath: [{ type: 2, asns: [64512] }],
    mpReach: {
      afi: 2,
      safi: 1,
      nextHops: ["2001:db8::1"],
      nlri: [parsePrefix("2001:db8:1::/48"), parsePrefix("2001:db8:2::1/128")],
    },
  },
  nlri: [],
};

Deno.test("IPv6 MP_REACH UPDATE matches the hand-computed bytes", () => {
  assertBytes(encodeMessage(MP_REACH_MSG, FOUR), hex(MP_REACH_HEX));
  assert.deepEqual(decodeMessage(hex(MP_REACH_HEX), FOUR), MP_REACH_MSG);
});

Deno.test("MP_REACH with global and link-local next hops (32 bytes)", () => {
  const msg: UpdateMessage = structuredClone(MP_REACH_MSG);
  msg.attributes.mpReach!.nextHops = ["2001:db8::1", "fe80::1"];
  const bytes = encodeMessage(msg, FOUR);
  // Next hop length byte sits after header(19)+lengths(4)+ORIGIN(4)+AS_PATH(9)+hdr(3)+afi/safi(3).
  assert.equal(bytes[19 + 4 + 4 + 9 + 3 + 3], 32);
  assert.deepEqual(decodeMessage(bytes, FOUR), msg);
});

const MP_UNREACH_HEX = `${MARKER} 0024 02  # length 36
  0000 000d                # no withdrawn, attribute length 13
  80 0f 0a                 # MP_UNREACH_NLRI, length 10
  0002 01                  # AFI IPv6, SAFI unicast
  30 20010db80001          # withdraw 2001:db8:1::/48
`;

Deno.test("MP_UNREACH matches the hand-computed bytes", () => {
  const msg: UpdateMessage = {
    type: 2,
    withdrawn: [],
    attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [parsePrefix("2001:db8:1::/48")] } },
    nlri: [],
  };
  assertBytes(encodeMessage(msg, FOUR), hex(MP_UNREACH_HEX));
  assert.deepEqual(decodeMessage(hex(MP_UNREACH_HEX), FOUR), msg);
});

Deno.test("End-of-RIB for IPv4 (empty UPDATE) and IPv6 (empty MP_UNREACH) decode cleanly", () => {
  const v4 = hex(`${MARKER} 0017 02 0000 0000`);
  assert.deepEqual(decodeMessage(v4, FOUR), { type: 2, withdrawn: [], attributes: {}, nlri: [] });
  assertBytes(
    encodeMessage({ type: 2, withdrawn: [], attributes: {}, nlri: [] }, FOUR),
    v4,
  );
  const v6 = hex(`${MARKER} 001d 02 0000 0006 80 0f 03 0002 01`);
  assert.deepEqual(decodeMessage(v6, FOUR), {
    type: 2,
    withdrawn: [],
    attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [] } },
    nlri: [],
  });
});

Deno.test("withdraw-only UPDATE needs no attributes", () => {
  const bytes = hex(`${MARKER} 001c 02 0005 20 c6336401 0000`);
  const msg = decodeMessage(bytes, FOUR) as UpdateMessage;
  assert.equal(msg.treatAsWithdraw, undefined);
  assert.deepEqual(msg.withdrawn, [parsePrefix("198.51.100.1/32")]);
  assertBytes(encodeMessage(msg, FOUR), bytes);
});

const NOTIFICATION_HEX = `${MARKER} 0015 03  # length 21, type NOTIFICATION
  06 02                    # Cease / Administrative Shutdown, no data
`;

Deno.test("NOTIFICATION Cease/2 matches the hand-computed bytes", () => {
  const msg: Message = { type: 3, code: 6, subcode: 2, data: new Uint8Array(0) };
  assertBytes(encodeMessage(msg, FOUR), hex(NOTIFICATION_HEX));
  assert.deepEqual(decodeMessage(hex(NOTIFICATION_HEX), FOUR), msg);
});

const ROUTE_REFRESH_HEX = `${MARKER} 0017 05  # length 23, type ROUTE-REFRESH
  0001 00 01               # AFI IPv4, reserved, SAFI unicast
`;

Deno.test("ROUTE-REFRESH matches the hand-computed bytes", () => {
  const msg: Message = { type: 5, afi: 1, safi: 1 };
  assertBytes(encodeMessage(msg, FOUR), hex(ROUTE_REFRESH_HEX));
  assert.deepEqual(decodeMessage(hex(ROUTE_REFRESH_HEX), FOUR), msg);
});

Deno.test("ROUTE-REFRESH carries the RFC 7313 subtype in the reserved byte", () => {
  const eorr = hex(`${MARKER} 0017 05 0002 02 01`); // IPv6 unicast End-of-RIB refresh marker
  assert.deepEqual(decodeMessage(eorr, FOUR), { type: 5, afi: 2, safi: 1, subtype: 2 });
  assertBytes(encodeMessage({ type: 5, afi: 2, safi: 1, subtype: 2 }, FOUR), eorr);
});

Deno.test("OPEN with RFC 9072 extended optional parameters decodes", () => {
  const bytes = hex(`${MARKER} 0029 01 04 fde8 00b4 0a000001
    ff ff 0009           # extended form: non-ext length 255, type 255, 2-byte length 9
    02 0006 41 04 fa56ea00  # capabilities parameter with 2-byte length: 4-octet AS`);
  const msg = decodeMessage(bytes, FOUR) as Extract<Message, { type: 1 }>;
  assert.deepEqual(msg.capabilities, [{ code: 65, asn: 4200000000 }]);
});

Deno.test("NEXT_HOP and AGGREGATOR addresses must be IPv4 at encode time", () => {
  assert.throws(() => encodePathAttributes({ nextHop: "2001:db8::1" }, FOUR), TypeError);
  assert.throws(
    () => encodePathAttributes({ aggregator: { asn: 1, address: "::1" } }, FOUR),
    TypeError,
  );
});

Deno.test("encodeNlri, nlriLength and encodePathAttributes size UPDATE parts", () => {
  const prefixes = ["10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/23", "0.0.0.0/0", "192.0.2.1/32"]
    .map((t) => parsePrefix(t));
  assertBytes(encodeNlri(prefixes), hex("08 0a  10 0a01  17 0a0102  00  20 c0000201"));
  assert.deepEqual(prefixes.map(nlriLength), [2, 3, 4, 1, 5]);
  const attrs = encodePathAttributes(UPDATE_MSG.attributes, FOUR);
  assert.equal(attrs.length, 49);
  assertBytes(attrs, hex(UPDATE_HEX).subarray(23, 23 + 49));
});

Deno.test("an UPDATE past 4096 bytes is refused at encode time", () => {
  const nlri = Array.from({ length: 1100 }, (_, i) => parsePrefix(`10.${i >> 8}.${i & 255}.0/32`));
  assert.throws(
    () => encodeMessage({ ...UPDATE_MSG, nlri }, FOUR),
    RangeError,
  );
  assert.equal(MAX_MESSAGE_SIZE, 4096);
});

Deno.test("attribute values over 255 bytes use the extended length flag", () => {
  const communities = Array.from({ length: 100 }, (_, i) => i);
  const bytes = encodePathAttributes({ communities }, FOUR);
  assertBytes(bytes.subarray(0, 4), hex("d0 08 0190")); // flags 0xC0|0x10, length 400
  const msg: UpdateMessage = { type: 2, withdrawn: [], attributes: { communities }, nlri: [] };
  assert.deepEqual(decodeMessage(encodeMessage(msg, FOUR), FOUR), msg);
});

// ---- Header errors ----

Deno.test("header errors carry RFC 4271 6.1 codes and data", () => {
  const badMarker = hex(`${MARKER} 0013 04`);
  badMarker[3] = 0;
  expectBgpError(() => decodeMessage(badMarker, FOUR), 1, 1);
  const tooShort = expectBgpError(() => decodeMessage(hex(`${MARKER} 0012 04`), FOUR), 1, 2);
  assertBytes(tooShort.data, hex("0012"));
  const tooLong = hex(`${MARKER} 1001 04`);
  assertBytes(expectBgpError(() => decodeMessage(tooLong, FOUR), 1, 2).data, hex("1001"));
  const badType = expectBgpError(() => decodeMessage(hex(`${MARKER} 0013 06`), FOUR), 1, 3);
  assertBytes(badType.data, hex("06"));
  expectBgpError(() => decodeMessage(hex(`${MARKER} 0014 04 00`), FOUR), 1, 2);
  expectBgpError(() => decodeMessage(hex(`${MARKER} 0014 03 06`), FOUR), 1, 2);
  expectBgpError(() => decodeMessage(hex(`${MARKER} 0016 05 0001 00`), FOUR), 1, 2);
  expectBgpError(() => decodeMessage(hex(`${MARKER} 0018 02 0000 00`), FOUR), 1, 2);
  // Header length disagrees with the frame handed in.
  expectBgpError(() => decodeMessage(hex(`${MARKER} 0014 04`), FOUR), 1, 2);
  expectBgpError(() => decodeMessage(hex("ffff"), FOUR), 1, 2);
});

// ---- FrameReader ----

Deno.test("FrameReader reassembles frames split at every byte boundary", () => {
  const stream = concat([KEEPALIVE, hex(OPEN_HEX), hex(UPDATE_HEX), hex(MP_REACH_HEX)]);
  for (let cut = 1; cut < stream.length; cut++) {
    const r = new FrameReader();
    const frames: Uint8Array[] = [];
    for (const part of [stream.subarray(0, cut), stream.subarray(cut)]) {
      r.push(part);
      for (let f = r.next(); f !== null; f = r.next()) frames.push(f);
    }
    assert.deepEqual(
      frames.map(toHex),
      [KEEPALIVE, hex(OPEN_HEX), hex(UPDATE_HEX), hex(MP_REACH_HEX)].map(toHex),
    );
    assert.equal(r.buffered, 0);
  }
});

Deno.test("FrameReader handles 200k frames fed in odd chunks", () => {
  const r = new FrameReader();
  const update = hex(UPDATE_HEX);
  const block = concat(Array.from({ length: 1000 }, () => update));
  let frames = 0;
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < block.length; i += 1500) {
      r.push(block.subarray(i, i + 1500));
      for (let f = r.next(); f !== null; f = r.next()) {
        if (f.length !== update.length || f[18] !== 2) assert.fail("corrupt frame");
        frames++;
      }
    }
  }
  assert.equal(frames, 200_000);
});

Deno.test("FrameReader rejects bad headers with 1/1, 1/2, 1/3", () => {
  const r1 = new FrameReader();
  r1.push(hex("00".repeat(19)));
  expectBgpError(() => r1.next(), 1, 1);
  const r2 = new FrameReader();
  r2.push(hex(`${MARKER} 2000 02`));
  expectBgpError(() => r2.next(), 1, 2);
  const r3 = new FrameReader();
  r3.push(hex(`${MARKER} 0013 09`));
  expectBgpError(() => r3.next(), 1, 3);
  const r4 = new FrameReader();
  r4.push(hex(MARKER));
  assert.equal(r4.next(), null); // not enough for a header yet
});

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) {
    out.set(p, pos);
    pos += p.length;
  }
  return out;
}

// ---- Property tests: seeded random messages ----

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Gen {
  next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  u32(): number {
    return this.int(0x100000000);
  }
  bool(): boolean {
    return this.next() < 0.5;
  }
  bytes(n: number): Uint8Array {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
  ipv4(): string {
    return `${this.int(256)}.${this.int(256)}.${this.int(256)}.${this.int(256)}`;
  }
  ipv6(): string {
    return bytesToIpv6(this.bytes(16));
  }
  prefix(afi: 1 | 2): Prefix {
    const max = afi === 1 ? 32 : 128;
    return makePrefix(afi, this.bytes(afi === 1 ? 4 : 16), this.int(max + 1));
  }
  list<T>(max: number, make: () => T, min = 0): T[] {
    return Array.from({ length: min + this.int(max - min + 1) }, make);
  }
}

function randomAttributes(g: Gen, ctx: CodecContext, announce: boolean): PathAttributes {
  const a: PathAttributes = {};
  if (announce || g.bool()) a.origin = g.int(3);
  if (announce || g.bool()) {
    // Confederation segments only ever lead a path (RFC 5065). AS4_PATH does not carry them,
    // so on a 2-octet session their members must fit in 2 octets to survive (RFC 6793 3).
    const asns = (wide: boolean) =>
      g.list(20, () => (wide && g.bool() ? g.u32() : g.int(65536)), 1);
    a.asPath = [
      ...g.list(1, () => ({ type: g.pick([3, 4] as const), asns: asns(ctx.fourOctetAs) })),
      ...g.list(3, () => ({ type: g.pick([1, 2] as const), asns: asns(true) })),
    ];
  }
  if (g.bool()) a.nextHop = g.ipv4();
  if (g.bool()) a.med = g.u32();
  if (g.bool()) a.localPref = g.u32();
  if (g.bool()) a.atomicAggregate = true;
  if (g.bool()) {
    let asn = g.bool() ? g.int(65536) : g.u32();
    // On a 2-octet session a literal AS_TRANS aggregator is indistinguishable from a stand-in.
    if (!ctx.fourOctetAs && asn === 23456) asn = 1;
    a.aggregator = { asn, address: g.ipv4() };
  }
  if (g.bool()) a.communities = g.list(30, () => g.u32(), 1);
  if (g.bool()) a.extendedCommunities = g.list(5, () => g.bytes(8), 1);
  if (g.bool()) a.largeCommunities = g.list(5, () => [g.u32(), g.u32(), g.u32()] as const, 1);
  if (g.bool()) {
    const afi = g.pick([1, 2] as const);
    const nextHops = afi === 1
      ? g.pick([[g.ipv4()], [g.ipv6()], [g.ipv6(), g.ipv6()]])
      : g.pick([[g.ipv6()], [g.ipv6(), g.ipv6()]]);
    a.mpReach = { afi, safi: 1, nextHops, nlri: g.list(20, () => g.prefix(afi)) };
  }
  if (g.bool()) {
    const afi = g.pick([1, 2] as const);
    a.mpUnreach = { afi, safi: 1, withdrawn: g.list(20, () => g.prefix(afi)) };
  }
  if (g.int(4) === 0) {
    a.unknown = g.list(2, () => ({
      flags: g.pick([0xc0, 0xe0]),
      code: 40 + g.int(200),
      value: g.bytes(g.int(300)),
    }), 1);
    // One of each code: a duplicate would be dropped on decode.
    a.unknown = a.unknown.filter((u, i, all) => all.findIndex((v) => v.code === u.code) === i);
  }
  return a;
}

function randomMessage(g: Gen, type: number, ctx: CodecContext): Message {
  switch (type) {
    case 1:
      return {
        type: 1,
        version: 4,
        myAs: g.int(65536),
        holdTime: g.pick([0, 3, 90, 180, 65535, g.int(65536) | 4]),
        routerId: `${1 + g.int(255)}.${g.int(256)}.${g.int(256)}.${g.int(256)}`,
        capabilities: g.list(8, () => {
          switch (g.int(5)) {
            case 0:
              return { code: 1, afi: g.int(65536), safi: g.int(256) };
            case 1:
              return { code: 2 };
            case 2:
              return {
                code: 64,
                restarting: g.bool(),
                restartTime: g.int(4096),
                families: g.list(4, () => ({
                  afi: g.int(65536),
                  safi: g.int(256),
                  forwardingPreserved: g.bool(),
                })),
              };
            case 3:
              return { code: 65, asn: g.u32() };
            default:
              return { code: 66 + g.int(100), raw: g.bytes(g.int(10)) };
          }
        }),
      };
    case 2: {
      const nlri = g.list(40, () => g.prefix(1));
      const attrs = randomAttributes(g, ctx, nlri.length > 0);
      if (nlri.length > 0) attrs.nextHop ??= g.ipv4();
      if (attrs.mpReach && attrs.mpReach.nlri.length > 0) {
        attrs.origin ??= 0;
        attrs.asPath ??= [{ type: 2, asns: [g.u32()] }];
      }
      return { type: 2, withdrawn: g.list(40, () => g.prefix(1)), attributes: attrs, nlri };
    }
    case 3:
      return { type: 3, code: g.int(256), subcode: g.int(256), data: g.bytes(g.int(100)) };
    case 4:
      return { type: 4 };
    default: {
      const subtype = g.pick([0, 0, 1, 2]);
      return subtype === 0
        ? { type: 5, afi: g.int(65536), safi: g.int(256) }
        : { type: 5, afi: g.int(65536), safi: g.int(256), subtype };
    }
  }
}

/** What decode gives back for an encoded message: Partial set on passed-through attributes. */
function normalise(msg: Message): Message {
  if (msg.type !== 2 || msg.attributes.unknown === undefined) return msg;
  const attributes = {
    ...msg.attributes,
    unknown: msg.attributes.unknown.map((u) => ({ ...u, flags: u.flags | 0x20 })),
  };
  return { ...msg, attributes };
}

for (
  const [name, type] of [["OPEN", 1], ["UPDATE", 2], ["NOTIFICATION", 3], ["KEEPALIVE", 4], [
    "ROUTE-REFRESH",
    5,
  ]] as const
) {
  Deno.test(`round trip: 2,000+ random ${name} messages decode to what was encoded`, () => {
    const g = new Gen(0xbeef + type);
    let tested = 0;
    for (let i = 0; tested < 2000 && i < 4000; i++) {
      const ctx = i % 2 === 0 ? FOUR : TWO;
      const msg = randomMessage(g, type, ctx);
      let bytes: Uint8Array;
      try {
        bytes = encodeMessage(msg, ctx);
      } catch (err) {
        // Random UPDATEs sometimes exceed 4096 bytes; the encoder must say so, not truncate.
        assert.ok(err instanceof RangeError && type === 2, String(err));
        continue;
      }
      assert.equal(bytes.length, (bytes[16] << 8) | bytes[17]);
      assert.deepEqual(decodeMessage(bytes, ctx), normalise(msg), `message ${i}`);
      tested++;
    }
    assert.equal(tested, 2000);
  });
}

// ---- Fuzz: nothing a peer sends may throw anything but BgpError ----

function decodeOrBgpError(bytes: Uint8Array, ctx: CodecContext, counts: Record<string, number>) {
  try {
    const m = decodeMessage(bytes, ctx);
    counts.ok++;
    return m;
  } catch (err) {
    // "undecodable" marks an internal exception converted to BgpError: a decoder bug.
    if (!(err instanceof BgpError) || err.message.includes("undecodable")) {
      assert.fail(`unexpected ${err} for ${toHex(bytes)}`);
    }
    counts[`${err.code}/${err.subcode}`] = (counts[`${err.code}/${err.subcode}`] ?? 0) + 1;
    return null;
  }
}

function setLength(b: Uint8Array): Uint8Array {
  b[16] = b.length >> 8;
  b[17] = b.length & 0xff;
  return b;
}

function mutate(g: Gen, seed: Uint8Array): Uint8Array {
  let b: Uint8Array = seed.slice();
  const ops = 1 + g.int(3);
  for (let k = 0; k < ops; k++) {
    switch (g.int(8)) {
      case 0: // bit flips anywhere past the marker
        for (let n = 1 + g.int(4); n > 0; n--) {
          const i = 16 + g.int(Math.max(1, b.length - 16));
          if (i < b.length) b[i] ^= 1 << g.int(8);
        }
        break;
      case 1: // truncation, header length fixed or not
        b = b.slice(0, 19 + g.int(Math.max(1, b.length - 19)));
        if (g.bool()) setLength(b);
        break;
      case 2: // header length field edit
        b[16 + g.int(2)] = g.int(256);
        break;
      case 3: // withdrawn/attribute length edits
        if (b.length > 23) b[19 + g.int(4)] = g.int(256);
        break;
      case 4: { // attribute flag or length edits inside the attribute block
        const i = 23 + g.int(Math.max(1, b.length - 23));
        if (i < b.length) {
          b[i] = g.pick([0x00, 0x10, 0x40, 0x50, 0x80, 0x90, 0xc0, 0xd0, 0xff, g.int(256)]);
        }
        break;
      }
      case 5: { // append garbage, length fixed
        const extra = g.bytes(g.int(40));
        const next = new Uint8Array(Math.min(4096, b.length + extra.length));
        next.set(b);
        next.set(extra.subarray(0, next.length - b.length), b.length);
        b = setLength(next);
        break;
      }
      case 6: { // random byte overwrites, length fixed
        for (let n = 1 + g.int(6); n > 0; n--) {
          b[19 + g.int(Math.max(1, b.length - 19))] = g.int(256);
        }
        break;
      }
      default: { // splice a huge AS_PATH / AS4_PATH attribute in front of the attributes
        if (b[18] !== 2 || b.length < 23) break;
        const count = 1 + g.int(255);
        const asLen = g.pick([2, 4]);
        const vlen = 2 + count * asLen + g.int(3) - 1;
        const attr = new Uint8Array(4 + Math.max(0, vlen));
        attr[0] = 0x50 | (g.bool() ? 0x80 : 0);
        attr[1] = g.pick([2, 17]);
        attr[2] = vlen >> 8;
        attr[3] = vlen & 0xff;
        attr[4] = g.pick([1, 2, 3, 4, 5]);
        attr[5] = count;
        for (let i = 6; i < attr.length; i++) attr[i] = g.int(256);
        const wlen = (b[19] << 8) | b[20];
        const at = 23 + wlen;
        if (at > b.length) break;
        const next = new Uint8Array(Math.min(4096, b.length + attr.length));
        next.set(b.subarray(0, at));
        next.set(attr.subarray(0, next.length - at), at);
        next.set(b.subarray(at, at + next.length - at - attr.length), at + attr.length);
        const alen = ((b[21 + wlen] << 8) | b[22 + wlen]) + attr.length;
        next[21 + wlen] = alen >> 8;
        next[22 + wlen] = alen & 0xff;
        b = setLength(next);
      }
    }
  }
  return b;
}

Deno.test("fuzz: 60,000 random and mutated inputs yield a Message or a BgpError", () => {
  const g = new Gen(7606);
  const counts: Record<string, number> = { ok: 0 };
  const seeds: Uint8Array[] = [KEEPALIVE, hex(OPEN_HEX), hex(UPDATE_HEX), hex(MP_REACH_HEX)];
  for (let i = 0; i < 200; i++) {
    const ctx = i % 2 ? FOUR : TWO;
    try {
      seeds.push(encodeMessage(randomMessage(g, 1 + (i % 5), ctx), ctx));
    } catch {
      // oversized random UPDATE: skip
    }
  }
  let treatAsWithdraw = 0;
  for (let i = 0; i < 60_000; i++) {
    const ctx = g.bool() ? FOUR : TWO;
    let input: Uint8Array;
    if (i % 4 === 0) {
      // Random bytes: half behind a valid-looking header so the body parsers are reached.
      input = g.bytes(g.int(200));
      if (g.bool() && input.length >= 19) {
        input.fill(0xff, 0, 16);
        input[18] = 1 + g.int(5);
        setLength(input);
      }
    } else {
      input = mutate(g, g.pick(seeds));
    }
    const msg = decodeOrBgpError(input, ctx, counts);
    if (msg?.type === 2 && msg.treatAsWithdraw) treatAsWithdraw++;
    // Whatever we accepted we can send again (or refuse cleanly when it outgrew 4096 bytes).
    if (msg !== null) {
      try {
        encodeMessage(msg, ctx);
      } catch (err) {
        assert.ok(err instanceof RangeError && /exceeds 4096/.test(err.message), String(err));
      }
    }
  }
  // The fuzzer must reach deep paths, not only header errors.
  assert.ok(counts.ok > 5000, JSON.stringify(counts));
  assert.ok(treatAsWithdraw > 100, `treat-as-withdraw ${treatAsWithdraw}`);
  for (const code of ["1/1", "1/2", "3/1", "3/10"]) assert.ok(counts[code] > 0, code);
});

Deno.test("fuzz: mutated streams through FrameReader yield frames or BgpError", () => {
  const g = new Gen(4271);
  const seeds = [KEEPALIVE, hex(OPEN_HEX), hex(UPDATE_HEX), hex(MP_REACH_HEX), hex(MP_UNREACH_HEX)];
  const counts: Record<string, number> = { ok: 0 };
  let frames = 0;
  for (let round = 0; round < 2000; round++) {
    const parts: Uint8Array[] = [];
    for (let i = 0; i < 10; i++) {
      const s = g.pick(seeds);
      parts.push(g.int(5) === 0 ? mutate(g, s) : s);
    }
    const stream = concat(parts);
    const r = new FrameReader();
    try {
      for (let pos = 0; pos < stream.length;) {
        const n = 1 + g.int(100);
        r.push(stream.subarray(pos, pos + n));
        pos += n;
        for (let f = r.next(); f !== null; f = r.next()) {
          frames++;
          decodeOrBgpError(f, FOUR, counts);
        }
      }
    } catch (err) {
      assert.ok(err instanceof BgpError, String(err));
      assert.equal(err.code, 1);
    }
  }
  assert.ok(frames > 10_000, `frames ${frames}`);
});
