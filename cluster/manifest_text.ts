/**
 * Manifest text → objects: multi-document YAML (or JSON) under the input limits, `kind: List`
 * expanded, namespaces defaulted. Kept apart from cluster/file_source.ts so the parse worker
 * (cluster/parse_worker.ts) loads only this and the YAML loader, not the schemas.
 */
import {
  checkSize,
  createExpansionBudget,
  loadYamlDocuments,
  type ParseLimits,
  resolveLimits,
} from "./safe_yaml.ts";
import type { KubeObject } from "../api/kube_object.ts";

/** Kinds whose objects live in a namespace (`default` when the manifest omits it). */
const CORE_NAMESPACED = new Set(["Service", "EndpointSlice", "Secret"]);
/** Kinds without a namespace. */
const CLUSTER_SCOPED = new Set(["Node", "Namespace"]);

/** Namespaces given to objects whose manifest has none. */
export interface NamespaceDefaults {
  /** For Service, EndpointSlice, Secret. Default `default`. */
  namespace?: string;
  /** For metallb.io kinds. Default `metallb-system`. */
  installNamespace?: string;
  /** Input limits (cluster/safe_yaml.ts); DEFAULT_LIMITS fill what is left out. */
  limits?: Partial<ParseLimits>;
  /**
   * Keep of each `v1` Service only the fields ferrolb reads or validates (api/core_schemas.ts
   * `serviceSchema`), without kubectl's last-applied copy, as the cluster source does
   * (cluster/kube_kinds.ts). For sources, not for `validate`, which shows objects as written.
   */
  slimServices?: boolean;
}

/** Result of {@linkcode parseManifests}. */
export type ManifestResult = { ok: true; objects: KubeObject[] } | { ok: false; reason: string };

/** A `---` line between documents (multiline, global: used with `lastIndex`). */
const DOC_SEPARATOR = /^---[ \t]*(#.*)?$/gm;
/** A line that is neither blank nor a comment. */
const HAS_CONTENT = /^[ \t]*[^\s#]/m;

/**
 * The documents of a multi-document text with the 0-based line each starts on, as slices
 * of the text (no per-line copies: a 26 MB file has a million lines).
 */
function* splitDocuments(text: string): Generator<{ start: number; text: string }> {
  const sep = new RegExp(DOC_SEPARATOR.source, "gm");
  let from = 0;
  let line = 0;
  for (let m = sep.exec(text); m !== null; m = sep.exec(text)) {
    const body = text.slice(from, m.index);
    yield { start: line, text: body };
    line += countLines(body) + 1;
    from = m.index + m[0].length;
    from += text.startsWith("\r\n", from) ? 2 : 1;
  }
  if (from <= text.length) yield { start: line, text: text.slice(from) };
}

/**
 * Whether every document of `text` (as {@linkcode parseManifestObjects} splits it) is at most
 * `maxChars` long: the parse of one document is one step that cannot be cut, so this bounds
 * how long one step takes. A pass of the separator pattern, no slices.
 */
export function documentsWithin(text: string, maxChars: number): boolean {
  const sep = new RegExp(DOC_SEPARATOR.source, "gm");
  let from = 0;
  for (let m = sep.exec(text); m !== null; m = sep.exec(text)) {
    if (m.index - from > maxChars) return false;
    from = m.index + m[0].length + 1;
  }
  return text.length - from <= maxChars;
}

function countLines(s: string): number {
  let n = 0;
  for (let i = s.indexOf("\n"); i !== -1; i = s.indexOf("\n", i + 1)) n++;
  return n;
}

/**
 * The objects of a manifest text one by one, as {@linkcode parseManifests} reads them; the
 * generator's return value is the reason the text is refused (objects already yielded are
 * then void), or undefined when all of it parsed. A caller may thus hand objects on while
 * the rest is still being parsed instead of holding all of them twice.
 */
export function* parseManifestObjects(
  text: string,
  options: NamespaceDefaults = {},
): Generator<KubeObject, string | undefined> {
  const limits = resolveLimits(options.limits);
  const tooBig = checkSize(text.length, limits);
  if (tooBig) return tooBig;
  const budget = createExpansionBudget(limits);
  // Each document is loaded alone (blank ones dropped first) so errors carry its line.
  for (const chunk of splitDocuments(text)) {
    if (!HAS_CONTENT.test(chunk.text)) continue;
    let docs: unknown[];
    try {
      docs = loadYamlDocuments(chunk.text, limits);
    } catch (e) {
      const mark = (e as { mark?: { line?: number; column?: number } }).mark;
      const reason = (e as { reason?: string }).reason ?? String(e);
      if (mark?.line !== undefined) {
        return `line ${chunk.start + mark.line + 1}, column ${(mark.column ?? 0) + 1}: ${reason}`;
      }
      return `document at line ${chunk.start + 1}: ${e instanceof Error ? e.message : e}`;
    }
    for (const doc of docs) {
      const plain = budget.expand(doc);
      if (!plain.ok) return `document at line ${chunk.start + 1}: ${plain.reason}`;
      const r = toObjects(plain.value, chunk.start + 1, options);
      if (typeof r === "string") return r;
      const tooMany = budget.addObjects(r.length);
      if (tooMany) return tooMany;
      for (const o of r) yield options.slimServices ? slimService(o) : o;
    }
  }
  return undefined;
}

/**
 * Parses multi-document YAML (or JSON) into objects: empty documents skipped, `kind: List`
 * expanded, namespaces defaulted. Errors carry the 1-based line. Size, depth, aliases and
 * their expansion are bounded (cluster/safe_yaml.ts); a hostile file gets an error, not a hang.
 */
export function parseManifests(text: string, options: NamespaceDefaults = {}): ManifestResult {
  const objects: KubeObject[] = [];
  const it = parseManifestObjects(text, options);
  for (let r = it.next();; r = it.next()) {
    if (r.done) {
      return r.value === undefined ? { ok: true, objects } : { ok: false, reason: r.value };
    }
    objects.push(r.value);
  }
}

function toObjects(doc: unknown, line: number, options: NamespaceDefaults): KubeObject[] | string {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) {
    return `document at line ${line}: not a Kubernetes object (expected a mapping)`;
  }
  const o = doc as Record<string, unknown>;
  if (typeof o.kind !== "string" || !o.kind) {
    return `document at line ${line}: missing kind`;
  }
  if (typeof o.apiVersion !== "string" || !o.apiVersion) {
    return `document at line ${line}: ${o.kind} is missing apiVersion`;
  }
  if (o.kind === "List" || (o.kind.endsWith("List") && Array.isArray(o.items))) {
    const out: KubeObject[] = [];
    for (const item of (o.items as unknown[] | undefined) ?? []) {
      const r = toObjects(item, line, options);
      if (typeof r === "string") return r;
      out.push(...r);
    }
    return out;
  }
  const meta = o.metadata as Record<string, unknown> | undefined;
  if (!meta || typeof meta !== "object" || typeof meta.name !== "string" || !meta.name) {
    return `document at line ${line}: ${o.kind} is missing metadata.name`;
  }
  const obj = { ...o, metadata: { ...meta } } as unknown as KubeObject;
  if (CLUSTER_SCOPED.has(obj.kind)) {
    delete obj.metadata.namespace;
  } else if (!obj.metadata.namespace) {
    if (obj.apiVersion.startsWith("metallb.io/")) {
      obj.metadata.namespace = options.installNamespace ?? "metallb-system";
    } else if (CORE_NAMESPACED.has(obj.kind)) {
      obj.metadata.namespace = options.namespace ?? "default";
    }
  }
  return [obj];
}

/** kubectl's copy of the whole object as last applied: as large as the object, never read. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/** What `serviceSchema` (api/core_schemas.ts) reads or checks, level by level. */
const META_FIELDS = [
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "labels",
  "annotations",
  "creationTimestamp",
  "deletionTimestamp",
] as const;
const SPEC_FIELDS = [
  "type",
  "loadBalancerClass",
  "loadBalancerIP",
  "ipFamilies",
  "ipFamilyPolicy",
  "clusterIP",
  "clusterIPs",
  "externalTrafficPolicy",
  "selector",
  "ports",
] as const;
const PORT_FIELDS = ["name", "protocol", "port", "targetPort", "nodePort"] as const;
const INGRESS_FIELDS = ["ip", "hostname", "ipMode"] as const;

type Plain = Record<string, unknown>;

function isPlain(v: unknown): v is Plain {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** `from`'s own `fields` that are present, in that order (absent ones are not created). */
function pick(from: Plain, fields: readonly string[]): Plain {
  const out: Plain = {};
  for (const f of fields) if (from[f] !== undefined) out[f] = from[f];
  return out;
}

/**
 * A `v1` Service with only what the schema knows: zod objects ignore unknown keys, so the
 * parsed view and any error are the same as for the full object. Anything of an unexpected
 * type is kept as it is, for the schema to report.
 */
export function slimService(obj: KubeObject): KubeObject {
  if (obj.kind !== "Service" || obj.apiVersion !== "v1") return obj;
  const meta = pick(obj.metadata as unknown as Plain, META_FIELDS);
  const ann = meta.annotations;
  if (isPlain(ann) && LAST_APPLIED in ann) {
    const { [LAST_APPLIED]: _copy, ...rest } = ann;
    meta.annotations = rest;
  }
  const out: KubeObject = {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    metadata: meta as unknown as KubeObject["metadata"],
  };
  if (obj.spec !== undefined) {
    if (isPlain(obj.spec)) {
      const spec = pick(obj.spec, SPEC_FIELDS);
      if (Array.isArray(spec.ports)) {
        spec.ports = spec.ports.map((p) => isPlain(p) ? pick(p, PORT_FIELDS) : p);
      }
      out.spec = spec;
    } else out.spec = obj.spec;
  }
  if (obj.status !== undefined) out.status = slimStatus(obj.status);
  return out;
}

function slimStatus(status: unknown): unknown {
  if (!isPlain(status)) return status;
  if (status.loadBalancer === undefined) return {};
  const lb = status.loadBalancer;
  if (!isPlain(lb)) return { loadBalancer: lb };
  if (lb.ingress === undefined) return { loadBalancer: {} };
  const ingress = lb.ingress;
  return {
    loadBalancer: {
      ingress: Array.isArray(ingress)
        ? ingress.map((i) => isPlain(i) ? pick(i, INGRESS_FIELDS) : i)
        : ingress,
    },
  };
}
