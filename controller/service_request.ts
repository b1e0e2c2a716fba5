/**
 * Pure translation of a Service (as {@linkcode ServiceView}) into what the allocator takes:
 * which Services are ours, what their annotations ask for, and which families they need.
 * Kept apart from the controller so every annotation and precedence rule is table-tested.
 */
import type { ServiceView } from "../api/objects.ts";
import {
  canonicalIP,
  type Family,
  type FamilyPolicy,
  type ServicePort,
  type ServiceRequest,
} from "../ipam/mod.ts";

/** The current annotation prefix. */
export const ANNOTATION_PREFIX = "metallb.io/";
/** The older prefix, still honoured; using it earns a Warning event. */
export const LEGACY_ANNOTATION_PREFIX = "metallb.universe.tf/";

/** Annotation names (after the prefix) a Service may set. */
export const REQUEST_ANNOTATIONS = ["address-pool", "loadBalancerIPs", "allow-shared-ip"] as const;

/** The annotation name (after the prefix) the controller writes. */
export const ALLOCATED_FROM_POOL = "ip-allocated-from-pool";

/** One use of an old-prefix annotation, for the deprecation Warning. */
export interface DeprecatedAnnotation {
  /** The key the Service uses, e.g. `metallb.universe.tf/address-pool`. */
  key: string;
  /** The key to use instead, e.g. `metallb.io/address-pool`. */
  use: string;
  /** True when the newer key is set too, so this one is ignored. */
  ignored: boolean;
}

/** The outcome of {@linkcode translateService}. */
export type ServiceRequestResult =
  /** Not ours: not type LoadBalancer, or another loadBalancerClass. */
  | { kind: "ignored"; reason: string }
  /**
   * Ours, but asks for something impossible; `reason` is what users see. `allocation` marks
   * refusals MetalLB reports as a failed allocation (AllocationFailed) rather than as a bad
   * request (LoadBalancerFailed).
   */
  | { kind: "invalid"; reason: string; deprecated: DeprecatedAnnotation[]; allocation?: true }
  | { kind: "request"; request: ServiceRequest; deprecated: DeprecatedAnnotation[] };

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** Options for {@linkcode translateService}. */
export interface TranslateOptions {
  /** `--lb-class`: when set only Services of this class are ours, else only classless ones. */
  lbClass?: string;
  /** Labels of the Service's namespace, for `serviceAllocation.namespaceSelectors`. */
  namespaceLabels?: Readonly<Record<string, string>>;
  /** The Service's `namespace/name` as the caller already holds it (not a new copy each). */
  key?: string;
}

/** `Cluster`, or `Local:` and the selector with sorted keys, so equal selectors compare equal. */
export function backendKey(view: Pick<ServiceView, "externalTrafficPolicy" | "selector">): string {
  if (view.externalTrafficPolicy !== "Local") return "Cluster";
  const sorted = Object.keys(view.selector).sort().map((k) => [k, view.selector[k]]);
  return `Local:${JSON.stringify(sorted)}`;
}

/** Whether this controller handles the Service at all (type and class). */
export function isHandled(
  view: Pick<ServiceView, "type" | "loadBalancerClass">,
  options: { lbClass?: string } = {},
): { ok: true } | { ok: false; reason: string } {
  if (view.type !== "LoadBalancer") {
    return { ok: false, reason: `type is ${view.type}, not LoadBalancer` };
  }
  const want = options.lbClass || undefined;
  if (view.loadBalancerClass !== want) {
    return {
      ok: false,
      reason: want === undefined
        ? `loadBalancerClass ${view.loadBalancerClass} is not handled (no --lb-class set)`
        : view.loadBalancerClass === undefined
        ? `no loadBalancerClass (this controller handles only class ${want})`
        : `loadBalancerClass ${view.loadBalancerClass} is not ${want}`,
    };
  }
  return { ok: true };
}

function familyOfText(ip: string): Family {
  return ip.includes(":") ? 6 : 4;
}

/** Reads one request annotation, newer prefix first, noting old-prefix use. */
function annotation(
  annotations: Readonly<Record<string, string>>,
  name: string,
  deprecated: DeprecatedAnnotation[],
): string | undefined {
  const key = ANNOTATION_PREFIX + name;
  const legacy = LEGACY_ANNOTATION_PREFIX + name;
  const hasNew = Object.hasOwn(annotations, key);
  if (Object.hasOwn(annotations, legacy)) {
    deprecated.push({ key: legacy, use: key, ignored: hasNew });
  }
  if (hasNew) return annotations[key];
  return Object.hasOwn(annotations, legacy) ? annotations[legacy] : undefined;
}

/** The families a Service has, from `ipFamilies`, else its clusterIPs, else IPv4. */
export function serviceFamilies(
  view: Pick<ServiceView, "ipFamilies" | "clusterIPs" | "ipFamilyPolicy">,
): { families: Family[]; policy: FamilyPolicy } {
  let families: Family[] = view.ipFamilies.map((f) => (f === "IPv6" ? 6 : 4));
  if (families.length === 0) {
    families = view.clusterIPs.filter((ip) => canonicalIP(ip) !== null).map(familyOfText);
  }
  families = families.filter((f, i) => families.indexOf(f) === i);
  const policy: FamilyPolicy = view.ipFamilyPolicy ??
    (families.length > 1 ? "PreferDualStack" : "SingleStack");
  return { families: sharedFamilies(families), policy };
}

// The four lists a Service can have, shared (read-only) instead of one array per Service:
// the allocator keeps every request, so 100,000 Services kept 100,000 copies of `[4]`.
const FAMILY_LISTS: readonly Family[][] = [[4], [6], [4, 6], [6, 4]].map((l) =>
  Object.freeze(l) as Family[]
);

function sharedFamilies(families: Family[]): Family[] {
  if (families.length === 0) return FAMILY_LISTS[0];
  return FAMILY_LISTS.find((l) => l.length === families.length && l[0] === families[0]) ??
    families;
}

// Port lists without names, one frozen list per distinct list: the allocator keeps every
// request, and Services with named ports (most real ones) each kept a copy of their own.
const PORT_LISTS = new Map<string, ServicePort[]>();

/** The view's own list when it has nothing more than protocol and port, else a shared one. */
function requestPorts(ports: ServiceView["ports"]): ServicePort[] {
  // Views are immutable: their list is shared as it is, not copied per Service.
  if (!ports.some((p) => p.name !== undefined)) return ports as ServicePort[];
  let key = "";
  for (const p of ports) key += `${p.protocol}/${p.port},`;
  let list = PORT_LISTS.get(key);
  if (list === undefined) {
    list = Object.freeze(
      ports.map((p) => Object.freeze({ protocol: p.protocol, port: p.port })),
    ) as ServicePort[];
    // Distinct port lists are few; a bound keeps an odd cluster from growing it for ever.
    if (PORT_LISTS.size >= 1000) PORT_LISTS.clear();
    PORT_LISTS.set(key, list);
  }
  return list;
}

/** No legacy annotation found (shared, read-only). */
const NO_DEPRECATED = Object.freeze([]) as unknown as DeprecatedAnnotation[];

/**
 * Translates a Service into an allocator request, or says why it is not ours or cannot be
 * served. Pure: same view and options, same answer.
 */
export function translateService(
  view: ServiceView,
  options: TranslateOptions = {},
): ServiceRequestResult {
  const handled = isHandled(view, options);
  if (!handled.ok) return { kind: "ignored", reason: handled.reason };
  const found: DeprecatedAnnotation[] = [];
  const pool = annotation(view.annotations, "address-pool", found);
  const ipsText = annotation(view.annotations, "loadBalancerIPs", found);
  const sharing = annotation(view.annotations, "allow-shared-ip", found);
  // Almost no Service uses a legacy annotation: one shared empty list for the 100,000s.
  const deprecated = found.length === 0 ? NO_DEPRECATED : found;
  const requested = requestedAddresses(view, ipsText);
  if (!Array.isArray(requested)) return { kind: "invalid", reason: requested.error, deprecated };
  const { families, policy } = serviceFamilies(view);
  const mismatch = familyMismatch(requested, { families, policy });
  if (mismatch) return { kind: "invalid", ...mismatch, deprecated };
  const request: ServiceRequest = {
    key: keyOf(view, options.key),
    namespace: view.namespace,
    families,
    policy,
    ports: requestPorts(view.ports),
    backendKey: backendKey(view),
    // Shared, not copied: both are immutable views, and 100,000 copies add up.
    serviceLabels: view.labels,
    namespaceLabels: options.namespaceLabels ?? NO_LABELS,
  };
  if (requested.length > 0) request.requestedIPs = requested;
  if (pool !== undefined && pool.trim() !== "") request.pool = pool.trim();
  if (sharing !== undefined && sharing !== "") request.sharingKey = sharing;
  return { kind: "request", request, deprecated };
}

/** The caller's `namespace/name` when it is the Service's (kept: no new copy per Service). */
function keyOf(view: ServiceView, given: string | undefined): string {
  const { namespace, name } = view;
  const same = given !== undefined && given.length === namespace.length + 1 + name.length &&
    given.startsWith(namespace) && given[namespace.length] === "/" && given.endsWith(name);
  return same ? given : `${namespace}/${name}`;
}

/** The addresses the Service asks for (annotation, else `spec.loadBalancerIP`), or why not. */
function requestedAddresses(
  view: ServiceView,
  ipsText: string | undefined,
): string[] | { error: string } {
  const requested: string[] = [];
  const ipsKey = Object.hasOwn(view.annotations, ANNOTATION_PREFIX + "loadBalancerIPs")
    ? ANNOTATION_PREFIX + "loadBalancerIPs"
    : LEGACY_ANNOTATION_PREFIX + "loadBalancerIPs";
  if (ipsText !== undefined && ipsText.trim() !== "") {
    if (view.loadBalancerIP) {
      return {
        error: `spec.loadBalancerIP and annotation ${ipsKey} are both set; use only ${ipsKey}`,
      };
    }
    for (const part of ipsText.split(",").map((s) => s.trim()).filter((s) => s !== "")) {
      const ip = canonicalIP(part);
      if (ip === null) return { error: `annotation ${ipsKey}: "${part}" is not an IP address` };
      if (requested.some((r) => familyOfText(r) === familyOfText(ip))) {
        return { error: `annotation ${ipsKey}: at most one address per IP family ("${ipsText}")` };
      }
      requested.push(ip);
    }
  } else if (view.loadBalancerIP) {
    const ip = canonicalIP(view.loadBalancerIP);
    if (ip === null) {
      return { error: `spec.loadBalancerIP: "${view.loadBalancerIP}" is not an IP address` };
    }
    requested.push(ip);
  }
  return requested;
}

/** Why the requested addresses cannot serve the Service's families, if they cannot. */
function familyMismatch(
  requested: string[],
  service: { families: Family[]; policy: FamilyPolicy },
): { reason: string; allocation?: true } | undefined {
  const { families, policy } = service;
  if (families.length === 2 && requested.length === 1 && policy !== "SingleStack") {
    // MetalLB compares the requested addresses' family with the Service's: one address
    // cannot serve a dual-stack Service, whichever dual-stack policy it has.
    return {
      reason: `requested loadBalancer IP(s) ${
        JSON.stringify(requested)
      } does not match the ipFamily of the service`,
      allocation: true,
    };
  }
  for (const ip of requested) {
    if (!families.includes(familyOfText(ip))) {
      return {
        reason: `requested IP ${ip} is IPv${familyOfText(ip)} but the service's families are ${
          families.map((f) => `IPv${f}`).join(",")
        }`,
      };
    }
  }
  return undefined;
}

/** The Warning message for old-prefix annotations, or undefined when there are none. */
export function deprecationMessage(
  deprecated: readonly DeprecatedAnnotation[],
): string | undefined {
  if (deprecated.length === 0) return undefined;
  return deprecated.map((d) =>
    d.ignored
      ? `annotation ${d.key} is deprecated and ignored because ${d.use} is also set`
      : `annotation ${d.key} is deprecated, use ${d.use}`
  ).join("; ");
}
