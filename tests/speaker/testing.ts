/**
 * Object builders for the speaker's tests, benchmark and GoBGP driver: the manifests a
 * user would write, as plain KubeObjects.
 */
import { type Collector, type CollectorOptions, startCollector } from "../../bgp/mod.ts";
import type { KubeObject } from "../../cluster/types.ts";

/** The install namespace used by fixtures. */
export const TEST_NS = "metallb-system";

/** An `IPAddressPool`. */
export function poolObject(name: string, addresses: string[]): KubeObject {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: TEST_NS },
    spec: { addresses },
  };
}

/** A `BGPAdvertisement` with the given spec. */
export function advObject(name: string, spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "BGPAdvertisement",
    metadata: { name, namespace: TEST_NS },
    spec,
  };
}

/** A `BGPPeer` (v1beta2) with the given spec. */
export function peerObject(name: string, spec: Record<string, unknown>): KubeObject {
  return {
    apiVersion: "metallb.io/v1beta2",
    kind: "BGPPeer",
    metadata: { name, namespace: TEST_NS },
    spec,
  };
}

/** A `Community` object defining aliases. */
export function communityObject(name: string, aliases: Record<string, string>): KubeObject {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "Community",
    metadata: { name, namespace: TEST_NS },
    spec: { communities: Object.entries(aliases).map(([n, value]) => ({ name: n, value })) },
  };
}

/** Options of {@linkcode serviceObject}. */
export interface ServiceFixture {
  namespace?: string;
  ips?: string[];
  pool?: string;
  etp?: "Cluster" | "Local";
  labels?: Record<string, string>;
  legacyPoolAnnotation?: boolean;
  type?: string;
}

/** A LoadBalancer Service whose status carries `ips` (as the controller writes them). */
export function serviceObject(name: string, options: ServiceFixture = {}): KubeObject {
  const annotations: Record<string, string> = {};
  if (options.pool) {
    annotations[
      options.legacyPoolAnnotation
        ? "metallb.universe.tf/ip-allocated-from-pool"
        : "metallb.io/ip-allocated-from-pool"
    ] = options.pool;
  }
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: options.namespace ?? "default",
      labels: options.labels ?? {},
      annotations,
    },
    spec: {
      type: options.type ?? "LoadBalancer",
      externalTrafficPolicy: options.etp ?? "Cluster",
      selector: { app: name },
      ports: [{ protocol: "TCP", port: 80 }],
    },
    status: { loadBalancer: { ingress: (options.ips ?? []).map((ip) => ({ ip })) } },
  };
}

/** One endpoint of {@linkcode sliceObject}: the node it runs on and whether it is ready. */
export interface EndpointFixture {
  node: string;
  ready?: boolean;
  serving?: boolean;
}

/** An EndpointSlice of Service `namespace/service` with the given endpoints. */
export function sliceObject(
  service: string,
  endpoints: EndpointFixture[],
  options: { namespace?: string; name?: string } = {},
): KubeObject {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: options.name ?? `${service}-abc`,
      namespace: options.namespace ?? "default",
      labels: { "kubernetes.io/service-name": service },
    },
    addressType: "IPv4",
    endpoints: endpoints.map((e, i) => ({
      addresses: [`10.244.${i >> 8}.${i & 255}`],
      nodeName: e.node,
      conditions: {
        ...(e.ready !== undefined ? { ready: e.ready } : {}),
        ...(e.serving !== undefined ? { serving: e.serving } : {}),
      },
    })),
    ports: [{ name: "http", protocol: "TCP", port: 8080 }],
  };
}

/** Options of {@linkcode nodeObject}. */
export interface NodeFixture {
  labels?: Record<string, string>;
  networkUnavailable?: boolean;
  internalIP?: string;
  /** Further addresses, e.g. `{ type: "InternalIP", address: "2001:db8::11" }`. */
  addresses?: { type: string; address: string }[];
}

/** A Node. */
export function nodeObject(name: string, options: NodeFixture = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, labels: { "kubernetes.io/hostname": name, ...options.labels } },
    status: {
      conditions: [{
        type: "NetworkUnavailable",
        status: options.networkUnavailable ? "True" : "False",
      }, { type: "Ready", status: "True" }],
      addresses: [
        ...(options.internalIP ? [{ type: "InternalIP", address: options.internalIP }] : []),
        ...(options.addresses ?? []),
      ],
    },
  };
}

/**
 * Starts a collector on 127.0.0.1 at a free port a BGPPeer may name: `peerPort` is limited
 * to 1–16384 (as in MetalLB), below the kernel's ephemeral range, so port 0 cannot be used.
 */
export async function startTestCollector(
  options: Omit<CollectorOptions, "listen"> & { host?: string },
): Promise<Collector> {
  let lastError: unknown;
  for (let i = 0; i < 50; i++) {
    const port = 2000 + Math.floor(Math.random() * 14000);
    try {
      return await startCollector({ ...options, listen: `${options.host ?? "127.0.0.1"}:${port}` });
    } catch (err) {
      if (!(err instanceof Deno.errors.AddrInUse)) throw err;
      lastError = err;
    }
  }
  throw lastError;
}

/** A `kubernetes.io/basic-auth` Secret holding a BGP `password`, as passwordSecret names it. */
export function passwordSecretObject(name: string, password: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: TEST_NS },
    type: "kubernetes.io/basic-auth",
    data: { password: btoa(String.fromCharCode(...new TextEncoder().encode(password))) },
  };
}
