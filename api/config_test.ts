import assert from "node:assert/strict";
import {
  buildConfig,
  type ConfigError,
  convertBGPPeerV1beta1,
  formatConfigError,
} from "./config.ts";
import { parseManifests } from "../cluster/file_source.ts";
import { createFileSource } from "../cluster/file_source.ts";
import { silentLogger } from "./log.ts";
import type { KubeObject } from "./kube_object.ts";

const NS = "metallb-system";

function objects(yaml: string): KubeObject[] {
  const r = parseManifests(yaml, { installNamespace: NS });
  if (!r.ok) throw new Error(r.reason);
  return r.objects;
}

function indent(text: string, n: number): string {
  return text.trim().split("\n").map((l) => " ".repeat(n) + l).join("\n");
}

function pool(name: string, spec: string, labels = ""): string {
  return `---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: ${name}
${labels ? `  labels: ${labels}\n` : ""}spec:
${indent(spec, 2)}
`;
}

function adv(name: string, spec: string): string {
  return `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: ${name}
spec:
${indent(spec, 2)}
`;
}

function peer(name: string, spec: string, version = "v1beta2"): string {
  return `---
apiVersion: metallb.io/${version}
kind: BGPPeer
metadata:
  name: ${name}
spec:
${indent(spec, 2)}
`;
}

function other(
  kind: string,
  name: string,
  body: string,
  apiVersion = "metallb.io/v1beta1",
): string {
  return `---
apiVersion: ${apiVersion}
kind: ${kind}
metadata:
  name: ${name}
${body.replace(/^\n+|\s+$/g, "")}
`;
}

const POOL = pool("p", "addresses: [10.0.0.0/24]");
const PEER = peer("peer", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1");

function errorsOf(yaml: string): ConfigError[] {
  const r = buildConfig(objects(yaml), { namespace: NS });
  assert.equal(r.ok, false, "configuration unexpectedly valid");
  return r.ok ? [] : r.errors;
}

const INVALID: { name: string; yaml: string; want: string[]; transient?: boolean }[] = [
  {
    name: "empty pool",
    yaml: pool("p", "addresses: []"),
    want: [
      "IPAddressPool metallb-system/p: spec.addresses: must not be empty: a pool needs at least one address",
    ],
  },
  {
    name: "pool without addresses",
    yaml: pool("p", "autoAssign: true"),
    want: ["IPAddressPool metallb-system/p: spec.addresses: required"],
  },
  {
    name: "CIDR prefix too long",
    yaml: pool("p", "addresses: [10.0.0.0/24, 10.1.0.0/33]"),
    want: [
      'IPAddressPool metallb-system/p: spec.addresses[1]: invalid CIDR "10.1.0.0/33": prefix length above 32',
    ],
  },
  {
    name: "CIDR with bad address",
    yaml: pool("p", "addresses: [10.0.0.300/24]"),
    want: [
      'IPAddressPool metallb-system/p: spec.addresses[0]: invalid CIDR "10.0.0.300/24": bad address',
    ],
  },
  {
    name: "range start after end",
    yaml: pool("p", "addresses: [10.0.0.20-10.0.0.10]"),
    want: [
      'IPAddressPool metallb-system/p: spec.addresses[0]: invalid range "10.0.0.20-10.0.0.10": start is after end',
    ],
  },
  {
    name: "range mixing families",
    yaml: pool("p", "addresses: [10.0.0.1-fc00::1]"),
    want: [
      'IPAddressPool metallb-system/p: spec.addresses[0]: invalid range "10.0.0.1-fc00::1": start and end are of different families',
    ],
  },
  {
    name: "neither CIDR nor range",
    yaml: pool("p", "addresses: [10.0.0.1]"),
    want: [
      'IPAddressPool metallb-system/p: spec.addresses[0]: invalid address "10.0.0.1": expected a CIDR or a range "a-b"',
    ],
  },
  {
    name: "overlap within a pool",
    yaml: pool("p", "addresses: [10.0.0.0/24, 10.0.0.128/25]"),
    want: [
      "IPAddressPool metallb-system/p: spec.addresses[1]: 10.0.0.128/25 overlaps 10.0.0.0/24 (spec.addresses[0])",
    ],
  },
  {
    name: "overlap across pools",
    yaml: pool("a", "addresses: [10.0.0.0/24]") + pool("b", "addresses: [10.0.0.5-10.0.0.9]"),
    want: [
      "IPAddressPool metallb-system/b: spec.addresses[0]: 10.0.0.5-10.0.0.9 overlaps 10.0.0.0/24 (IPAddressPool metallb-system/a spec.addresses[0])",
    ],
  },
  {
    name: "IPv6 overlap across pools",
    yaml: pool("a", "addresses: [fc00::/120]") + pool("b", "addresses: ['fc00::10-fc00::20']"),
    want: [
      "IPAddressPool metallb-system/b: spec.addresses[0]: fc00::10-fc00::20 overlaps fc00::/120 (IPAddressPool metallb-system/a spec.addresses[0])",
    ],
  },
  {
    name: "same CIDR twice in a pool",
    yaml: pool("p", "addresses: [10.0.0.0/24, 10.0.0.0/24]"),
    want: [
      "IPAddressPool metallb-system/p: spec.addresses[1]: duplicate of 10.0.0.0/24 (spec.addresses[0])",
    ],
  },
  {
    name: "duplicate pool",
    yaml: pool("p", "addresses: [10.0.0.0/24]") + pool("p", "addresses: [10.9.0.0/24]"),
    want: [
      'IPAddressPool metallb-system/p: metadata.name: duplicate IPAddressPool "p" (defined more than once)',
    ],
  },
  {
    name: "duplicate namespace in serviceAllocation",
    yaml: pool("p", "addresses: [10.0.0.0/24]\nserviceAllocation: {namespaces: [a, b, a]}"),
    want: [
      'IPAddressPool metallb-system/p: spec.serviceAllocation.namespaces[2]: duplicate "a" (already at index 0)',
    ],
  },
  {
    name: "duplicate service selector (key order ignored)",
    yaml: pool(
      "p",
      "addresses: [10.0.0.0/24]\nserviceAllocation:\n  serviceSelectors:\n  - matchLabels: {a: '1', b: '2'}\n  - matchLabels: {b: '2', a: '1'}",
    ),
    want: [
      "IPAddressPool metallb-system/p: spec.serviceAllocation.serviceSelectors[1]: duplicate selector (already at index 0)",
    ],
  },
  {
    name: "aggregationLength above 32",
    yaml: POOL + adv("adv", "aggregationLength: 33"),
    want: ["BGPAdvertisement metallb-system/adv: spec.aggregationLength: must be at most 32"],
  },
  {
    name: "aggregationLengthV6 above 128",
    yaml: POOL + adv("adv", "aggregationLengthV6: 129"),
    want: ["BGPAdvertisement metallb-system/adv: spec.aggregationLengthV6: must be at most 128"],
  },
  {
    name: "aggregation shorter than the pool's /28",
    yaml: pool("p", "addresses: [10.0.0.0/28]") + adv("adv", "aggregationLength: 26"),
    want: [
      "BGPAdvertisement metallb-system/adv: spec.aggregationLength: 26 is shorter than the /28 prefix of 10.0.0.0/28 in IPAddressPool p",
    ],
  },
  {
    name: "IPv6 aggregation shorter than the pool's prefix",
    yaml: pool("p6", "addresses: [fc00::/120]") +
      adv("adv", "aggregationLengthV6: 64\nipAddressPools: [p6]"),
    want: [
      "BGPAdvertisement metallb-system/adv: spec.aggregationLengthV6: 64 is shorter than the /120 prefix of fc00::/120 in IPAddressPool p6",
    ],
  },
  {
    name: "conflicting localPref",
    yaml: POOL + adv("a", "localPref: 100\nipAddressPools: [p]") +
      adv("b", "localPref: 200\nipAddressPools: [p]"),
    want: [
      'BGPAdvertisement metallb-system/b: spec.localPref: 200 conflicts with localPref 100 of BGPAdvertisement metallb-system/a for pool "p": same prefixes to the same peers from the same nodes',
    ],
  },
  {
    name: "community half out of range",
    yaml: POOL + adv("adv", "communities: ['65536:1']"),
    want: [
      'BGPAdvertisement metallb-system/adv: spec.communities[0]: invalid community "65536:1": both halves must be numbers 0-65535',
    ],
  },
  {
    name: "large community with two parts",
    yaml: POOL + adv("adv", "communities: ['large:1:2']"),
    want: [
      'BGPAdvertisement metallb-system/adv: spec.communities[0]: invalid large community "large:1:2": expected large:G:L1:L2',
    ],
  },
  {
    name: "unknown community alias",
    yaml: POOL + adv("adv", "communities: [no-such-alias]"),
    want: [
      'BGPAdvertisement metallb-system/adv: spec.communities[0]: unknown community alias "no-such-alias" (not defined in any Community object)',
    ],
    transient: true,
  },
  {
    name: "alias defined in two Community objects",
    yaml: other("Community", "c1", "spec:\n  communities: [{name: x, value: '1:1'}]") +
      other("Community", "c2", "spec:\n  communities: [{name: x, value: '2:2'}]"),
    want: [
      'Community metallb-system/c2: spec.communities[0].name: alias "x" is already defined in Community metallb-system/c1',
    ],
  },
  {
    name: "bad value in a Community alias",
    yaml: other("Community", "c1", "spec:\n  communities: [{name: x, value: 'large:a:b:c'}]"),
    want: [
      'Community metallb-system/c1: spec.communities[0].value: invalid large community "large:a:b:c": parts must be numbers 0-4294967295',
    ],
  },
  {
    name: "duplicate pool name in an advertisement",
    yaml: POOL + adv("adv", "ipAddressPools: [p, p]"),
    want: [
      'BGPAdvertisement metallb-system/adv: spec.ipAddressPools[1]: duplicate "p" (already at index 0)',
    ],
  },
  {
    name: "duplicate node selector in an advertisement",
    yaml: POOL + adv("adv", "nodeSelectors: [{matchLabels: {a: b}}, {matchLabels: {a: b}}]"),
    want: [
      "BGPAdvertisement metallb-system/adv: spec.nodeSelectors[1]: duplicate selector (already at index 0)",
    ],
  },
  {
    name: "In expression without values",
    yaml: POOL + adv("adv", "nodeSelectors: [{matchExpressions: [{key: a, operator: In}]}]"),
    want: [
      "BGPAdvertisement metallb-system/adv: spec.nodeSelectors[0].matchExpressions[0].values: must not be empty for operator In",
    ],
  },
  {
    name: "unknown selector operator",
    yaml: POOL + adv("adv", "nodeSelectors: [{matchExpressions: [{key: a, operator: Gt}]}]"),
    want: [
      'BGPAdvertisement metallb-system/adv: spec.nodeSelectors[0].matchExpressions[0].operator: Invalid option: expected one of "In"|"NotIn"|"Exists"|"DoesNotExist"',
    ],
  },
  {
    name: "myASN 0",
    yaml: peer("peer", "myASN: 0\npeerASN: 65001\npeerAddress: 192.0.2.1"),
    want: ["BGPPeer metallb-system/peer: spec.myASN: must not be 0"],
  },
  {
    name: "myASN missing",
    yaml: peer("peer", "peerASN: 65001\npeerAddress: 192.0.2.1"),
    want: ["BGPPeer metallb-system/peer: spec.myASN: required"],
  },
  {
    name: "neither peerASN nor dynamicASN",
    yaml: peer("peer", "myASN: 64512\npeerAddress: 192.0.2.1"),
    want: [
      "BGPPeer metallb-system/peer: spec.peerASN: exactly one of peerASN or dynamicASN must be set (got neither)",
    ],
  },
  {
    name: "both peerASN and dynamicASN",
    yaml: peer(
      "peer",
      "myASN: 64512\npeerASN: 65001\ndynamicASN: external\npeerAddress: 192.0.2.1",
    ),
    want: [
      "BGPPeer metallb-system/peer: spec.dynamicASN: exactly one of peerASN or dynamicASN must be set (got both)",
    ],
  },
  {
    name: "bad dynamicASN",
    yaml: peer("peer", "myASN: 64512\ndynamicASN: sideways\npeerAddress: 192.0.2.1"),
    want: [
      'BGPPeer metallb-system/peer: spec.dynamicASN: Invalid option: expected one of "internal"|"external"',
    ],
  },
  {
    name: "neither peerAddress nor interface",
    yaml: peer("peer", "myASN: 64512\npeerASN: 65001"),
    want: [
      "BGPPeer metallb-system/peer: spec.peerAddress: exactly one of peerAddress or interface must be set (got neither)",
    ],
  },
  {
    name: "both peerAddress and interface",
    yaml: peer("peer", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\ninterface: eth0"),
    want: [
      "BGPPeer metallb-system/peer: spec.interface: exactly one of peerAddress or interface must be set (got both)",
    ],
  },
  {
    name: "ebgpMultiHop on an iBGP peer",
    yaml: peer("peer", "myASN: 64512\npeerASN: 64512\npeerAddress: 192.0.2.1\nebgpMultiHop: true"),
    want: [
      "BGPPeer metallb-system/peer: spec.ebgpMultiHop: must not be set on an iBGP peer (peer AS equals myASN)",
    ],
  },
  {
    name: "bad peerAddress",
    yaml: peer("peer", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2"),
    want: ['BGPPeer metallb-system/peer: spec.peerAddress: invalid IP address "192.0.2"'],
  },
  {
    name: "bad sourceAddress",
    yaml: peer(
      "peer",
      "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nsourceAddress: 'fe80::1%eth0'",
    ),
    want: ['BGPPeer metallb-system/peer: spec.sourceAddress: invalid IP address "fe80::1%eth0"'],
  },
  {
    name: "IPv6 routerID",
    yaml: peer("peer", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nrouterID: 'fc00::1'"),
    want: ['BGPPeer metallb-system/peer: spec.routerID: must be an IPv4 address, got "fc00::1"'],
  },
  {
    name: "hold time below 3s",
    yaml: peer("peer", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nholdTime: 2s"),
    want: ["BGPPeer metallb-system/peer: spec.holdTime: hold time 2s must be 0 or at least 3s"],
  },
  {
    name: "unparsable hold time",
    yaml: peer("peer", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nholdTime: '90'"),
    want: [
      'BGPPeer metallb-system/peer: spec.holdTime: invalid duration "90": missing or unknown unit in "90" (use ns, us, ms, s, m or h)',
    ],
  },
  {
    name: "hold time written as a number",
    yaml: peer("peer", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nholdTime: 90"),
    want: [
      "BGPPeer metallb-system/peer: spec.holdTime: Invalid input: expected string, received number",
    ],
  },
  {
    name: "keepalive above hold",
    yaml: peer(
      "peer",
      "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nholdTime: 30s\nkeepaliveTime: 40s",
    ),
    want: [
      "BGPPeer metallb-system/peer: spec.keepaliveTime: keepalive time 40s exceeds hold time 30s",
    ],
  },
  {
    name: "keepalive alone implying a hold below 3s",
    yaml: peer(
      "peer",
      "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nkeepaliveTime: 500ms",
    ),
    want: [
      "BGPPeer metallb-system/peer: spec.keepaliveTime: hold time 1.5s must be 0 or at least 3s",
    ],
  },
  {
    name: "peerPort out of range",
    yaml: peer("peer", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\npeerPort: 20000"),
    want: ["BGPPeer metallb-system/peer: spec.peerPort: must be between 1 and 16384"],
  },
  {
    name: "missing password Secret",
    yaml: peer(
      "peer",
      "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\npasswordSecret: {name: bgp-pass}",
    ),
    want: [
      "BGPPeer metallb-system/peer: spec.passwordSecret: Secret metallb-system/bgp-pass not found",
    ],
    transient: true,
  },
  {
    name: "password Secret of the wrong type",
    yaml: peer(
      "peer",
      "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\npasswordSecret: {name: bgp-pass}",
    ) +
      other(
        "Secret",
        "bgp-pass",
        `  namespace: ${NS}\ntype: Opaque\ndata: {password: c2VjcmV0}`,
        "v1",
      ),
    want: [
      'BGPPeer metallb-system/peer: spec.passwordSecret: Secret metallb-system/bgp-pass has type "Opaque", want kubernetes.io/basic-auth',
    ],
  },
  {
    // MetalLB looks the name up among the install namespace's Secrets whatever the
    // reference's namespace; with none of that name there, it is missing.
    name: "password Secret named in another namespace and absent from the install one",
    yaml: peer(
      "peer",
      "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\npasswordSecret: {name: s, namespace: default}",
    ),
    want: ["BGPPeer metallb-system/peer: spec.passwordSecret: Secret metallb-system/s not found"],
    transient: true,
  },
  {
    name: "missing BFD profile",
    yaml: peer("peer", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nbfdProfile: fast"),
    want: [
      "BGPPeer metallb-system/peer: spec.bfdProfile: BFDProfile metallb-system/fast not found",
    ],
    transient: true,
  },
  {
    name: "BFD detectMultiplier below 2",
    yaml: other("BFDProfile", "b", "spec: {detectMultiplier: 1}"),
    want: ["BFDProfile metallb-system/b: spec.detectMultiplier: must be between 2 and 255"],
  },
  {
    name: "BFD receiveInterval above 60000",
    yaml: other("BFDProfile", "b", "spec: {receiveInterval: 60001, minimumTtl: 255}"),
    want: [
      "BFDProfile metallb-system/b: spec.receiveInterval: must be between 10 and 60000",
      "BFDProfile metallb-system/b: spec.minimumTtl: must be between 1 and 254",
    ],
  },
  {
    name: "duplicate peer",
    yaml: PEER + peer("peer2", "myASN: 64512\npeerASN: 65002\npeerAddress: 192.0.2.1"),
    want: [
      "BGPPeer metallb-system/peer2: spec.peerAddress: duplicate of BGPPeer metallb-system/peer (same address, port, vrf and nodeSelectors)",
    ],
  },
  {
    name: "unserved apiVersion",
    yaml: peer("peer", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1", "v1beta3"),
    want: [
      'BGPPeer metallb-system/peer: apiVersion: unsupported version "metallb.io/v1beta3" (served: metallb.io/v1beta1, metallb.io/v1beta2)',
    ],
  },
];

Deno.test("every invalid manifest yields its exact error", async (t) => {
  assert.ok(INVALID.length >= 30);
  for (const c of INVALID) {
    await t.step(c.name, () => {
      const errs = errorsOf(c.yaml);
      assert.deepEqual(errs.map(formatConfigError), c.want);
      assert.deepEqual(errs.map((e) => e.transient === true), c.want.map(() => !!c.transient));
    });
  }
});

Deno.test("seed manifests load through the file source into the expected config", async () => {
  const source = createFileSource(
    new URL("../tests/testdata/config/seed", import.meta.url).pathname,
    {
      logger: silentLogger,
      defaults: { installNamespace: NS },
    },
  );
  await source.start();
  try {
    assert.deepEqual(source.fileErrors(), []);
    const snap = source.snapshot();
    const svc = snap.objects.get("Service")?.get("default/example-service");
    assert.equal(svc?.metadata.annotations?.["metallb.universe.tf/address-pool"], "example-pool");
    const r = buildConfig(snap, { namespace: NS });
    assert.ok(r.ok, JSON.stringify(!r.ok && r.errors));
    const { config } = r;
    assert.equal(config.pools.length, 1);
    const p = config.pools[0];
    assert.equal(p.name, "example-pool");
    assert.equal(p.autoAssign, false);
    assert.equal(p.avoidBuggyIPs, false);
    assert.deepEqual(p.ranges, [{
      family: 4,
      start: 0xac130000n,
      end: 0xac1300ffn,
      cidr: "172.19.0.0/24",
      text: "172.19.0.0/24",
    }]);
    const peer = config.peers[0];
    assert.equal(peer.name, "example");
    assert.equal(peer.myASN, 64512);
    assert.equal(peer.peerASN, 65001);
    assert.equal(peer.address, "192.168.122.1");
    assert.equal(peer.port, 179);
    assert.equal(peer.holdTimeMs, 90000);
    assert.equal(peer.keepaliveTimeMs, 30000);
    const a = config.advertisements[0];
    assert.equal(a.name, "example-bgp-adv");
    assert.deepEqual(a.pools, ["example-pool"]);
    assert.equal(a.aggregationLength, 32);
    assert.equal(a.aggregationLengthV6, 128);
    assert.ok(Object.isFrozen(config) && Object.isFrozen(config.pools[0].ranges[0]));
    assert.throws(() => {
      (config.peers[0] as { port: number }).port = 1;
    });
  } finally {
    await source.close();
  }
});

Deno.test("references resolve: secret password, aliases, pool selectors, timers", () => {
  const yaml =
    pool("a", "addresses: ['10.0.0.0/24', 'fc00::/64']\navoidBuggyIPs: true", "{tier: gold}") +
    pool(
      "b",
      "addresses: ['10.1.0.1-10.1.0.10']\nserviceAllocation: {priority: 5, namespaces: [web]}",
    ) +
    peer(
      "p1",
      "myASN: 64512\npeerASN: 64512\npeerAddress: 192.0.2.1\nholdTime: 9s\npasswordSecret: {name: pw}\nbfdProfile: fast",
    ) +
    peer(
      "p2",
      "myASN: 64512\ndynamicASN: external\ninterface: eth0\nkeepaliveTime: 10s\nconnectTime: 1m30s",
    ) +
    other(
      "Secret",
      "pw",
      `  namespace: ${NS}\ntype: kubernetes.io/basic-auth\ndata: {password: c8O2c2Vu}`,
      "v1",
    ) +
    other("BFDProfile", "fast", "spec: {receiveInterval: 100}") +
    other(
      "Community",
      "c",
      "spec:\n  communities: [{name: no-advertise, value: '65535:65282'}, {name: big, value: 'large:1:2:3'}]",
    ) +
    adv(
      "gold",
      "ipAddressPoolSelectors: [{matchLabels: {tier: gold}}]\ncommunities: [no-advertise, big, '100:200']\nlocalPref: 50\naggregationLength: 24\naggregationLengthV6: 64",
    ) +
    adv("all", "peers: [p2]");
  const r = buildConfig(objects(yaml), { namespace: NS });
  assert.ok(r.ok, JSON.stringify(!r.ok && r.errors.map(formatConfigError)));
  const c = r.config;
  assert.deepEqual(c.pools.map((p) => p.name), ["a", "b"]);
  assert.equal(c.pools[0].avoidBuggyIPs, true);
  assert.equal(c.pools[0].ranges[1].end - c.pools[0].ranges[1].start + 1n, 1n << 64n);
  assert.deepEqual(c.pools[1].serviceAllocation, {
    priority: 5,
    namespaces: ["web"],
    namespaceSelectors: [],
    serviceSelectors: [],
  });
  const [p1, p2] = c.peers;
  assert.equal(p1.password, "sösen");
  assert.equal(p1.holdTimeMs, 9000);
  assert.equal(p1.keepaliveTimeMs, 3000);
  assert.equal(p1.bfdProfile?.receiveIntervalMs, 100);
  assert.equal(p1.bfdProfile?.detectMultiplier, 3);
  assert.equal(p2.dynamicASN, "external");
  assert.equal(p2.interface, "eth0");
  assert.equal(p2.holdTimeMs, 30000);
  assert.equal(p2.keepaliveTimeMs, 10000);
  assert.equal(p2.connectTimeMs, 90000);
  const gold = c.advertisements.find((a) => a.name === "gold")!;
  assert.deepEqual(gold.pools, ["a"]);
  assert.deepEqual(
    gold.communities.map((x) => x.kind === "standard" ? x.value : [x.global, x.local1, x.local2]),
    [
      0xffffff02,
      [1, 2, 3],
      100 * 65536 + 200,
    ],
  );
  assert.equal(gold.localPref, 50);
  const all = c.advertisements.find((a) => a.name === "all")!;
  assert.deepEqual(all.pools, ["a", "b"]);
  assert.deepEqual(all.peers, ["p2"]);
  assert.deepEqual(c.communities["no-advertise"], {
    kind: "standard",
    value: 0xffffff02,
    text: "65535:65282",
  });
});

Deno.test("L2Advertisement, disableMP and foreign-namespace objects only warn", () => {
  const yaml = POOL +
    PEER.replace("peerAddress: 192.0.2.1", "peerAddress: 192.0.2.1\n  disableMP: true") +
    other("L2Advertisement", "l2", "spec: {ipAddressPools: [p]}") +
    `---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: stray, namespace: default}
spec: {addresses: []}
`;
  const r = buildConfig(objects(yaml), { namespace: NS });
  assert.ok(r.ok);
  assert.deepEqual(r.warnings.map(formatConfigError).sort(), [
    "BGPPeer metallb-system/peer: spec.disableMP: deprecated and has no effect",
    'IPAddressPool default/stray: ignored: not in the install namespace "metallb-system"',
    "L2Advertisement metallb-system/l2: L2 mode is not supported; this L2Advertisement has no effect",
  ]);
  assert.deepEqual(r.config.pools.map((p) => p.name), ["p"]);
});

Deno.test("a transient error heals when the missing object appears", () => {
  const base = PEER.replace("peerAddress: 192.0.2.1", "peerAddress: 192.0.2.1\n  bfdProfile: fast");
  const before = buildConfig(objects(base), { namespace: NS });
  assert.ok(!before.ok && before.errors.every((e) => e.transient));
  const after = buildConfig(objects(base + other("BFDProfile", "fast", "spec: {}")), {
    namespace: NS,
  });
  assert.ok(after.ok);
  assert.equal(after.config.peers[0].bfdProfile?.name, "fast");
});

Deno.test("v1beta1 BGPPeer converts to the v1beta2 shape with the same values", () => {
  const v1 = objects(
    peer(
      "old",
      "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nholdTime: 30s\nrouterID: 10.0.0.1\nnodeSelectors: [{matchLabels: {a: b}}]",
      "v1beta1",
    ),
  )[0];
  const converted = convertBGPPeerV1beta1(v1);
  assert.equal(converted.apiVersion, "metallb.io/v1beta2");
  assert.deepEqual(converted.spec, v1.spec);
  assert.equal(v1.apiVersion, "metallb.io/v1beta1", "input left unchanged");
  const v2 = objects(
    peer(
      "old",
      "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nholdTime: 30s\nrouterID: 10.0.0.1\nnodeSelectors: [{matchLabels: {a: b}}]",
    ),
  );
  const a = buildConfig([v1], { namespace: NS });
  const b = buildConfig(v2, { namespace: NS });
  assert.ok(a.ok && b.ok);
  assert.deepEqual(a.config.peers, b.config.peers);
  assert.equal(a.config.peers[0].keepaliveTimeMs, 10000);
  assert.equal(a.config.peers[0].routerID, "10.0.0.1");
});

Deno.test("unknown spec fields are warned about, not silently dropped", () => {
  const yaml = pool("p", "addresses: [10.0.0.0/24]\nautoassign: false") +
    peer("old", "myASN: 64512\npeerASN: 65001\npeerAddress: 192.0.2.1\nvrf: red", "v1beta1");
  const r = buildConfig(objects(yaml), { namespace: NS });
  assert.ok(r.ok);
  assert.deepEqual(r.warnings.map(formatConfigError), [
    "BGPPeer metallb-system/old: spec.vrf: unknown field ignored (only in metallb.io/v1beta2)",
    "IPAddressPool metallb-system/p: spec.autoassign: unknown field ignored",
  ]);
  assert.equal(r.config.pools[0].autoAssign, true);
  assert.equal(r.config.peers[0].vrf, undefined);
});

Deno.test("a BGPAdvertisement without spec sends every pool to every peer with defaults", () => {
  const r = buildConfig(
    objects(
      POOL + pool("q", "addresses: ['fc00::/120']") + PEER +
        "---\napiVersion: metallb.io/v1beta1\nkind: BGPAdvertisement\nmetadata:\n  name: all\n",
    ),
    { namespace: NS },
  );
  assert.ok(r.ok, r.ok ? "" : r.errors.map(formatConfigError).join("\n"));
  assert.deepEqual(r.config.advertisements, [{
    name: "all",
    aggregationLength: 32,
    aggregationLengthV6: 128,
    communities: [],
    pools: ["p", "q"],
    nodeSelectors: [],
    peers: [],
    serviceSelectors: [],
  }]);
  assert.deepEqual(r.config.peers[0].unsupported, []);
});
