import assert from "node:assert/strict";
import {
  bytesToIp,
  bytesToIpv4,
  bytesToIpv6,
  formatPrefix,
  ipv4Byte,
  ipv4ToBytes,
  ipv6Byte,
  ipv6ToBytes,
  makePrefix,
  parsePrefix,
  prefixEquals,
  prefixKey,
} from "./prefix.ts";

Deno.test("IPv4 text and bytes convert both ways", () => {
  assert.deepEqual(ipv4ToBytes("192.0.2.1"), Uint8Array.of(192, 0, 2, 1));
  assert.equal(bytesToIpv4(Uint8Array.of(10, 255, 0, 7)), "10.255.0.7");
  for (const bad of ["1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "a.b.c.d", "", "1..2.3"]) {
    assert.throws(() => ipv4ToBytes(bad), TypeError, bad);
  }
});

Deno.test("IPv6 text and bytes convert both ways, canonical per RFC 5952", () => {
  assert.deepEqual(
    ipv6ToBytes("2001:db8::1"),
    Uint8Array.of(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1),
  );
  assert.deepEqual(ipv6ToBytes("::"), new Uint8Array(16));
  assert.deepEqual(
    ipv6ToBytes("::ffff:192.0.2.1").subarray(10),
    Uint8Array.of(255, 255, 192, 0, 2, 1),
  );
  assert.equal(bytesToIpv6(ipv6ToBytes("2001:DB8:0:0:1:0:0:1")), "2001:db8::1:0:0:1");
  assert.equal(bytesToIpv6(ipv6ToBytes("2001:db8:0:1:1:1:1:1")), "2001:db8:0:1:1:1:1:1");
  assert.equal(bytesToIpv6(ipv6ToBytes("fe80::")), "fe80::");
  assert.equal(bytesToIpv6(ipv6ToBytes("::1")), "::1");
  assert.equal(bytesToIp(ipv6ToBytes("1:0:0:2:0:0:0:3")), "1:0:0:2::3");
  for (const bad of ["1::2::3", "12345::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "g::", ":::"]) {
    assert.throws(() => ipv6ToBytes(bad), TypeError, bad);
  }
});

Deno.test("parsePrefix accepts CIDR text and masks host bits unless strict", () => {
  const p = parsePrefix("10.0.0.1/32");
  assert.equal(p.afi, 1);
  assert.equal(p.length, 32);
  assert.equal(formatPrefix(p), "10.0.0.1/32");
  assert.equal(formatPrefix(parsePrefix("10.1.2.3/20")), "10.1.0.0/20");
  assert.throws(() => parsePrefix("10.1.2.3/20", { strict: true }), TypeError);
  const v6 = parsePrefix("2001:db8::/64");
  assert.equal(v6.afi, 2);
  assert.equal(v6.addr, "20010db8000000000000000000000000");
  assert.equal(formatPrefix(v6), "2001:db8::/64");
  assert.equal(formatPrefix(parsePrefix("192.0.2.7")), "192.0.2.7/32");
  for (
    const bad of ["10.0.0.0/33", "2001:db8::/129", "10.0.0/8", "x/8", "10.0.0.0/", "10.0.0.0/-1"]
  ) {
    assert.throws(() => parsePrefix(bad), TypeError, bad);
  }
});

Deno.test("prefixKey is unique per route and equal for equal routes", () => {
  const texts = [
    "10.0.0.0/8",
    "10.0.0.0/9",
    "10.0.0.0/32",
    "0.0.0.0/0",
    "::/0",
    "::/1",
    "2001:db8::/32",
  ];
  const keys = new Set(texts.map((t) => prefixKey(parsePrefix(t))));
  assert.equal(keys.size, texts.length);
  assert.equal(prefixKey(parsePrefix("10.1.2.3/8")), prefixKey(parsePrefix("10.0.0.0/8")));
  assert.ok(prefixEquals(parsePrefix("10.1.2.3/8"), parsePrefix("10.0.0.0/8")));
  assert.ok(!prefixEquals(parsePrefix("10.0.0.0/8"), parsePrefix("10.0.0.0/16")));
});

Deno.test("prefixes hold their address bits only: parsed, read from bytes, byte by byte", () => {
  const cases: [string, number[], string][] = [
    ["255.255.255.255/32", [255, 255, 255, 255], "255.255.255.255/32"],
    ["128.7.0.0/1", [128], "128.0.0.0/1"],
    ["192.168.1.129/25", [192, 168, 1, 128], "192.168.1.128/25"],
    ["0.0.0.0/0", [], "0.0.0.0/0"],
    ["2001:db8:ffff::1/35", [0x20, 0x01, 0x0d, 0xb8, 0xe0], "2001:db8:e000::/35"],
    ["ffff::ffff/128", [0xff, 0xff, ...new Array(12).fill(0), 0xff, 0xff], "ffff::ffff/128"],
  ];
  for (const [text, wire, canonical] of cases) {
    const p = parsePrefix(text);
    const fromWire = makePrefix(p.afi, Uint8Array.from(wire), p.length);
    assert.ok(prefixEquals(p, fromWire), text);
    assert.equal(formatPrefix(fromWire), canonical);
    const bytes = [];
    for (let i = 0; i < wire.length; i++) bytes.push(p.afi === 1 ? ipv4Byte(p, i) : ipv6Byte(p, i));
    assert.deepEqual(bytes, wire, text);
  }
  // Bits past the length on the wire are dropped, not kept in the prefix.
  assert.equal(formatPrefix(makePrefix(1, Uint8Array.of(10, 255), 9)), "10.128.0.0/9");
  // An address past 2^31 is held as its signed 32 bits (a small integer, never a double).
  assert.equal(makePrefix(1, Uint8Array.of(200, 1, 2, 3), 32).addr, (200 * 2 ** 24 + 66051) | 0);
  assert.equal(parsePrefix("255.255.255.255").addr, -1);
});
