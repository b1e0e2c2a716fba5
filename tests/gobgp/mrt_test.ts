import assert from "node:assert/strict";
import { encodeMrtIpv4, hostPrefix } from "./mrt.ts";

function records(buf: Uint8Array): { type: number; subtype: number; body: Uint8Array }[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = [];
  for (let off = 0; off < buf.length;) {
    const length = view.getUint32(off + 8);
    out.push({
      type: view.getUint16(off + 4),
      subtype: view.getUint16(off + 6),
      body: buf.subarray(off + 12, off + 12 + length),
    });
    off += 12 + length;
  }
  return out;
}

Deno.test("hostPrefix counts /32s across octet boundaries", () => {
  assert.equal(hostPrefix(0), "10.0.0.0/32");
  assert.equal(hostPrefix(256), "10.0.1.0/32");
  assert.equal(hostPrefix(65_536 + 3, "192.0.2.0"), "192.1.2.3/32");
});

Deno.test("encodeMrtIpv4 writes a peer table then one RIB record per prefix and padding", () => {
  const prefixes = ["10.1.2.0/24", "10.3.0.0/16", "0.0.0.0/0", "10.9.9.9/32"];
  const recs = records(
    encodeMrtIpv4(prefixes, { nextHop: "192.0.2.1", communities: ["65001:7"], padding: 2 }),
  );
  assert.equal(recs.length, 1 + prefixes.length + 2);
  assert.ok(recs.every((r) => r.type === 13));
  assert.equal(recs[0].subtype, 1);
  const decoded = recs.slice(1).map((r) => {
    assert.equal(r.subtype, 2);
    const len = r.body[4];
    const bytes = [...r.body.subarray(5, 5 + Math.ceil(len / 8))];
    while (bytes.length < 4) bytes.push(0);
    return `${bytes.join(".")}/${len}`;
  });
  assert.deepEqual(decoded, [...prefixes, prefixes[0], prefixes[1]]);
  // The RIB entry carries NEXT_HOP 192.0.2.1 and COMMUNITY 65001:7.
  const body = recs[1].body;
  const hex = Array.from(body, (b) => b.toString(16).padStart(2, "0")).join("");
  assert.ok(hex.includes("400304c0000201"), hex);
  assert.ok(hex.includes("c00804fde90007"), hex);
});

Deno.test("encodeMrtIpv4 rejects a malformed prefix", () => {
  assert.throws(() => encodeMrtIpv4(["10.0.0.0/33"], { nextHop: "192.0.2.1" }), RangeError);
  assert.throws(() => encodeMrtIpv4(["10.0.0/8"], { nextHop: "192.0.2.1" }), RangeError);
});
