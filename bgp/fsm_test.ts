import assert from "node:assert/strict";
import { BgpError } from "./errors.ts";
import { backoffDelay, buildOpen, checkOpen, type OpenPolicy } from "./fsm.ts";
import { FakeClock } from "./timers.ts";
import type { OpenMessage } from "./types.ts";

const policy: OpenPolicy = {
  localAsn: 65001,
  peerAsn: 65002,
  routerId: "192.0.2.1",
  holdTimeMs: 90_000,
  families: ["ipv4", "ipv6"],
};

function peerOpen(over: Partial<OpenMessage> = {}): OpenMessage {
  return {
    type: 1,
    version: 4,
    myAs: 65002,
    holdTime: 30,
    routerId: "192.0.2.2",
    capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 65, asn: 65002 }],
    ...over,
  };
}

function rejects(open: OpenMessage, p: OpenPolicy = policy): [number, number] {
  try {
    checkOpen(open, p);
  } catch (err) {
    assert.ok(err instanceof BgpError);
    return [err.code, err.subcode];
  }
  assert.fail("OPEN was accepted");
}

Deno.test("backoff: at once, then 1 s doubling, capped at 2 minutes", () => {
  const seq = Array.from({ length: 12 }, (_, i) => backoffDelay(i + 1));
  assert.deepEqual(seq, [
    0,
    1000,
    2000,
    4000,
    8000,
    16000,
    32000,
    64000,
    120000,
    120000,
    120000,
    120000,
  ]);
});

Deno.test("negotiation: minimum hold, keepalive a third, families intersected", () => {
  const n = checkOpen(peerOpen(), policy);
  assert.equal(n.holdTimeMs, 30_000);
  assert.equal(n.keepaliveMs, 10_000);
  assert.deepEqual(n.families, ["ipv4"]);
  assert.equal(n.fourOctetAs, true);
  assert.equal(n.routeRefresh, false);
  const none = checkOpen(peerOpen({ capabilities: [] }), policy);
  assert.deepEqual(none.families, ["ipv4"], "no MP capability means IPv4 unicast");
  assert.equal(none.fourOctetAs, false);
  const zero = checkOpen(peerOpen({ holdTime: 0 }), policy);
  assert.deepEqual([zero.holdTimeMs, zero.keepaliveMs], [0, 0]);
  const tooSlow = checkOpen(peerOpen({ holdTime: 9 }), { ...policy, keepaliveMs: 20_000 });
  assert.equal(tooSlow.keepaliveMs, 3000, "a keepalive above the hold time falls back to hold/3");
});

Deno.test("OPEN errors carry RFC 4271 subcodes", () => {
  assert.deepEqual(rejects(peerOpen({ version: 3 })), [2, 1]);
  assert.deepEqual(rejects(peerOpen({ myAs: 65002, capabilities: [{ code: 65, asn: 7 }] })), [
    2,
    2,
  ]);
  assert.deepEqual(rejects(peerOpen({ myAs: 7, capabilities: [] })), [2, 2]);
  assert.deepEqual(rejects(peerOpen({ holdTime: 1 })), [2, 6]);
  assert.deepEqual(rejects(peerOpen({ routerId: "0.0.0.0" })), [2, 3]);
  const ibgp = { ...policy, peerAsn: 65001 };
  const same = peerOpen({ myAs: 65001, routerId: "192.0.2.1", capabilities: [] });
  assert.deepEqual(rejects(same, ibgp), [2, 3]);
  assert.equal(checkOpen(same, { ...ibgp, allowSameRouterId: true }).peerAsn, 65001);
  // eBGP peers may share our router ID (RFC 6286 relaxes it per AS).
  assert.equal(checkOpen(peerOpen({ routerId: "192.0.2.1" }), policy).peerAsn, 65002);
  assert.equal(checkOpen(peerOpen({ myAs: 1 }), { ...policy, peerAsn: undefined }).peerAsn, 65002);
});

Deno.test("our OPEN: AS_TRANS for 4-octet ASNs, capabilities", () => {
  const o = buildOpen({ ...policy, localAsn: 4_200_000_000, gracefulRestartTimeS: 120 });
  assert.equal(o.myAs, 23456);
  assert.equal(o.holdTime, 90);
  const codes = o.capabilities.map((c) => c.code);
  assert.deepEqual(codes, [1, 1, 2, 65, 64]);
});

Deno.test("FakeClock fires timers in order, including ones scheduled while advancing", () => {
  const c = new FakeClock(0);
  const fired: string[] = [];
  c.setTimeout(() => {
    fired.push(`a@${c.now()}`);
    c.setTimeout(() => fired.push(`c@${c.now()}`), 5);
  }, 10);
  const b = c.setTimeout(() => fired.push("b"), 12);
  c.setTimeout(() => fired.push(`d@${c.now()}`), 20);
  c.clearTimeout(b);
  c.advance(15);
  assert.deepEqual(fired, ["a@10", "c@15"]);
  assert.deepEqual(c.pendingDelays(), [5]);
  c.advance(5);
  assert.deepEqual(fired, ["a@10", "c@15", "d@20"]);
  assert.equal(c.now(), 20);
});
