import assert from "node:assert/strict";
import { buildConfig, formatConfigError } from "./config.ts";
import type { KubeObject } from "./kube_object.ts";
import { checkServiceAnnotations } from "./service_checks.ts";

const NS = "metallb-system";

function pool(name: string, addresses: string[]): KubeObject {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: NS },
    spec: { addresses },
  };
}

function svc(name: string, annotations: Record<string, string>, spec = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "app", annotations },
    spec: { type: "LoadBalancer", ports: [{ port: 80 }], ...spec },
  };
}

const built = buildConfig([pool("blue", ["10.0.0.0/24"]), pool("green", ["10.1.0.0/24"])], {
  namespace: NS,
});
assert.ok(built.ok);
const config = built.config;

function problems(objects: KubeObject[]): string[] {
  const r = checkServiceAnnotations(objects, { config });
  return r.errors.map(formatConfigError);
}

Deno.test("Service requests that MetalLB would leave pending are named with their field", () => {
  const cases: [KubeObject, string[]][] = [
    [
      svc("ok", { "metallb.io/address-pool": "blue", "metallb.io/loadBalancerIPs": "10.0.0.5" }),
      [],
    ],
    [svc("nopool", { "metallb.io/address-pool": "nosuchpool" }), [
      'Service app/nopool: metadata.annotations.metallb.io/address-pool: IPAddressPool "nosuchpool" does not exist (pools: blue, green)',
    ]],
    [svc("notip", { "metallb.io/loadBalancerIPs": "not-an-ip" }), [
      'Service app/notip: metadata.annotations.metallb.io/loadBalancerIPs: "not-an-ip" is not an IP address',
    ]],
    [svc("legacy", { "metallb.universe.tf/loadBalancerIPs": "10.0.0.300" }), [
      'Service app/legacy: metadata.annotations.metallb.universe.tf/loadBalancerIPs: "10.0.0.300" is not an IP address',
    ]],
    [svc("twov4", { "metallb.io/loadBalancerIPs": "10.0.0.5,10.0.0.6" }), [
      'Service app/twov4: metadata.annotations.metallb.io/loadBalancerIPs: at most one address per IP family ("10.0.0.5,10.0.0.6")',
    ]],
    [
      svc("wrongpool", {
        "metallb.io/address-pool": "green",
        "metallb.io/loadBalancerIPs": "10.0.0.5",
      }),
      [
        'Service app/wrongpool: metadata.annotations.metallb.io/loadBalancerIPs: 10.0.0.5 is not in the requested IPAddressPool "green"',
      ],
    ],
    [svc("outside", {}, { loadBalancerIP: "192.0.2.1" }), [
      "Service app/outside: spec.loadBalancerIP: 192.0.2.1 is not in any IPAddressPool",
    ]],
    [svc("both", { "metallb.io/loadBalancerIPs": "10.0.0.5" }, { loadBalancerIP: "10.0.0.6" }), [
      "Service app/both: spec.loadBalancerIP: must not be set together with annotation metallb.io/loadBalancerIPs",
    ]],
    // Not ours: no check.
    [svc("clusterip", { "metallb.io/address-pool": "nosuchpool" }, { type: "ClusterIP" }), []],
    [svc("classed", { "metallb.io/address-pool": "x" }, { loadBalancerClass: "other" }), []],
  ];
  for (const [obj, want] of cases) assert.deepEqual(problems([obj]), want, obj.metadata.name);
});

Deno.test("old-prefix annotations earn a warning; pools are not judged without a config", () => {
  const r = checkServiceAnnotations([svc("old", { "metallb.universe.tf/address-pool": "gone" })]);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.warnings.map(formatConfigError), [
    "Service app/old: metadata.annotations.metallb.universe.tf/address-pool: deprecated, use metallb.io/address-pool",
  ]);
});
