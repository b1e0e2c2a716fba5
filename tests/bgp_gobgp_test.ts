/**
 * Our BGP speaker against a real GoBGP on the wire: the speaker runs as a subprocess in
 * namespace A (tests/bgp_driver.ts), gobgpd in namespace B, joined by a veth pair; every check
 * reads GoBGP's RIB or neighbor table with the `gobgp` CLI, as an operator would.
 */
import assert from "node:assert/strict";
import {
  buildPathAttributes,
  parsePrefix,
  type RouteAttributes,
  type SessionConfig,
  type SessionStats,
} from "../bgp/mod.ts";
import { encodePathAttributes, MAX_MESSAGE_SIZE, nlriLength } from "../bgp/packets.ts";
import {
  cleanupStaleNetns,
  createNetnsPair,
  type Gobgpd,
  type GobgpNeighbor,
  netnsAvailable,
  type NetnsPair,
  type RibEntry,
  startGobgpd,
  waitFor,
} from "./gobgp/mod.ts";
import { type Driver, type DriverRoute, spawnDriver, toRouteAttributes } from "./bgp_driver.ts";

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  for (const bin of ["gobgpd", "gobgp"]) {
    try {
      await new Deno.Command(bin, { args: ["--help"], stdout: "null", stderr: "null" }).output();
    } catch {
      return `${bin} not installed (apt-get install gobgpd)`;
    }
  }
  return undefined;
}

const reason = await skipReason();
if (reason) console.log(`skipping BGP-vs-GoBGP interop tests: ${reason}`);

const OUR_ASN = 64512;
const GOBGP_ASN = 65001;

/** A namespace pair with gobgpd in b and our drivers in a; `close` tears everything down. */
interface Lab {
  pair: NetnsPair;
  gobgpd: Gobgpd;
  drivers: Driver[];
  driver(config: Partial<SessionConfig>, routes?: DriverRoute[]): Driver;
  close(): Promise<void>;
}

async function lab(options: { asn: number; neighbors: (pair: NetnsPair) => GobgpNeighbor[] }) {
  await cleanupStaleNetns();
  const pair = await createNetnsPair();
  let gobgpd: Gobgpd;
  try {
    gobgpd = await startGobgpd({
      netns: pair.b.name,
      asn: options.asn,
      routerId: pair.b.addr4,
      neighbors: options.neighbors(pair),
      // Other suites may load the machine; a slow start is not what these tests check.
      startTimeoutMs: 20_000,
    });
  } catch (e) {
    await pair.close();
    throw e;
  }
  const drivers: Driver[] = [];
  const l: Lab = {
    pair,
    gobgpd,
    drivers,
    driver(config, routes) {
      const d = spawnDriver(pair.a.name, {
        config: {
          localAsn: OUR_ASN,
          peerAsn: options.asn,
          peerAddress: pair.b.addr4,
          routerId: pair.a.addr4,
          holdTimeMs: 30_000,
          ...config,
        },
        routes,
      });
      drivers.push(d);
      return d;
    },
    async close() {
      for (const d of drivers) await d.close();
      await gobgpd.stop();
      await pair.close();
    },
  };
  return l;
}

/** Waits for our session's Established event at index `since` or later of `d.events`. */
function established(d: Driver, since = 0, timeoutMs = 15_000) {
  return d.waitEvent((e) => e.state === "Established", {
    timeoutMs,
    since,
    what: `our session Established (event #${since} on)`,
  });
}

function byPrefix(entries: RibEntry[], neighbor?: string): Map<string, RibEntry> {
  return new Map(
    entries.filter((e) => neighbor === undefined || e.neighbor === neighbor).map((
      e,
    ) => [e.prefix, e]),
  );
}

/** Seconds since the epoch GoBGP reports as the neighbor's session start. */
async function gobgpUptime(g: Gobgpd, address: string): Promise<number> {
  const raw = JSON.parse(await g.cli(["neighbor", address], { json: true }));
  const up = raw?.timers?.state?.uptime?.seconds;
  assert.ok(typeof up === "number", `no uptime for ${address}: ${JSON.stringify(raw?.timers)}`);
  return up;
}

function sortedStrings(xs: string[]): string[] {
  return [...xs].sort();
}

const EBGP_V4: DriverRoute[] = [
  {
    prefix: "203.0.113.10/32",
    communities: ["64512:100", "65535:65281"],
    largeCommunities: ["64512:1:2"],
    localPref: 300, // must not reach an external peer
  },
  { prefix: "198.51.100.0/24", communities: ["64512:200"] },
];
const EBGP_V6_OVER_V4: DriverRoute[] = [
  { prefix: "2001:db8:100::/64", communities: ["64512:600"], largeCommunities: ["64512:6:6"] },
];
const EBGP_V6_OVER_V6: DriverRoute[] = [
  { prefix: "2001:db8:200::/64", communities: ["64512:700"], largeCommunities: ["64512:7:7"] },
];

Deno.test({
  name: "GoBGP eBGP 64512 → 65001: IPv4/IPv6 routes arrive as sent, change in place, withdraw",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const l = await lab({
      asn: GOBGP_ASN,
      neighbors: (p) => [
        // IPv6 routes also ride the IPv4 session, with an IPv4-mapped next hop.
        { address: p.a.addr4, asn: OUR_ASN, passive: true, families: ["ipv4", "ipv6"] },
        { address: p.a.addr6, asn: OUR_ASN, passive: true, families: ["ipv6"] },
      ],
    });
    try {
      const g = l.gobgpd;
      const { a } = l.pair;
      // IPv6 routes on the IPv4 session carry our veth's IPv6 address as next hop.
      const d4 = l.driver(
        { families: ["ipv4", "ipv6"], nextHopV6: l.pair.a.addr6 },
        [...EBGP_V4, ...EBGP_V6_OVER_V4],
      );
      const d6 = l.driver({ peerAddress: l.pair.b.addr6, families: ["ipv6"] }, EBGP_V6_OVER_V6);

      await t.step("both sessions establish on both ends", async () => {
        await established(d4);
        await established(d6);
        await g.waitEstablished(a.addr4);
        await g.waitEstablished(a.addr6);
        assert.equal((await d4.stats()).state, "Established");
        assert.equal((await d6.stats()).state, "Established");
      });

      await t.step(
        "IPv4 routes: next hop, AS_PATH [64512], communities, no LOCAL_PREF",
        async () => {
          const rib = await g.waitFor(async (x) => {
            const m = byPrefix(await x.rib("ipv4"), a.addr4);
            return m.size === EBGP_V4.length ? m : undefined;
          }, { what: "both IPv4 routes in GoBGP's RIB" });
          for (const r of EBGP_V4) {
            const e = rib.get(r.prefix);
            assert.ok(e, `${r.prefix} missing`);
            assert.equal(e.nextHop, a.addr4);
            assert.deepEqual(e.asPath, [OUR_ASN]);
            assert.equal(e.origin, 0);
            assert.deepEqual(sortedStrings(e.communities), sortedStrings(r.communities ?? []));
            assert.deepEqual(e.largeCommunities, r.largeCommunities ?? []);
            assert.equal(e.localPref, undefined, "LOCAL_PREF sent to an eBGP peer");
          }
        },
      );

      await t.step("IPv6 over the IPv6 session: next hop is our veth address", async () => {
        const rib = await g.waitFor(async (x) => {
          const m = byPrefix(await x.rib("ipv6"), a.addr6);
          return m.size === 1 ? m : undefined;
        }, { what: "IPv6 route from the IPv6 session" });
        const e = rib.get(EBGP_V6_OVER_V6[0].prefix);
        assert.ok(e);
        assert.equal(e.nextHop, a.addr6);
        assert.deepEqual(e.asPath, [OUR_ASN]);
        assert.deepEqual(e.communities, EBGP_V6_OVER_V6[0].communities);
        assert.deepEqual(e.largeCommunities, EBGP_V6_OVER_V6[0].largeCommunities);
        assert.equal(e.localPref, undefined);
        assert.ok(e.best);
      });

      await t.step(
        "IPv6 over the IPv4 session: GoBGP accepts it with our IPv6 next hop",
        async () => {
          const rib = await g.waitFor(async (x) => {
            const m = byPrefix(await x.rib("ipv6"), a.addr4);
            return m.size === 1 ? m : undefined;
          }, { what: "IPv6 route from the IPv4 session" });
          const e = rib.get(EBGP_V6_OVER_V4[0].prefix);
          assert.ok(e);
          assert.equal(e.nextHop, a.addr6);
          assert.deepEqual(e.asPath, [OUR_ASN]);
          assert.deepEqual(e.communities, EBGP_V6_OVER_V4[0].communities);
          assert.deepEqual(e.largeCommunities, EBGP_V6_OVER_V4[0].largeCommunities);
          const nb = (await g.neighbors()).find((n) => n.address === a.addr4);
          assert.deepEqual(nb?.families, {
            ipv4: { received: 2, accepted: 2 },
            ipv6: { received: 1, accepted: 1 },
          });
        },
      );

      await t.step("changing a live route's attributes updates it without a reset", async () => {
        const before = await d4.stats();
        const uptime = await gobgpUptime(g, a.addr4);
        const changed: DriverRoute[] = [
          { ...EBGP_V4[0], communities: ["64512:101"], largeCommunities: ["64512:9:9"], med: 7 },
          EBGP_V4[1],
        ];
        await d4.setRoutes([...changed, ...EBGP_V6_OVER_V4]);
        const e = await g.waitFor(async (x) => {
          const r = byPrefix(await x.rib("ipv4"), a.addr4).get(changed[0].prefix);
          return r?.communities.join() === "64512:101" ? r : undefined;
        }, { what: "changed communities in GoBGP's RIB" });
        assert.deepEqual(e.largeCommunities, ["64512:9:9"]);
        assert.equal(e.med, 7);
        assert.equal(e.nextHop, a.addr4);
        const after = await d4.stats();
        assert.equal(after.state, "Established");
        assert.equal(after.establishedAt, before.establishedAt, "our session was reset");
        assert.equal(await gobgpUptime(g, a.addr4), uptime, "GoBGP saw the session reset");
        // Only the changed route went out again.
        assert.equal(after.updatesSent - before.updatesSent, 1);
        assert.equal(d4.events.filter((x) => x.state === "Established").length, 1);
      });

      await t.step("withdrawals remove routes from GoBGP's RIB", async () => {
        await d4.setRoutes([EBGP_V4[1]]);
        await d6.setRoutes([]);
        await g.waitFor(async (x) => {
          const v4 = byPrefix(await x.rib("ipv4"), a.addr4);
          const v6 = await x.rib("ipv6");
          return v4.size === 1 && v4.has(EBGP_V4[1].prefix) && v6.length === 0;
        }, { what: "withdrawn routes gone from GoBGP's RIB" });
        const nb = await g.neighbors();
        assert.ok(nb.every((n) => n.established), "withdrawal reset a session");
        assert.equal((await d4.stats()).prefixesSent, 1);
      });

      await t.step("stop sends Cease and GoBGP drops the routes", async () => {
        const final = await d4.stop();
        assert.equal(final?.state, "Idle");
        await g.waitFor(async (x) => (await x.ribCount("ipv4")) === 0, {
          what: "IPv4 RIB empty after our stop",
        });
        const nb = (await g.neighbors()).find((n) => n.address === a.addr4);
        assert.equal(nb?.established, false);
      });
    } finally {
      await l.close();
    }
  },
});

Deno.test({
  name: "GoBGP iBGP 64512 → 64512: empty AS_PATH, LOCAL_PREF as set (default 100)",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const l = await lab({
      asn: OUR_ASN,
      neighbors: (p) => [
        { address: p.a.addr4, asn: OUR_ASN, passive: true, families: ["ipv4", "ipv6"] },
      ],
    });
    try {
      const g = l.gobgpd;
      const a = l.pair.a;
      const routes: DriverRoute[] = [
        { prefix: "203.0.113.20/32", localPref: 250, communities: ["64512:20"] },
        { prefix: "203.0.113.21/32", largeCommunities: ["64512:21:21"] },
        { prefix: "2001:db8:300::/48", localPref: 50, communities: ["64512:30"] },
      ];
      const d = l.driver({ families: ["ipv4", "ipv6"], nextHopV6: l.pair.a.addr6 }, routes);
      await established(d);
      await g.waitEstablished(a.addr4);
      assert.equal((await d.stats()).state, "Established");
      const all = await g.waitFor(async (x) => {
        const m = byPrefix([...(await x.rib("ipv4")), ...(await x.rib("ipv6"))]);
        return m.size === routes.length ? m : undefined;
      }, { what: "all iBGP routes in GoBGP's RIB" });
      for (const r of routes) {
        const e = all.get(r.prefix);
        assert.ok(e, `${r.prefix} missing`);
        assert.deepEqual(e.asPath, [], `${r.prefix}: iBGP must not prepend our AS`);
        assert.equal(e.localPref, r.localPref ?? 100, `${r.prefix} LOCAL_PREF`);
        assert.deepEqual(e.communities, r.communities ?? []);
        assert.deepEqual(e.largeCommunities, r.largeCommunities ?? []);
        const v6 = r.prefix.includes(":");
        assert.equal(e.nextHop, v6 ? a.addr6 : a.addr4, `${r.prefix} next hop`);
      }
    } finally {
      await l.close();
    }
  },
});

/** The fewest 4096-byte UPDATEs that carry `n` IPv4 /32s with `ra` on eBGP from `nextHop`. */
function packingMinimum(n: number, ra: RouteAttributes, nextHop: string): number {
  const attrs = buildPathAttributes(ra, 1, {
    ibgp: false,
    localAsn: OUR_ASN,
    nextHopV4: nextHop,
    nextHopV6: `::ffff:${nextHop}`,
  });
  // GoBGP negotiates 4-octet AS, so AS_PATH carries 4-byte ASNs.
  const attrLen = encodePathAttributes(attrs, { fourOctetAs: true }).length;
  const room = MAX_MESSAGE_SIZE - 19 - 2 - 2 - attrLen;
  const perUpdate = Math.floor(room / nlriLength(parsePrefix("198.18.0.0/32")));
  return Math.ceil(n / perUpdate);
}

Deno.test({
  name: "GoBGP: 1,000 prefixes in one setRoutes arrive in the fewest UPDATEs; a gobgpd restart " +
    "gets the full table again",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const l = await lab({
      asn: GOBGP_ASN,
      neighbors: (p) => [{ address: p.a.addr4, asn: OUR_ASN, passive: true }],
    });
    try {
      const g = l.gobgpd;
      const a = l.pair.a;
      const d = l.driver({ families: ["ipv4"] });
      const attributes = { communities: ["64512:1000"] };
      let before: SessionStats;

      await t.step("1,000 prefixes arrive, packed into the minimum number of UPDATEs", async () => {
        await established(d);
        await g.waitEstablished(a.addr4);
        before = await d.stats();
        await d.generate({ count: 1000, base: "198.18.0.0", attributes });
        await g.waitFor(async (x) => (await x.ribCount("ipv4")) === 1000, {
          what: "1000 routes in GoBGP's RIB",
          timeoutMs: 20_000,
        });
        const rib = byPrefix(await g.rib("ipv4"), a.addr4);
        assert.equal(rib.size, 1000);
        const sample = rib.get("198.18.3.231/32"); // the 1,000th
        assert.deepEqual(sample?.communities, ["64512:1000"]);
        assert.deepEqual(sample?.asPath, [OUR_ASN]);
        const after = await d.stats();
        const min = packingMinimum(1000, toRouteAttributes(attributes), a.addr4);
        assert.equal(after.updatesSent - before.updatesSent, min);
        assert.equal(after.prefixesSent, 1000);
        assert.equal(after.prefixesPending, 0);
        const nb = (await g.neighbors()).find((n) => n.address === a.addr4);
        assert.equal(nb?.accepted, 1000);
      });

      await t.step("killing and restarting gobgpd: re-established, full table back", async () => {
        const since = d.events.length;
        await g.kill("SIGKILL");
        await d.waitEvent((e) => e.event === "error", { since, what: "session loss noticed" });
        await g.restart();
        await established(d, since, 20_000);
        await g.waitEstablished(a.addr4, { timeoutMs: 20_000 });
        await g.waitFor(async (x) => (await x.ribCount("ipv4")) === 1000, {
          what: "1000 routes after gobgpd restart",
          timeoutMs: 20_000,
        });
        const rib = byPrefix(await g.rib("ipv4"), a.addr4);
        assert.equal(rib.size, 1000);
        assert.deepEqual(rib.get("198.18.0.0/32")?.communities, ["64512:1000"]);
        const s = await d.stats();
        assert.equal(s.state, "Established");
        assert.equal(s.prefixesSent, 1000);
      });
    } finally {
      await l.close();
    }
  },
});

Deno.test({
  name: "GoBGP: a wrong peer AS yields NOTIFICATION 2/2 and reconnects with backoff",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const l = await lab({
      asn: GOBGP_ASN,
      // gobgpd expects AS 65099 from us; we send 64512.
      neighbors: (p) => [{ address: p.a.addr4, asn: 65099, passive: true }],
    });
    try {
      const d = l.driver({ families: ["ipv4"] }, [{ prefix: "203.0.113.5/32" }]);
      const first = await d.waitEvent((e) => e.state === "Connect", { what: "first connect" });
      const notified = await d.waitEvent(
        (e) => e.event === "error" && /\(2\/2\)/.test(e.message ?? ""),
        { what: "NOTIFICATION 2/2 from GoBGP" },
      );
      assert.match(notified.message ?? "", /Bad Peer AS/);
      // GoBGP writes its log line after it sends the NOTIFICATION: wait for it, never assume.
      await l.gobgpd.waitFor(async (g) => /as number mismatch/.test(await g.logTail(500)), {
        what: "gobgpd to log the AS mismatch",
        timeoutMs: 30_000,
      });
      // It retries at all (a retry, whenever the loaded machine gets to it).
      await d.waitEvent((e) => e.state === "Connect" && e !== first, {
        what: "a second connect",
        timeoutMs: 30_000,
      });
      // Backoff after failures 1, 2, 3, 4 is 0, 1, 2, 4 s: attempts near 0, 0, 1, 3, 7 s.
      // A tight loop would make hundreds; only an upper bound is asserted, counted on the
      // driver's own timestamps, so a slow machine only makes fewer attempts in the window.
      const windowMs = 8_000;
      await new Promise((r) => setTimeout(r, windowMs + 500));
      const attempts = d.events.filter((e) =>
        e.state === "Connect" && e.t - first.t < windowMs
      ).length;
      assert.ok(attempts <= 5, `${attempts} connection attempts in ${windowMs} ms`);
      assert.ok(!d.events.some((e) => e.state === "Established"));
      const nb = (await l.gobgpd.neighbors())[0];
      assert.equal(nb.established, false);
      assert.equal((await d.stats()).prefixesSent, 0);
    } finally {
      await l.close();
    }
  },
});

Deno.test({
  name: "GoBGP: 4-byte AS, 3 s hold time kept alive, GoBGP's routes counted, frozen peer expires",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const asn4 = 4_200_000_000;
    const l = await lab({
      asn: GOBGP_ASN,
      neighbors: (p) => [{ address: p.a.addr4, asn: asn4, passive: true, holdTime: 3 }],
    });
    try {
      const g = l.gobgpd;
      const a = l.pair.a;
      const d = l.driver({ localAsn: asn4, families: ["ipv4"] }, [{ prefix: "203.0.113.40/32" }]);
      await established(d);
      await g.waitEstablished(a.addr4);
      const e = await g.waitFor(async (x) => (await x.rib("ipv4"))[0], { what: "our route" });
      assert.deepEqual(e.asPath, [asn4]);
      await g.addRoutes(["198.51.100.0/24", "198.51.100.128/25"], { nextHop: l.pair.b.addr4 });
      // GoBGP sends them when it gets to it: wait for them, not for the sleep below.
      await waitFor(async () => (await d.stats()).prefixesReceived === 2, {
        what: "GoBGP's two routes at our session",
      });
      const uptime = await gobgpUptime(g, a.addr4);
      // More than two hold times: only keepalives keep the session up.
      await new Promise((r) => setTimeout(r, 7_000));
      const s = await d.stats();
      assert.equal(s.state, "Established");
      assert.equal(s.prefixesReceived, 2);
      assert.equal(d.events.filter((x) => x.state === "Established").length, 1);
      assert.equal(await gobgpUptime(g, a.addr4), uptime, "GoBGP saw the session reset");
      assert.ok((await g.neighbors())[0].established);

      // A frozen peer: our hold timer expires, we say so, and come back once it thaws.
      const since = d.events.length;
      Deno.kill(g.pid, "SIGSTOP");
      try {
        const expired = await d.waitEvent((x) => x.event === "error", {
          since,
          what: "hold timer expiry",
        });
        assert.match(expired.message ?? "", /Hold Timer Expired \(4\/0\)/);
      } finally {
        Deno.kill(g.pid, "SIGCONT");
      }
      await established(d, since, 30_000);
      await g.waitEstablished(a.addr4, { timeoutMs: 10_000 });
      await g.waitFor(async (x) => (await x.rib("ipv4")).some((r) => r.neighbor === a.addr4), {
        what: "our route back after the hold-timer reset",
      });
    } finally {
      await l.close();
    }
  },
});

/** Prefix → RFC 4724 stale flag of the paths from `neighbor` in GoBGP's IPv4 RIB. */
async function staleFlags(g: Gobgpd, neighbor: string): Promise<Map<string, boolean>> {
  const out = await g.cli(["global", "rib", "-a", "ipv4"], { json: true });
  const json = JSON.parse(out.trim() || "{}") as Record<string, Record<string, unknown>[]>;
  const m = new Map<string, boolean>();
  for (const [prefix, paths] of Object.entries(json)) {
    for (const p of paths) if (p["neighbor-ip"] === neighbor) m.set(prefix, p.stale === true);
  }
  return m;
}

const GR_ROUTES: DriverRoute[] = [
  { prefix: "203.0.113.40/32", communities: ["64512:40"] },
  { prefix: "203.0.113.41/32", communities: ["64512:41"] },
];

/** Both GR routes from `addr` in GoBGP's RIB with stale flag `stale`. */
function grRoutesWith(g: Gobgpd, addr: string, stale: boolean, what: string) {
  return g.waitFor(async (x) => {
    const m = await staleFlags(x, addr);
    const ok = GR_ROUTES.every((r) => m.get(r.prefix) === stale);
    return ok && m.size === GR_ROUTES.length ? m : undefined;
  }, { what, timeoutMs: 20_000 });
}

/** Waits until GoBGP's neighbor at `addr` is no longer established. */
function gobgpDown(g: Gobgpd, addr: string) {
  return g.waitFor(async (x) => {
    const n = (await x.neighbors()).find((y) => y.address === addr);
    return n && !n.established ? n : undefined;
  }, { what: `GoBGP sees ${addr} down` });
}

Deno.test({
  name: "GoBGP graceful restart + RFC 8538: stop keeps routes stale, restart refreshes, " +
    "hard reset drops them",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const l = await lab({
      asn: GOBGP_ASN,
      neighbors: (p) => [{
        address: p.a.addr4,
        asn: OUR_ASN,
        passive: true,
        families: ["ipv4"],
        gracefulRestart: { restartTime: 120, notification: true },
      }],
    });
    try {
      const g = l.gobgpd;
      const a = l.pair.a.addr4;
      const gr = { families: ["ipv4" as const], gracefulRestart: true, gracefulRestartTimeS: 120 };
      const d1 = l.driver(gr, GR_ROUTES);

      await t.step("GR with N negotiated; routes fresh", async () => {
        await established(d1);
        await g.waitEstablished(a);
        assert.deepEqual((await d1.stats()).gracefulRestart, { notification: true });
        await grRoutesWith(g, a, false, "fresh routes after first session");
      });

      await t.step("stop sends Cease 6/2: GoBGP keeps the routes, marked stale", async () => {
        await d1.stop();
        await gobgpDown(g, a);
        const m = await grRoutesWith(g, a, true, "routes kept as stale");
        assert.equal(m.size, GR_ROUTES.length);
        await g.waitFor(async (x) => /graceful restart/i.test(await x.logTail(500)), {
          what: "gobgpd to log the graceful restart",
          timeoutMs: 30_000,
        });
      });

      const d2 = l.driver({ ...gr, restarting: true }, GR_ROUTES);
      await t.step("the restarted session sends table + End-of-RIB: routes fresh", async () => {
        await established(d2);
        await g.waitEstablished(a);
        await grRoutesWith(g, a, false, "routes fresh after restart and End-of-RIB");
        const rib = byPrefix(await g.rib("ipv4"), a);
        assert.deepEqual(rib.get(GR_ROUTES[0].prefix)?.communities, ["64512:40"]);
      });

      await t.step("stop({hardReset}) sends 6/9: GoBGP drops the routes", async () => {
        await d2.stop({ hardReset: true });
        await g.waitFor(async (x) => (await staleFlags(x, a)).size === 0 ? true : undefined, {
          what: "routes gone after hard reset",
          timeoutMs: 10_000,
        });
      });
    } finally {
      await l.close();
    }
  },
});

Deno.test({
  name: "GoBGP graceful restart without RFC 8538: stop closes without NOTIFICATION, routes stay",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const l = await lab({
      asn: GOBGP_ASN,
      neighbors: (p) => [{
        address: p.a.addr4,
        asn: OUR_ASN,
        passive: true,
        families: ["ipv4"],
        gracefulRestart: { restartTime: 120 },
      }],
    });
    try {
      const g = l.gobgpd;
      const a = l.pair.a.addr4;
      const d = l.driver({ families: ["ipv4"], gracefulRestart: true }, GR_ROUTES);
      await established(d);
      await g.waitEstablished(a);
      assert.deepEqual((await d.stats()).gracefulRestart, { notification: false });
      await grRoutesWith(g, a, false, "fresh routes");
      await d.stop();
      await gobgpDown(g, a);
      await grRoutesWith(g, a, true, "routes kept as stale after a quiet close");
      const nb = JSON.parse(await g.cli(["neighbor", a], { json: true }));
      const got = nb?.state?.messages?.received?.notification ?? 0;
      assert.equal(Number(got), 0, "GoBGP received no NOTIFICATION");
    } finally {
      await l.close();
    }
  },
});

Deno.test({
  name: "GoBGP dynamic ASN: peerAsnPolicy external learns 65001, eBGP attributes",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const l = await lab({
      asn: GOBGP_ASN,
      neighbors: (p) => [{ address: p.a.addr4, asn: OUR_ASN, passive: true, families: ["ipv4"] }],
    });
    try {
      const g = l.gobgpd;
      const a = l.pair.a.addr4;
      const d = l.driver(
        { peerAsn: undefined, peerAsnPolicy: "external", families: ["ipv4"] },
        [{ prefix: "203.0.113.50/32", localPref: 300 }],
      );
      await established(d);
      assert.equal((await d.stats()).peerAsn, GOBGP_ASN);
      const rib = await g.waitFor(async (x) => {
        const m = byPrefix(await x.rib("ipv4"), a);
        return m.size === 1 ? m : undefined;
      }, { what: "route from the dynamic-ASN session" });
      const e = rib.get("203.0.113.50/32");
      assert.deepEqual(e?.asPath, [OUR_ASN]);
      assert.equal(e?.localPref, undefined, "LOCAL_PREF sent to an external peer");
    } finally {
      await l.close();
    }
  },
});
