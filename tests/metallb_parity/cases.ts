/**
 * MetalLB's own configuration verdicts (internal/config/config_test.go: TestParse and
 * TestServiceSelectors), restated as objects: `accept` where MetalLB builds a config,
 * `refuse` where it returns an error (transient or not). Descriptions are MetalLB's; names
 * are added where MetalLB's table leaves them empty (Kubernetes requires one). The two
 * frr-k8s secret-passthrough cases are left out: that mode does not exist here.
 */
import type { KubeObject } from "../../api/kube_object.ts";
import { adv, bfd, cidrs, community, expr, l2, node, peer, pool, secret } from "./builders.ts";

/** One MetalLB verdict. */
export interface VerdictCase {
  desc: string;
  verdict: "accept" | "refuse";
  objects: KubeObject[];
}

const P = { myASN: 42, peerASN: 42, peerAddress: "1.2.3.4" };
const P142 = { myASN: 42, peerASN: 142, peerAddress: "1.2.3.4" };
const TWO_NODES = [node("node1"), node("node2")];
const POOL24 = cidrs("pool1", "10.20.30.40/24");
const TEST_POOL = cidrs("testPool", "10.20.0.0/16");
const ok = (desc: string, ...objects: KubeObject[]): VerdictCase => ({
  desc,
  verdict: "accept",
  objects,
});
const no = (desc: string, ...objects: KubeObject[]): VerdictCase => ({
  desc,
  verdict: "refuse",
  objects,
});
const nondefaultBfd = bfd("nondefault", {
  receiveInterval: 50,
  transmitInterval: 51,
  detectMultiplier: 52,
  echoInterval: 54,
  echoMode: true,
  passiveMode: true,
  minimumTtl: 55,
});
const labelled = (name: string, address: string) =>
  pool(name, { addresses: [address] }, { test: name });

function peerCases(): VerdictCase[] {
  const withSecret = (data: string | undefined, type = "kubernetes.io/basic-auth") => [
    peer("peer1", {
      ...P,
      peerPort: 179,
      passwordSecret: { name: "bgpsecret", namespace: "metallb-system" },
    }),
    secret("bgpsecret", type, data),
  ];
  return [
    ok("peer-only", peer("peer1", P)),
    no("invalid peer-address", peer("p", { ...P, peerAddress: "1.2.3.400" })),
    no("invalid my-asn", peer("p", { peerASN: 42, peerAddress: "1.2.3.4" })),
    no("invalid peer-asn", peer("p", { myASN: 42, peerAddress: "1.2.3.4" })),
    no("invalid ebgp-multihop", peer("p", { ...P, ebgpMultiHop: true })),
    no(
      "invalid interface with newline",
      peer("peer1", { myASN: 42, peerASN: 142, interface: "eth0\nrouter bgp 666" }),
    ),
    no("invalid password with newline", peer("peer1", { ...P142, password: "password\n" })),
    no("invalid password secret with newline", ...withSecret("nopass\n")),
    no("invalid VRF name with newline", peer("peer1", { ...P142, vrf: "vrf\n" })),
    no(
      "invalid interface with carriage return",
      peer("peer1", { myASN: 42, peerASN: 142, interface: "eth0\rrouter bgp 666" }),
    ),
    no("invalid password with carriage return", peer("peer1", { ...P142, password: "password\r" })),
    no("invalid password secret with carriage return", ...withSecret("nopass\r")),
    no("invalid VRF name with carriage return", peer("peer1", { ...P142, vrf: "vrf\r" })),
    no(
      "invalid keepalivetime larger than holdtime",
      peer("p", { ...P, holdTime: "30s", keepaliveTime: "90s" }),
    ),
    no("invalid hold time (too short)", peer("p", { ...P, holdTime: "1s" })),
    ok("peer with holdtime only", peer("peer1", { ...P, holdTime: "180s" })),
    ok("peer with keepalive only", peer("peer1", { ...P, keepaliveTime: "60s" })),
    ok(
      "peer with zero hold/keepalive timers",
      peer("peer1", { ...P, holdTime: "0s", keepaliveTime: "0s" }),
    ),
    ok("peer without hold/keepalive timers", peer("peer1", P)),
    no("invalid RouterID", peer("p", { ...P, routerID: "oh god how do I BGP" })),
    ok("empty node selector (select everything)", peer("peer1", P)),
    no(
      "invalid expression node selector (missing key)",
      peer("p", {
        ...P,
        nodeSelectors: [{
          matchLabels: { foo: "bar" },
          matchExpressions: [{ operator: "In", values: ["quux"] }],
        }],
      }),
    ),
    no(
      "invalid expression node selector (missing operator)",
      peer("p", {
        ...P,
        nodeSelectors: [{
          matchLabels: { foo: "bar" },
          matchExpressions: [{ key: "bar", values: ["quux"] }],
        }],
      }),
    ),
    no(
      "invalid expression node selector (invalid operator)",
      peer("p", {
        ...P,
        nodeSelectors: [{ matchLabels: { foo: "bar" }, ...expr("bar", "surrounds", ["quux"]) }],
      }),
    ),
    no(
      "duplicate values node selector match expression",
      peer("peer", {
        myASN: 100,
        peerASN: 200,
        peerAddress: "2.3.4.5",
        nodeSelectors: [{ matchLabels: { foo: "bar" }, ...expr("bar", "In", ["quux", "quux"]) }],
      }),
    ),
    no("duplicate peers", peer("p", P), peer("p", P)),
    no(
      "BGP Peer with both password and secret ref set",
      peer("p", {
        ...P,
        password: "nopass",
        passwordSecret: { name: "nosecret", namespace: "metallb-system" },
      }),
    ),
    no("BGP Peer with invalid secret type", ...withSecret(undefined, "Opaque")),
    no("BGP Peer without password set in the secret", ...withSecret(undefined)),
    ok("BGP Peer with a valid secret", ...withSecret("nopass")),
    no(
      "BGP Peer with unavailable secret ref",
      peer("p", { ...P, passwordSecret: { name: "nosecret", namespace: "metallb-system" } }),
    ),
    ok(
      "peer with dynamic asn",
      peer("peer1", { myASN: 42, dynamicASN: "internal", peerAddress: "1.2.3.4" }),
    ),
    no("peer without asn or dynamic asn", peer("p", { myASN: 42, peerASN: 0 })),
    no(
      "peer with both asn and dynamic asn",
      peer("p", { myASN: 42, peerASN: 42, dynamicASN: "internal" }),
    ),
    ok(
      "unnumbered peer without address with interface ok",
      peer("peer1", { myASN: 42, dynamicASN: "internal", interface: "net0" }),
    ),
    no(
      "unnumbered peer without address without interface nok",
      peer("invalid", { myASN: 42, dynamicASN: "internal" }),
    ),
    no(
      "unnumbered peer with address with interface nok",
      peer("invalid", {
        peerAddress: "1.2.3.4",
        interface: "net0",
        myASN: 42,
        dynamicASN: "internal",
      }),
    ),
    ok("peer with DisableMP field", peer("peer1", { ...P142, disableMP: true })),
    ok(
      "peer with localASN field",
      peer("peer1", { myASN: 100, peerASN: 200, peerAddress: "1.2.3.4", localASN: 65410 }),
    ),
  ];
}

function poolCases(): VerdictCase[] {
  const alloc = (name: string, addresses: string[], serviceAllocation: Record<string, unknown>) =>
    pool(name, { addresses, serviceAllocation });
  return [
    ok("empty config"),
    ok(
      "ip address pool with namespace selection",
      pool("pool1", {
        addresses: ["10.20.0.0/16", "10.50.0.0/24"],
        avoidBuggyIPs: true,
        autoAssign: false,
        serviceAllocation: { priority: 1, namespaces: ["test-ns1"] },
      }),
      alloc("pool2", ["30.0.0.0/8"], {
        priority: 2,
        namespaceSelectors: [{ matchLabels: { team: "metallb" } }],
      }),
      alloc("pool3", ["40.0.0.0/8"], {
        priority: 3,
        namespaceSelectors: [{ matchLabels: { team: "red" } }],
      }),
    ),
    no(
      "ip address pool with duplicate namespace selection",
      alloc("pool1", ["10.20.0.0/16", "10.50.0.0/24"], {
        priority: 1,
        namespaces: ["test-ns1", "test-ns1"],
      }),
    ),
    no(
      "ip address pool with duplicate namespace selectors",
      alloc("pool1", ["10.20.0.0/16", "10.50.0.0/24"], {
        priority: 1,
        namespaceSelectors: [{ matchLabels: { foo: "bar" } }, { matchLabels: { foo: "bar" } }],
      }),
    ),
    ok(
      "ip address pool with service selection",
      alloc("pool1", ["30.0.0.0/8"], {
        priority: 2,
        serviceSelectors: [{ matchLabels: { team: "metallb" } }],
      }),
      alloc("pool2", ["40.0.0.0/8"], {
        priority: 3,
        serviceSelectors: [{ matchLabels: { team: "red" } }],
      }),
    ),
    no(
      "ip address pool with duplicate service selection",
      alloc("pool1", ["30.0.0.0/8"], {
        priority: 2,
        serviceSelectors: [expr("foo", "In", ["bar", "bar"])],
      }),
    ),
    ok(
      "ip address pool with namespace and service selection",
      alloc("pool1", ["30.0.0.0/8"], {
        priority: 2,
        namespaces: ["test-ns1"],
        serviceSelectors: [{ matchLabels: { "testsvc-1": "1" } }],
      }),
      alloc("pool2", ["40.0.0.0/8"], {
        priority: 3,
        namespaceSelectors: [{ matchLabels: { team: "metallb" } }],
        serviceSelectors: [{ matchLabels: { "testsvc-2": "2" } }],
      }),
    ),
    ok(
      "ip address pool with only priority",
      alloc("pool1", ["10.20.0.0/16", "10.50.0.0/24"], { priority: 1 }),
    ),
    no("no pool name", pool("", { addresses: ["10.0.0.0/24"] })),
    no("address pool with no address", pool("pool1", {})),
    no("address pool with no protocol", pool("pool1")),
    no("invalid pool CIDR", cidrs("pool1", "100.200.300.400/24")),
    no("invalid pool CIDR prefix length", cidrs("pool1", "1.2.3.0/33")),
    no(
      "invalid pool CIDR, first address of the range is after the second",
      cidrs("pool1", "1.2.3.10-1.2.3.1"),
    ),
    no("duplicate pool definition", pool("pool1", {}), pool("pool2", {}), pool("pool1", {})),
    no("duplicate CIDRs", cidrs("pool1", " 10.0.0.0/8"), cidrs("pool2", " 10.0.0.0/8")),
    no("overlapping CIDRs", cidrs("pool1", " 10.0.0.0/8"), cidrs("pool2", "10.0.0.0/16")),
  ];
}

function advertisementCases(): VerdictCase[] {
  const lp = (name: string, spec: Record<string, unknown>) => adv(name, spec);
  return [
    ok("simple advertisement", cidrs("pool1", "1.2.3.0/24"), adv("adv3")),
    ok("advertisement with default BGP settings", cidrs("pool1", "1.2.3.0/24"), adv("adv3")),
    no(
      "bad aggregation length (too long)",
      cidrs("pool1", "1.2.3.10-1.2.3.1"),
      adv("a", { aggregationLength: 34 }),
    ),
    no(
      "bad aggregation length (incompatible with CIDR)",
      cidrs("pool1", "10.20.30.40/24", "1.2.3.0/28"),
      adv("a", { aggregationLength: 26 }),
    ),
    no(
      "different local pref - same peers and nodes",
      ...TWO_NODES,
      POOL24,
      lp("a1", { localPref: 100 }),
      lp("a2", { localPref: 200 }),
    ),
    ok(
      "different local pref - different ipv4 aggregation length",
      ...TWO_NODES,
      POOL24,
      lp("a1", { localPref: 100, aggregationLength: 24 }),
      lp("a2", { localPref: 200 }),
    ),
    ok(
      "different local pref - different aggregation lengths",
      ...TWO_NODES,
      POOL24,
      lp("a1", { localPref: 100, aggregationLength: 24, aggregationLengthV6: 120 }),
      lp("a2", { localPref: 200 }),
    ),
    ok(
      "different local pref - same peers & different nodes",
      node("node1", { node: "node1" }),
      node("node2", { node: "node2" }),
      POOL24,
      lp("a1", { localPref: 100, nodeSelectors: [{ matchLabels: { node: "node1" } }] }),
      lp("a2", { localPref: 200, nodeSelectors: [{ matchLabels: { node: "node2" } }] }),
    ),
    ok(
      "different local pref - different peers & same nodes",
      ...TWO_NODES,
      POOL24,
      lp("a1", { localPref: 100, peers: ["peer1"] }),
      lp("a2", { localPref: 200, peers: ["peer2"] }),
    ),
    ok(
      "aggregation length by range",
      cidrs("pool1", "3.3.3.2-3.3.3.254"),
      adv("a", { aggregationLength: 26 }),
    ),
    no(
      "aggregation length by range, too wide",
      cidrs("pool1", "3.3.3.2-3.3.3.254"),
      adv("a", { aggregationLength: 24 }),
    ),
    no(
      "duplicate ip address pools - in L2 adv",
      TEST_POOL,
      l2("testAdv", { ipAddressPools: ["testPool", "testPool"] }),
    ),
    no(
      "duplicate ip address pools - in BGP adv",
      TEST_POOL,
      adv("testAdv", { ipAddressPools: ["testPool", "testPool"] }),
    ),
    no(
      "duplicate peers - in BGP adv",
      TEST_POOL,
      peer("peer1", P),
      adv("testAdv", { ipAddressPools: ["testPool"], peers: ["peer1", "peer1"] }),
    ),
    no(
      "bad community literal (wrong format) - in BGP adv",
      TEST_POOL,
      adv("testAdv", { communities: ["1234"], ipAddressPools: ["testPool"] }),
    ),
    no(
      "bad community literal (asn part doesn't fit) - in BGP adv",
      TEST_POOL,
      adv("testAdv", { communities: ["99999999:1"], ipAddressPools: ["testPool"] }),
    ),
    no(
      "bad community literal (community# part doesn't fit) - in BGP adv",
      TEST_POOL,
      adv("testAdv", { communities: ["1:99999999"], ipAddressPools: ["testPool"] }),
    ),
    no(
      "bad community ref (unknown ref) - in BGP adv",
      TEST_POOL,
      adv("testAdv", { communities: ["community"], ipAddressPools: ["testPool"] }),
    ),
    no(
      "duplicate community literal - in BGP adv",
      TEST_POOL,
      adv("testAdv", { communities: ["1234:5678", "1234:5678"], ipAddressPools: ["testPool"] }),
    ),
    no(
      "bad community literal (wrong format) - in the community CR",
      community("community", [{ bar: "1234" }]),
    ),
    no(
      "bad community literal (asn part doesn't fit) - in the community CR",
      community("community", [{ bar: "99999999:1" }]),
    ),
    no(
      "bad community literal (community# part doesn't fit) - in the community CR",
      community("community", [{ bar: "1:99999999" }]),
    ),
    no(
      "duplicate communities definition (in 2 different crs)",
      community("community1", [{ bar: "1234:5678" }]),
      community("community2", [{ bar: "1234:5678" }]),
    ),
    no(
      "duplicate communities definition (in the same cr)",
      community("community", [{ bar: "1234:5678" }, { bar: "1234:5678" }]),
    ),
    ok(
      "use ip pool selectors",
      labelled("pool1", "10.20.0.0/16"),
      labelled("pool2", "30.0.0.0/16"),
      l2("l2adv1", { ipAddressPoolSelectors: [{ matchLabels: { test: "pool1" } }] }),
      adv("adv1", {
        aggregationLength: 32,
        localPref: 100,
        ipAddressPoolSelectors: [{ matchLabels: { test: "pool1" } }],
      }),
      adv("adv2", {
        aggregationLength: 32,
        localPref: 200,
        ipAddressPoolSelectors: [{ matchLabels: { test: "pool2" } }],
      }),
    ),
    ok(
      "specify interfaces",
      labelled("pool1", "10.20.0.0/16"),
      l2("l2adv1", {
        ipAddressPoolSelectors: [{ matchLabels: { test: "pool1" } }],
        interfaces: ["eth0"],
      }),
    ),
    no(
      "use duplicate match labels in ip pool selectors - in BGP adv",
      labelled("pool1", "10.20.0.0/16"),
      adv("adv1", {
        aggregationLength: 32,
        localPref: 100,
        ipAddressPoolSelectors: [{ matchLabels: { test: "pool1" } }, {
          matchLabels: { test: "pool1" },
        }],
      }),
    ),
    no(
      "use duplicate match expression in ip pool selector - in BGP adv",
      labelled("pool1", "10.20.0.0/16"),
      adv("adv1", {
        aggregationLength: 32,
        localPref: 100,
        ipAddressPoolSelectors: [expr("test", "In", ["pool1", "pool1"])],
      }),
    ),
    no(
      "use duplicate ip pool selectors - in L2 adv",
      labelled("pool1", "10.20.0.0/16"),
      l2("adv1", {
        ipAddressPoolSelectors: [{ matchLabels: { test: "pool1" } }, {
          matchLabels: { test: "pool1" },
        }],
      }),
    ),
    ok(
      "use non existent label for ip pool selectors",
      labelled("pool1", "10.20.0.0/16"),
      labelled("pool2", "30.0.0.0/16"),
      l2("l2adv1", { ipAddressPoolSelectors: [{ matchLabels: { test: "do-not-select-pool" } }] }),
      adv("adv1", {
        aggregationLength: 32,
        localPref: 100,
        ipAddressPoolSelectors: [{ matchLabels: { test: "do-not-select-pool" } }],
      }),
      adv("adv2", {
        aggregationLength: 32,
        localPref: 200,
        ipAddressPoolSelectors: [{ matchLabels: { test: "do-not-select-pool" } }],
      }),
    ),
    ...nodeSelectorCases(),
    ok(
      "advertisement with peer selector",
      cidrs("pool1", "1.2.3.0/24"),
      peer("peer1", P),
      adv("adv1", {
        aggregationLength: 32,
        localPref: 100,
        ipAddressPools: ["pool1"],
        peers: ["peer1"],
      }),
    ),
  ];
}

function nodeSelectorCases(): VerdictCase[] {
  const nodes = [node("first", { first: "true" }), node("second", { second: "true" })];
  const pools = [cidrs("pool1", "10.20.0.0/16"), cidrs("pool2", "30.0.0.0/16")];
  const sel = (k: string) => ({ matchLabels: { [k]: "true" } });
  const hosts = (values: string[]) =>
    expr("kubernetes.io/hostname", "In", values).matchExpressions[0];
  return [
    ok(
      "use node selectors",
      ...nodes,
      ...pools,
      adv("adv1", { ipAddressPools: ["pool1"], nodeSelectors: [sel("second")] }),
      adv("adv2", { ipAddressPools: ["pool2"], nodeSelectors: [sel("first")] }),
      l2("l2adv1", { nodeSelectors: [sel("first")], ipAddressPools: ["pool1"] }),
    ),
    no(
      "use duplicate match labels in node selectors",
      ...nodes,
      pools[0],
      adv("adv1", { ipAddressPools: ["pool1"], nodeSelectors: [sel("second"), sel("second")] }),
      l2("l2adv1", { nodeSelectors: [sel("first"), sel("first")], ipAddressPools: ["pool1"] }),
    ),
    no(
      "use duplicate match expression values in node selector",
      ...nodes,
      pools[0],
      adv("adv1", {
        ipAddressPools: ["pool1"],
        nodeSelectors: [{
          matchExpressions: [hosts(["first", "second"]), hosts(["second", "first"])],
        }],
      }),
      l2("l2adv1", {
        nodeSelectors: [{ matchExpressions: [hosts(["first"])] }],
        ipAddressPools: ["pool1"],
      }),
    ),
    ok("no nodes means all nodes", ...nodes, pools[0], adv("adv1"), l2("l2adv1")),
  ];
}

function bfdAndFeatureCases(): VerdictCase[] {
  const fullPeer1 = {
    ...P142,
    peerPort: 1179,
    holdTime: "180s",
    routerID: "10.20.30.40",
    sourceAddress: "10.20.30.40",
    ebgpMultiHop: true,
  };
  const allPools = [
    pool("pool1", {
      addresses: ["10.20.0.0/16", "10.50.0.0/24"],
      avoidBuggyIPs: true,
      autoAssign: false,
    }),
  ];
  return [
    ok(
      "config using all features",
      peer("peer1", { ...fullPeer1, connectTime: "1s", enableGracefulRestart: true, vrf: "foo" }),
      peer("peer2", {
        myASN: 100,
        peerASN: 200,
        peerAddress: "2.3.4.5",
        connectTime: "1s",
        nodeSelectors: [{ matchLabels: { foo: "bar" }, ...expr("bar", "In", ["quux"]) }],
      }),
      ...allPools,
      cidrs("pool2", "30.0.0.0/8"),
      cidrs(
        "pool3",
        "40.0.0.0/25",
        "40.0.0.150-40.0.0.200",
        "40.0.0.210 - 40.0.0.240",
        "40.0.0.250 - 40.0.0.250",
      ),
      cidrs("pool4", "2001:db8::/64"),
      adv("adv1", {
        aggregationLength: 32,
        localPref: 100,
        communities: ["bar"],
        ipAddressPools: ["pool1"],
        peers: ["peer1"],
      }),
      adv("adv2", { aggregationLength: 24, aggregationLengthV6: 64, ipAddressPools: ["pool1"] }),
      adv("adv3", { ipAddressPools: ["pool2"] }),
      l2("l2adv1", { ipAddressPools: ["pool3"] }),
      l2("l2adv2"),
      community("community", [{ bar: "64512:1234" }]),
    ),
    ok(
      "Session with default BFD Profile",
      peer("peer1", { ...P, bfdProfile: "default" }),
      cidrs("pool1", "1.2.3.0/24"),
      bfd("default"),
      adv("adv3"),
    ),
    no(
      "Peer with non existing BFD Profile",
      peer("p", { ...P, bfdProfile: "default" }),
      cidrs("pool1", "1.2.3.0/24"),
      adv("adv3"),
    ),
    no(
      "Multiple BFD Profiles with the same name",
      cidrs("pool1", "1.2.3.0/24"),
      bfd("default"),
      bfd("foo"),
      bfd("foo"),
    ),
    ok(
      "Session with nondefault BFD Profile",
      cidrs("pool1", "1.2.3.0/24"),
      nondefaultBfd,
      adv("adv3"),
    ),
    no("BFD Profile with too low receive interval", bfd("default", { receiveInterval: 2 })),
    no("BFD Profile with too high receive interval", bfd("default", { receiveInterval: 90000 })),
    no(
      "Session with ipv6 and bfd echo mode",
      cidrs("pool1", "fc00:f853:0ccd:e793::/64"),
      nondefaultBfd,
      adv("adv3"),
      peer("peer1", { ...fullPeer1, bfdProfile: "nondefault" }),
    ),
    ok(
      "Session with ipv4 and bfd echo mode",
      cidrs("pool1", "1.2.3.0/24"),
      bfd("with-echo", { echoMode: true }),
      adv("adv"),
      peer("peer1", { ...P142, peerPort: 1179, bfdProfile: "with-echo" }),
    ),
    ok(
      "config IPAddressPool with large communities CR",
      peer("peer1", { ...fullPeer1, vrf: "foo" }),
      ...allPools,
      adv("adv1", {
        aggregationLength: 32,
        localPref: 100,
        communities: ["bar"],
        ipAddressPools: ["pool1"],
        peers: ["peer1"],
      }),
      adv("adv2", { aggregationLength: 24, aggregationLengthV6: 64, ipAddressPools: ["pool1"] }),
      adv("adv3", { ipAddressPools: ["pool2"] }),
      community("community", [{ bar: "large:123:64512:1234" }]),
    ),
  ];
}

function serviceSelectorCases(): VerdictCase[] {
  const nginx = [{ matchLabels: { app: "nginx" } }];
  const v4 = cidrs("pool1", "1.2.3.0/24");
  return [
    ok("BGP advertisement with service selectors", v4, adv("adv1", { serviceSelectors: nginx })),
    ok(
      "L2 advertisement with service selectors",
      v4,
      l2("adv1", { serviceSelectors: [{ matchLabels: { app: "web" } }] }),
    ),
    ok(
      "BGP advertisement with multiple service selectors (OR logic)",
      v4,
      adv("adv1", { serviceSelectors: [...nginx, { matchLabels: { app: "apache" } }] }),
    ),
    no(
      "BGP advertisement - serviceSelectors with non-default aggregationLength is mutually exclusive",
      v4,
      adv("adv1", { aggregationLength: 24, serviceSelectors: nginx }),
    ),
    no(
      "BGP advertisement - serviceSelectors with non-default aggregationLengthV6 is mutually exclusive",
      cidrs("pool1", "2001:db8::/64"),
      adv("adv1", { aggregationLengthV6: 64, serviceSelectors: nginx }),
    ),
    ok(
      "BGP advertisement - serviceSelectors with default aggregationLengthV4 is allowed",
      v4,
      adv("adv1", { aggregationLength: 32, serviceSelectors: nginx }),
    ),
    ok(
      "BGP advertisement - serviceSelectors with default aggregationLengthV6 is allowed",
      cidrs("pool1", "1000::/64"),
      adv("adv1", { aggregationLengthV6: 128, serviceSelectors: nginx }),
    ),
    ok(
      "BGP advertisement - serviceSelectors with both default aggregationLength and aggregationLengthV6 is allowed",
      cidrs("pool1", "1.2.3.0/24", "1000::/64"),
      adv("adv1", { aggregationLength: 32, aggregationLengthV6: 128, serviceSelectors: nginx }),
    ),
  ];
}

/** Every case of the table. */
export const METALLB_VERDICTS: readonly VerdictCase[] = [
  ...poolCases(),
  ...peerCases(),
  ...advertisementCases(),
  ...bfdAndFeatureCases(),
  ...serviceSelectorCases(),
];
