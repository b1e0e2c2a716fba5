/** Parsed views of the core Kubernetes objects the controller and speaker read. */
import type { KubeObject } from "../cluster/types.ts";
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
