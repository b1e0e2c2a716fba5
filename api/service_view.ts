/** Parsing a Service into its {@linkcode ServiceView}: the fast path first, then the schema. */
import type { KubeObject } from "./kube_object.ts";
import { issuesToErrors } from "./config.ts";
import { serviceSchema } from "./schemas.ts";
import { NO_RECORD, NONE, NONE_FAMILIES, type ParseResult, type Plain } from "./view_parts.ts";
import type { ServiceView } from "./service_types.ts";
import { quickAccepts, quickIngressIPs, quickPorts } from "./service_shape.ts";

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
