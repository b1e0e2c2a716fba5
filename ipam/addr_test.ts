import assert from "node:assert/strict";
import {
  canonicalIP,
  canonicalKeep,
  formatKeep,
  formatRange,
  parseAddressRange,
  parseIP,
  parsePoolAddresses,
} from "./addr.ts";

Deno.test("addresses print in canonical form (RFC 5952 for IPv6)", () => {
  const cases: [string, string | null][] = [
    ["10.0.0.1", "10.0.0.1"],
    ["0.0.0.0", "0.0.0.0"],
    ["255.255.255.255", "255.255.255.255"],
    ["2001:0DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:db8::0001", "2001:db8::1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["fc00::", "fc00::"],
    ["::ffff:1.2.3.4", "::ffff:102:304"],
    ["1.2.3", null],
    ["01.2.3.4", null],
    ["256.1.1.1", null],
    ["1:::2", null],
    ["1::2::3", null],
    ["12345::", null],
    ["1:2:3:4:5:6:7:8:9", null],
    ["1:2:3:4:5:6:7", null],
    ["1.2.3.4::", null],
    ["", null],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIP(input), want, input);
});

Deno.test("parseIP gives IPv4 as a number and IPv6 as a bigint", () => {
  assert.deepEqual(parseIP("1.2.3.4"), { family: 4, value: 0x01020304 });
  assert.deepEqual(parseIP("::2"), { family: 6, value: 2n });
});

Deno.test("pool addresses: CIDRs and ranges of both families", () => {
  const r = parsePoolAddresses(["172.19.0.0/24", "192.168.10.0-192.168.10.18", "fc00::/120"]);
  assert.ok(r.ok);
  assert.deepEqual(r.value.map(formatRange), [
    "172.19.0.0-172.19.0.255",
    "192.168.10.0-192.168.10.18",
    "fc00::-fc00::ff",
  ]);
  assert.deepEqual(r.value.map((x) => x.family), [4, 4, 6]);
});

Deno.test("pool address errors name the entry", () => {
  const cases: [string, string][] = [
    ["10.0.0.9-10.0.0.1", 'range "10.0.0.9-10.0.0.1" has start after end'],
    ["10.0.0.1-fc00::1", 'range "10.0.0.1-fc00::1" mixes IPv4 and IPv6'],
    ["10.0.0.0/33", 'invalid CIDR "10.0.0.0/33": prefix longer than 32'],
    ["10.0.0.0", 'invalid CIDR "10.0.0.0": no prefix length'],
    ["10.0.0.x/24", 'invalid CIDR "10.0.0.x/24"'],
  ];
  for (const [input, reason] of cases) {
    assert.deepEqual(parseAddressRange(input), { ok: false, reason }, input);
  }
  // Host bits are masked, as Go's net.ParseCIDR does for MetalLB.
  const masked = parseAddressRange("10.0.0.77/30");
  assert.ok(masked.ok);
  assert.equal(formatRange(masked.value), "10.0.0.76-10.0.0.79");
});

Deno.test("canonicalKeep and formatKeep give canonical text, the given text when it is", () => {
  assert.equal(canonicalKeep("10.0.0.1"), "10.0.0.1");
  assert.equal(canonicalKeep("FC00:0:0::1"), "fc00::1");
  assert.equal(canonicalKeep("::ffff:10.0.0.1") !== null, true);
  assert.equal(canonicalKeep("10.0.0"), null);
  assert.equal(formatKeep(parseIP("fc00:0::2")!, "fc00:0::2"), "fc00::2");
  assert.equal(formatKeep(parseIP("10.1.2.3")!, "10.1.2.3"), "10.1.2.3");
});
