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

Deno.test("backoff: 1 s doubling to 2 minutes, jittered down by at most a quarter", () => {
  const ceilings = [1000, 2000, 4000, 8000, 16000, 32000, 64000, 120000, 120000, 120000];
  const top = ceilings.map((_, i) => backoffDelay(i + 1, { random: () => 0 }));
  const bottom = ceilings.map((_, i) => backoffDelay(i + 1, { random: () => 0.999999 }));
  assert.deepEqual(top, ceilings);
  assert.deepEqual(bottom, ceilings.map((c) => Math.round(c * 0.75)));
});

Deno.test("backoff: a fixed retry interval (connectTime) replaces the doubling", () => {
  for (const failures of [1, 2, 9, 30]) {
    assert.equal(backoffDelay(failures, { retryMs: 5000, random: () => 0 }), 5000);
    assert.equal(backoffDelay(failures, { retryMs: 5000, random: () => 0.5 }), 4375);
  }
});

Deno.test("backoff: speakers failing together spread their retries", () => {
  // 50 speakers lose the same router at once: with Math.random their first retries must not
  // coincide (lockstep), and all stay within [750, 1000] ms.
  const delays = Array.from({ length: 50 }, () => backoffDelay(1));
  assert.ok(delays.every((d) => d >= 750 && d <= 1000), delays.join(","));
  assert.ok(new Set(delays).size >= 25, `only ${new Set(delays).size} distinct delays`);
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

Deno.test("dynamic peer AS: external takes any AS but ours, internal only ours", () => {
  const external: OpenPolicy = { ...policy, peerAsn: undefined, peerAsnPolicy: "external" };
  const internal: OpenPolicy = { ...policy, peerAsn: undefined, peerAsnPolicy: "internal" };
  const from = (asn: number) =>
    peerOpen({ myAs: asn > 0xffff ? 23456 : asn, capabilities: [{ code: 65, asn }] });
  assert.equal(checkOpen(from(65002), external).peerAsn, 65002);
  assert.equal(checkOpen(from(4200000000), external).peerAsn, 4200000000);
  assert.deepEqual(rejects(from(65001), external), [2, 2]);
  assert.equal(checkOpen(from(65001), internal).peerAsn, 65001);
  assert.deepEqual(rejects(from(65002), internal), [2, 2]);
  // A pinned peer AS still wins over the policy.
  assert.deepEqual(rejects(from(65003), { ...external, peerAsn: 65002 }), [2, 2]);
});

Deno.test("graceful restart: R, N and F bits in our OPEN; both-sides flags negotiated", () => {
  const grPolicy: OpenPolicy = { ...policy, gracefulRestartTimeS: 120 };
  const capOf = (o: OpenMessage) => {
    const c = o.capabilities.find((x) => x.code === 64);
    assert.ok(c && "restartTime" in c);
    return c;
  };
  const plain = capOf(buildOpen(grPolicy));
  assert.equal(plain.restarting, false);
  assert.equal(plain.notification, true);
  assert.deepEqual(plain.families.map((f) => f.forwardingPreserved), [false, false]);
  const back = capOf(buildOpen({ ...grPolicy, restarting: true, forwardingPreserved: true }));
  assert.equal(back.restarting, true);
  assert.deepEqual(back.families.map((f) => f.forwardingPreserved), [true, true]);
  assert.equal(
    capOf(buildOpen({ ...grPolicy, gracefulRestartNotification: false })).notification,
    undefined,
  );

  const peerGr = (notification: boolean) =>
    peerOpen({
      capabilities: [
        { code: 65, asn: 65002 },
        { code: 64, restarting: false, notification, restartTime: 90, families: [] },
      ],
    });
  const both = checkOpen(peerGr(true), grPolicy);
  assert.deepEqual([both.gracefulRestart, both.gracefulNotification], [true, true]);
  const noN = checkOpen(peerGr(false), grPolicy);
  assert.deepEqual([noN.gracefulRestart, noN.gracefulNotification], [true, false]);
  const oursOff = checkOpen(peerGr(true), policy);
  assert.deepEqual(
    [oursOff.peerGracefulRestart, oursOff.gracefulRestart, oursOff.gracefulNotification],
    [true, false, false],
  );
  const ourNOff = checkOpen(peerGr(true), { ...grPolicy, gracefulRestartNotification: false });
  assert.deepEqual([ourNOff.gracefulRestart, ourNOff.gracefulNotification], [true, false]);
  const peerOff = checkOpen(peerOpen(), grPolicy);
  assert.deepEqual([peerOff.gracefulRestart, peerOff.gracefulNotification], [false, false]);
});
