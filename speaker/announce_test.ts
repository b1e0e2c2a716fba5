import assert from "node:assert/strict";
import { buildConfig, type Config } from "../api/config.ts";
import { parseEndpointSlice, parseNode, parseService } from "../api/objects.ts";
import { formatPrefix, type Prefix } from "../bgp/mod.ts";
import type { KubeObject } from "../cluster/types.ts";
import {
  type Announcements,
  computeAnnouncements,
  createAnnounceCache,
  EXCLUDE_LABEL,
  linkBandwidthCommunity,
} from "./announce.ts";
import { prefixList } from "./announce_types.ts";
import {
  advObject,
  communityObject,
  nodeObject,
  peerObject,
  poolObject,
  serviceObject,
  sliceObject,
  TEST_NS,
} from "../tests/speaker/testing.ts";

function config(objects: KubeObject[]): Config {
  const r = buildConfig(objects, { namespace: TEST_NS });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config;
}

function must<T>(r: { ok: true; value: T } | { ok: false; errors: unknown }): T {
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.value;
}

interface World {
  config: KubeObject[];
  services: KubeObject[];
  slices: KubeObject[];
  nodes: KubeObject[];
}

function decide(
  w: World,
  nodeName: string,
  extra: {
    weightedEcmp?: boolean;
    rejectedPeers?: Map<string, string>;
    noNextHopV6?: Map<string, string>;
  } = {},
): Announcements {
  return computeAnnouncements(config(w.config), {
    nodeName,
    services: w.services.map((o) => must(parseService(o))),
    endpointSlices: w.slices.map((o) => must(parseEndpointSlice(o))),
    nodes: w.nodes.map((o) => must(parseNode(o))),
    ...extra,
  });
}

/** Prefixes per peer as text, the way a router operator would read them. */
function prefixes(a: Announcements): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [peer, routes] of a.routes) out[peer] = routes.map((r) => formatPrefix(r.prefix));
  return out;
}

function baseWorld(): World {
  return {
    config: [
      poolObject("pool-a", ["192.0.2.0/26"]),
      poolObject("pool-b", ["198.51.100.0/24", "2001:db8:1::/120"]),
      peerObject("router1", { myASN: 64500, peerASN: 64501, peerAddress: "10.0.0.1" }),
      advObject("all"),
    ],
    services: [serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" })],
    slices: [sliceObject("web", [{ node: "n2" }])],
    nodes: [nodeObject("n1"), nodeObject("n2"), nodeObject("n3")],
  };
}

Deno.test("ETP Cluster: every node announces while any endpoint serves anywhere", () => {
  const w = baseWorld();
  for (const n of ["n1", "n2", "n3"]) {
    assert.deepEqual(prefixes(decide(w, n)), { router1: ["192.0.2.10/32"] }, n);
  }
  w.slices = [sliceObject("web", [{ node: "n2", ready: false }])];
  const a = decide(w, "n1");
  assert.deepEqual(prefixes(a), { router1: [] });
  assert.equal(a.services[0].reason, "no serving endpoint");
  // A terminating endpoint that still serves keeps the route.
  w.slices = [sliceObject("web", [{ node: "n2", ready: false, serving: true }])];
  assert.deepEqual(prefixes(decide(w, "n1")), { router1: ["192.0.2.10/32"] });
});

Deno.test("ETP Local: only nodes with a local serving endpoint, withdrawn when it goes", () => {
  const w = baseWorld();
  w.services = [serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a", etp: "Local" })];
  w.slices = [sliceObject("web", [{ node: "n2" }, { node: "n3", ready: false }])];
  assert.deepEqual(prefixes(decide(w, "n1")), { router1: [] });
  assert.deepEqual(prefixes(decide(w, "n2")), { router1: ["192.0.2.10/32"] });
  assert.deepEqual(prefixes(decide(w, "n3")), { router1: [] });
  assert.match(decide(w, "n3").services[0].reason ?? "", /no serving endpoint on node n3/);
  w.slices = [sliceObject("web", [{ node: "n3" }])];
  assert.deepEqual(prefixes(decide(w, "n2")), { router1: [] });
  assert.deepEqual(prefixes(decide(w, "n3")), { router1: ["192.0.2.10/32"] });
});

Deno.test("excluded and NetworkUnavailable nodes announce nothing", () => {
  const w = baseWorld();
  w.nodes = [
    nodeObject("n1", { labels: { [EXCLUDE_LABEL]: "" } }),
    nodeObject("n2", { networkUnavailable: true }),
    nodeObject("n3"),
  ];
  const a1 = decide(w, "n1");
  assert.deepEqual(prefixes(a1), { router1: [] });
  assert.match(a1.nodeReason ?? "", /exclude-from-external-load-balancers/);
  const a2 = decide(w, "n2");
  assert.deepEqual(prefixes(a2), { router1: [] });
  assert.match(a2.services[0].reason ?? "", /NetworkUnavailable/);
  assert.deepEqual(prefixes(decide(w, "n3")), { router1: ["192.0.2.10/32"] });
});

Deno.test("peer and advertisement node selectors follow node relabelling", () => {
  const w = baseWorld();
  w.config = [
    poolObject("pool-a", ["192.0.2.0/26"]),
    peerObject("tor-a", {
      myASN: 64500,
      peerASN: 64501,
      peerAddress: "10.0.0.1",
      nodeSelectors: [{ matchLabels: { rack: "a" } }],
    }),
    peerObject("spine", { myASN: 64500, peerASN: 64502, peerAddress: "10.0.0.2" }),
    advObject("edge-only", { nodeSelectors: [{ matchLabels: { role: "edge" } }] }),
  ];
  w.nodes = [nodeObject("n1", { labels: { rack: "a" } })];
  let a = decide(w, "n1");
  assert.deepEqual(prefixes(a), { "spine": [], "tor-a": [] });
  assert.match(a.services[0].reason ?? "", /no BGPAdvertisement selects pool "pool-a"/);
  w.nodes = [nodeObject("n1", { labels: { rack: "a", role: "edge" } })];
  assert.deepEqual(prefixes(decide(w, "n1")), {
    "spine": ["192.0.2.10/32"],
    "tor-a": ["192.0.2.10/32"],
  });
  w.nodes = [nodeObject("n1", { labels: { rack: "b", role: "edge" } })];
  a = decide(w, "n1");
  assert.deepEqual(prefixes(a), { "spine": ["192.0.2.10/32"] });
  assert.deepEqual(a.services[0].peers, ["spine"]);
});

Deno.test("adv.peers targets peers; serviceSelectors filter Services", () => {
  const w = baseWorld();
  w.config = [
    poolObject("pool-a", ["192.0.2.0/26"]),
    peerObject("r1", { myASN: 64500, peerASN: 64501, peerAddress: "10.0.0.1" }),
    peerObject("r2", { myASN: 64500, peerASN: 64502, peerAddress: "10.0.0.2" }),
    advObject("to-r2", { peers: ["r2"], serviceSelectors: [{ matchLabels: { tier: "gold" } }] }),
  ];
  w.services = [
    serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a", labels: { tier: "gold" } }),
    serviceObject("db", { ips: ["192.0.2.11"], pool: "pool-a", labels: { tier: "bronze" } }),
  ];
  w.slices = [sliceObject("web", [{ node: "n1" }]), sliceObject("db", [{ node: "n1" }])];
  const a = decide(w, "n1");
  assert.deepEqual(prefixes(a), { r1: [], r2: ["192.0.2.10/32"] });
  const db = a.services.find((s) => s.name === "db")!;
  assert.deepEqual(db.peers, []);
  assert.ok(db.reason);
});

Deno.test("communities, aliases, large communities and localPref are attached", () => {
  const w = baseWorld();
  w.config = [
    poolObject("pool-a", ["192.0.2.0/26"]),
    peerObject("router1", { myASN: 64500, peerASN: 64500, peerAddress: "10.0.0.1" }),
    communityObject("aliases", { "no-export": "65535:65281" }),
    advObject("a", {
      localPref: 150,
      communities: ["no-export", "64500:7", "large:64500:1:2"],
    }),
  ];
  const [route] = decide(w, "n1").routes.get("router1")!;
  assert.equal(route.attributes.localPref, 150);
  assert.deepEqual(route.attributes.communities, [64500 * 65536 + 7, 65535 * 65536 + 65281]);
  assert.deepEqual(route.attributes.largeCommunities, [[64500, 1, 2]]);
  assert.equal(route.attributes.extendedCommunities, undefined);
});

Deno.test("identical prefixes towards one peer merge their communities", () => {
  const w = baseWorld();
  w.config = [
    poolObject("pool-a", ["192.0.2.0/26"]),
    peerObject("router1", { myASN: 64500, peerASN: 64501, peerAddress: "10.0.0.1" }),
    // MetalLB refuses two local preferences for one resulting prefix: both say 200.
    advObject("x", { communities: ["64500:1", "large:1:1:1"], localPref: 200 }),
    advObject("y", { communities: ["64500:2", "64500:1"], localPref: 200 }),
  ];
  const routes = decide(w, "n1").routes.get("router1")!;
  assert.equal(routes.length, 1);
  assert.deepEqual(routes[0].attributes.communities, [64500 * 65536 + 1, 64500 * 65536 + 2]);
  assert.deepEqual(routes[0].attributes.largeCommunities, [[1, 1, 1]]);
  assert.equal(routes[0].attributes.localPref, 200);
});

Deno.test("aggregation announces the covering prefix once, v4 and v6", () => {
  const w = baseWorld();
  w.config = [
    poolObject("pool-b", ["198.51.100.0/24", "2001:db8:1::/120"]),
    peerObject("router1", {
      myASN: 64500,
      peerASN: 64501,
      peerAddress: "10.0.0.1",
      dualStackAddressFamily: true,
    }),
    advObject("agg", { aggregationLength: 24, aggregationLengthV6: 120 }),
    advObject("host"),
  ];
  w.services = [
    serviceObject("web", { ips: ["198.51.100.7", "2001:db8:1::5"], pool: "pool-b" }),
    serviceObject("api", { ips: ["198.51.100.200"] }), // pool found by range
  ];
  w.slices = [sliceObject("web", [{ node: "n9" }]), sliceObject("api", [{ node: "n9" }])];
  assert.deepEqual(prefixes(decide(w, "n1")), {
    router1: [
      "198.51.100.0/24",
      "198.51.100.7/32",
      "198.51.100.200/32",
      "2001:db8:1::/120",
      "2001:db8:1::5/128",
    ],
  });
});

Deno.test("the legacy pool annotation is read; an IP in no pool is reported", () => {
  const w = baseWorld();
  w.config.push(advObject("only-b", { ipAddressPools: ["pool-b"] }));
  w.config = w.config.filter((o) => o.metadata.name !== "all");
  w.services = [
    serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-b", legacyPoolAnnotation: true }),
  ];
  assert.deepEqual(prefixes(decide(w, "n1")), { router1: ["192.0.2.10/32"] });
  w.services = [serviceObject("web", { ips: ["203.0.113.9"] })];
  const a = decide(w, "n1");
  assert.deepEqual(prefixes(a), { router1: [] });
  assert.match(a.services[0].reason ?? "", /203\.0\.113\.9 is in no IPAddressPool/);
});

Deno.test("Services without an IP, other types and rejected peers are not announced", () => {
  const w = baseWorld();
  w.services = [
    serviceObject("web"),
    serviceObject("np", { ips: ["192.0.2.12"], type: "NodePort" }),
  ];
  const a = decide(w, "n1", { rejectedPeers: new Map([["router1", "password"]]) });
  assert.deepEqual(prefixes(a), {});
  assert.deepEqual(a.services.map((s) => [s.name, s.reason]), [["web", "no IP assigned yet"]]);
});

Deno.test("weighted ECMP: link bandwidth proportional to local ready endpoints", () => {
  const w = baseWorld();
  w.config = [
    poolObject("pool-a", ["192.0.2.0/26"]),
    peerObject("router1", { myASN: 64500, peerASN: 64501, peerAddress: "10.0.0.1" }),
    peerObject("big", { myASN: 4200000000, peerASN: 64501, peerAddress: "10.0.0.2" }),
    advObject("all"),
  ];
  w.services = [
    serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a", etp: "Local" }),
    serviceObject("cl", { ips: ["192.0.2.11"], pool: "pool-a" }),
  ];
  w.slices = [
    sliceObject("web", [{ node: "n1" }, { node: "n1" }, { node: "n1" }, { node: "n2" }]),
    sliceObject("cl", [{ node: "n1" }]),
  ];
  const a = decide(w, "n1", { weightedEcmp: true });
  const [web, cl] = a.routes.get("router1")!;
  assert.equal(formatPrefix(web.prefix), "192.0.2.10/32");
  // 0x40 0x04, AS 64500 = 0xfbf4, 3 x 125e6 bytes/s = 375e6 = float 0x4db2d05e.
  assert.deepEqual(
    [...web.attributes.extendedCommunities![0]],
    [0x40, 0x04, 0xfb, 0xf4, 0x4d, 0xb2, 0xd0, 0x5e],
  );
  assert.equal(cl.attributes.extendedCommunities, undefined, "ETP Cluster gets no weight");
  const [bigWeb] = a.routes.get("big")!;
  assert.deepEqual([...bigWeb.attributes.extendedCommunities![0].slice(2, 4)], [0x5b, 0xa0]);
  const off = decide(w, "n1");
  assert.equal(off.routes.get("router1")![0].attributes.extendedCommunities, undefined);
  assert.deepEqual(
    [...linkBandwidthCommunity(65000, 125_000_000)],
    [0x40, 0x04, 0xfd, 0xe8, 0x4c, 0xee, 0x6b, 0x28],
  );
});

Deno.test("merging respects which peers each advertisement targets", () => {
  const w = baseWorld();
  w.config = [
    poolObject("pool-a", ["192.0.2.0/26"]),
    peerObject("r1", { myASN: 64500, peerASN: 64501, peerAddress: "10.0.0.1" }),
    peerObject("r2", { myASN: 64500, peerASN: 64502, peerAddress: "10.0.0.2" }),
    advObject("x-to-r1", { peers: ["r1"], communities: ["64500:1"] }),
    advObject("y-to-all", { communities: ["64500:2"] }),
  ];
  const a = decide(w, "n1");
  assert.deepEqual(a.routes.get("r1")![0].attributes.communities, [
    64500 * 65536 + 1,
    64500 * 65536 + 2,
  ]);
  assert.deepEqual(a.routes.get("r2")![0].attributes.communities, [64500 * 65536 + 2]);
  assert.deepEqual(a.services[0].peers, ["r1", "r2"]);
});

Deno.test("IPv6 goes only to peers carrying IPv6 (their family or dualStackAddressFamily)", () => {
  const w = baseWorld();
  w.config = [
    poolObject("pool-b", ["198.51.100.0/24", "2001:db8:1::/120"]),
    peerObject("v4", { myASN: 64500, peerASN: 64501, peerAddress: "10.0.0.1" }),
    peerObject("v6", { myASN: 64500, peerASN: 64501, peerAddress: "fd00::1" }),
    advObject("all"),
  ];
  w.services = [serviceObject("web", { ips: ["198.51.100.7", "2001:db8:1::5"], pool: "pool-b" })];
  assert.deepEqual(prefixes(decide(w, "n1")), {
    v4: ["198.51.100.7/32"],
    v6: ["2001:db8:1::5/128"],
  });
  w.config = w.config.filter((o) => o.metadata.name !== "v6");
  w.services = [serviceObject("six", { ips: ["2001:db8:1::6"], pool: "pool-b" })];
  w.slices = [sliceObject("six", [{ node: "n1" }])];
  const a = decide(w, "n1");
  assert.deepEqual(prefixes(a), { v4: [] });
  assert.match(a.services[0].reason ?? "", /carries ipv6 \(set dualStackAddressFamily\)/);
});

Deno.test("a dual-stack peer without an IPv6 next hop gets no IPv6 routes, and the reason", () => {
  const w = baseWorld();
  w.config = [
    poolObject("pool-b", ["198.51.100.0/24", "2001:db8:1::/120"]),
    peerObject("ds", {
      myASN: 64500,
      peerASN: 64501,
      peerAddress: "10.0.0.1",
      dualStackAddressFamily: true,
    }),
    advObject("all"),
  ];
  w.services = [
    serviceObject("both", { ips: ["198.51.100.7", "2001:db8:1::5"], pool: "pool-b" }),
    serviceObject("six", { ips: ["2001:db8:1::6"], pool: "pool-b" }),
  ];
  w.slices = [sliceObject("both", [{ node: "n1" }]), sliceObject("six", [{ node: "n1" }])];
  const why = "no IPv6 next hop for an IPv4 session: node n1 has no global IPv6 address";
  const a = decide(w, "n1", { noNextHopV6: new Map([["ds", why]]) });
  assert.deepEqual(prefixes(a), { ds: ["198.51.100.7/32"] });
  const both = a.services.find((s) => s.name === "both")!;
  assert.deepEqual(both.peers, ["ds"]);
  assert.equal(both.partial, `IP 2001:db8:1::5: BGPPeer ds: ${why}`);
  const six = a.services.find((s) => s.name === "six")!;
  assert.deepEqual(six.peers, []);
  assert.equal(six.reason, `IP 2001:db8:1::6: BGPPeer ds: ${why}`);
  assert.equal(six.cause, "config");
  // With a next hop the same peer carries both.
  assert.deepEqual(prefixes(decide(w, "n1")), {
    ds: ["198.51.100.7/32", "2001:db8:1::5/128", "2001:db8:1::6/128"],
  });
});

Deno.test("waiting Services (no IP, no endpoint) are told apart from configuration reasons", () => {
  const w = baseWorld();
  w.services = [
    serviceObject("noip", { ips: [], pool: "pool-a" }),
    serviceObject("noep", { ips: ["192.0.2.20"], pool: "pool-a" }),
  ];
  w.slices = [];
  const a = decide(w, "n1");
  for (const s of a.services) assert.equal(s.cause, "waiting", s.name);
});

/** Routes per peer as text (prefix and attributes) and Service outcomes, to compare runs. */
function rendered(a: Announcements): unknown {
  const routes: Record<string, string[]> = {};
  for (const [peer, list] of a.routes) {
    routes[peer] = list.map((r) =>
      `${formatPrefix(r.prefix)} ${
        JSON.stringify(r.attributes, (_, v) => v instanceof Uint8Array ? [...v] : v)
      }`
    );
  }
  // Prefixes as text: the planner hands out its own objects, whose other fields are its memo.
  const text = (p: string | Prefix) => typeof p === "string" ? p : formatPrefix(p);
  // Every field a ServiceAnnouncement has (the planner's read some through its memo).
  const services = a.services.map((s) => ({
    namespace: s.namespace,
    name: s.name,
    key: s.key,
    ips: s.ips,
    pool: s.pool,
    peers: s.peers,
    reason: s.reason,
    cause: s.cause,
    partial: s.partial,
    path: s.path,
    prefixes: prefixList(s).map(text),
  }));
  return { routes, services, peers: a.peers.map((p) => p.name) };
}

Deno.test("a reused cache gives what a fresh computation gives, change after change", () => {
  reusedCacheMatchesFresh((list) => [...list]);
});

Deno.test("a reused cache keeping frozen input lists gives what a fresh computation gives", () => {
  // Frozen lists are kept by the cache rather than copied: each call hands new ones.
  reusedCacheMatchesFresh((list) => Object.freeze([...list]) as typeof list);
});

function reusedCacheMatchesFresh(listed: <T>(list: T[]) => T[]): void {
  const cfg = config([
    poolObject("pool-b", ["198.51.100.0/24", "2001:db8:1::/120"]),
    peerObject("r1", { myASN: 64500, peerASN: 64501, peerAddress: "10.0.0.1" }),
    peerObject("r2", {
      myASN: 4200000000,
      peerASN: 64501,
      peerAddress: "10.0.0.2",
      dualStackAddressFamily: true,
    }),
    // Different resulting prefixes in both families, as MetalLB requires for two localPrefs.
    advObject("agg", { aggregationLength: 24, aggregationLengthV6: 124, communities: ["64500:1"] }),
    advObject("host", { peers: ["r2"], communities: ["64500:2"], localPref: 50 }),
  ]);
  const services = Array.from({ length: 12 }, (_, i) =>
    must(parseService(serviceObject(`s${i}`, {
      ips: i % 4 === 3 ? [`198.51.100.${i + 1}`, `2001:db8:1::${i + 1}`] : [`198.51.100.${i + 1}`],
      pool: "pool-b",
      etp: i % 2 ? "Local" : "Cluster",
    }))));
  const slices = services.map((s, i) =>
    must(parseEndpointSlice(sliceObject(s.name, [{ node: i % 3 ? "n1" : "n2" }])))
  );
  const cache = createAnnounceCache();
  const input = () => ({
    nodeName: "n1",
    services: listed(services),
    endpointSlices: listed(slices),
    nodes: [],
    weightedEcmp: true,
  });
  let before = computeAnnouncements(cfg, { ...input(), cache });
  assert.deepEqual(rendered(before), rendered(computeAnnouncements(cfg, input())));
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let step = 0; step < 300; step++) {
    const i = Math.floor(next() * services.length);
    // The prefix of the Service touched, where it is now (it may have moved).
    const changed = `${services[i].ingressIPs[0]}/32`;
    if (step % 10 === 9) {
      // A Service moves to another IP: its view is replaced.
      services[i] = must(parseService(serviceObject(services[i].name, {
        ips: [`198.51.100.${100 + step}`],
        pool: "pool-b",
        etp: services[i].externalTrafficPolicy,
      })));
    } else {
      const endpoints = Array.from(
        { length: Math.floor(next() * 4) },
        () => ({ node: next() < 0.6 ? "n1" : "n2", ready: next() < 0.8 }),
      );
      slices[i] = must(parseEndpointSlice(sliceObject(services[i].name, endpoints)));
    }
    const after = computeAnnouncements(cfg, { ...input(), cache });
    assert.deepEqual(rendered(after), rendered(computeAnnouncements(cfg, input())), `step ${step}`);
    // Routes of prefixes nobody touched are the very same objects (sessions skip them).
    const old = new Map(before.routes.get("r2")!.map((r) => [formatPrefix(r.prefix), r]));
    for (const r of after.routes.get("r2")!) {
      const p = formatPrefix(r.prefix);
      if (p !== changed && !p.endsWith("/24") && p.startsWith("198.51.100.") && old.has(p)) {
        if (step % 10 !== 9) assert.equal(r, old.get(p), `step ${step}: ${p} rebuilt`);
      }
    }
    before = after;
  }
  // A new Service (a longer list) is merged in too.
  services.push(must(parseService(serviceObject("late", { ips: ["198.51.100.250"] }))));
  slices.push(must(parseEndpointSlice(sliceObject("late", [{ node: "n2" }]))));
  assert.deepEqual(
    rendered(computeAnnouncements(cfg, { ...input(), cache })),
    rendered(computeAnnouncements(cfg, input())),
  );
  // Services deleted, then one of their slices too: their routes and records go.
  services.splice(2, 3);
  assert.deepEqual(
    rendered(computeAnnouncements(cfg, { ...input(), cache })),
    rendered(computeAnnouncements(cfg, input())),
  );
  slices.splice(2, 1);
  assert.deepEqual(
    rendered(computeAnnouncements(cfg, { ...input(), cache })),
    rendered(computeAnnouncements(cfg, input())),
  );
}

Deno.test("a Service decided again for the same routes keeps its route and planner objects", () => {
  const w = baseWorld();
  const cfg = config(w.config);
  const services = w.services.map((o) => must(parseService(o)));
  const cache = createAnnounceCache();
  const plan = (endpoints: { node: string }[]) =>
    computeAnnouncements(cfg, {
      nodeName: "n1",
      services,
      endpointSlices: [must(parseEndpointSlice(sliceObject("web", endpoints)))],
      nodes: [],
      cache,
    });
  const before = plan([{ node: "n2" }]);
  const contribs = cache.records.get("default/web")?.out?.contribs;
  assert.ok(contribs !== undefined);
  // Another serving endpoint: the Service is decided again, for the same route.
  const after = plan([{ node: "n2" }, { node: "n3" }]);
  assert.deepEqual(prefixes(after), { router1: ["192.0.2.10/32"] });
  assert.equal(after.routes.get("router1")![0], before.routes.get("router1")![0]);
  assert.equal(cache.records.get("default/web")?.out?.contribs, contribs);
  assert.deepEqual(after.routes.get("router1")![0].attributes, {});
  assert.equal(after.services[0].key, "default/web");
});

Deno.test("peers that get the same routes share one list; others get their own", () => {
  const w = baseWorld();
  w.config.push(peerObject("router2", { myASN: 64500, peerASN: 64502, peerAddress: "10.0.0.2" }));
  w.slices = [sliceObject("web", [{ node: "n1" }])];
  const a = decide(w, "n1");
  assert.deepEqual(prefixes(a), { router1: ["192.0.2.10/32"], router2: ["192.0.2.10/32"] });
  assert.equal(a.routes.get("router1"), a.routes.get("router2"));
  // An advertisement for one peer only: the lists differ.
  w.config.push(advObject("one", { peers: ["router2"], communities: ["64500:7"] }));
  const b = decide(w, "n1");
  assert.notEqual(b.routes.get("router1"), b.routes.get("router2"));
  assert.deepEqual(b.routes.get("router1")![0].attributes, {});
  assert.deepEqual(b.routes.get("router2")![0].attributes.communities, [64500 * 65536 + 7]);
});

Deno.test("weighted ECMP counts past a thousand endpoints, patched slice by slice", () => {
  const w = baseWorld();
  w.services = [serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a", etp: "Local" })];
  const cfg = config(w.config);
  const services = w.services.map((o) => must(parseService(o)));
  const cache = createAnnounceCache();
  const slice = (name: string, n: number) =>
    must(parseEndpointSlice({
      ...sliceObject("web", Array.from({ length: n }, () => ({ node: "n1" }))),
      metadata: { name, namespace: "default", labels: { "kubernetes.io/service-name": "web" } },
    }));
  const plan = (endpointSlices: ReturnType<typeof slice>[]) =>
    computeAnnouncements(cfg, {
      nodeName: "n1",
      services,
      endpointSlices,
      nodes: [],
      cache,
      weightedEcmp: true,
    });
  const bandwidth = (
    a: Announcements,
  ) => [...a.routes.get("router1")![0].attributes.extendedCommunities![0]];
  const a = slice("a", 1000), b = slice("b", 600);
  assert.deepEqual(bandwidth(plan([a, b])), [...linkBandwidthCommunity(64500, 1600 * 125_000_000)]);
  // One slice replaced: the counts are patched, from past 1023 back below it.
  assert.deepEqual(bandwidth(plan([a, slice("b", 2)])), [
    ...linkBandwidthCommunity(64500, 1002 * 125_000_000),
  ]);
  assert.deepEqual(bandwidth(plan([slice("a", 5), slice("b", 2)])), [
    ...linkBandwidthCommunity(64500, 7 * 125_000_000),
  ]);
});

Deno.test("after a configuration reload no route keeps the old configuration's objects", () => {
  const w = baseWorld();
  const services = w.services.map((o) => must(parseService(o)));
  const endpointSlices = w.slices.map((o) => must(parseEndpointSlice(o)));
  const cache = createAnnounceCache();
  const plan = (cfg: Config) =>
    computeAnnouncements(cfg, { nodeName: "n1", services, endpointSlices, nodes: [], cache });
  plan(config(w.config));
  // The same objects parsed again: equal advertisements, other objects.
  const cfg = config(w.config);
  const [route] = plan(cfg).routes.get("router1")!;
  assert.equal(formatPrefix(route.prefix), "192.0.2.10/32");
  assert.equal((route as unknown as { ad: unknown }).ad, cfg.advertisements[0]);
});

Deno.test("Services asking for one aggregated prefix share its Prefix object", () => {
  const w = baseWorld();
  w.config = [
    poolObject("pool-b", ["198.51.100.0/24"]),
    peerObject("router1", { myASN: 64500, peerASN: 64501, peerAddress: "10.0.0.1" }),
    advObject("agg", { aggregationLength: 24 }),
  ];
  const names = ["a", "b", "c"];
  const services = names.map((n, i) =>
    must(parseService(serviceObject(n, { ips: [`198.51.100.${i + 1}`], pool: "pool-b" })))
  );
  const endpointSlices = names.map((n) =>
    must(parseEndpointSlice(sliceObject(n, [{ node: "n1" }])))
  );
  const cache = createAnnounceCache();
  const a = computeAnnouncements(config(w.config), {
    nodeName: "n1",
    services,
    endpointSlices,
    nodes: [],
    cache,
  });
  assert.deepEqual(prefixes(a), { router1: ["198.51.100.0/24"] });
  const prefixOf = (n: string) =>
    (cache.records.get(`default/${n}`)?.out?.contribs as { prefix: unknown }).prefix;
  assert.equal(prefixOf("a"), prefixOf("b"));
  assert.equal(prefixOf("a"), prefixOf("c"));
  assert.equal(prefixOf("a"), a.routes.get("router1")![0].prefix);
});
