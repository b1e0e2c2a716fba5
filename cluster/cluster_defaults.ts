/**
 * File mode's stand-ins for what a cluster supplies and a directory of manifests leaves out:
 * this node (ready, with its hostname label) and one ready endpoint on it for every Service
 * that has no EndpointSlice, so the speaker announces as it would in a cluster.
 */
import { SERVICE_NAME_LABEL } from "../api/objects.ts";
import {
  type KubeObject,
  objectKey,
  type ObjectSource,
  type ReadKind,
  type Snapshot,
} from "./types.ts";

/** Label every Node carries in a cluster; node selectors often use it. */
export const HOSTNAME_LABEL = "kubernetes.io/hostname";

/** Suffix of the EndpointSlices made up for Services that have none in the directory. */
export const SYNTHETIC_SLICE_SUFFIX = "ferrolb-local";

/** Options for {@linkcode withClusterDefaults}. */
export interface ClusterDefaultsOptions {
  /** This node's name (`--node-name`). */
  nodeName: string;
}

/** The Node a cluster would have for `nodeName`: ready, labelled with its hostname. */
export function syntheticNode(nodeName: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: nodeName, labels: { [HOSTNAME_LABEL]: nodeName } },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  };
}

/** The one ready endpoint on `nodeName`, frozen so every made-up slice can share it. */
function localEndpoints(nodeName: string): readonly unknown[] {
  const endpoint = Object.freeze({
    addresses: Object.freeze(["127.0.0.1"]),
    conditions: Object.freeze({ ready: true }),
    nodeName,
  });
  return Object.freeze([endpoint]);
}

/** An EndpointSlice with one ready endpoint of `service` on `nodeName`. */
export function syntheticEndpointSlice(
  service: KubeObject,
  nodeName: string,
  endpoints: readonly unknown[] = localEndpoints(nodeName),
): KubeObject {
  const ns = service.metadata.namespace ?? "default";
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      name: `${service.metadata.name}-${SYNTHETIC_SLICE_SUFFIX}`,
      namespace: ns,
      labels: { [SERVICE_NAME_LABEL]: service.metadata.name },
    },
    addressType: "IPv4",
    endpoints,
  };
}

/** Options for {@linkcode addClusterDefaults}. */
export interface AddDefaultsOptions extends ClusterDefaultsOptions {
  /**
   * Made-up slices by the Service they stand for: an unchanged Service keeps the same slice
   * object, so readers that cache by identity redo nothing for it.
   */
  cache?: WeakMap<KubeObject, KubeObject>;
}

/** Adds to `objects` what a cluster would supply and the directory leaves out. */
export function addClusterDefaults(
  objects: ReadonlyMap<ReadKind, ReadonlyMap<string, KubeObject>>,
  options: AddDefaultsOptions,
): Map<ReadKind, ReadonlyMap<string, KubeObject>> {
  const out = new Map(objects);
  const nodes = objects.get("Node");
  if (!nodes?.has(options.nodeName)) {
    const merged = new Map(nodes);
    merged.set(options.nodeName, syntheticNode(options.nodeName));
    out.set("Node", merged);
  }
  const services = objects.get("Service");
  if (!services || services.size === 0) return out;
  // A Service is covered when any slice in its namespace names it, as in a cluster.
  const covered = new Set<string>();
  for (const slice of objects.get("EndpointSlice")?.values() ?? []) {
    const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (svc) {
      covered.add(objectKey({ namespace: slice.metadata.namespace ?? "default", name: svc }));
    }
  }
  const endpoints = localEndpoints(options.nodeName);
  let slices: Map<string, KubeObject> | undefined;
  for (const [key, svc] of services) {
    if (covered.has(key)) continue;
    slices ??= new Map(objects.get("EndpointSlice"));
    let slice = options.cache?.get(svc);
    if (!slice) {
      slice = syntheticEndpointSlice(svc, options.nodeName, endpoints);
      options.cache?.set(svc, slice);
    }
    slices.set(objectKey(slice.metadata), slice);
  }
  if (slices) out.set("EndpointSlice", slices);
  return out;
}

/**
 * Wraps `inner` so its snapshots hold what a cluster would supply: the Node `nodeName`
 * (ready) unless a manifest defines it, and one ready endpoint on this node for every
 * Service without an EndpointSlice. `start` may be called by several users; it starts
 * `inner` once.
 */
export function withClusterDefaults(
  inner: ObjectSource,
  options: ClusterDefaultsOptions,
): ObjectSource {
  let cache: { revision: number; snap: Snapshot } | undefined;
  let starting: Promise<void> | undefined;
  const slices = new WeakMap<KubeObject, KubeObject>();
  return {
    start() {
      starting ??= inner.start();
      return starting;
    },
    snapshot() {
      const base = inner.snapshot();
      if (cache?.revision === base.revision) return cache.snap;
      // The additions are a pure function of the inner snapshot, so its revision is ours.
      const snap: Snapshot = {
        revision: base.revision,
        objects: addClusterDefaults(base.objects, { ...options, cache: slices }),
      };
      cache = { revision: base.revision, snap };
      return snap;
    },
    subscribe(listener) {
      // Synthetic objects change only with Services, EndpointSlices or Nodes, which the
      // inner source reports itself.
      return inner.subscribe((changed) => {
        const kinds = new Set(changed);
        if (kinds.has("Service")) kinds.add("EndpointSlice");
        listener(kinds);
      });
    },
    close: () => inner.close(),
  };
}
