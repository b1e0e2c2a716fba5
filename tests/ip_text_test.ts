/**
 * Every place that reads or prints address text agrees (issue 19): the shared module
 * `addr/ip.ts`, the allocator's pool entries (ipam/), the configuration checks (api/) and the
 * BGP codec (bgp/). Which texts are addresses follows Go's net.ParseIP, which MetalLB uses
 * (checked against Go 1.26 when this table was written); the output is RFC 5952.
 */
import assert from "node:assert/strict";
import { canonicalIP } from "../addr/ip.ts";
import { formatIP as apiFormat, parseAddressEntry, parseIP as apiParse } from "../api/ip.ts";
import { formatPrefix, parsePrefix } from "../bgp/prefix.ts";
import { bytesToIp, ipToBytes } from "../bgp/prefix.ts";
import { formatRange, parseAddressRange } from "../ipam/addr.ts";

/** Address text and its canonical form, or null where Go's net.ParseIP returns nil. */
const CASES: [string, string | null][] = [
  ["10.0.0.1", "10.0.0.1"],
  ["0.0.0.0", "0.0.0.0"],
  ["255.255.255.255", "255.255.255.255"],
  ["2001:0DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
  ["2001:db8::0001", "2001:db8::1"],
  ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
  ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
  ["1:0:0:2:0:0:3:4", "1::2:0:0:3:4"],
  ["FFFF:ffff:FFFF:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
  ["::", "::"],
  ["::1", "::1"],
  ["1::", "1::"],
  ["fc00::", "fc00::"],
  ["1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ["::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"],
  // IPv4-mapped: Go accepts it too but treats it as the IPv4 address (prints "1.2.3.4", and
  // MetalLB would take "10.0.0.1-::ffff:10.0.0.5" as an IPv4 range); ferrolb keeps it IPv6.
  ["::ffff:1.2.3.4", "::ffff:102:304"],
  ["1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"],
  ["::1.2.3.4", "::102:304"],
  // Spaces: Go does not trim, so neither does any of ours.
  [" 10.0.0.1", null],
  ["10.0.0.1 ", null],
  ["\t::1", null],
  ["::1 ", null],
  ["10.0.0 .1", null],
  ["", null],
  ["1.2.3", null],
  ["1.2.3.4.5", null],
  ["1..2.3", null],
  ["1.2.3.", null],
  ["01.2.3.4", null],
  ["1.2.3.04", null],
  ["256.1.1.1", null],
  ["+1.2.3.4", null],
  ["0x1.2.3.4", null],
  ["\uff11.2.3.4", null],
  [":", null],
  ["1:", null],
  [":1::", null],
  ["1:::2", null],
  ["1::2::3", null],
  ["12345::", null],
  ["::g", null],
  ["1:2:3:4:5:6:7", null],
  ["1:2:3:4:5:6:7:8:9", null],
  ["1:2:3:4::5:6:7:8", null],
  ["1:2:3:4:5:6:7:1.2.3.4", null],
  ["1.2.3.4::", null],
  ["::1.2.3", null],
  ["::01.2.3.4", null],
  ["::ffff:1.2.3.4:5", null],
  ["fe80::1%eth0", null],
];

const bitsOf = (text: string) => text.includes(":") ? 128 : 32;

function orNull<T>(f: () => T): T | null {
  try {
    return f();
  } catch {
    return null;
  }
}

/** Each entry point's reading of one address text, as canonical text or null. */
const ENTRY_POINTS: Record<string, (text: string) => string | null> = {
  "addr canonicalIP": canonicalIP,
  "api parseIP/formatIP": (t) => {
    const r = apiParse(t);
    return r.ok ? apiFormat(r.value.family, r.value.value) : null;
  },
  "api parseAddressEntry (CIDR)": (t) => {
    const r = parseAddressEntry(`${t}/${bitsOf(t)}`);
    return r.ok ? r.value.cidr!.replace(/\/\d+$/, "") : null;
  },
  "ipam parseAddressRange (CIDR)": (t) => {
    const r = parseAddressRange(`${t}/${bitsOf(t)}`);
    return r.ok ? formatRange(r.value).split("-")[0] : null;
  },
  "bgp ipToBytes/bytesToIp": (t) => orNull(() => bytesToIp(ipToBytes(t))),
  "bgp parsePrefix/formatPrefix": (t) =>
    orNull(() => formatPrefix(parsePrefix(t)).replace(/\/\d+$/, "")),
};

Deno.test("address text: every entry point reads and prints the same way", () => {
  const wrong: string[] = [];
  for (const [text, want] of CASES) {
    for (const [name, read] of Object.entries(ENTRY_POINTS)) {
      const got = read(text);
      if (got !== want) wrong.push(`${name}(${JSON.stringify(text)}) = ${got}, want ${want}`);
    }
  }
  assert.deepEqual(wrong, []);
});

Deno.test("pool entries: spaces around a range's ends are trimmed, a CIDR is taken as is", () => {
  // MetalLB's ParseCIDR: net.ParseCIDR(entry) for a CIDR, TrimSpace on each side of a range.
  const cases: [string, string | null][] = [
    ["10.0.0.1 - 10.0.0.5", "10.0.0.1-10.0.0.5"],
    [" 10.0.0.1-10.0.0.5 ", "10.0.0.1-10.0.0.5"],
    ["fc00:: -\tfc00::ff", "fc00::-fc00::ff"],
    ["10.0.0.0/24", "10.0.0.0-10.0.0.255"],
    [" 10.0.0.0/24", null],
    ["10.0.0.0/24 ", null],
    ["10.0.0.0 /24", null],
    ["10.0.0.0/ 24", null],
  ];
  for (const [text, want] of cases) {
    const api = parseAddressEntry(text);
    const ipam = parseAddressRange(text);
    const apiText = api.ok
      ? `${apiFormat(api.value.family, api.value.start)}-${
        apiFormat(api.value.family, api.value.end)
      }`
      : null;
    assert.equal(apiText, want, `api ${JSON.stringify(text)}`);
    assert.equal(ipam.ok ? formatRange(ipam.value) : null, want, `ipam ${JSON.stringify(text)}`);
  }
});

Deno.test("IPv6 values print exactly across the whole 128 bits", () => {
  // formatIPv6 splits the bigint into 32-bit chunks: each chunk boundary must hold.
  const cases: [bigint, string][] = [
    [(1n << 128n) - 1n, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"],
    [1n << 127n, "8000::"],
    [(1n << 96n) | (1n << 64n) | (1n << 32n) | 1n, "0:1:0:1:0:1:0:1"],
    [0xffffffffn << 48n, "::ffff:ffff:0:0:0"],
  ];
  for (const [value, want] of cases) {
    assert.equal(apiFormat(6, value), want);
    const back = apiParse(want);
    assert.ok(back.ok && back.value.value === value, want);
  }
});
