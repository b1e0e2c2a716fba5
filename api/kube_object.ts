/**
 * The raw Kubernetes object shape every layer shares. It lives in api/ (the lowest room
 * that uses it) so api/ imports nothing above it; cluster/types.ts re-exports it.
 */

/** Object metadata as served by the API server (the subset we use). */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
  deletionTimestamp?: string;
}

/** A raw, unvalidated Kubernetes object as read from the API or a manifest file. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [field: string]: unknown;
}

/** `namespace/name`, or `name` for cluster-scoped objects. */
export function objectKey(meta: Pick<ObjectMeta, "name" | "namespace">): string {
  return meta.namespace ? `${meta.namespace}/${meta.name}` : meta.name;
}
