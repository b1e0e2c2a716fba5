import assert from "node:assert/strict";
import { AS_TRANS, mergeAs4Path } from "./attributes.ts";
import { BgpError } from "./errors.ts";
import { decodeMessage, encodeMessage } from "./packets.ts";
import { parsePrefix } from "./prefix.ts";
import type { CodecContext, UpdateMessage } from "./types.ts";

const FOUR: CodecContext = { fourOctetAs: true };
const TWO: CodecContext = { fourOctetAs: false };

function hex(text: string): Uint8Array {
  const clean = text.replace(/\s+|#[^\n]*/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Frames an UPDATE around hand-written attribute, NLRI and withdrawn hex. */
function update(attrs: string, nlri = "", withdrawn = ""): Uint8Array {
  const a = hex(attrs);
  const n = hex(nlri);
  const w = hex(withdrawn);
  const len = 23 + a.length + n.length + w.length;
  const out = new Uint8Array(len);
  out.fill(0xff, 0, 16);
  out[16] = len >> 8;
  out[17] = len & 0xff;
  out[18] = 2;
  out[19] = w.length >> 8;
  out[20] = w.length & 0xff;
  out.set(w, 21);
  out[21 + w.length] = a.length >> 8;
  out[22 + w.length] = a.length & 0xff;
  out.set(a, 23 + w.length);
  out.set(n, 23 + w.length + a.length);
  return out;
}

const ORIGIN = "40 01 01 00";
const AS_PATH = "40 02 06 02 01 0000fc00"; // 4-octet AS_SEQUENCE [64512]
const NEXT_HOP = "40 03 04 c0000201";
const NLRI = "20 c6336401"; // 198.51.100.1/32
const BASE = `${ORIGIN} ${AS_PATH} ${NEXT_HOP}`;

function decodeUpdate(bytes: Uint8Array, ctx = FOUR): UpdateMessage {
  const msg = decodeMessage(bytes, ctx);
  assert.equal(msg.type, 2);
  return msg as UpdateMessage;
}

function assertWithdraw(bytes: Uint8Array, reason: RegExp, ctx = FOUR): UpdateMessage {
  const msg = decodeUpdate(bytes, ctx);
  assert.equal(msg.treatAsWithdraw, true, "expected treat-as-withdraw");
  assert.match(msg.attributeError ?? "", reason);
  // The routes stay in the message so the session can withdraw them.
  assert.equal(msg.nlri.length, 1);
  return msg;
}

function assertReset(bytes: Uint8Array, code: number, subcode: number): BgpError {
  try {
    decodeMessage(bytes, FOUR);
  } catch (err) {
    assert.ok(err instanceof BgpError, String(err));
    assert.equal(`${err.code}/${err.subcode}`, `${code}/${subcode}`, err.message);
    return err;
  }
  assert.fail(`expected session reset ${code}/${subcode}`);
}

function assertClean(bytes: Uint8Array, ctx = FOUR): UpdateMessage {
  const msg = decodeUpdate(bytes, ctx);
  assert.equal(msg.treatAsWithdraw, undefined, msg.attributeError ?? "");
  return msg;
}

Deno.test("a well-formed UPDATE is not flagged", () => {
  const msg = assertClean(update(BASE, NLRI));
  assert.equal(msg.attributes.nextHop, "192.0.2.1");
});

Deno.test("RFC 7606 treat-as-withdraw cases", () => {
  const cases: [string, string, RegExp][] = [
    ["ORIGIN length 2", `40 01 02 0000 ${AS_PATH} ${NEXT_HOP}`, /ORIGIN/],
    ["ORIGIN value 3", `40 01 01 03 ${AS_PATH} ${NEXT_HOP}`, /ORIGIN/],
    ["ORIGIN with optional flag", `c0 01 01 00 ${AS_PATH} ${NEXT_HOP}`, /ORIGIN.*flags/],
    ["AS_PATH segment overruns", `${ORIGIN} 40 02 06 02 02 0000fc00 ${NEXT_HOP}`, /AS_PATH/],
    ["AS_PATH segment type 7", `${ORIGIN} 40 02 06 07 01 0000fc00 ${NEXT_HOP}`, /AS_PATH/],
    ["AS_PATH empty segment", `${ORIGIN} 40 02 02 02 00 ${NEXT_HOP}`, /AS_PATH/],
    ["AS_PATH odd trailing byte", `${ORIGIN} 40 02 07 02 01 0000fc00 02 ${NEXT_HOP}`, /AS_PATH/],
    ["NEXT_HOP length 5", `${ORIGIN} ${AS_PATH} 40 03 05 c000020100`, /NEXT_HOP/],
    ["MED length 2", `${BASE} 80 04 02 0001`, /MULTI_EXIT_DISC/],
    ["LOCAL_PREF length 3", `${BASE} 40 05 03 000064`, /LOCAL_PREF/],
    ["COMMUNITIES length 3", `${BASE} c0 08 03 ffff01`, /COMMUNITIES/],
    ["COMMUNITIES length 0", `${BASE} c0 08 00`, /COMMUNITIES/],
    ["EXTENDED_COMMUNITIES length 7", `${BASE} c0 10 07 00020000fc0001`, /EXTENDED/],
    ["LARGE_COMMUNITIES length 8", `${BASE} c0 20 08 0000000100000002`, /LARGE/],
    ["attribute overruns the block", `${BASE} c0 08 08 ffffff01`, /overruns/],
    ["truncated attribute header", `${BASE} c0 08`, /truncated/],
    ["missing ORIGIN", `${AS_PATH} ${NEXT_HOP}`, /missing ORIGIN/],
    ["missing AS_PATH", `${ORIGIN} ${NEXT_HOP}`, /missing AS_PATH/],
    ["missing NEXT_HOP", `${ORIGIN} ${AS_PATH}`, /missing NEXT_HOP/],
  ];
  for (const [name, attrs, reason] of cases) {
    try {
      assertWithdraw(update(attrs, NLRI), reason);
    } catch (err) {
      throw new Error(`${name}: ${err}`);
    }
  }
});

Deno.test("missing mandatory attributes of an MP_REACH UPDATE are treat-as-withdraw", () => {
  const mp = "80 0e 1c 0002 01 10 20010db8000000000000000000000001 00 30 20010db80001";
  const msg = decodeUpdate(update(`${ORIGIN} ${mp}`));
  assert.equal(msg.treatAsWithdraw, true);
  assert.equal(msg.attributeError, "missing AS_PATH");
  assert.deepEqual(msg.attributes.mpReach?.nlri, [parsePrefix("2001:db8:1::/48")]);
  // IPv6-only UPDATEs need no NEXT_HOP attribute.
  assertClean(update(`${ORIGIN} ${AS_PATH} ${mp}`));
});

Deno.test("RFC 7606 attribute-discard cases drop only the attribute", () => {
  const atomic = assertClean(update(`${BASE} 40 06 01 00`, NLRI));
  assert.equal(atomic.attributes.atomicAggregate, undefined);
  assert.equal(assertClean(update(`${BASE} 40 06 00`, NLRI)).attributes.atomicAggregate, true);
  // AGGREGATOR is 8 bytes on a 4-octet session; 6 is wrong there.
  const agg = assertClean(update(`${BASE} c0 07 06 fc00 c0000201`, NLRI));
  assert.equal(agg.attributes.aggregator, undefined);
  const good = assertClean(update(`${BASE} c0 07 08 0000fc00 c0000201`, NLRI));
  assert.deepEqual(good.attributes.aggregator, { asn: 64512, address: "192.0.2.1" });
  // Duplicates: the first one wins.
  const dup = assertClean(update(`${BASE} 40 01 01 02`, NLRI));
  assert.equal(dup.attributes.origin, 0);
  // Unknown optional non-transitive: dropped. Unknown optional transitive: kept.
  const unknown = assertClean(update(`${BASE} 80 63 02 abcd c0 64 01 ef`, NLRI));
  assert.deepEqual(unknown.attributes.unknown, [{ flags: 0xc0, code: 0x64, value: hex("ef") }]);
});

Deno.test("unknown optional transitive attributes are re-sent with the Partial bit", () => {
  const msg = assertClean(update(`${BASE} c0 64 01 ef`, NLRI));
  const again = encodeMessage(msg, FOUR);
  assert.ok(toHex(again).includes("e06401ef"), toHex(again));
  assert.deepEqual(decodeUpdate(again).attributes.unknown, [
    { flags: 0xe0, code: 0x64, value: hex("ef") },
  ]);
});

Deno.test("RFC 7606 session-reset cases throw the NOTIFICATION to send", () => {
  const mp = "80 0e 1c 0002 01 10 20010db8000000000000000000000001 00 30 20010db80001";
  const unreach = "80 0f 03 0002 01";
  assertReset(update(`${BASE} ${mp} ${mp}`), 3, 1); // duplicate MP_REACH
  assertReset(update(`${BASE} ${unreach} ${unreach}`), 3, 1); // duplicate MP_UNREACH
  assertReset(update(`${BASE} c0 0e 03 0002 01`), 3, 4); // MP_UNREACH... wrong flags on MP
  assertReset(update(`${BASE} 80 0e 09 0002 01 04 c0000201 00`), 3, 9); // IPv6 next hop of 4 bytes
  assertReset(update(`${BASE} 80 0e 04 0002 01 10`), 3, 9); // too short for next hop
  assertReset(
    update(`${BASE} 80 0e 1a 0002 01 10 20010db8000000000000000000000001 00 81 20010db8`),
    3,
    10,
  );
  assertReset(update(`${BASE} 80 0f 02 0002`), 3, 9); // MP_UNREACH too short
  assertReset(update(`${BASE} 80 0f 09 0002`), 3, 1); // MP_UNREACH overruns the block
  assertReset(update(BASE, "21 c6336401"), 3, 10); // IPv4 prefix length 33
  assertReset(update(BASE, "18 c633"), 3, 10); // /24 with 2 address bytes
  assertReset(update("", "", "20 c63364"), 3, 10); // truncated withdrawn prefix
  // Unknown well-known attribute: 3/2 with the attribute as data.
  const wk = assertReset(update(`${BASE} 40 63 02 abcd`, NLRI), 3, 2);
  assert.equal(toHex(wk.data), "406302abcd");
  // Withdrawn length / total attribute length past the end of the message.
  const bytes = update(BASE, NLRI);
  const badWithdrawn = bytes.slice();
  badWithdrawn[20] = 0xff;
  assertReset(badWithdrawn, 3, 1);
  const badAttrLen = bytes.slice();
  badAttrLen[22] = 0xff;
  assertReset(badAttrLen, 3, 1);
});

Deno.test("AS4: a 2-octet session carries AS_TRANS plus AS4_PATH and decodes the real path", () => {
  const msg: UpdateMessage = {
    type: 2,
    withdrawn: [],
    attributes: {
      origin: 0,
      asPath: [{ type: 2, asns: [64512, 4200000000, 65001] }],
      nextHop: "192.0.2.1",
      aggregator: { asn: 4200000000, address: "192.0.2.9" },
    },
    nlri: [parsePrefix("198.51.100.1/32")],
  };
  const bytes = encodeMessage(msg, TWO);
  const h = toHex(bytes);
  assert.ok(h.includes("40020802" + "03fc005ba0fde9"), `AS_PATH with AS_TRANS: ${h}`);
  assert.ok(h.includes("c0110e0203" + "0000fc00fa56ea000000fde9"), `AS4_PATH: ${h}`);
  assert.ok(h.includes("c007065ba0c0000209"), `AGGREGATOR with AS_TRANS: ${h}`);
  assert.ok(h.includes("c01208fa56ea00c0000209"), `AS4_AGGREGATOR: ${h}`);
  assert.deepEqual(decodeMessage(bytes, TWO), msg);
  // A 4-octet session sends the real path and no AS4 attributes.
  const wide = toHex(encodeMessage(msg, FOUR));
  assert.ok(!wide.includes("c011") && !wide.includes("c012"), wide);
  assert.deepEqual(decodeMessage(encodeMessage(msg, FOUR), FOUR), msg);
});

Deno.test("AS4 merge follows RFC 6793 4.2.3", () => {
  // An OLD speaker prepended 100 and 200 after the NEW speaker's AS4_PATH was built.
  assert.deepEqual(
    mergeAs4Path(
      [{ type: 2, asns: [100, 200, AS_TRANS, 300] }],
      [{ type: 2, asns: [4200000000, 300] }],
    ),
    [{ type: 2, asns: [100, 200, 4200000000, 300] }],
  );
  // AS4_PATH longer than AS_PATH is ignored.
  assert.deepEqual(
    mergeAs4Path([{ type: 2, asns: [AS_TRANS] }], [{ type: 2, asns: [1, 2] }]),
    [{ type: 2, asns: [AS_TRANS] }],
  );
  // Leading confederation segments are not in AS4_PATH and count zero: they are kept.
  assert.deepEqual(
    mergeAs4Path(
      [{ type: 3, asns: [65001] }, { type: 2, asns: [AS_TRANS] }],
      [{ type: 2, asns: [4200000000] }],
    ),
    [{ type: 3, asns: [65001] }, { type: 2, asns: [4200000000] }],
  );
  // An AS_SET counts as one.
  assert.deepEqual(
    mergeAs4Path(
      [{ type: 2, asns: [7] }, { type: 1, asns: [AS_TRANS, 8] }],
      [{ type: 1, asns: [4200000001, 8] }],
    ),
    [{ type: 2, asns: [7] }, { type: 1, asns: [4200000001, 8] }],
  );
});

Deno.test("AS4 attributes: discard when malformed or on a 4-octet session", () => {
  const as2 = `${ORIGIN} 40 02 04 02 01 5ba0 ${NEXT_HOP}`;
  // Malformed AS4_PATH (segment overruns): discarded, AS_PATH kept.
  const bad = assertClean(update(`${as2} c0 11 06 02 02 fa56ea00`, NLRI), TWO);
  assert.deepEqual(bad.attributes.asPath, [{ type: 2, asns: [AS_TRANS] }]);
  // Well-formed AS4_PATH merges.
  const good = assertClean(update(`${as2} c0 11 06 02 01 fa56ea00`, NLRI), TWO);
  assert.deepEqual(good.attributes.asPath, [{ type: 2, asns: [4200000000] }]);
  // AS4_PATH between 4-octet speakers is ignored.
  const four = assertClean(update(`${BASE} c0 11 06 02 01 fa56ea00`, NLRI), FOUR);
  assert.deepEqual(four.attributes.asPath, [{ type: 2, asns: [64512] }]);
  // AGGREGATOR with a real 2-octet AS: AS4_AGGREGATOR and AS4_PATH are stale and ignored.
  const stale = assertClean(
    update(
      `${as2} c0 07 06 fde8 c0000201 c0 11 06 02 01 fa56ea00 c0 12 08 fa56ea00 c0000201`,
      NLRI,
    ),
    TWO,
  );
  assert.deepEqual(stale.attributes.asPath, [{ type: 2, asns: [AS_TRANS] }]);
  assert.deepEqual(stale.attributes.aggregator, { asn: 65000, address: "192.0.2.1" });
});

Deno.test("huge AS paths split into 255-ASN segments and decode back", () => {
  const asns = Array.from({ length: 600 }, (_, i) => 4200000000 + i);
  const msg: UpdateMessage = {
    type: 2,
    withdrawn: [],
    attributes: { origin: 0, asPath: [{ type: 2, asns }], nextHop: "192.0.2.1" },
    nlri: [parsePrefix("198.51.100.1/32")],
  };
  for (const ctx of [FOUR, TWO]) {
    const back = decodeUpdate(encodeMessage(msg, ctx), ctx);
    assert.equal(back.treatAsWithdraw, undefined);
    assert.deepEqual(back.attributes.asPath?.map((s) => s.asns.length), [255, 255, 90]);
    assert.deepEqual(back.attributes.asPath?.flatMap((s) => s.asns), asns);
  }
});
