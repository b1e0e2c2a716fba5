/**
 * The object-set interface shared by the Kubernetes source (API server) and the file
 * source (a directory of manifests). Controller and speaker read only through this, so
 * they do not know which one they run on.
 */
import type { KubeObject } from "../api/kube_object.ts";
export { type KubeObject, objectKey, type ObjectMeta } from "../api/kube_object.ts";

/**
 * Every kind ferrolb reads. ServiceBGPStatus is read back only by the speaker, to delete the
 * objects of Services that went away while it was down; configuration ignores it.
 */
export const READ_KINDS = [
  "IPAddressPool",
  "BGPAdvertisement",
  "BGPPeer",
  "Community",
  "BFDProfile",
  "L2Advertisement",
  "Service",
  "EndpointSlice",
  "Node",
  "Namespace",
  "Secret",
  "ServiceBGPStatus",
] as const;

/** A kind ferrolb reads. */
export type ReadKind = typeof READ_KINDS[number];

/** The kinds a `Config` is built from (Secrets hold peer passwords). */
export const CONFIG_KINDS: readonly ReadKind[] = [
  "IPAddressPool",
  "BGPAdvertisement",
  "BGPPeer",
  "Community",
  "BFDProfile",
  "L2Advertisement",
  "Secret",
];

/** An immutable view of every object of every read kind at one moment. */
export interface Snapshot {
  /** Increases by one on every change seen by the source. */
  readonly revision: number;
  /** Objects by kind, then by {@linkcode objectKey}. */
  readonly objects: ReadonlyMap<ReadKind, ReadonlyMap<string, KubeObject>>;
}

/** Where objects come from: the API server or a directory. */
export interface ObjectSource {
  /** Resolves once every kind has been read completely once (caches synced). */
  start(): Promise<void>;
  /** The current snapshot; valid after `start` resolved. */
  snapshot(): Snapshot;
  /** Calls `listener` after changes, with the kinds that changed; returns unsubscribe. */
  subscribe(listener: (changed: ReadonlySet<ReadKind>) => void): () => void;
  /** Stops watching. */
  close(): Promise<void>;
}

/** An Event to record against an object, with the reference's reasons. */
export interface EventRecord {
  involved: { kind: string; apiVersion?: string; namespace?: string; name: string; uid?: string };
  type: "Normal" | "Warning";
  reason: string;
  message: string;
  component: string;
}

/** `status.loadBalancer.ingress[]` entry. */
export interface IngressEntry {
  ip: string;
}

/**
 * A ServiceBGPStatus of the usual shape, as its parts: the object they stand for is
 * `{apiVersion: "metallb.io/v1beta1", kind: "ServiceBGPStatus", metadata: {name, namespace,
 * labels: {"metallb.io/node": node, "metallb.io/service-name": serviceName,
 * "metallb.io/service-namespace": serviceNamespace}}, status: {node, serviceName,
 * serviceNamespace, peers}}`.
 */
export interface ServiceBGPStatusParts {
  readonly node: string;
  readonly serviceName: string;
  readonly serviceNamespace: string;
  readonly peers: readonly string[];
}

/** What the controller and speaker write back; the file source keeps it in its state dir. */
export interface ObjectWriter {
  /** Writes `status.loadBalancer.ingress` through the status subresource. */
  setServiceIngress(namespace: string, name: string, ingress: IngressEntry[]): Promise<void>;
  /** Merges annotations (a null value deletes the key). */
  patchServiceAnnotations(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void>;
  /** Records an Event. */
  recordEvent(event: EventRecord): Promise<void>;
  /** Writes `IPAddressPool.status` counts (bigint where an IPv6 count passes 2^53). */
  setPoolStatus(
    namespace: string,
    name: string,
    status: Record<string, number | bigint>,
  ): Promise<void>;
  /** Creates or updates a ConfigurationState's status. */
  setConfigurationState(namespace: string, name: string, status: unknown): Promise<void>;
  /** Creates or updates a ServiceBGPStatus; `null` status deletes it. */
  setServiceBGPStatus(
    namespace: string,
    name: string,
    object: KubeObject | null,
  ): Promise<void>;
  /**
   * Optional: the same as `setServiceBGPStatus` with the object `parts` stand for, taken as
   * its parts by a writer that keeps them so (file mode: 100,000s at a start), so that the
   * object is not made only to be taken apart. Writers without it get the object.
   */
  setServiceBGPStatusParts?(
    namespace: string,
    name: string,
    parts: ServiceBGPStatusParts,
  ): Promise<void>;
}

/**
 * Key of the method an object made by laying a written state over a source's object (file
 * mode's Services with their status) carries: it returns that source object. Parts the
 * state leaves alone (the spec, the labels) may be made when read, so they are the same
 * for two such objects over one source object, not the same objects.
 */
export const LAID_OVER: unique symbol = Symbol("ferrolb.laidOver");

/** The source object `obj` was made from by laying a state over it; else `obj` itself. */
export function laidOverBase(obj: KubeObject): object {
  const of = (obj as { [LAID_OVER]?: unknown })[LAID_OVER];
  return typeof of === "function" ? of.call(obj) : obj;
}
