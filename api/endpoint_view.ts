/** Parsed views of EndpointSlices: the fast path first, then the schema. */
import type { KubeObject } from "./kube_object.ts";
import { issuesToErrors } from "./config.ts";
import { endpointSliceSchema } from "./schemas.ts";
import {
  isPlain,
  isStringArray,
  NONE_PORTS,
  optBoolean,
  optNumber,
  optString,
  type ParseResult,
  type Plain,
  quickMeta,
} from "./view_parts.ts";

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

/**
 * Key of a method an EndpointSlice object may carry to give its view itself: file mode's
 * made-up slices (cluster/cluster_defaults.ts) are built from their Service when read, and
 * so can their views be, instead of each holding a copy of its fields (100,000s of them).
 * The view it gives must equal the one its plain object (`toJSON`) parses to; undefined
 * leaves the object to the parse below.
 */
export const OWN_SLICE_VIEW: unique symbol = Symbol("ferrolb.ownSliceView");

/** Parses an EndpointSlice; it must carry the `kubernetes.io/service-name` label. */
export function parseEndpointSlice(obj: KubeObject): ParseResult<EndpointSliceView> {
  const own = (obj as { [OWN_SLICE_VIEW]?: unknown })[OWN_SLICE_VIEW];
  const view = typeof own === "function"
    ? own.call(obj) as EndpointSliceView | undefined
    : undefined;
  if (view) return { ok: true, value: view };
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
