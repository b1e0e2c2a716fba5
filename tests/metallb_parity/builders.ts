/** Small builders for metallb.io objects, so the verdict table reads like MetalLB's own. */
import type { KubeObject } from "../../api/kube_object.ts";

const NS = "metallb-system";
// deno-lint-ignore no-explicit-any
type Spec = Record<string, any>;

function obj(apiVersion: string, kind: string, name: string, spec?: Spec): KubeObject {
  return {
    apiVersion,
    kind,
    metadata: { name, namespace: NS },
    ...(spec === undefined ? {} : { spec }),
  };
}

/** An IPAddressPool (`labels` go to metadata). */
export function pool(name: string, spec?: Spec, labels?: Record<string, string>): KubeObject {
  const o = obj("metallb.io/v1beta1", "IPAddressPool", name, spec);
  if (labels) o.metadata.labels = labels;
  return o;
}

/** A pool with just these addresses. */
export function cidrs(name: string, ...addresses: string[]): KubeObject {
  return pool(name, { addresses });
}

/** A BGPAdvertisement; no spec when `spec` is undefined. */
export function adv(name: string, spec?: Spec): KubeObject {
  return obj("metallb.io/v1beta1", "BGPAdvertisement", name, spec);
}

/** A v1beta2 BGPPeer. */
export function peer(name: string, spec: Spec): KubeObject {
  return obj("metallb.io/v1beta2", "BGPPeer", name, spec);
}

/** An L2Advertisement. */
export function l2(name: string, spec?: Spec): KubeObject {
  return obj("metallb.io/v1beta1", "L2Advertisement", name, spec);
}

/** A Community with `name=value` aliases. */
export function community(name: string, aliases: Record<string, string>[]): KubeObject {
  return obj("metallb.io/v1beta1", "Community", name, {
    communities: aliases.flatMap((a) =>
      Object.entries(a).map(([n, value]) => ({ name: n, value }))
    ),
  });
}

/** A BFDProfile; no spec when `spec` is undefined. */
export function bfd(name: string, spec?: Spec): KubeObject {
  return obj("metallb.io/v1beta1", "BFDProfile", name, spec);
}

/** A Node with labels. */
export function node(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: "v1", kind: "Node", metadata: { name, labels } };
}

/** A Secret in the install namespace; `password` is stored base64 in `data`. */
export function secret(name: string, type: string, password?: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: NS },
    type,
    ...(password === undefined ? {} : { data: { password: btoa(password) } }),
  };
}

/** A selector `{matchExpressions: [{key, operator, values}]}`. */
export function expr(key: string, operator: string, values?: string[]): Spec {
  return { matchExpressions: [{ key, operator, ...(values ? { values } : {}) }] };
}
