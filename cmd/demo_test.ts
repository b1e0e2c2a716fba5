import assert from "node:assert/strict";
import { collectorTarget, formatDemoSummary, notConverged, prefixCovers } from "./demo.ts";
import type { StatusDocument } from "./status.ts";
import type { CollectedRoute } from "../bgp/mod.ts";

const EXAMPLES = new URL("../examples/", import.meta.url).pathname;

function route(prefix: string, extra: Partial<CollectedRoute> = {}): CollectedRoute {
  return {
    prefix,
    nextHop: "127.0.0.1",
    asPath: [64512],
    communities: [],
    largeCommunities: [],
    extendedCommunities: [],
    ...extra,
  };
}

function doc(services: StatusDocument["services"], state = "Established"): StatusDocument {
  return {
    role: "all",
    config: { valid: true, errors: [], warnings: [] },
    sessions: [{ peer: "127.0.0.1:1179", state, prefixesSent: 1, prefixesReceived: 0 }],
    pools: [],
    services,
  };
}

Deno.test("prefixCovers: host routes, aggregates and families", () => {
  assert.equal(prefixCovers("172.19.0.0/32", "172.19.0.0"), true);
  assert.equal(prefixCovers("172.19.0.0/32", "172.19.0.1"), false);
  assert.equal(prefixCovers("172.19.0.0/24", "172.19.0.77"), true);
  assert.equal(prefixCovers("172.19.1.0/24", "172.19.0.77"), false);
  assert.equal(prefixCovers("2001:db8:100::/128", "2001:db8:100::"), true);
  assert.equal(prefixCovers("2001:db8:100::/120", "2001:db8:100::ff"), true);
  assert.equal(prefixCovers("0.0.0.0/0", "2001:db8::1"), false);
});

Deno.test("collectorTarget: the examples' BGPPeer names where the collector listens", async () => {
  assert.deepEqual(
    await collectorTarget(`${EXAMPLES}quickstart`, { listen: "x", asn: 1 }),
    { listen: "127.0.0.1:1179", asn: 65001, peer: "example" },
  );
  assert.equal(
    (await collectorTarget(`${EXAMPLES}dualstack`, { listen: "x", asn: 1 })).listen,
    "127.0.0.1:1179",
  );
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/peer.yaml`,
      "apiVersion: metallb.io/v1beta2\nkind: BGPPeer\nmetadata:\n  name: r\n" +
        "spec:\n  myASN: 1\n  peerASN: 2\n  peerAddress: 192.0.2.1\n",
    );
    assert.deepEqual(await collectorTarget(dir, { listen: "127.0.0.1:1179", asn: 65001 }), {
      listen: "127.0.0.1:1179",
      asn: 65001,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("notConverged: says what is missing until every address is routed", () => {
  const web = { namespace: "default", name: "web", ips: ["172.19.0.0"], peers: [] };
  assert.deepEqual(notConverged(doc([web]), [route("172.19.0.0/32")]), []);
  assert.deepEqual(notConverged(doc([web]), []), [
    "default/web: no route for 172.19.0.0 at the collector yet",
  ]);
  assert.deepEqual(
    notConverged(doc([{ ...web, ips: [], pending: "no available IPs" }]), []),
    ["default/web has no address: no available IPs"],
  );
  assert.deepEqual(notConverged(doc([web], "Active"), [route("172.19.0.0/32")]), [
    "session to 127.0.0.1:1179 is Active",
  ]);
});

Deno.test("formatDemoSummary: one row per Service and per route", () => {
  const text = formatDemoSummary(
    doc([{
      namespace: "default",
      name: "web",
      ips: ["172.19.0.0"],
      pool: "example-pool",
      peers: ["127.0.0.1:1179"],
    }]),
    [route("172.19.0.0/32", { communities: ["65535:65281"], largeCommunities: ["1:2:3"] })],
    { listen: "127.0.0.1:1179", asn: 65001 },
  );
  assert.match(
    text,
    /default\/web\s+172\.19\.0\.0\s+pool example-pool\s+announced to 127\.0\.0\.1:1179/,
  );
  assert.match(text, /Collector 127\.0\.0\.1:1179 \(AS 65001\) received 1 route/);
  assert.match(text, /172\.19\.0\.0\/32\s+127\.0\.0\.1\s+64512\s+-\s+65535:65281 large:1:2:3/);
});
