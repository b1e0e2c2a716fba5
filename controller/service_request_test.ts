import assert from "node:assert/strict";
import type { ServiceView } from "../api/objects.ts";
import { parseService } from "../api/objects.ts";
import {
  backendKey,
  type DeprecatedAnnotation,
  deprecationMessage,
  serviceFamilies,
  type ServiceRequestResult,
  translateService,
} from "./service_request.ts";

function view(over: Partial<ServiceView> = {}): ServiceView {
  return {
    namespace: "default",
    name: "web",
    labels: {},
    annotations: {},
    type: "LoadBalancer",
    ipFamilies: [],
    clusterIPs: [],
    externalTrafficPolicy: "Cluster",
    selector: {},
    ports: [{ protocol: "TCP", port: 80 }],
    ingressIPs: [],
    ...over,
  };
}

function request(r: ServiceRequestResult) {
  assert.equal(r.kind, "request", JSON.stringify(r));
  return (r as Extract<ServiceRequestResult, { kind: "request" }>).request;
}

Deno.test("service request: which Services are handled (type and loadBalancerClass)", () => {
  const cases: {
    name: string;
    v: Partial<ServiceView>;
    lbClass?: string;
    kind: ServiceRequestResult["kind"];
  }[] = [
    { name: "LoadBalancer without class", v: {}, kind: "request" },
    { name: "ClusterIP", v: { type: "ClusterIP" }, kind: "ignored" },
    { name: "NodePort", v: { type: "NodePort" }, kind: "ignored" },
    { name: "class set, no --lb-class", v: { loadBalancerClass: "other" }, kind: "ignored" },
    { name: "--lb-class matches", v: { loadBalancerClass: "x" }, lbClass: "x", kind: "request" },
    { name: "--lb-class differs", v: { loadBalancerClass: "y" }, lbClass: "x", kind: "ignored" },
    { name: "--lb-class, classless Service", v: {}, lbClass: "x", kind: "ignored" },
  ];
  for (const c of cases) {
    const r = translateService(view(c.v), { lbClass: c.lbClass });
    assert.equal(r.kind, c.kind, c.name);
  }
});

Deno.test("service request: annotations under both prefixes, newer wins, older is deprecated", () => {
  const cases: {
    name: string;
    annotations: Record<string, string>;
    pool?: string;
    ips?: string[];
    sharing?: string;
    deprecated: string[];
  }[] = [
    { name: "none", annotations: {}, deprecated: [] },
    {
      name: "new pool",
      annotations: { "metallb.io/address-pool": "a" },
      pool: "a",
      deprecated: [],
    },
    {
      name: "old pool",
      annotations: { "metallb.universe.tf/address-pool": "example-pool" },
      pool: "example-pool",
      deprecated: ["metallb.universe.tf/address-pool"],
    },
    {
      name: "both pools: newer wins",
      annotations: {
        "metallb.io/address-pool": "new",
        "metallb.universe.tf/address-pool": "old",
      },
      pool: "new",
      deprecated: ["metallb.universe.tf/address-pool"],
    },
    {
      name: "old loadBalancerIPs",
      annotations: { "metallb.universe.tf/loadBalancerIPs": "10.0.0.5" },
      ips: ["10.0.0.5"],
      deprecated: ["metallb.universe.tf/loadBalancerIPs"],
    },
    {
      name: "both loadBalancerIPs: newer wins",
      annotations: {
        "metallb.io/loadBalancerIPs": "10.0.0.6",
        "metallb.universe.tf/loadBalancerIPs": "10.0.0.5",
      },
      ips: ["10.0.0.6"],
      deprecated: ["metallb.universe.tf/loadBalancerIPs"],
    },
    {
      name: "sharing key, old prefix",
      annotations: { "metallb.universe.tf/allow-shared-ip": "k" },
      sharing: "k",
      deprecated: ["metallb.universe.tf/allow-shared-ip"],
    },
    {
      name: "sharing key, new prefix",
      annotations: { "metallb.io/allow-shared-ip": "k2" },
      sharing: "k2",
      deprecated: [],
    },
    {
      name: "unrelated annotation",
      annotations: { "example.com/address-pool": "x" },
      deprecated: [],
    },
  ];
  for (const c of cases) {
    const r = translateService(view({ annotations: c.annotations }));
    const req = request(r);
    assert.equal(req.pool, c.pool, c.name);
    assert.deepEqual(req.requestedIPs, c.ips, c.name);
    assert.equal(req.sharingKey, c.sharing, c.name);
    assert.deepEqual(
      (r as { deprecated: { key: string }[] }).deprecated.map((d) => d.key),
      c.deprecated,
      c.name,
    );
  }
});

Deno.test("service request: the deprecation message names the key to use", () => {
  const r = translateService(view({
    annotations: {
      "metallb.universe.tf/address-pool": "p",
      "metallb.io/allow-shared-ip": "k",
      "metallb.universe.tf/allow-shared-ip": "old",
    },
  }));
  assert.equal(r.kind, "request");
  const msg = deprecationMessage((r as { deprecated: DeprecatedAnnotation[] }).deprecated);
  assert.match(
    msg!,
    /metallb\.universe\.tf\/address-pool is deprecated, use metallb\.io\/address-pool/,
  );
  assert.match(msg!, /metallb\.universe\.tf\/allow-shared-ip is deprecated and ignored/);
  assert.equal(deprecationMessage([]), undefined);
});

Deno.test("service request: requested IPs, loadBalancerIP and their errors", () => {
  const dual = {
    ipFamilies: ["IPv4", "IPv6"] as const,
    ipFamilyPolicy: "RequireDualStack" as const,
  };
  const cases: {
    name: string;
    v: Partial<ServiceView>;
    ips?: string[];
    error?: RegExp;
  }[] = [
    { name: "spec.loadBalancerIP", v: { loadBalancerIP: "10.0.0.7" }, ips: ["10.0.0.7"] },
    {
      name: "annotation list with spaces",
      v: { ...dual, annotations: { "metallb.io/loadBalancerIPs": " 10.0.0.1 , fc00::0001 " } },
      ips: ["10.0.0.1", "fc00::1"],
    },
    {
      name: "loadBalancerIP and annotation together",
      v: { loadBalancerIP: "10.0.0.7", annotations: { "metallb.io/loadBalancerIPs": "10.0.0.8" } },
      error: /spec\.loadBalancerIP and annotation metallb\.io\/loadBalancerIPs are both set/,
    },
    {
      name: "two of one family",
      v: { ...dual, annotations: { "metallb.io/loadBalancerIPs": "10.0.0.1,10.0.0.2" } },
      error: /at most one address per IP family/,
    },
    {
      name: "not an IP",
      v: { annotations: { "metallb.io/loadBalancerIPs": "10.0.0.300" } },
      error: /"10\.0\.0\.300" is not an IP address/,
    },
    {
      name: "bad loadBalancerIP",
      v: { loadBalancerIP: "banana" },
      error: /spec\.loadBalancerIP: "banana" is not an IP address/,
    },
    {
      name: "IPv6 request on an IPv4 Service",
      v: { annotations: { "metallb.io/loadBalancerIPs": "fc00::1" } },
      error: /requested IP fc00::1 is IPv6 but the service's families are IPv4/,
    },
    {
      name: "IPv4 request on an IPv6 Service (family from clusterIPs)",
      v: { clusterIPs: ["fd00::10"], loadBalancerIP: "10.0.0.1" },
      error: /is IPv4 but the service's families are IPv6/,
    },
    {
      name: "empty annotation means no request",
      v: { annotations: { "metallb.io/loadBalancerIPs": "" } },
      ips: undefined,
    },
  ];
  for (const c of cases) {
    const r = translateService(view(c.v));
    if (c.error) {
      assert.equal(r.kind, "invalid", c.name);
      assert.match((r as { reason: string }).reason, c.error, c.name);
    } else {
      assert.deepEqual(request(r).requestedIPs, c.ips, c.name);
    }
  }
});

Deno.test("service request: families and policy", () => {
  const cases: {
    name: string;
    v: Partial<ServiceView>;
    families: number[];
    policy: string;
  }[] = [
    { name: "nothing set: SingleStack IPv4", v: {}, families: [4], policy: "SingleStack" },
    {
      name: "ipFamilies IPv6",
      v: { ipFamilies: ["IPv6"] },
      families: [6],
      policy: "SingleStack",
    },
    {
      name: "from clusterIPs",
      v: { clusterIPs: ["fd00::1", "10.96.0.1"], ipFamilyPolicy: "PreferDualStack" },
      families: [6, 4],
      policy: "PreferDualStack",
    },
    {
      name: "ipFamilies win over clusterIPs",
      v: {
        ipFamilies: ["IPv4", "IPv6"],
        clusterIPs: ["fd00::1"],
        ipFamilyPolicy: "RequireDualStack",
      },
      families: [4, 6],
      policy: "RequireDualStack",
    },
    {
      name: "two families without a policy prefer dual stack",
      v: { ipFamilies: ["IPv4", "IPv6"] },
      families: [4, 6],
      policy: "PreferDualStack",
    },
  ];
  for (const c of cases) {
    assert.deepEqual(
      serviceFamilies(view(c.v)),
      { families: c.families, policy: c.policy },
      c.name,
    );
    const req = request(translateService(view(c.v)));
    assert.deepEqual(req.families, c.families, c.name);
    assert.equal(req.policy, c.policy, c.name);
  }
});

Deno.test("service request: backend key, ports, key and labels", () => {
  assert.equal(backendKey(view()), "Cluster");
  const a = backendKey(view({ externalTrafficPolicy: "Local", selector: { b: "2", a: "1" } }));
  const b = backendKey(view({ externalTrafficPolicy: "Local", selector: { a: "1", b: "2" } }));
  assert.equal(a, b);
  assert.ok(a.startsWith("Local:"));
  assert.notEqual(a, backendKey(view({ externalTrafficPolicy: "Local", selector: { a: "1" } })));
  const req = request(translateService(
    view({
      namespace: "team",
      name: "db",
      labels: { app: "db" },
      ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53, name: "tcp" }],
    }),
    { namespaceLabels: { env: "prod" } },
  ));
  assert.equal(req.key, "team/db");
  assert.equal(req.namespace, "team");
  assert.deepEqual(req.ports, [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }]);
  assert.deepEqual(req.serviceLabels, { app: "db" });
  assert.deepEqual(req.namespaceLabels, { env: "prod" });
  // Named ports: one shared list per distinct list (the allocator keeps every request).
  const again = request(translateService(
    view({
      name: "db2",
      ports: [{ protocol: "UDP", port: 53, name: "dns" }, { protocol: "TCP", port: 53 }],
    }),
  ));
  assert.equal(again.ports, req.ports);
  assert.ok(Object.isFrozen(again.ports));
});

Deno.test("service request: works on a parsed Service object (the seed example)", () => {
  const parsed = parseService({
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "nginx",
      namespace: "default",
      annotations: { "metallb.universe.tf/address-pool": "example-pool" },
    },
    spec: { type: "LoadBalancer", ports: [{ port: 80 }], selector: { app: "nginx" } },
  });
  assert.ok(parsed.ok);
  const req = request(translateService(parsed.value));
  assert.equal(req.pool, "example-pool");
  assert.deepEqual(req.families, [4]);
  assert.deepEqual(req.ports, [{ protocol: "TCP", port: 80 }]);
});
