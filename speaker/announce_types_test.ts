import assert from "node:assert/strict";
import type { AdvertisementConfig } from "../api/config.ts";
import { comparePrefix, formatPrefix, parsePrefix, type RouteAttributes } from "../bgp/mod.ts";
import {
  anyOf,
  Contribution,
  countsAt,
  localOf,
  readyOf,
  sameCounts,
  type Source,
} from "./announce_types.ts";

Deno.test("endpoint counts: packed while small, an object past 10 bits, read back the same", () => {
  for (const [any, local, ready] of [[0, 0, 0], [3, 1, 1], [1023, 1023, 1023], [1024, 2, 1]]) {
    const c = countsAt([any, local, ready], 0);
    assert.deepEqual([anyOf(c), localOf(c), readyOf(c)], [any, local, ready]);
    assert.equal(typeof c === "number", any < 1024, `${any}`);
    assert.ok(sameCounts(c, countsAt([9, any, local, ready], 1)));
  }
  assert.ok(!sameCounts(countsAt([3, 1, 1], 0), countsAt([3, 1, 0], 0)));
  assert.ok(!sameCounts(countsAt([5000, 1, 1], 0), countsAt([5000, 2, 1], 0)));
  // Zeros past the end of the list.
  assert.equal(anyOf(countsAt([7], 3)), 0);
  assert.deepEqual(countsAt([1, 70000, 2], 0), { any: 1, local: 70000, ready: 2 });
});

Deno.test("a contribution is its prefix: length from its advertisement for the family", () => {
  const ad = { aggregationLength: 24, aggregationLengthV6: 120 } as AdvertisementConfig;
  const source: Source = { ad, attributes: {} as RouteAttributes, peers: null, weight: 0 };
  for (const text of ["192.0.2.0/24", "2001:db8::100/120", "::ffff:192.0.2.0/120"]) {
    const p = parsePrefix(text);
    const k = new Contribution(p, { source, svc: "default/web" });
    // It stands for its prefix (`prefix` is itself while no other Service shares it).
    assert.equal(k.prefix, k as unknown as typeof p);
    assert.equal(formatPrefix(k.prefix), formatPrefix(p));
    assert.deepEqual([k.afi, k.addr, k.length], [p.afi, p.addr, p.length]);
    assert.equal(comparePrefix(k.prefix, p), 0);
  }
  // A prefix of another length than its advertisement's is refused, not misread.
  assert.throws(() =>
    new Contribution(parsePrefix("192.0.2.1/32"), { source, svc: "default/web" })
  );
});
