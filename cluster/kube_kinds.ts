/**
 * Where each kind ferrolb reads lives in the API, and what of an object is kept once read:
 * only what the roles use, so 100,000 Services do not carry their managedFields and
 * last-applied copies in memory.
 */
import type { KubeObject, ReadKind } from "./types.ts";
import { checkObjectBounds } from "./input_limits.ts";

/** Where a kind lives in the API and which namespaces are read. */
export interface KindEndpoint {
  apiVersion: string;
  plural: string;
  /** `install`: only the install namespace; `all`: every namespace; `cluster`: not namespaced. */
  scope: "install" | "all" | "cluster";
}

/** API location of every read kind (BGPPeer is read as v1beta2, its storage version). */
export const KIND_ENDPOINTS: Readonly<Record<ReadKind, KindEndpoint>> = {
  IPAddressPool: { apiVersion: "metallb.io/v1beta1", plural: "ipaddresspools", scope: "install" },
  BGPAdvertisement: {
    apiVersion: "metallb.io/v1beta1",
    plural: "bgpadvertisements",
    scope: "install",
  },
  BGPPeer: { apiVersion: "metallb.io/v1beta2", plural: "bgppeers", scope: "install" },
  Community: { apiVersion: "metallb.io/v1beta1", plural: "communities", scope: "install" },
  BFDProfile: { apiVersion: "metallb.io/v1beta1", plural: "bfdprofiles", scope: "install" },
  L2Advertisement: {
    apiVersion: "metallb.io/v1beta1",
    plural: "l2advertisements",
    scope: "install",
  },
  Service: { apiVersion: "v1", plural: "services", scope: "all" },
  EndpointSlice: { apiVersion: "discovery.k8s.io/v1", plural: "endpointslices", scope: "all" },
  Node: { apiVersion: "v1", plural: "nodes", scope: "cluster" },
  Namespace: { apiVersion: "v1", plural: "namespaces", scope: "cluster" },
  Secret: { apiVersion: "v1", plural: "secrets", scope: "install" },
  ServiceBGPStatus: {
    apiVersion: "metallb.io/v1beta1",
    plural: "servicebgpstatuses",
    scope: "install",
  },
};

/** The collection path of a kind, e.g. `/apis/metallb.io/v1beta1/namespaces/ns/ipaddresspools`. */
export function collectionPath(kind: ReadKind, namespace: string): string {
  const e = KIND_ENDPOINTS[kind];
  const base = e.apiVersion.includes("/") ? `/apis/${e.apiVersion}` : `/api/${e.apiVersion}`;
  return e.scope === "install"
    ? `${base}/namespaces/${encodeURIComponent(namespace)}/${e.plural}`
    : `${base}/${e.plural}`;
}

/** kubectl's copy of the whole object as last applied: as large as the object, never read. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

type RawMeta = KubeObject["metadata"] & { managedFields?: unknown };

/** An endpoint with only what the speaker reads; anything unusual is left for the schema. */
function slimEndpoint(e: unknown): unknown {
  if (!e || typeof e !== "object" || Array.isArray(e)) return e;
  const { addresses, conditions, nodeName } = e as Record<string, unknown>;
  return {
    ...(addresses !== undefined ? { addresses } : {}),
    ...(conditions !== undefined ? { conditions } : {}),
    ...(nodeName !== undefined ? { nodeName } : {}),
  };
}

/**
 * The object as the roles see it: apiVersion and kind set (list items of built-in kinds come
 * without them), without managedFields and kubectl's last-applied annotation, EndpointSlice
 * endpoints without their pod references, zones and hints, and a Node with only the status
 * fields read (conditions and addresses; not its image list).
 */
export function slimObject(kind: ReadKind, raw: unknown): KubeObject {
  const o = raw as KubeObject;
  const { managedFields: _drop, ...metadata } = o.metadata as RawMeta;
  if (metadata.annotations && LAST_APPLIED in metadata.annotations) {
    const { [LAST_APPLIED]: _copy, ...annotations } = metadata.annotations;
    metadata.annotations = annotations;
  }
  const slim: KubeObject = { ...o, metadata, apiVersion: KIND_ENDPOINTS[kind].apiVersion, kind };
  if (kind === "EndpointSlice" && Array.isArray(o.endpoints)) {
    slim.endpoints = o.endpoints.map(slimEndpoint);
  }
  if (kind === "Node" && o.status && typeof o.status === "object") {
    const { conditions, addresses } = o.status as Record<string, unknown>;
    slim.status = {
      ...(conditions !== undefined ? { conditions } : {}),
      ...(addresses !== undefined ? { addresses } : {}),
    };
  }
  return slim;
}

/**
 * {@linkcode slimObject} for an object within the API object bounds; for one past them, the
 * reason, naming the object (its kind, namespace/name and the limit), so the caller can skip
 * it and say so instead of letting it reach the roles.
 */
export function admitObject(kind: ReadKind, raw: unknown): KubeObject | string {
  const over = checkObjectBounds(raw);
  if (over === undefined) return slimObject(kind, raw);
  const meta = (raw as Partial<KubeObject>)?.metadata;
  const name = meta?.namespace ? `${meta.namespace}/${meta.name}` : String(meta?.name);
  return `${kind} ${name}: ${over}; ignored`;
}
