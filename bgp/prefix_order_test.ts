import assert from "node:assert/strict";
import { formatPrefix, ipv4ToBytes, ipv6ToBytes, parsePrefix, prefixKey } from "./prefix.ts";
import { comparePrefix, findByKey, lowerBound, prefixOfKey } from "./prefix_order.ts";
import type { Prefix } from "./types.ts";

const TEXTS = [
  "0.0.0.0/0",
  "10.0.0.0/8",
  "10.0.0.1/32",
  "10.0.0.2/32",
  "192.168.1.0/24",
  "255.255.255.255/32",
  "::/0",
  "2001:db8::/32",
  "2001:db8::1/128",
  "2001:db8:0:1::/64",
  "fd00::/8",
  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128",
];

Deno.test("prefix keys read back as the same prefix, both families", () => {
  for (const text of TEXTS) {
    assert.equal(formatPrefix(prefixOfKey(prefixKey(parsePrefix(text)))), text);
  }
});

Deno.test("a sorted table finds every key it holds, with or without a hint, and no other", () => {
  const table = TEXTS.map((text) => ({ prefix: parsePrefix(text) }))
    .sort((a, b) => comparePrefix(a.prefix, b.prefix));
  table.forEach((r, i) => {
    const k = prefixKey(r.prefix);
    assert.equal(findByKey(table, k), i, formatPrefix(r.prefix));
    assert.equal(findByKey(table, k, { hint: i }), i);
    assert.equal(findByKey(table, k, { hint: (i + 5) % table.length }), i);
  });
  for (const text of ["10.0.0.3/32", "10.0.0.0/9", "2001:db8::2/128", "2001:db8::/31"]) {
    assert.equal(findByKey(table, prefixKey(parsePrefix(text))), -1, text);
  }
  assert.equal(findByKey([], prefixKey(parsePrefix("10.0.0.1/32"))), -1);
});

Deno.test("lowerBound: the first prefix not before the probe", () => {
  const table: { prefix: Prefix }[] = ["10.0.0.1/32", "10.0.0.3/32", "2001:db8::1/128"]
    .map((text) => ({ prefix: parsePrefix(text) }));
  const at = (text: string) => lowerBound(table, parsePrefix(text));
  assert.equal(at("10.0.0.0/32"), 0);
  assert.equal(at("10.0.0.1/32"), 0);
  assert.equal(at("10.0.0.2/32"), 1);
  assert.equal(at("10.0.0.4/32"), 2);
  assert.equal(at("2001:db8::2/128"), 3);
});

Deno.test("prefix order is the order of the address bytes, then length", () => {
  const bytesOf = (p: Prefix) => {
    const text = formatPrefix(p).split("/")[0];
    return p.afi === 1 ? [...ipv4ToBytes(text)] : [...ipv6ToBytes(text)];
  };
  const byBytes = (a: Prefix, b: Prefix) => {
    if (a.afi !== b.afi) return a.afi - b.afi;
    const x = bytesOf(a);
    const y = bytesOf(b);
    for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
    return a.length - b.length;
  };
  const more = ["127.255.255.255/32", "128.0.0.0/1", "128.0.0.0/2", "a000::/3", "9fff::/16"];
  const all = [...TEXTS, ...more].map((t) => parsePrefix(t));
  for (const a of all) {
    for (const b of all) {
      assert.equal(
        Math.sign(comparePrefix(a, b)),
        Math.sign(byBytes(a, b)),
        `${formatPrefix(a)} ${formatPrefix(b)}`,
      );
    }
  }
});
