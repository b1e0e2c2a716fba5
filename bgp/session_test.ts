import assert from "node:assert/strict";
import { BgpSession, type SessionConfig } from "./session.ts";
import { FakeClock } from "./timers.ts";
import { type Conn, type MemoryConn, memoryPipe } from "./transport.ts";
import { decodeMessage, encodeMessage, FrameReader } from "./packets.ts";
import { formatPrefix, ipv4Byte, parsePrefix, prefixKey } from "./prefix.ts";
import type { Message, NotificationMessage, OpenMessage, Prefix, UpdateMessage } from "./types.ts";
import type { Route } from "./adj_rib_out.ts";
import { createLogger, type Logger } from "../api/log.ts";

/** Lets pending promise callbacks and pipe deliveries run; no wall-clock waiting. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 0));
}

/** The far end of a memory pipe, speaking BGP by hand. */
class FakePeer {
  readonly conn: MemoryConn;
  readonly got: Message[] = [];
  readonly frames: Uint8Array[] = [];
  ctx = { fourOctetAs: true };
  constructor(conn: MemoryConn) {
    this.conn = conn;
    this.#loop();
  }
  async #loop() {
    const reader = new FrameReader();
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await this.conn.read(buf);
      if (n === null) return;
      reader.push(buf.slice(0, n));
      for (let f = reader.next(); f; f = reader.next()) {
        this.frames.push(f);
        this.got.push(decodeMessage(f, this.ctx));
      }
    }
  }
  send(msg: Message) {
    return this.conn.write(encodeMessage(msg, this.ctx));
  }
  sendOpen(over: Partial<OpenMessage> = {}, asn = 65002) {
    return this.send({
      type: 1,
      version: 4,
      myAs: asn > 0xffff ? 23456 : asn,
      holdTime: 90,
      routerId: "192.0.2.2",
      capabilities: [
        { code: 1, afi: 1, safi: 1 },
        { code: 1, afi: 2, safi: 1 },
        { code: 2 },
        { code: 65, asn },
      ],
      ...over,
    });
  }
  of<T extends Message["type"]>(type: T): Extract<Message, { type: T }>[] {
    return this.got.filter((m) => m.type === type) as Extract<Message, { type: T }>[];
  }
  notifications(): NotificationMessage[] {
    return this.of(3);
  }
  updates(): UpdateMessage[] {
    return this.of(2);
  }
}

interface Harness {
  clock: FakeClock;
  session: BgpSession;
  peers: FakePeer[];
  attempts: number[];
  states: string[];
  fail: { on: boolean };
}

function harness(
  over: Partial<SessionConfig> = {},
  opts: { wrap?: (c: Conn) => Conn; logger?: Logger; random?: () => number } = {},
) {
  const clock = new FakeClock();
  const peers: FakePeer[] = [];
  const attempts: number[] = [];
  const fail = { on: false, hang: false };
  const connector = (_addr: string, _port: number): Promise<Conn> => {
    attempts.push(clock.now());
    if (fail.hang) return new Promise(() => {});
    if (fail.on) return Promise.reject(new Deno.errors.ConnectionRefused("refused"));
    const [a, b] = memoryPipe();
    peers.push(new FakePeer(b));
    return Promise.resolve(opts.wrap ? opts.wrap(a) : a);
  };
  const session = new BgpSession({
    localAsn: 65001,
    peerAsn: 65002,
    peerAddress: "192.0.2.2",
    routerId: "192.0.2.1",
    // IPv6 routes over this IPv4 session need one (see the held-back test).
    nextHopV6: "2001:db8::1:1",
    ...over,
  }, { clock, connector, logger: opts.logger, random: opts.random ?? (() => 0) });
  const states: string[] = [];
  session.on("state", (s) => states.push(s));
  return { clock, session, peers, attempts, states, fail };
}

/** Starts the session and completes the OPEN/KEEPALIVE exchange. */
async function establish(h: ReturnType<typeof harness>, open: Partial<OpenMessage> = {}) {
  h.session.start();
  await settle();
  const peer = h.peers.at(-1)!;
  await peer.sendOpen(open);
  await peer.send({ type: 4 });
  await settle();
  assert.equal(h.session.state, "Established");
  return peer;
}

function keyOf(text: string): string {
  return prefixKey(parsePrefix(text));
}

function route(text: string, attributes: Route["attributes"] = {}): Route {
  return { prefix: parsePrefix(text), attributes };
}

function retryDelays(h: ReturnType<typeof harness>): number[] {
  return h.attempts.slice(1).map((t, i) => t - h.attempts[i]);
}

Deno.test("connect failures back off 1, 2, 4 … s up to 120 s (no jitter drawn)", async () => {
  const h = harness();
  h.fail.on = true;
  h.session.start();
  for (let i = 0; i < 11; i++) {
    await settle();
    assert.equal(h.session.state, "Active");
    h.clock.advance(h.clock.pendingDelays()[0]);
  }
  await settle();
  assert.deepEqual(
    retryDelays(h),
    [1000, 2000, 4000, 8000, 16000, 32000, 64000, 120000, 120000, 120000, 120000],
  );
  assert.deepEqual(h.states.slice(0, 4), ["Connect", "Active", "Connect", "Active"]);
  assert.match(h.session.stats().lastError ?? "", /refused/);
  await h.session.stop();
  assert.equal(h.session.state, "Idle");
  assert.deepEqual(h.clock.pendingDelays(), []);
});

Deno.test("reconnects of two sessions are jittered apart", async () => {
  const a = harness({}, { random: () => 0.1 });
  const b = harness({}, { random: () => 0.9 });
  for (const h of [a, b]) {
    h.fail.on = true;
    h.session.start();
  }
  await settle();
  const [da] = a.clock.pendingDelays();
  const [db] = b.clock.pendingDelays();
  assert.notEqual(da, db, "same delay: the two speakers would redial in lockstep");
  for (const d of [da, db]) assert.ok(d >= 750 && d <= 1000, `delay ${d}`);
  await a.session.stop();
  await b.session.stop();
});

Deno.test("connectRetryMs (MetalLB connectTime) is the retry interval, not a timeout", async () => {
  const h = harness({ connectRetryMs: 30_000 });
  h.fail.on = true;
  h.session.start();
  for (let i = 0; i < 4; i++) {
    await settle();
    h.clock.advance(h.clock.pendingDelays()[0]);
  }
  await settle();
  assert.deepEqual(retryDelays(h), [30_000, 30_000, 30_000, 30_000]);
  await h.session.stop();
});

Deno.test("a connect that hangs is bounded by connectTimeoutMs", async () => {
  const h = harness({ connectTimeoutMs: 5000 });
  h.fail.hang = true;
  h.session.start();
  await settle();
  assert.equal(h.session.state, "Connect");
  h.clock.advance(4999);
  await settle();
  assert.equal(h.session.state, "Connect");
  h.clock.advance(1);
  await settle();
  assert.equal(h.session.state, "Active");
  assert.match(h.session.stats().lastError ?? "", /timed out after 5000 ms/);
  await h.session.stop();
});

Deno.test("OPEN with the wrong peer AS gets NOTIFICATION 2/2, then backoff", async () => {
  const h = harness();
  h.session.start();
  await settle();
  const peer = h.peers[0];
  assert.equal(h.session.state, "OpenSent");
  const ours = peer.of(1)[0];
  assert.equal(ours.myAs, 65001);
  assert.equal(ours.holdTime, 90);
  await peer.sendOpen({}, 65099);
  await settle();
  const frame = peer.frames.at(-1)!;
  assert.equal(frame[18], 3, "NOTIFICATION type");
  assert.deepEqual([frame[19], frame[20]], [2, 2]);
  assert.ok(peer.conn.closed);
  assert.equal(h.session.state, "Idle");
  assert.deepEqual(h.clock.pendingDelays(), [1000]);
  h.clock.advance(1000);
  await settle();
  assert.equal(h.peers.length, 2, "retried after 1 s");
  await h.peers[1].sendOpen({}, 65099);
  await settle();
  assert.deepEqual(h.clock.pendingDelays(), [2000], "second failure waits 2 s");
  await h.session.stop();
});

Deno.test("OPEN checks: version, hold time, router ID", async () => {
  const cases: [Partial<OpenMessage>, number, number][] = [
    [{ version: 3 }, 2, 1],
    [{ holdTime: 2 }, 2, 6],
    [{ routerId: "0.0.0.0" }, 2, 3],
  ];
  for (const [open, code, subcode] of cases) {
    const h = harness();
    h.session.start();
    await settle();
    await h.peers[0].sendOpen(open);
    await settle();
    const n = h.peers[0].notifications();
    assert.equal(n.length, 1, JSON.stringify(open));
    assert.deepEqual([n[0].code, n[0].subcode], [code, subcode]);
    await h.session.stop();
  }
  // iBGP peer with our own router ID.
  const h = harness({ peerAsn: 65001 });
  h.session.start();
  await settle();
  await h.peers[0].sendOpen({ routerId: "192.0.2.1" }, 65001);
  await settle();
  assert.deepEqual(h.peers[0].notifications().map((n) => [n.code, n.subcode]), [[2, 3]]);
  await h.session.stop();
});

Deno.test("4-octet peer AS is taken from the capability", async () => {
  const h = harness({ peerAsn: 4_200_000_000, localAsn: 4_200_000_001 });
  h.session.start();
  await settle();
  const ours = h.peers[0].of(1)[0];
  assert.equal(ours.myAs, 23456);
  assert.ok(ours.capabilities.some((c) => c.code === 65 && "asn" in c && c.asn === 4_200_000_001));
  await h.peers[0].sendOpen({}, 4_200_000_000);
  await h.peers[0].send({ type: 4 });
  await settle();
  assert.equal(h.session.state, "Established");
  await h.session.stop();
});

Deno.test("hold timer expiry sends NOTIFICATION 4/0 and closes", async () => {
  const h = harness();
  const peer = await establish(h, { holdTime: 9 });
  h.clock.advance(8000);
  await peer.send({ type: 4 });
  await settle();
  h.clock.advance(8000);
  await settle();
  assert.equal(h.session.state, "Established", "a KEEPALIVE restarted the hold timer");
  h.clock.advance(1000);
  await settle();
  assert.deepEqual(peer.notifications().map((n) => [n.code, n.subcode]), [[4, 0]]);
  assert.ok(peer.conn.closed);
  assert.notEqual(h.session.state, "Established");
  await h.session.stop();
});

Deno.test("keepalives every third of the negotiated (minimum) hold time", async () => {
  for (const [ours, theirs, every] of [[90_000, 30, 10_000], [9_000, 90, 3_000]]) {
    const h = harness({ holdTimeMs: ours });
    const peer = await establish(h, { holdTime: theirs });
    const base = peer.of(4).length;
    for (let i = 1; i <= 6; i++) {
      h.clock.advance(every - 1);
      await settle();
      assert.equal(peer.of(4).length, base + i - 1);
      h.clock.advance(1);
      await settle();
      assert.equal(peer.of(4).length, base + i, `keepalive ${i} at ${every} ms cadence`);
      await peer.send({ type: 4 });
    }
    await h.session.stop();
  }
});

Deno.test("configured keepalive overrides hold/3", async () => {
  const h = harness({ keepaliveMs: 5000 });
  const peer = await establish(h, { holdTime: 90 });
  const base = peer.of(4).length;
  h.clock.advance(5000);
  await settle();
  assert.equal(peer.of(4).length, base + 1);
  await h.session.stop();
});

Deno.test("hold time 0 disables hold and keepalive timers", async () => {
  const h = harness();
  const peer = await establish(h, { holdTime: 0 });
  const base = peer.of(4).length;
  h.clock.advance(3_600_000);
  await settle();
  assert.equal(h.session.state, "Established");
  assert.equal(peer.of(4).length, base);
  await h.session.stop();
});

Deno.test("stop() sends Cease/administrative shutdown 6/2 then closes", async () => {
  const h = harness();
  const peer = await establish(h);
  await h.session.stop();
  await settle();
  const frame = peer.frames.at(-1)!;
  assert.deepEqual([frame[18], frame[19], frame[20]], [3, 6, 2]);
  assert.ok(peer.conn.closed);
  assert.equal(h.session.state, "Idle");
  assert.deepEqual(h.clock.pendingDelays(), [], "no reconnect after stop");
});

Deno.test("a NOTIFICATION from the peer closes and backs off", async () => {
  const h = harness();
  const peer = await establish(h);
  await peer.send({ type: 3, code: 6, subcode: 4, data: new Uint8Array() });
  await settle();
  assert.ok(peer.conn.closed);
  assert.equal(h.session.state, "Idle");
  assert.match(h.session.stats().lastError ?? "", /Administrative Reset/);
  // Established reset the backoff: first retry is immediate.
  assert.deepEqual(h.clock.pendingDelays(), [1000]);
  await h.session.stop();
});

Deno.test("a malformed message gets the codec's NOTIFICATION, close, backoff", async () => {
  const h = harness();
  const peer = await establish(h);
  const bad = new Uint8Array(19).fill(0xff);
  bad[0] = 0; // broken marker
  bad[17] = 19;
  bad[18] = 4;
  await peer.conn.write(bad);
  await settle();
  const n = peer.notifications();
  assert.equal(n.length, 1);
  assert.equal(n[0].code, 1, "Message Header Error");
  assert.ok(peer.conn.closed);
  assert.deepEqual(h.clock.pendingDelays(), [1000]);
  await h.session.stop();
});

Deno.test("an UPDATE before the session is up is an FSM error", async () => {
  const h = harness();
  h.session.start();
  await settle();
  await h.peers[0].send({ type: 2, withdrawn: [], attributes: {}, nlri: [] });
  await settle();
  assert.deepEqual(h.peers[0].notifications().map((n) => [n.code, n.subcode]), [[5, 1]]);
  await h.session.stop();
});

/** The last byte of an IPv4 prefix's address (-1 for IPv6). */
function lastByte(p: Prefix): number {
  return p.afi === 1 ? ipv4Byte(p, 3) : -1;
}

function announced(peer: FakePeer): string[] {
  const out: string[] = [];
  for (const u of peer.updates()) {
    for (const p of [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])]) {
      out.push(`${p.afi}:${formatPrefix(p)}`);
    }
  }
  return out;
}

Deno.test("initial table, then only differences; route changes never reset", async () => {
  const h = harness();
  h.session.setRoutes([route("10.0.0.1/32"), route("2001:db8::1/128")]);
  const peer = await establish(h);
  const est = h.session.stats().establishedAt;
  assert.equal(announced(peer).length, 2);
  const before = peer.updates().length;
  h.session.setRoutes([route("10.0.0.1/32"), route("10.0.0.2/32", { communities: [1] })]);
  await settle();
  const fresh = peer.updates().slice(before);
  assert.equal(fresh.length, 2, "one IPv6 withdraw, one IPv4 announce");
  assert.deepEqual(fresh[0].attributes.mpUnreach?.withdrawn.length, 1);
  assert.deepEqual(fresh[1].nlri.map((p) => lastByte(p)), [2]);
  assert.equal(h.session.state, "Established");
  assert.equal(h.session.stats().establishedAt, est);
  const s = h.session.stats();
  assert.equal(s.prefixesSent, 2);
  assert.equal(s.prefixesPending, 0);
  assert.equal(s.peer, "192.0.2.2:179");
  await h.session.stop();
});

Deno.test("setRoutes calls in one tick collapse into one diff", async () => {
  const h = harness();
  const peer = await establish(h);
  const before = peer.updates().length;
  h.session.setRoutes([route("10.0.0.1/32")]);
  h.session.setRoutes([route("10.0.0.2/32")]);
  h.session.setRoutes([route("10.0.0.3/32")]);
  await settle();
  const fresh = peer.updates().slice(before);
  assert.equal(fresh.length, 1);
  assert.deepEqual(fresh[0].nlri.map((p) => lastByte(p)), [3]);
  assert.deepEqual(fresh[0].withdrawn, []);
  await h.session.stop();
});

Deno.test("setRoutes during a slow write collapses into one diff, not a queue", async () => {
  let gate: (() => void) | undefined;
  let gated = false;
  const wrap = (c: Conn): Conn => ({
    read: (b) => c.read(b),
    write: async (b) => {
      if (gated) await new Promise<void>((r) => (gate = r));
      return c.write(b);
    },
    close: () => c.close(),
    localAddr: c.localAddr,
    remoteAddr: c.remoteAddr,
  });
  const h = harness({ holdTimeMs: 0 }, { wrap });
  const peer = await establish(h, { holdTime: 0 });
  const before = peer.updates().length;
  gated = true;
  h.session.setRoutes([route("10.0.0.1/32")]);
  await settle();
  assert.ok(gate, "first write is in flight");
  h.session.setRoutes([route("10.0.0.2/32")]);
  await settle();
  h.session.setRoutes([route("10.0.0.3/32")]);
  await settle();
  gated = false;
  gate!();
  await settle();
  const fresh = peer.updates().slice(before);
  // The in-flight UPDATE for .1, then one diff straight to the final table: .2 never goes out.
  const seen = fresh.map((
    u,
  ) => [u.withdrawn.map((p) => lastByte(p)), u.nlri.map((p) => lastByte(p))]);
  assert.deepEqual(seen, [[[], [1]], [[1], []], [[], [3]]]);
  await h.session.stop();
});

Deno.test("route refresh re-sends the whole Adj-RIB-Out", async () => {
  const h = harness();
  h.session.setRoutes([route("10.0.0.1/32"), route("10.0.0.2/32"), route("2001:db8::/64")]);
  const peer = await establish(h);
  const first = announced(peer);
  assert.equal(first.length, 3);
  await peer.send({ type: 5, afi: 1, safi: 1 });
  await settle();
  assert.deepEqual(announced(peer).slice(3).sort(), first.sort());
  await h.session.stop();
});

Deno.test("graceful restart: capability announced, End-of-RIB after the initial table", async () => {
  const h = harness({ gracefulRestart: true, gracefulRestartTimeS: 120 });
  h.session.setRoutes([route("10.0.0.1/32"), route("2001:db8::1/128")]);
  const peer = await establish(h);
  const gr = peer.of(1)[0].capabilities.find((c) => c.code === 64);
  assert.ok(gr && "restartTime" in gr && gr.restartTime === 120);
  const ups = peer.updates();
  assert.equal(ups.length, 4);
  const eor = ups.slice(2);
  assert.deepEqual(eor[0], { type: 2, withdrawn: [], attributes: {}, nlri: [] });
  assert.equal(eor[1].attributes.mpUnreach?.afi, 2);
  assert.equal(eor[1].attributes.mpUnreach?.withdrawn.length, 0);
  assert.equal(eor[1].nlri.length + eor[1].withdrawn.length, 0);
  await h.session.stop();
});

Deno.test("without graceful restart no End-of-RIB and no capability", async () => {
  const h = harness();
  h.session.setRoutes([route("10.0.0.1/32")]);
  const peer = await establish(h);
  assert.ok(!peer.of(1)[0].capabilities.some((c) => c.code === 64));
  assert.equal(peer.updates().length, 1);
  await h.session.stop();
});

Deno.test("session drop resets the Adj-RIB-Out: the full table goes out again", async () => {
  const h = harness();
  h.session.setRoutes([route("10.0.0.1/32"), route("10.0.0.2/32")]);
  const peer = await establish(h);
  assert.equal(announced(peer).length, 2);
  peer.conn.close();
  await settle();
  assert.equal(h.session.stats().prefixesSent, 0);
  assert.equal(h.session.stats().prefixesPending, 2);
  h.clock.advance(1000);
  await settle();
  const again = h.peers[1];
  await again.sendOpen();
  await again.send({ type: 4 });
  await settle();
  assert.equal(announced(again).length, 2);
  await h.session.stop();
});

Deno.test("received UPDATEs are counted in the Adj-RIB-In, withdrawals applied", async () => {
  const h = harness();
  const peer = await establish(h);
  const got: UpdateMessage[] = [];
  h.session.on("update", (u) => got.push(u));
  await peer.send({
    type: 2,
    withdrawn: [],
    attributes: { origin: 0, asPath: [{ type: 2, asns: [65002] }], nextHop: "192.0.2.2" },
    nlri: [parsePrefix("198.51.100.0/24"), parsePrefix("198.51.101.0/24")],
  });
  await settle();
  assert.equal(h.session.stats().prefixesReceived, 2);
  await peer.send({
    type: 2,
    withdrawn: [parsePrefix("198.51.100.0/24")],
    attributes: {},
    nlri: [],
  });
  await settle();
  assert.equal(h.session.stats().prefixesReceived, 1);
  assert.equal(h.session.stats().updatesReceived, 2);
  assert.equal(got.length, 2);
  await h.session.stop();
});

Deno.test("iBGP attributes; IPv6 over IPv4 is held back without an IPv6 next hop", async () => {
  const h = harness({ peerAsn: 65001, nextHopV6: undefined });
  h.session.setRoutes([route("10.0.0.1/32"), route("2001:db8::1/128", { localPref: 200 })]);
  h.session.start();
  await settle();
  const peer = h.peers[0];
  await peer.sendOpen({}, 65001);
  await peer.send({ type: 4 });
  await settle();
  const ups = peer.updates();
  assert.equal(ups.length, 1, "only the IPv4 route: ::ffff:a.b.c.d is no usable next hop");
  assert.deepEqual(ups[0].attributes.asPath, []);
  assert.equal(ups[0].attributes.localPref, 100);
  assert.equal(ups[0].attributes.nextHop, "192.0.2.1");
  assert.equal(ups[0].attributes.mpReach, undefined);
  assert.equal(h.session.stats().prefixesPending, 1);
  assert.equal(h.session.routeState(keyOf("2001:db8::1/128")), "pending");
  assert.equal(h.session.routeState(keyOf("10.0.0.1/32")), "sent");
  assert.equal(h.session.routeState(keyOf("10.9.9.9/32")), "absent");
  await h.session.stop();
  assert.equal(h.session.routeState(keyOf("10.0.0.1/32")), "pending", "not held once stopped");

  const e = harness({ nextHopV6: "2001:db8::99" });
  e.session.setRoutes([route("10.0.0.1/32", { localPref: 300 }), route("2001:db8::1/128")]);
  const ep = await establish(e);
  const [ev4, ev6] = ep.updates();
  assert.deepEqual(ev4.attributes.asPath, [{ type: 2, asns: [65001] }]);
  assert.equal(ev4.attributes.localPref, undefined);
  assert.deepEqual(ev6.attributes.mpReach?.nextHops, ["2001:db8::99"]);
  assert.equal(e.session.routeState(keyOf("2001:db8::1/128")), "sent");
  await e.session.stop();
});

Deno.test("a configured sourceAddress is reported once as not honoured", async () => {
  const lines: string[] = [];
  const logger = createLogger({ write: (l) => lines.push(l) });
  const h = harness({ sourceAddress: "192.0.2.10" }, { logger });
  h.fail.on = true;
  h.session.start();
  await settle();
  h.clock.advance(1000);
  await settle();
  await h.session.stop();
  h.session.start();
  await h.session.stop();
  const warnings = lines.map((l) => JSON.parse(l)).filter((l) => l.sourceAddress);
  assert.equal(warnings.length, 1);
  assert.equal(warnings[0].level, "warn");
  assert.match(warnings[0].msg, /cannot be honoured/);
  assert.equal(h.attempts.length, 3, "the session still connects");
});

Deno.test("backoff resets once a session reached Established", async () => {
  const h = harness();
  h.fail.on = true;
  h.session.start();
  for (let i = 0; i < 4; i++) {
    await settle();
    h.clock.advance(h.clock.pendingDelays()[0]);
  }
  await settle();
  assert.deepEqual(h.clock.pendingDelays(), [16000], "backoff grew while the peer was down");
  h.fail.on = false;
  h.clock.advance(16000);
  await settle();
  const peer = h.peers[0];
  await peer.sendOpen();
  await peer.send({ type: 4 });
  await settle();
  assert.equal(h.session.state, "Established");
  peer.conn.close();
  await settle();
  assert.deepEqual(h.clock.pendingDelays(), [1000], "a good session restarts the backoff");
  h.clock.advance(1000);
  await settle();
  h.peers[1].conn.close(); // dropped again before OPEN
  await settle();
  assert.deepEqual(h.clock.pendingDelays(), [2000]);
  await h.session.stop();
});

Deno.test("OpenSent gives the peer 4 minutes to send its OPEN", async () => {
  const h = harness();
  h.session.start();
  await settle();
  h.clock.advance(239_999);
  await settle();
  assert.equal(h.session.state, "OpenSent");
  h.clock.advance(1);
  await settle();
  assert.deepEqual(h.peers[0].notifications().map((n) => [n.code, n.subcode]), [[4, 0]]);
  assert.equal(h.session.state, "Idle");
  await h.session.stop();
});

Deno.test("state events follow RFC 4271 order up to Established", async () => {
  const h = harness();
  await establish(h);
  assert.deepEqual(h.states, ["Connect", "OpenSent", "OpenConfirm", "Established"]);
  await h.session.stop();
  assert.equal(h.states.at(-1), "Idle");
});

Deno.test("unencodable routes are reported as errors and never reach the peer", async () => {
  const h = harness();
  const errors: Error[] = [];
  h.session.on("error", (e) => errors.push(e));
  const peer = await establish(h);
  h.session.setRoutes([
    route("10.0.0.1/32", { extendedCommunities: [new Uint8Array(3)] }),
    route("10.0.0.2/32"),
  ]);
  await settle();
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /10\.0\.0\.1\/32: invalid extended community/);
  assert.deepEqual(announced(peer), ["1:10.0.0.2/32"]);
  assert.equal(h.session.state, "Established");
  await h.session.stop();
});

/** The peer's graceful-restart capability, with or without the RFC 8538 N bit. */
function grCaps(notification: boolean, asn = 65002): OpenMessage["capabilities"] {
  return [
    { code: 1, afi: 1, safi: 1 },
    { code: 1, afi: 2, safi: 1 },
    { code: 65, asn },
    {
      code: 64,
      restarting: false,
      notification,
      restartTime: 90,
      families: [{ afi: 1, safi: 1, forwardingPreserved: false }],
    },
  ];
}

/** Code and subcode of the last NOTIFICATION the peer got, or undefined if none. */
function lastNotification(peer: FakePeer): [number, number, number[]] | undefined {
  const n = peer.notifications().at(-1);
  return n ? [n.code, n.subcode, [...n.data]] : undefined;
}

Deno.test("GR with N on both sides: stop() sends Cease 6/2 (peer keeps routes, RFC 8538)", async () => {
  const h = harness({ gracefulRestart: true });
  h.session.setRoutes([route("10.0.0.1/32")]);
  const peer = await establish(h, { capabilities: grCaps(true) });
  const ours = peer.of(1)[0].capabilities.find((c) => c.code === 64);
  assert.ok(ours && "restartTime" in ours && ours.notification === true, "we announce N");
  assert.deepEqual(h.session.stats().gracefulRestart, { notification: true });
  await h.session.stop();
  await settle();
  assert.deepEqual(lastNotification(peer), [6, 2, []]);
  assert.ok(peer.conn.closed);
  assert.equal(h.session.state, "Idle");
  assert.deepEqual(h.clock.pendingDelays(), [], "no reconnect after stop");
});

Deno.test("GR without the peer's N bit: stop() closes TCP with no NOTIFICATION", async () => {
  const h = harness({ gracefulRestart: true });
  h.session.setRoutes([route("10.0.0.1/32")]);
  const peer = await establish(h, { capabilities: grCaps(false) });
  assert.deepEqual(h.session.stats().gracefulRestart, { notification: false });
  await h.session.stop();
  await settle();
  assert.equal(lastNotification(peer), undefined);
  assert.ok(peer.conn.closed, "the connection is closed all the same");
  assert.equal(announced(peer).length, 1, "the table was sent before the quiet close");
  assert.equal(h.session.state, "Idle");
  assert.deepEqual(h.clock.pendingDelays(), [], "no reconnect after stop");
});

Deno.test("GR offered by us only (peer without GR): stop() sends Cease 6/2", async () => {
  const h = harness({ gracefulRestart: true });
  const peer = await establish(h);
  assert.equal(h.session.stats().gracefulRestart, undefined);
  await h.session.stop();
  await settle();
  assert.deepEqual(lastNotification(peer), [6, 2, []]);
});

Deno.test("GR offered by the peer only: stop() sends Cease 6/2", async () => {
  const h = harness();
  const peer = await establish(h, { capabilities: grCaps(true) });
  await h.session.stop();
  await settle();
  assert.deepEqual(lastNotification(peer), [6, 2, []]);
});

Deno.test("stop({hardReset}): 6/9 under RFC 8538, else a 6/2 that drops routes", async () => {
  const h = harness({ gracefulRestart: true });
  const peer = await establish(h, { capabilities: grCaps(true) });
  await h.session.stop({ hardReset: true });
  await settle();
  // RFC 8538 3: the data carries the Cease the hard reset stands for.
  assert.deepEqual(lastNotification(peer), [6, 9, [6, 2]]);

  const g = harness({ gracefulRestart: true });
  const gp = await establish(g, { capabilities: grCaps(false) });
  await g.session.stop({ hardReset: true });
  await settle();
  assert.deepEqual(lastNotification(gp), [6, 2, []]);

  const p = harness();
  const pp = await establish(p);
  await p.session.stop({ hardReset: true });
  await settle();
  assert.deepEqual(lastNotification(pp), [6, 2, []]);
});

Deno.test("gracefulRestartNotification false: no N bit, graceful stop is a quiet close", async () => {
  const h = harness({ gracefulRestart: true, gracefulRestartNotification: false });
  const peer = await establish(h, { capabilities: grCaps(true) });
  const ours = peer.of(1)[0].capabilities.find((c) => c.code === 64);
  assert.ok(ours && "restartTime" in ours && ours.notification === undefined);
  await h.session.stop();
  await settle();
  assert.equal(lastNotification(peer), undefined);
  assert.ok(peer.conn.closed);
});

Deno.test("restarting: R and F bits until the first Established, then F only", async () => {
  const h = harness({ gracefulRestart: true, restarting: true });
  const peer = await establish(h, { capabilities: grCaps(true) });
  const gr = (p: FakePeer) => {
    const c = p.of(1)[0].capabilities.find((x) => x.code === 64);
    assert.ok(c && "restartTime" in c);
    return c;
  };
  assert.equal(gr(peer).restarting, true);
  assert.deepEqual(gr(peer).families.map((f) => f.forwardingPreserved), [true, true]);
  peer.conn.close();
  await settle();
  h.clock.advance(1000);
  await settle();
  const again = h.peers[1];
  assert.equal(gr(again).restarting, false, "a reconnect of a running process is no restart");
  assert.deepEqual(gr(again).families.map((f) => f.forwardingPreserved), [true, true]);
  await h.session.stop();
});

Deno.test("peerAsnPolicy external: any peer AS but ours, eBGP attributes", async () => {
  const h = harness({ peerAsn: undefined, peerAsnPolicy: "external" });
  h.session.setRoutes([route("10.0.0.1/32", { localPref: 300 })]);
  h.session.start();
  await settle();
  const peer = h.peers[0];
  await peer.sendOpen({}, 4200000001);
  await peer.send({ type: 4 });
  await settle();
  assert.equal(h.session.state, "Established");
  assert.equal(h.session.stats().peerAsn, 4200000001);
  const [u] = peer.updates();
  assert.deepEqual(u.attributes.asPath, [{ type: 2, asns: [65001] }]);
  assert.equal(u.attributes.localPref, undefined);
  await h.session.stop();

  const own = harness({ peerAsn: undefined, peerAsnPolicy: "external" });
  own.session.start();
  await settle();
  await own.peers[0].sendOpen({}, 65001);
  await settle();
  assert.deepEqual(lastNotification(own.peers[0])?.slice(0, 2), [2, 2]);
  assert.notEqual(own.session.state, "Established");
  await own.session.stop();
});

Deno.test("peerAsnPolicy internal: only our AS, iBGP attributes", async () => {
  const h = harness({ peerAsn: undefined, peerAsnPolicy: "internal" });
  h.session.setRoutes([route("10.0.0.1/32", { localPref: 300 })]);
  h.session.start();
  await settle();
  await h.peers[0].sendOpen({}, 65001);
  await h.peers[0].send({ type: 4 });
  await settle();
  assert.equal(h.session.state, "Established");
  const [u] = h.peers[0].updates();
  assert.deepEqual(u.attributes.asPath, []);
  assert.equal(u.attributes.localPref, 300);
  await h.session.stop();

  const other = harness({ peerAsn: undefined, peerAsnPolicy: "internal" });
  other.session.start();
  await settle();
  await other.peers[0].sendOpen({}, 65002);
  await settle();
  assert.deepEqual(lastNotification(other.peers[0])?.slice(0, 2), [2, 2]);
  await other.session.stop();
});

Deno.test("peer AS settings that cannot work are rejected up front", () => {
  const base = { localAsn: 65001, peerAddress: "192.0.2.2", routerId: "192.0.2.1" };
  assert.throws(() => new BgpSession(base), /peerAsn or peerAsnPolicy is required/);
  assert.throws(
    () => new BgpSession({ ...base, peerAsn: 65002, peerAsnPolicy: "internal" }),
    /contradicts/,
  );
  assert.throws(
    () => new BgpSession({ ...base, peerAsn: 65001, peerAsnPolicy: "external" }),
    /contradicts/,
  );
  assert.throws(
    () => new BgpSession({ ...base, peerAsnPolicy: "both" as "internal" }),
    /peerAsnPolicy "both"/,
  );
  new BgpSession({ ...base, peerAsn: 65001, peerAsnPolicy: "internal" });
});

Deno.test("bulk changes fill UPDATEs: partial tails wait up to coalesceMs, lone changes do not", async () => {
  const h = harness({ coalesceMs: 50 });
  const v4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;
  const table = (n: number) => Array.from({ length: n }, (_, i) => route(v4(i)));
  h.session.setRoutes(table(2000));
  const peer = await establish(h);
  const nlriOf = (u: UpdateMessage) => u.nlri.length;
  const initial = peer.updates().map(nlriOf);
  assert.equal(initial.reduce((a, b) => a + b, 0), 2000, "the initial table is never held");
  const perUpdate = initial[0];
  assert.ok(perUpdate > 700, `${perUpdate} /32s in a full UPDATE`);

  // A cold start's IPs arriving in batches of 1,000: the tails wait for the next batch.
  const before = peer.updates().length;
  for (let b = 1; b <= 4; b++) {
    h.session.setRoutes(table(2000 + 1000 * b));
    await settle();
    h.clock.advance(10);
  }
  assert.ok(h.session.stats().prefixesPending > 0, "a partial tail is waiting");
  h.clock.advance(50);
  await settle();
  const bulk = peer.updates().slice(before).map(nlriOf);
  assert.equal(bulk.reduce((a, b) => a + b, 0), 4000);
  assert.equal(bulk.length, Math.ceil(4000 / perUpdate), `UPDATEs at the packing limit: ${bulk}`);
  assert.equal(h.session.stats().prefixesPending, 0);

  // A lone change long after: sent at once, no timer involved.
  h.clock.advance(1000);
  const n = peer.updates().length;
  h.session.setRoutes(table(6001));
  await settle();
  assert.deepEqual(peer.updates().slice(n).map(nlriOf), [1]);
  await h.session.stop();
});

Deno.test("a large table goes out in batches, still at the packing limit, End-of-RIB last", async () => {
  const h = harness({ gracefulRestart: true });
  const v4 = (i: number) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`;
  // 40,000 routes in one set, and 3,000 with a set each (link bandwidth per Service).
  const routes = Array.from({ length: 40_000 }, (_, i) => route(v4(i)));
  for (let i = 0; i < 3000; i++) routes.push(route(v4(100_000 + i), { med: i }));
  h.session.setRoutes(routes);
  const peer = await establish(h);
  for (let i = 0; i < 20 && h.session.stats().prefixesSent < 43_000; i++) await settle();
  assert.equal(h.session.stats().prefixesSent, 43_000);
  const ups = peer.updates();
  const eor = ups.findIndex((u) =>
    u.nlri.length === 0 && u.withdrawn.length === 0 &&
    !u.attributes.mpUnreach
  );
  assert.ok(
    eor > 0 && ups.slice(eor + 1).every((u) => !u.nlri.length),
    "End-of-RIB after every route",
  );
  const shared = ups.filter((u) => u.nlri.length > 0 && u.attributes.med === undefined);
  const perUpdate = Math.max(...shared.map((u) => u.nlri.length));
  assert.equal(shared.length, Math.ceil(40_000 / perUpdate), "batches do not split UPDATEs");
  await h.session.stop();
});
