/**
 * A BgpSession over real TCP to the collector on loopback: what a user would see on a real
 * router's looking glass, end to end through both codecs.
 */
import assert from "node:assert/strict";
import { BgpSession, type Collector, parsePrefix, type Route, startCollector } from "../bgp/mod.ts";
import { ipv6ToBytes } from "../bgp/prefix.ts";

function waitState(session: BgpSession, want: string, timeoutMs = 10_000): Promise<void> {
  if (session.state === want) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`session not ${want} within ${timeoutMs} ms: ${session.state}`)),
      timeoutMs,
    );
    session.on("state", (s) => {
      if (s === want) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
}

function routesOf(c: Collector, asn: number) {
  return c.routes().find((p) => p.asn === asn)?.routes ?? [];
}

function byPrefix(c: Collector, asn: number) {
  return new Map(routesOf(c, asn).map((r) => [r.prefix, r]));
}

const GSHUT = (65535 << 16 | 0) >>> 0; // 65535:0
const NO_EXPORT = 0xffffff01; // 65535:65281

Deno.test("eBGP session to the collector: announce, change without reset, withdraw, Cease", async () => {
  const collector = await startCollector({
    listen: "127.0.0.1:0",
    asn: 65000,
    routerId: "10.255.0.1",
    httpAddr: "127.0.0.1:0",
  });
  const session = new BgpSession({
    localAsn: 65001,
    peerAsn: 65000,
    peerAddress: "127.0.0.1",
    peerPort: collector.addr.port,
    routerId: "10.0.0.1",
    holdTimeMs: 30_000,
    // IPv6 routes on this IPv4 session need an IPv6 next hop (no IPv4-mapped form).
    nextHopV6: "2001:db8::1",
  });
  try {
    const routes: Route[] = [
      {
        prefix: parsePrefix("198.51.100.10/32"),
        attributes: {
          communities: [NO_EXPORT, 0xfde80064],
          largeCommunities: [[65001, 1, 2]],
          localPref: 250,
        },
      },
      {
        prefix: parsePrefix("2001:db8::10/128"),
        attributes: { largeCommunities: [[65001, 6, 6]], med: 10 },
      },
    ];
    session.setRoutes(routes);
    session.start();
    await waitState(session, "Established");
    await collector.waitFor(() => routesOf(collector, 65001).length === 2);
    const established = session.stats().establishedAt;
    assert.ok(established);

    const got = byPrefix(collector, 65001);
    const v4 = got.get("198.51.100.10/32")!;
    assert.equal(v4.nextHop, "127.0.0.1");
    assert.deepEqual(v4.asPath, [65001]);
    assert.equal(v4.localPref, undefined, "no LOCAL_PREF towards an external peer");
    assert.equal(v4.origin, 0);
    assert.deepEqual(v4.communities, ["65000:100", "65535:65281"]);
    assert.deepEqual(v4.largeCommunities, ["65001:1:2"]);
    const v6 = got.get("2001:db8::10/128")!;
    assert.deepEqual(ipv6ToBytes(v6.nextHop!), ipv6ToBytes("2001:db8::1"));
    assert.equal(v6.med, 10);
    assert.deepEqual(v6.largeCommunities, ["65001:6:6"]);

    const peerInfo = collector.peers()[0];
    assert.equal(peerInfo.holdTimeMs, 30_000, "collector negotiated our smaller hold time");
    assert.equal(peerInfo.fourOctetAs, true);
    assert.deepEqual(peerInfo.families, ["ipv4", "ipv6"]);

    // Change: new communities on one route, one route added; the session must stay up.
    session.setRoutes([
      { ...routes[0], attributes: { communities: [GSHUT] } },
      routes[1],
      { prefix: parsePrefix("203.0.113.0/24"), attributes: {} },
    ]);
    await collector.waitFor(() => {
      const m = byPrefix(collector, 65001);
      return m.size === 3 && m.get("198.51.100.10/32")?.communities[0] === "65535:0";
    });
    assert.deepEqual(byPrefix(collector, 65001).get("198.51.100.10/32")!.largeCommunities, []);
    assert.equal(session.stats().establishedAt, established);
    assert.equal(session.state, "Established");
    assert.equal(collector.peers().filter((p) => p.state === "Established").length, 1);
    assert.equal(session.stats().prefixesSent, 3);
    assert.equal(session.stats().prefixesPending, 0);

    // The looking glass serves the same data.
    const http = `http://127.0.0.1:${collector.httpAddr!.port}`;
    const fromHttp = await (await fetch(`${http}/routes`)).json();
    assert.equal(fromHttp[0].asn, 65001);
    assert.equal(fromHttp[0].routes.length, 3);
    const peersHttp = await (await fetch(`${http}/peers`)).json();
    assert.equal(peersHttp[0].state, "Established");
    assert.equal((await fetch(`${http}/nope`)).status, 404);
    await (await fetch(`${http}/nope`)).body?.cancel();

    // Withdraw everything.
    session.setRoutes([]);
    await collector.waitFor(() => routesOf(collector, 65001).length === 0);
    assert.equal(collector.routes().length, 1, "the peer is still up, with an empty RIB");

    await session.stop();
    await collector.waitFor(() => collector.peers().some((p) => p.state === "Closed"));
    const closed = collector.peers().find((p) => p.state === "Closed")!;
    assert.deepEqual(closed.lastNotification, {
      direction: "received",
      code: 6,
      subcode: 2,
      text: "Cease: Administrative Shutdown (6/2)",
    });
    assert.equal(collector.routes().length, 0);
  } finally {
    await session.stop();
    await collector.close();
  }
});

Deno.test("iBGP session: LOCAL_PREF sent (default 100), empty AS_PATH, End-of-RIB", async () => {
  const collector = await startCollector({
    listen: "127.0.0.1:0",
    asn: 65010,
    routerId: "10.255.0.2",
  });
  const session = new BgpSession({
    localAsn: 65010,
    peerAsn: 65010,
    peerAddress: "127.0.0.1",
    peerPort: collector.addr.port,
    routerId: "10.0.0.2",
    gracefulRestart: true,
    nextHopV6: "2001:db8::2",
  });
  try {
    session.setRoutes([
      { prefix: parsePrefix("198.51.100.20/32"), attributes: { localPref: 300 } },
      { prefix: parsePrefix("198.51.100.21/32"), attributes: {} },
      { prefix: parsePrefix("2001:db8::20/128"), attributes: { communities: [NO_EXPORT] } },
    ]);
    session.start();
    await collector.waitFor(() =>
      collector.peers()[0]?.endOfRib.length === 2 && routesOf(collector, 65010).length === 3
    );
    const got = byPrefix(collector, 65010);
    assert.equal(got.get("198.51.100.20/32")!.localPref, 300);
    assert.equal(got.get("198.51.100.21/32")!.localPref, 100);
    assert.equal(got.get("2001:db8::20/128")!.localPref, 100);
    assert.deepEqual(got.get("198.51.100.20/32")!.asPath, []);
    assert.deepEqual(got.get("2001:db8::20/128")!.communities, ["65535:65281"]);
    assert.deepEqual(collector.peers()[0].endOfRib.sort(), ["ipv4", "ipv6"]);
  } finally {
    await session.stop();
    await collector.close();
  }
});

Deno.test("a wrong peer AS is refused by the session with NOTIFICATION 2/2", async () => {
  const collector = await startCollector({
    listen: "127.0.0.1:0",
    asn: 65020,
    routerId: "10.255.0.3",
  });
  const session = new BgpSession({
    localAsn: 65001,
    peerAsn: 65999,
    peerAddress: "127.0.0.1",
    peerPort: collector.addr.port,
    routerId: "10.0.0.3",
  });
  try {
    session.start();
    await collector.waitFor(() => collector.peers().some((p) => p.lastNotification !== undefined));
    const n = collector.peers().find((p) => p.lastNotification)!.lastNotification!;
    assert.deepEqual([n.direction, n.code, n.subcode], ["received", 2, 2]);
    assert.notEqual(session.state, "Established");
    assert.match(session.stats().lastError ?? "", /Bad Peer AS/);
  } finally {
    await session.stop();
    await collector.close();
  }
});

Deno.test("IPv6 transport: the session's IPv6 address is the IPv6 next hop", async (t) => {
  let collector: Collector;
  try {
    collector = await startCollector({ listen: "[::1]:0", asn: 65030, routerId: "10.255.0.4" });
  } catch (err) {
    await t.step({
      name: `skipped: no IPv6 loopback (${(err as Error).message})`,
      ignore: true,
      fn: () => {},
    });
    return;
  }
  const session = new BgpSession({
    localAsn: 65001,
    peerAsn: 65030,
    peerAddress: "::1",
    peerPort: collector.addr.port,
    routerId: "10.0.0.4",
  });
  try {
    session.setRoutes([{ prefix: parsePrefix("2001:db8::30/128"), attributes: {} }]);
    session.start();
    await collector.waitFor(() => routesOf(collector, 65001).length === 1);
    assert.equal(routesOf(collector, 65001)[0].nextHop, "::1");
    assert.equal(session.stats().peer, "[::1]:" + collector.addr.port);
  } finally {
    await session.stop();
    await collector.close();
  }
});
