import assert from "node:assert/strict";
import { describeRange, formatIP, parseAddressEntry, parseIP, rangePrefixes } from "./ip.ts";
import { parseCommunity } from "./community.ts";

Deno.test("pool entries parse to inclusive bigint intervals", () => {
  const cidr = parseAddressEntry("172.19.0.5/24");
  assert.ok(cidr.ok);
  assert.equal(cidr.value.cidr, "172.19.0.0/24", "host bits are masked like Go's ParseCIDR");
  assert.equal(formatIP(4, cidr.value.start), "172.19.0.0");
  assert.equal(formatIP(4, cidr.value.end), "172.19.0.255");
  const v6 = parseAddressEntry("fc00::/64");
  assert.ok(v6.ok);
  assert.equal(v6.value.end - v6.value.start + 1n, 1n << 64n);
  const range = parseAddressEntry("192.168.10.0-192.168.10.18");
  assert.ok(range.ok);
  assert.equal(range.value.cidr, undefined);
  assert.equal(range.value.end - range.value.start, 18n);
  assert.equal(describeRange(range.value), "192.168.10.0-192.168.10.18");
  for (
    const bad of [
      "10.0.0.0/",
      "10.0.0.0/24/1",
      "010.1.1.1/8",
      "10.0.0.1",
      "1-2-3",
      "fe80::1%eth0/64",
    ]
  ) {
    assert.equal(parseAddressEntry(bad).ok, false, bad);
  }
  assert.equal(parseIP("1.2.3").ok, false);
  assert.equal(parseIP("::ffff:1.2.3.4").ok, true);
});

Deno.test("a range splits into the CIDRs that cover it", () => {
  const prefixes = (text: string) => {
    const r = parseAddressEntry(text);
    assert.ok(r.ok);
    return rangePrefixes(r.value);
  };
  assert.deepEqual(prefixes("192.168.10.0-192.168.10.18"), [28, 31, 32]);
  assert.deepEqual(prefixes("10.0.0.0-10.0.0.255"), [24]);
  assert.deepEqual(prefixes("0.0.0.0/0"), [0]);
  assert.deepEqual(prefixes("fc00::1-fc00::2"), [128, 128]);
});

Deno.test("communities parse as standard or large values", () => {
  assert.deepEqual(parseCommunity("65535:65282"), {
    ok: true,
    value: { kind: "standard", value: 0xffffff02, text: "65535:65282" },
  });
  assert.deepEqual(parseCommunity("large:4200000000:1:2"), {
    ok: true,
    value: {
      kind: "large",
      global: 4200000000,
      local1: 1,
      local2: 2,
      text: "large:4200000000:1:2",
    },
  });
  assert.equal(parseCommunity("1:2:3").ok, false);
  assert.equal(parseCommunity("large:4294967296:1:2").ok, false);
  assert.equal(parseCommunity("-1:2").ok, false);
});

Deno.test("range ends written IPv4-mapped are IPv4, as MetalLB (Go's To4) reads them", () => {
  const r = parseAddressEntry("::ffff:10.0.0.1 - 10.0.0.5");
  assert.ok(r.ok);
  assert.deepEqual([r.value.family, r.value.start, r.value.end], [4, 0x0a000001n, 0x0a000005n]);
  const backwards = parseAddressEntry("::ffff:10.0.0.2-::ffff:10.0.0.1");
  assert.ok(!backwards.ok && /start is after end/.test(backwards.error));
  // Only the mapped block: an IPv4-compatible or other IPv6 address stays IPv6.
  const v6 = parseAddressEntry("::1:a00:1-::1:a00:5");
  assert.ok(v6.ok && v6.value.family === 6);
});
