import assert from "node:assert/strict";
import { type Collector, startCollector } from "./collector.ts";
import { decodeMessage, encodeMessage, FrameReader } from "./packets.ts";
import { parsePrefix } from "./prefix.ts";
import { FakeClock } from "./timers.ts";
import type { Message, OpenMessage } from "./types.ts";
import { runCollector } from "../cmd/collector.ts";

/** A hand-driven BGP speaker over real TCP, to see exactly what the collector sends. */
class RawPeer {
  readonly got: Message[] = [];
  #waiters: (() => void)[] = [];
  ctx = { fourOctetAs: true };
  constructor(readonly conn: Deno.Conn) {
    this.#loop();
  }
  static async connect(c: Collector): Promise<RawPeer> {
    return new RawPeer(await Deno.connect({ hostname: "127.0.0.1", port: c.addr.port }));
  }
  async #loop() {
    const reader = new FrameReader();
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const n = await this.conn.read(buf);
        if (n === null) break;
        reader.push(buf.slice(0, n));
        for (let f = reader.next(); f; f = reader.next()) this.got.push(decodeMessage(f, this.ctx));
        for (const w of this.#waiters.splice(0)) w();
      }
    } catch {
      // closed under us
    }
    for (const w of this.#waiters.splice(0)) w();
  }
  /** Waits until `count` messages of `type` have arrived. */
  async waitFor(type: number, count = 1): Promise<Message[]> {
    for (let i = 0; i < 1000; i++) {
      const list = this.got.filter((m) => m.type === type);
      if (list.length >= count) return list;
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    throw new Error("unreachable");
  }
  async send(msg: Message | Uint8Array) {
    const bytes = msg instanceof Uint8Array ? msg : encodeMessage(msg, this.ctx);
    let off = 0;
    while (off < bytes.length) off += await this.conn.write(bytes.subarray(off));
  }
  async establish(open: Partial<OpenMessage> = {}) {
    await this.send({
      type: 1,
      version: 4,
      myAs: 65005,
      holdTime: 9,
      routerId: "10.1.1.1",
      capabilities: [{ code: 1, afi: 1, safi: 1 }, { code: 1, afi: 2, safi: 1 }, {
        code: 65,
        asn: 65005,
      }],
      ...open,
    });
    await this.waitFor(4);
    await this.send({ type: 4 });
  }
}

const HEADER = [...new Array(16).fill(0xff)];

Deno.test("collector answers OPEN like a router and keeps an Adj-RIB-In", async () => {
  const clock = new FakeClock();
  const collector = await startCollector({
    listen: "127.0.0.1:0",
    asn: 4_200_000_001,
    routerId: "10.255.0.9",
    clock,
  });
  const peer = await RawPeer.connect(collector);
  try {
    await peer.establish();
    const open = (await peer.waitFor(1))[0] as OpenMessage;
    assert.equal(open.myAs, 23456);
    assert.equal(open.holdTime, 90);
    const caps = open.capabilities;
    assert.ok(caps.some((c) => c.code === 65 && "asn" in c && c.asn === 4_200_000_001));
    assert.ok(caps.some((c) => c.code === 1 && "afi" in c && c.afi === 1));
    assert.ok(caps.some((c) => c.code === 1 && "afi" in c && c.afi === 2));
    assert.ok(caps.some((c) => c.code === 2));
    await collector.waitFor(() => collector.peers()[0]?.state === "Established");
    // End-of-RIB for both families once up.
    await peer.waitFor(2, 2);
    assert.equal(collector.peers()[0].holdTimeMs, 9000);

    // Keepalives at a third of the negotiated 9 s.
    const before = peer.got.filter((m) => m.type === 4).length;
    clock.advance(3000);
    await peer.waitFor(4, before + 1);

    await peer.send({
      type: 2,
      withdrawn: [],
      attributes: {
        origin: 0,
        asPath: [{ type: 2, asns: [65005, 65006] }],
        nextHop: "192.0.2.7",
        localPref: 120,
        communities: [0x00010002],
        largeCommunities: [[1, 2, 3]],
        extendedCommunities: [new Uint8Array([0, 2, 0, 1, 0, 0, 0, 9])],
      },
      nlri: [parsePrefix("198.51.100.0/24"), parsePrefix("198.51.101.0/24")],
    });
    await collector.waitFor(() => collector.routes()[0]?.routes.length === 2);
    const r = collector.routes()[0].routes.find((x) => x.prefix === "198.51.100.0/24")!;
    assert.deepEqual(r, {
      prefix: "198.51.100.0/24",
      nextHop: "192.0.2.7",
      asPath: [65005, 65006],
      origin: 0,
      localPref: 120,
      communities: ["1:2"],
      largeCommunities: ["1:2:3"],
      extendedCommunities: ["0002000100000009"],
    });

    await peer.send({
      type: 2,
      withdrawn: [parsePrefix("198.51.101.0/24")],
      attributes: {},
      nlri: [],
    });
    await collector.waitFor(() => collector.routes()[0]?.routes.length === 1);

    // COMMUNITIES of length 3 is RFC 7606 treat-as-withdraw for the NLRI it carries.
    const attrs = [
      ...[0x40, 1, 1, 0],
      ...[0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xed],
      ...[0x40, 3, 4, 192, 0, 2, 7],
      ...[0xc0, 8, 3, 0, 0, 1],
    ];
    const nlri = [24, 198, 51, 100];
    const len = 19 + 2 + 2 + attrs.length + nlri.length;
    await peer.send(
      new Uint8Array([...HEADER, 0, len, 2, 0, 0, 0, attrs.length, ...attrs, ...nlri]),
    );
    await collector.waitFor(() => collector.routes()[0]?.routes.length === 0);
    assert.equal(collector.peers()[0].state, "Established", "treat-as-withdraw keeps the session");

    // Route refresh is answered (nothing to send but End-of-RIB).
    await peer.send({ type: 5, afi: 2, safi: 1 });
    await peer.waitFor(2, 3);

    await peer.send({ type: 3, code: 6, subcode: 2, data: new Uint8Array() });
    await collector.waitFor(() => collector.peers()[0]?.state === "Closed");
    assert.equal(collector.peers()[0].lastNotification?.code, 6);
    assert.equal(collector.routes().length, 0);
  } finally {
    peer.conn.close();
    await collector.close();
  }
});

Deno.test("collector enforces the hold timer with NOTIFICATION 4/0", async () => {
  const clock = new FakeClock();
  const collector = await startCollector({
    listen: "127.0.0.1:0",
    asn: 65000,
    routerId: "10.0.0.9",
    clock,
  });
  const peer = await RawPeer.connect(collector);
  try {
    await peer.establish();
    await collector.waitFor(() => collector.peers()[0]?.state === "Established");
    clock.advance(9000);
    const n = (await peer.waitFor(3))[0];
    assert.deepEqual(n.type === 3 && [n.code, n.subcode], [4, 0]);
    await collector.waitFor(() => collector.peers()[0]?.state === "Closed");
    assert.equal(collector.peers()[0].lastNotification?.direction, "sent");
  } finally {
    peer.conn.close();
    await collector.close();
  }
});

Deno.test("collector close() sends Cease to its peers", async () => {
  const collector = await startCollector({
    listen: "127.0.0.1:0",
    asn: 65000,
    routerId: "10.0.0.9",
  });
  const peer = await RawPeer.connect(collector);
  try {
    await peer.establish();
    await collector.waitFor(() => collector.peers()[0]?.state === "Established");
    await collector.close();
    const n = (await peer.waitFor(3))[0];
    assert.deepEqual(n.type === 3 && [n.code, n.subcode], [6, 2]);
  } finally {
    peer.conn.close();
    await collector.close();
  }
});

Deno.test("ferrolb collector rejects bad flags with exit code 2", async () => {
  const base = {
    listen: "127.0.0.1:0",
    asn: "65001",
    "router-id": "127.0.0.1",
    "log-level": "info",
  };
  for (
    const bad of [{ asn: "x" }, { "router-id": "1.2.3" }, { "log-level": "loud" }, {
      listen: "nope",
    }]
  ) {
    const code = await runCollector({
      role: "collector",
      flags: { ...base, ...bad },
      positionals: [],
    });
    assert.equal(code, 2, JSON.stringify(bad));
  }
});

Deno.test("ferrolb collector runs until SIGTERM and serves the looking glass", async () => {
  const script = `import { runCollector } from "./cmd/collector.ts";
Deno.exit(await runCollector({ role: "collector", positionals: [], flags: {
  listen: "127.0.0.1:0", asn: "65100", "router-id": "10.9.9.9", "http-addr": "127.0.0.1:0",
  "log-level": "info" } }));`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let info: { addr: string; http: string } | undefined;
  while (!info) {
    const { value, done } = await lines.read();
    if (done) break;
    text += value;
    for (const line of text.split("\n")) {
      if (line.includes("collector listening")) info = JSON.parse(line);
    }
  }
  try {
    assert.ok(info, `no "collector listening" line in: ${text}`);
    const res = await fetch(`http://${info.http}/peers`);
    assert.deepEqual(await res.json(), []);
    const [, port] = info.addr.split(":");
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
    const peer = new RawPeer(conn);
    await peer.establish();
    const open = (await peer.waitFor(1))[0] as OpenMessage;
    assert.equal(open.routerId, "10.9.9.9");
    conn.close();
  } finally {
    child.kill("SIGTERM");
    const status = await child.status;
    lines.releaseLock();
    await child.stderr.cancel().catch(() => {});
    assert.equal(status.code, 0);
  }
});
