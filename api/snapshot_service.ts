/** Service views shared by every reader of a source's snapshots, memoized by object identity. */
import type { KubeObject } from "./kube_object.ts";
import { NO_RECORD, NONE, NONE_FAMILIES, type ParseResult, type Plain } from "./view_parts.ts";
import type { ServiceView } from "./service_types.ts";
import { quickAccepts, quickIngressIPs, quickPorts } from "./service_shape.ts";
import { parseService } from "./service_view.ts";

/**
 * Key of a property a Service object may carry holding its `status.loadBalancer.ingress`
 * addresses as one frozen list (file mode's laid-over Services keep them so, in
 * cluster/service_view.ts): the view shares it instead of holding a copy per Service.
 */
export const SHOWN_INGRESS_IPS: unique symbol = Symbol("ferrolb.shownIngressIPs");

/** Views (or the failed result) by the Service object read: see {@linkcode parseSnapshotService}. */
const SHARED_SERVICE_VIEWS = new WeakMap<KubeObject, ServiceView | ParseResult<ServiceView>>();

/**
 * {@linkcode parseService} memoized by object identity, for readers of a source's snapshots
 * (whose objects are never changed in place): the controller and the speaker then share one
 * view of each Service instead of holding one each (100,000s of them). A Service of the usual
 * shape gets a view that reads its fields from the object instead of holding copies of them.
 */
export function parseSnapshotService(obj: KubeObject): ParseResult<ServiceView> {
  const hit = SHARED_SERVICE_VIEWS.get(obj);
  if (hit !== undefined) return "ok" in hit ? hit : { ok: true, value: hit };
  const compact = compactService(obj);
  const r: ParseResult<ServiceView> = compact ? { ok: true, value: compact } : parseService(obj);
  SHARED_SERVICE_VIEWS.set(obj, r.ok ? r.value : r);
  return r;
}

/**
 * Drops the memo of {@linkcode parseSnapshotService} for `obj`: for a reader that moved on to
 * a newer object of the same Service while `obj` itself stays alive (file mode's overlay
 * keeps the manifest's object under the one with a status), so its view is not kept.
 */
export function forgetSnapshotService(obj: KubeObject): void {
  SHARED_SERVICE_VIEWS.delete(obj);
}

/**
 * A {@linkcode ServiceView} that reads the fields from the Service object it stands for
 * (never changed in place) instead of copying them: 48 bytes, not 112, per Service. Only the
 * ingress addresses and the ports, which are derived, are its own.
 */
class ObjectServiceView implements ServiceView {
  readonly #o: { metadata: Plain; spec: Plain };
  readonly #ports: ServiceView["ports"];
  readonly ingressIPs: readonly string[];

  constructor(o: Plain) {
    this.#o = o as { metadata: Plain; spec: Plain };
    this.#ports = quickPorts(o.spec as Plain);
    this.ingressIPs = sharedIngressIPs(o) ?? quickIngressIPs(o);
  }

  get namespace(): string {
    return (this.#o.metadata.namespace as string | undefined) ?? "default";
  }
  get name(): string {
    return this.#o.metadata.name as string;
  }
  get labels(): Readonly<Record<string, string>> {
    return (this.#o.metadata.labels as Record<string, string> | undefined) ?? NO_RECORD;
  }
  get annotations(): Readonly<Record<string, string>> {
    return (this.#o.metadata.annotations as Record<string, string> | undefined) ?? NO_RECORD;
  }
  get type(): string {
    return (this.#o.spec.type as string | undefined) ?? "ClusterIP";
  }
  get loadBalancerClass(): string | undefined {
    return (this.#o.spec.loadBalancerClass as string | undefined) || undefined;
  }
  get loadBalancerIP(): string | undefined {
    return (this.#o.spec.loadBalancerIP as string | undefined) || undefined;
  }
  get ipFamilies(): readonly ("IPv4" | "IPv6")[] {
    const families = this.#o.spec.ipFamilies as ("IPv4" | "IPv6")[] | undefined;
    return families?.length ? families : NONE_FAMILIES;
  }
  get ipFamilyPolicy(): ServiceView["ipFamilyPolicy"] {
    return (this.#o.spec.ipFamilyPolicy as ServiceView["ipFamilyPolicy"]) || undefined;
  }
  get clusterIPs(): readonly string[] {
    const spec = this.#o.spec;
    const clusterIPs = spec.clusterIPs as string[] | undefined;
    const clusterIP = spec.clusterIP as string | undefined;
    return clusterIPs?.length
      ? clusterIPs
      : clusterIPs === undefined && clusterIP && clusterIP !== "None"
      ? [clusterIP]
      : NONE;
  }
  get externalTrafficPolicy(): "Cluster" | "Local" {
    return (this.#o.spec.externalTrafficPolicy as "Cluster" | "Local" | undefined) ?? "Cluster";
  }
  get selector(): Readonly<Record<string, string>> {
    return (this.#o.spec.selector as Record<string, string> | undefined) ?? NO_RECORD;
  }
  get ports(): ServiceView["ports"] {
    return this.#ports;
  }
}

/** The object's {@linkcode SHOWN_INGRESS_IPS}, when it is a frozen list of addresses. */
function sharedIngressIPs(o: Plain): readonly string[] | undefined {
  const ips = (o as { [SHOWN_INGRESS_IPS]?: unknown })[SHOWN_INGRESS_IPS];
  // What the status shows is what counts: an empty address would not be listed.
  return Array.isArray(ips) && Object.isFrozen(ips) &&
      ips.every((ip) => typeof ip === "string" && ip.length > 0)
    ? ips
    : undefined;
}

/** The reading view of a Service of the usual shape, or undefined to let the schema decide. */
function compactService(obj: KubeObject): ServiceView | undefined {
  return quickAccepts(obj) ? new ObjectServiceView(obj as unknown as Plain) : undefined;
}
