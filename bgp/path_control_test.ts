/** AS-path prepend and MED through the Adj-RIB-Out to the wire and back. */
import assert from "node:assert/strict";
import { AdjRibOut, type AttributeEnv, validateAttributes } from "./adj_rib_out.ts";
import { decodeMessage, encodeMessage } from "./packets.ts";
import { formatPrefix, parsePrefix } from "./prefix.ts";
import type { UpdateMessage } from "./types.ts";

const ctx = { fourOctetAs: true };
const env = (ibgp: boolean): AttributeEnv => ({
  ibgp,
  localAsn: 65001,
  nextHopV4: "192.0.2.1",
  nextHopV6: "2001:db8::1",
});
const families = { ctx, families: ["ipv4", "ipv6"] as ("ipv4" | "ipv6")[] };

function roundTrip(u: UpdateMessage, c = ctx): UpdateMessage {
  return decodeMessage(encodeMessage(u, c), c) as UpdateMessage;
}

Deno.test("prepend repeats our AS on eBGP, MED goes out as set; both decode back", () => {
  const rib = new AdjRibOut();
  rib.setWanted([
    { prefix: parsePrefix("10.0.0.1/32"), attributes: { asPathPrepend: 3, med: 4294967295 } },
    { prefix: parsePrefix("10.0.0.2/32"), attributes: {} },
    { prefix: parsePrefix("2001:db8::5/128"), attributes: { asPathPrepend: 1, med: 0 } },
  ]);
  const { updates } = rib.takeUpdates(env(false), families);
  const byPrefix = new Map<string, UpdateMessage>();
  for (const u of updates.map((x) => roundTrip(x))) {
    for (const p of [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])]) {
      byPrefix.set(formatPrefix(p), u);
    }
  }
  const a = byPrefix.get("10.0.0.1/32")!.attributes;
  assert.deepEqual(a.asPath?.flatMap((s) => s.asns), [65001, 65001, 65001, 65001]);
  assert.equal(a.med, 4294967295);
  const b = byPrefix.get("10.0.0.2/32")!.attributes;
  assert.deepEqual(b.asPath?.flatMap((s) => s.asns), [65001]);
  assert.equal(b.med, undefined);
  const c = byPrefix.get("2001:db8::5/128")!.attributes;
  assert.deepEqual(c.asPath?.flatMap((s) => s.asns), [65001, 65001]);
  assert.equal(c.med, 0);
});

Deno.test("a 2-octet session carries the prepended path with AS_TRANS and AS4_PATH", () => {
  const rib = new AdjRibOut();
  rib.setWanted([{ prefix: parsePrefix("10.0.0.1/32"), attributes: { asPathPrepend: 2 } }]);
  const wide = { ...env(false), localAsn: 4200000001 };
  const two = { fourOctetAs: false };
  const [u] = rib.takeUpdates(wide, { ctx: two, families: ["ipv4"] }).updates;
  const back = roundTrip(u, two);
  assert.deepEqual(back.attributes.asPath?.flatMap((s) => s.asns), [
    4200000001,
    4200000001,
    4200000001,
  ]);
});

Deno.test("changing only the prepend re-announces the route", () => {
  const rib = new AdjRibOut();
  const prefix = parsePrefix("10.0.0.1/32");
  rib.setWanted([{ prefix, attributes: { med: 5 } }]);
  rib.takeUpdates(env(false), families);
  rib.setWanted([{ prefix, attributes: { med: 5, asPathPrepend: 2 } }]);
  const { updates } = rib.takeUpdates(env(false), families);
  assert.equal(updates.length, 1);
  assert.deepEqual(updates[0].attributes.asPath?.flatMap((s) => s.asns), [65001, 65001, 65001]);
});

Deno.test("iBGP ignores the prepend (the peer would see its own AS) but keeps MED", () => {
  const rib = new AdjRibOut();
  rib.setWanted([{ prefix: parsePrefix("10.0.0.1/32"), attributes: { asPathPrepend: 4, med: 7 } }]);
  const [u] = rib.takeUpdates(env(true), families).updates;
  assert.deepEqual(u.attributes.asPath, []);
  assert.equal(u.attributes.med, 7);
});

Deno.test("validateAttributes rejects a prepend that cannot be encoded", () => {
  assert.equal(validateAttributes({ asPathPrepend: 1.5 }), "asPathPrepend 1.5");
  assert.equal(validateAttributes({ asPathPrepend: -1 }), "asPathPrepend -1");
  assert.equal(validateAttributes({ asPathPrepend: 10 }), undefined);
});
