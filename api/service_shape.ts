/** The fast path's reading of a Service of the usual shape (see api/view_parts.ts for why). */
import type { KubeObject } from "./kube_object.ts";
import {
  isPlain,
  isStringArray,
  NONE,
  NONE_PORTS,
  optNumber,
  optString,
  optStringRecord,
  type Plain,
  quickMeta,
} from "./view_parts.ts";
import type { ServiceView } from "./service_types.ts";

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
export function quickAccepts(obj: KubeObject): boolean {
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
export function quickIngressIPs(o: Plain): readonly string[] {
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
export function quickPorts(spec: Plain): ServiceView["ports"] {
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
