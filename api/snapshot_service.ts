/** Service views shared by every reader of a source's snapshots, memoized by object identity. */
import type { KubeObject } from "./kube_object.ts";
import { NO_RECORD, NONE, NONE_FAMILIES, type ParseResult, type Plain } from "./view_parts.ts";
import type { ServiceView } from "./service_types.ts";
import { quickAccepts, quickIngressIPs, quickPorts } from "./service_shape.ts";
import { parseService } from "./service_view.ts";

/** Views (or the failed result) by the Service object read: see {@linkcode parseSnapshotService}. */
const SHARED_SERVICE_VIEWS = new WeakMap<KubeObject, ServiceView | ParseResult<ServiceView>>();

/**
 * {@linkcode parseService} memoized by object identity, for readers of a source's snapshots
 * (whose objects are never changed in place): the controller and the speaker then share one
 * view of each Service instead of holding one each (100,000s of them). A Service of the usual
 * shape gets a view that reads its fields from the object instead of holding copies of them;
 * a {@linkcode SelfViewService} of the usual shape is its own view.
 */
export function parseSnapshotService(obj: KubeObject): ParseResult<ServiceView> {
  if (obj instanceof SelfViewService && obj.isOwnView()) return { ok: true, value: obj };
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
 * The {@linkcode ServiceView} fields of a Service of the usual shape, read from its metadata
 * and spec (never changed in place) instead of copied. The subclass says where those are.
 */
abstract class ServiceFields {
  /** The Service's `metadata`. */
  protected abstract get meta(): Plain;
  /** The Service's `spec`. */
  protected abstract get specFields(): Plain;

  get namespace(): string {
    return (this.meta.namespace as string | undefined) ?? "default";
  }
  get name(): string {
    return this.meta.name as string;
  }
  get labels(): Readonly<Record<string, string>> {
    return (this.meta.labels as Record<string, string> | undefined) ?? NO_RECORD;
  }
  get annotations(): Readonly<Record<string, string>> {
    return (this.meta.annotations as Record<string, string> | undefined) ?? NO_RECORD;
  }
  get type(): string {
    return (this.specFields.type as string | undefined) ?? "ClusterIP";
  }
  get loadBalancerClass(): string | undefined {
    return (this.specFields.loadBalancerClass as string | undefined) || undefined;
  }
  get loadBalancerIP(): string | undefined {
    return (this.specFields.loadBalancerIP as string | undefined) || undefined;
  }
  get ipFamilies(): readonly ("IPv4" | "IPv6")[] {
    const families = this.specFields.ipFamilies as ("IPv4" | "IPv6")[] | undefined;
    return families?.length ? families : NONE_FAMILIES;
  }
  get ipFamilyPolicy(): ServiceView["ipFamilyPolicy"] {
    return (this.specFields.ipFamilyPolicy as ServiceView["ipFamilyPolicy"]) || undefined;
  }
  get clusterIPs(): readonly string[] {
    const spec = this.specFields;
    const clusterIPs = spec.clusterIPs as string[] | undefined;
    const clusterIP = spec.clusterIP as string | undefined;
    return clusterIPs?.length
      ? clusterIPs
      : clusterIPs === undefined && clusterIP && clusterIP !== "None"
      ? [clusterIP]
      : NONE;
  }
  get externalTrafficPolicy(): "Cluster" | "Local" {
    return (this.specFields.externalTrafficPolicy as "Cluster" | "Local" | undefined) ??
      "Cluster";
  }
  get selector(): Readonly<Record<string, string>> {
    return (this.specFields.selector as Record<string, string> | undefined) ?? NO_RECORD;
  }
}

/**
 * A {@linkcode ServiceView} that reads the fields from the Service object it stands for
 * instead of copying them: 48 bytes, not 112, per Service. Only the ingress addresses and
 * the ports, which are derived, are its own.
 */
class ObjectServiceView extends ServiceFields implements ServiceView {
  readonly #o: { metadata: Plain; spec: Plain };
  readonly #ports: ServiceView["ports"];
  readonly ingressIPs: readonly string[];

  constructor(o: Plain) {
    super();
    this.#o = o as { metadata: Plain; spec: Plain };
    this.#ports = quickPorts(o.spec as Plain);
    this.ingressIPs = quickIngressIPs(o);
  }

  protected get meta(): Plain {
    return this.#o.metadata;
  }
  protected get specFields(): Plain {
    return this.#o.spec;
  }
  get ports(): ServiceView["ports"] {
    return this.#ports;
  }
}

/**
 * A Service object that, when of the usual shape, is its own {@linkcode ServiceView} (the
 * fields of the two do not meet): for sources that keep their Services as objects of their
 * own (file mode's, cluster/manifest_service.ts and cluster/service_view.ts), so no view
 * and no memo entry is held per Service. The subclass gives the object's fields, the
 * addresses, and whether it is of that shape (see {@linkcode JudgedSelfViewService}).
 */
export abstract class SelfViewService extends ServiceFields implements ServiceView {
  /** The Service's `metadata`. */
  abstract get metadata(): KubeObject["metadata"];
  /** The Service's `spec`. */
  abstract get spec(): unknown;
  /** The addresses of `status.loadBalancer.ingress`, as the status lists them. */
  protected abstract get shownIPs(): readonly string[];
  /** Whether the object is of the usual shape, and so its own view. */
  abstract isOwnView(): boolean;
  /** The view's ports (asked only when {@linkcode isOwnView}). */
  abstract get ports(): ServiceView["ports"];

  protected get meta(): Plain {
    return this.metadata as unknown as Plain;
  }
  protected get specFields(): Plain {
    return this.spec as Plain;
  }
  get ingressIPs(): readonly string[] {
    const ips = this.shownIPs;
    // As the view of the plain object: entries without an address are not listed.
    return ips.includes("") ? ips.filter((ip) => ip !== "") : ips;
  }
}

/** A {@linkcode SelfViewService} that judges its own shape, once, and keeps its ports. */
export abstract class JudgedSelfViewService extends SelfViewService {
  /** The ports once judged of the usual shape; null when not (then the memo decides). */
  #ports: ServiceView["ports"] | null | undefined;

  isOwnView(): boolean {
    if (this.#ports === undefined) {
      this.#ports = quickAccepts(this as unknown as KubeObject)
        ? quickPorts(this.specFields)
        : null;
    }
    return this.#ports !== null;
  }

  get ports(): ServiceView["ports"] {
    return this.#ports ?? quickPorts(this.specFields);
  }
}

/** The reading view of a Service of the usual shape, or undefined to let the schema decide. */
function compactService(obj: KubeObject): ServiceView | undefined {
  return quickAccepts(obj) ? new ObjectServiceView(obj as unknown as Plain) : undefined;
}
