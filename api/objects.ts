/** Parsed views of the core Kubernetes objects the controller and speaker read. */
import type { KubeObject } from "./kube_object.ts";
import { type ConfigError, issuesToErrors } from "./config.ts";
import { endpointSliceSchema, nodeSchema, serviceSchema } from "./schemas.ts";

/** A parse result: the view, or errors naming the field. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: ConfigError[] };

/** The Service fields ferrolb uses. */
export interface ServiceView {
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  type: string;
  loadBalancerClass?: string;
  loadBalancerIP?: string;
  ipFamilies: readonly ("IPv4" | "IPv6")[];
  ipFamilyPolicy?: "SingleStack" | "PreferDualStack" | "RequireDualStack";
  clusterIPs: readonly string[];
  /** `Cluster` when unset, as Kubernetes defaults it. */
  externalTrafficPolicy: "Cluster" | "Local";
  selector: Readonly<Record<string, string>>;
  ports: readonly { protocol: "TCP" | "UDP" | "SCTP"; port: number; name?: string }[];
  /** From `status.loadBalancer.ingress[].ip`. */
  ingressIPs: readonly string[];
}

/** Parses a Service object into {@linkcode ServiceView}. */
export function parseService(obj: KubeObject): ParseResult<ServiceView> {
  const quick = quickService(obj);
  if (quick) return { ok: true, value: quick };
  const r = serviceSchema.safeParse(obj);
  if (!r.success) return { ok: false, errors: issuesToErrors(obj, r.error.issues) };
  const { metadata: m, spec, status } = r.data;
  const clusterIPs = spec.clusterIPs ??
    (spec.clusterIP && spec.clusterIP !== "None" ? [spec.clusterIP] : []);
  return {
    ok: true,
    value: {
      namespace: m.namespace ?? "default",
      name: m.name,
      labels: m.labels ?? {},
      annotations: m.annotations ?? {},
      type: spec.type,
      ...(spec.loadBalancerClass ? { loadBalancerClass: spec.loadBalancerClass } : {}),
      ...(spec.loadBalancerIP ? { loadBalancerIP: spec.loadBalancerIP } : {}),
      ipFamilies: spec.ipFamilies ?? [],
      ...(spec.ipFamilyPolicy ? { ipFamilyPolicy: spec.ipFamilyPolicy } : {}),
      clusterIPs,
      externalTrafficPolicy: spec.externalTrafficPolicy ?? "Cluster",
      selector: spec.selector ?? {},
      ports: (spec.ports ?? []).map((p) => ({
        protocol: p.protocol,
        port: p.port,
        ...(p.name ? { name: p.name } : {}),
      })),
      ingressIPs: (status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : [])),
    },
  };
}

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

/** One endpoint of an EndpointSlice. */
export interface EndpointView {
  addresses: readonly string[];
  /** `ready` unset or true, or `serving` true (the reference's rule). */
  serving: boolean;
  ready?: boolean;
  terminating?: boolean;
  nodeName?: string;
}

/** The EndpointSlice fields ferrolb uses. */
export interface EndpointSliceView {
  namespace: string;
  name: string;
  /** From label `kubernetes.io/service-name`. */
  serviceName: string;
  endpoints: readonly EndpointView[];
  ports: readonly { name?: string; protocol?: string; port?: number }[];
}

/** The label linking an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** Parses an EndpointSlice; it must carry the `kubernetes.io/service-name` label. */
export function parseEndpointSlice(obj: KubeObject): ParseResult<EndpointSliceView> {
  const quick = quickEndpointSlice(obj);
  if (quick) return { ok: true, value: quick };
  const r = endpointSliceSchema.safeParse(obj);
  if (!r.success) return { ok: false, errors: issuesToErrors(obj, r.error.issues) };
  const m = r.data.metadata;
  const serviceName = m.labels?.[SERVICE_NAME_LABEL];
  const namespace = m.namespace ?? "default";
  if (!serviceName) {
    return {
      ok: false,
      errors: [{
        kind: "EndpointSlice",
        namespace,
        name: m.name,
        field: `metadata.labels[${SERVICE_NAME_LABEL}]`,
        reason: "required",
      }],
    };
  }
  return {
    ok: true,
    value: {
      namespace,
      name: m.name,
      serviceName,
      endpoints: (r.data.endpoints ?? []).map((e) => {
        const c = e.conditions ?? {};
        return {
          addresses: e.addresses,
          serving: c.ready === undefined || c.ready === true || c.serving === true,
          ...(c.ready !== undefined ? { ready: c.ready } : {}),
          ...(c.terminating !== undefined ? { terminating: c.terminating } : {}),
          ...(e.nodeName ? { nodeName: e.nodeName } : {}),
        };
      }),
      ports: r.data.ports ?? [],
    },
  };
}

/** The Node fields ferrolb uses. */
export interface NodeView {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Condition `NetworkUnavailable` is `True`. */
  networkUnavailable: boolean;
  addresses: readonly { type: string; address: string }[];
}

/** Parses a Node object. */
export function parseNode(obj: KubeObject): ParseResult<NodeView> {
  const r = nodeSchema.safeParse(obj);
  if (!r.success) return { ok: false, errors: issuesToErrors(obj, r.error.issues) };
  const conditions = r.data.status?.conditions ?? [];
  return {
    ok: true,
    value: {
      name: r.data.metadata.name,
      labels: r.data.metadata.labels ?? {},
      networkUnavailable: conditions.some((c) =>
        c.type === "NetworkUnavailable" && c.status === "True"
      ),
      addresses: r.data.status?.addresses ?? [],
    },
  };
}

/*
 * Fast paths. Parsing 100,000s of Services and EndpointSlices through zod allocates a full
 * copy of each (and much garbage) only to keep a few fields. Objects of the usual, valid
 * shape are read directly here; the records they share (labels, annotations, selector) are
 * kept by reference, which is safe because parsed objects are treated as immutable. Anything
 * unusual falls back to the schema, which alone reports errors, so results never differ.
 */

type Plain = Record<string, unknown>;

/** Shared empty lists of the fast paths (views are read-only). */
const NONE: readonly string[] = Object.freeze([]);
const NONE_FAMILIES: readonly ("IPv4" | "IPv6")[] = Object.freeze([]);
const NONE_PORTS: readonly never[] = Object.freeze([]);
/** Labels, annotations or selector left out: one shared empty record, not one per view. */
const NO_RECORD: Readonly<Record<string, string>> = Object.freeze({});

function isPlain(v: unknown): v is Plain {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function optString(v: unknown): boolean {
  return v === undefined || typeof v === "string";
}

function optNumber(v: unknown): boolean {
  return v === undefined || (typeof v === "number" && Number.isFinite(v));
}

function optBoolean(v: unknown): boolean {
  return v === undefined || typeof v === "boolean";
}

function isStringRecord(v: unknown): v is Record<string, string> {
  if (!isPlain(v)) return false;
  for (const k in v) if (!Object.hasOwn(v, k) || typeof v[k] !== "string") return false;
  return Object.getOwnPropertySymbols(v).length === 0;
}

function optStringRecord(v: unknown): boolean {
  return v === undefined || isStringRecord(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function quickMeta(m: unknown): m is Plain {
  return isPlain(m) && typeof m.name === "string" && m.name.length > 0 &&
    optString(m.namespace) && optString(m.uid) && optString(m.resourceVersion) &&
    optNumber(m.generation) && optStringRecord(m.labels) && optStringRecord(m.annotations) &&
    optString(m.creationTimestamp) && optString(m.deletionTimestamp);
}

const FAMILIES: ReadonlySet<unknown> = new Set(["IPv4", "IPv6"]);
const FAMILY_POLICIES: ReadonlySet<unknown> = new Set([
  undefined,
  "SingleStack",
  "PreferDualStack",
  "RequireDualStack",
]);
const TRAFFIC_POLICIES: ReadonlySet<unknown> = new Set([undefined, "Cluster", "Local"]);
const PROTOCOLS: ReadonlySet<unknown> = new Set([undefined, "TCP", "UDP", "SCTP"]);

function quickPort(p: unknown): boolean {
  if (!isPlain(p)) return false;
  const port = p.port;
  const target = p.targetPort;
  return optString(p.name) && PROTOCOLS.has(p.protocol) && Number.isSafeInteger(port) &&
    (port as number) >= 1 && (port as number) <= 65535 &&
    (typeof target === "string" || optNumber(target)) && optNumber(p.nodePort);
}

function quickIngress(status: unknown): boolean {
  if (status === undefined) return true;
  if (!isPlain(status)) return false;
  const lb = status.loadBalancer;
  if (lb === undefined) return true;
  if (!isPlain(lb)) return false;
  const ingress = lb.ingress;
  if (ingress === undefined) return true;
  return Array.isArray(ingress) &&
    ingress.every((i) =>
      isPlain(i) && optString(i.ip) && optString(i.hostname) && optString(i.ipMode)
    );
}

/** Whether `obj` is a Service of the usual shape, which the fast paths read directly. */
function quickAccepts(obj: KubeObject): boolean {
  const o = obj as unknown as Plain;
  const m = o.metadata;
  const spec = o.spec;
  if (o.apiVersion !== "v1" || o.kind !== "Service" || !quickMeta(m) || !isPlain(spec)) {
    return false;
  }
  if (
    !optString(spec.type) || !optString(spec.loadBalancerClass) ||
    !optString(spec.loadBalancerIP) || !optString(spec.clusterIP) ||
    !FAMILY_POLICIES.has(spec.ipFamilyPolicy) ||
    !TRAFFIC_POLICIES.has(spec.externalTrafficPolicy) ||
    !optStringRecord(spec.selector) || !quickIngress(o.status)
  ) return false;
  const families = spec.ipFamilies;
  if (
    families !== undefined && !(Array.isArray(families) && families.every((f) => FAMILIES.has(f)))
  ) {
    return false;
  }
  const clusterIPs = spec.clusterIPs;
  if (clusterIPs !== undefined && !isStringArray(clusterIPs)) return false;
  const ports = spec.ports;
  return ports === undefined || (Array.isArray(ports) && ports.every(quickPort));
}

/** `status.loadBalancer.ingress[].ip` of a Service the fast path accepted, exactly sized. */
function quickIngressIPs(o: Plain): readonly string[] {
  const ingress = (o.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined)
    ?.loadBalancer?.ingress ?? [];
  // Exact-size arrays: a pushed-to array keeps room for 16 more entries.
  return ingress.length === 0
    ? NONE
    : ingress.length === 1
    ? (ingress[0].ip ? [ingress[0].ip] : NONE)
    : ingress.flatMap((i) => (i.ip ? [i.ip] : [])).slice();
}

/** The view's ports of a Service the fast path accepted. */
function quickPorts(spec: Plain): ServiceView["ports"] {
  const ports = spec.ports as Plain[] | undefined;
  if (!ports?.length) return NONE_PORTS;
  return sharedPorts(ports) ?? ports.map((p) =>
    p.name
      ? {
        protocol: (p.protocol as "TCP" | "UDP" | "SCTP" | undefined) ?? "TCP",
        port: p.port as number,
        name: p.name as string,
      }
      : {
        protocol: (p.protocol as "TCP" | "UDP" | "SCTP" | undefined) ?? "TCP",
        port: p.port as number,
      }
  );
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
    this.ingressIPs = quickIngressIPs(o);
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

/** The reading view of a Service of the usual shape, or undefined to let the schema decide. */
function compactService(obj: KubeObject): ServiceView | undefined {
  return quickAccepts(obj) ? new ObjectServiceView(obj as unknown as Plain) : undefined;
}

/** The view of a Service of the usual shape, or undefined to let the schema decide. */
function quickService(obj: KubeObject): ServiceView | undefined {
  if (!quickAccepts(obj)) return undefined;
  const o = obj as unknown as Plain;
  const m = o.metadata as Plain;
  const spec = o.spec as Plain;
  const families = spec.ipFamilies as unknown[] | undefined;
  const clusterIPs = spec.clusterIPs as string[] | undefined;
  const clusterIP = spec.clusterIP as string | undefined;
  const lbClass = spec.loadBalancerClass as string | undefined;
  const lbIP = spec.loadBalancerIP as string | undefined;
  const policy = spec.ipFamilyPolicy as ServiceView["ipFamilyPolicy"];
  const ingressIPs = quickIngressIPs(o);
  // One literal without spreads: V8 gives such objects a compact fixed layout, and there are
  // 100,000s of them.
  const view: ServiceView = {
    namespace: (m.namespace as string | undefined) ?? "default",
    name: m.name as string,
    labels: (m.labels as Record<string, string> | undefined) ?? NO_RECORD,
    annotations: (m.annotations as Record<string, string> | undefined) ?? NO_RECORD,
    type: (spec.type as string | undefined) ?? "ClusterIP",
    ipFamilies: families?.length ? [...(families as ("IPv4" | "IPv6")[])] : NONE_FAMILIES,
    clusterIPs: clusterIPs?.length
      ? [...clusterIPs]
      : clusterIPs === undefined && clusterIP && clusterIP !== "None"
      ? [clusterIP]
      : NONE,
    externalTrafficPolicy: (spec.externalTrafficPolicy as "Cluster" | "Local" | undefined) ??
      "Cluster",
    selector: (spec.selector as Record<string, string> | undefined) ?? NO_RECORD,
    ports: quickPorts(spec),
    ingressIPs,
  };
  if (lbClass) view.loadBalancerClass = lbClass;
  if (lbIP) view.loadBalancerIP = lbIP;
  if (policy) view.ipFamilyPolicy = policy;
  return view;
}

/**
 * The object's own port list when it is frozen and already what a view holds (protocol and
 * port, nothing else): no copy per Service.
 */
function sharedPorts(ports: readonly Plain[]): ServiceView["ports"] | undefined {
  if (!Object.isFrozen(ports)) return undefined;
  for (const p of ports) {
    if (
      !Object.isFrozen(p) || typeof p.protocol !== "string" || typeof p.port !== "number" ||
      Object.keys(p).length !== 2
    ) {
      return undefined;
    }
  }
  return ports as unknown as ServiceView["ports"];
}

function quickEndpoint(e: unknown): boolean {
  if (!isPlain(e) || !isStringArray(e.addresses) || !optString(e.nodeName)) return false;
  const c = e.conditions;
  return c === undefined ||
    (isPlain(c) && optBoolean(c.ready) && optBoolean(c.serving) && optBoolean(c.terminating));
}

function quickSlicePort(p: unknown): boolean {
  return isPlain(p) && optString(p.name) && optString(p.protocol) && optNumber(p.port);
}

/** The view of an EndpointSlice of the usual shape, or undefined to let the schema decide. */
function quickEndpointSlice(obj: KubeObject): EndpointSliceView | undefined {
  const o = obj as unknown as Plain;
  const m = o.metadata;
  if (
    o.apiVersion !== "discovery.k8s.io/v1" || o.kind !== "EndpointSlice" || !quickMeta(m) ||
    !optString(o.addressType)
  ) return undefined;
  const serviceName = (m.labels as Record<string, string> | undefined)?.[SERVICE_NAME_LABEL];
  if (!serviceName) return undefined;
  const endpoints = o.endpoints ?? [];
  const ports = o.ports ?? [];
  if (!Array.isArray(endpoints) || !endpoints.every(quickEndpoint)) return undefined;
  if (!Array.isArray(ports) || !ports.every(quickSlicePort)) return undefined;
  return {
    namespace: (m.namespace as string | undefined) ?? "default",
    name: m.name as string,
    serviceName,
    endpoints: endpointViews(endpoints as Plain[]),
    ports: ports.length === 0 ? NONE_PORTS : (ports as Plain[]).map((p) => ({
      ...(p.name !== undefined ? { name: p.name as string } : {}),
      ...(p.protocol !== undefined ? { protocol: p.protocol as string } : {}),
      ...(p.port !== undefined ? { port: p.port as number } : {}),
    })),
  };
}

/**
 * Endpoint views by the frozen endpoint list they were read from: file mode gives 100,000s
 * of made-up slices one shared list, and they get one shared list of views.
 */
const SHARED_ENDPOINT_VIEWS = new WeakMap<readonly Plain[], readonly EndpointView[]>();

function endpointViews(endpoints: readonly Plain[]): readonly EndpointView[] {
  // Only a frozen list (and frozen entries) cannot change under the memo.
  const shareable = Object.isFrozen(endpoints) &&
    endpoints.every((e) =>
      Object.isFrozen(e) && Object.isFrozen(e.addresses) &&
      (e.conditions === undefined || Object.isFrozen(e.conditions))
    );
  const hit = shareable ? SHARED_ENDPOINT_VIEWS.get(endpoints) : undefined;
  if (hit) return hit;
  const views = endpoints.map((e) => {
    const c = (e.conditions ?? {}) as {
      ready?: boolean;
      serving?: boolean;
      terminating?: boolean;
    };
    return {
      addresses: e.addresses as string[],
      serving: c.ready === undefined || c.ready === true || c.serving === true,
      ...(c.ready !== undefined ? { ready: c.ready } : {}),
      ...(c.terminating !== undefined ? { terminating: c.terminating } : {}),
      ...(e.nodeName ? { nodeName: e.nodeName as string } : {}),
    };
  });
  if (shareable) SHARED_ENDPOINT_VIEWS.set(endpoints, views);
  return views;
}
