import assert from "node:assert/strict";
import { parsePrefix } from "./prefix.ts";
import { ChunkedGroup, packChunks, packUpdates } from "./update_packing.ts";
import type { PathAttributes, Prefix } from "./types.ts";

const ctx = { fourOctetAs: true };

Deno.test("a group cut as prefixes arrive packs exactly as packUpdates cuts it afterwards", () => {
  const attributes: PathAttributes = { origin: 0, asPath: [], nextHop: "192.0.2.1" };
  for (const n of [0, 1, 700, 2000]) {
    // Mixed lengths, so runs are cut by bytes, not by count.
    const prefixes: Prefix[] = Array.from(
      { length: n },
      (_, i) => parsePrefix(`10.${(i >> 8) & 255}.${i & 255}.0/${i % 3 === 0 ? 24 : 32}`),
    );
    const group = new ChunkedGroup({ afi: 1, attributes, ctx });
    for (const p of prefixes) group.add(p);
    const chunked = packChunks([], [group], { nextHopV6: "2001:db8::1" });
    const packed = packUpdates([], [{ afi: 1, attributes, prefixes }], {
      ctx,
      nextHopV6: "2001:db8::1",
    });
    assert.deepEqual(chunked, packed, `${n} prefixes`);
    if (n > 0) assert.equal(group.lastRun().length, packed[packed.length - 1].nlri.length);
  }
});
