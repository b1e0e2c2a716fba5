/**
 * The per-object step of config building: sorts raw objects into metallb.io objects that
 * passed their schema, Secrets, Nodes and problems (unknown kinds with a did-you-mean,
 * wrong versions, schema errors, duplicate names, unknown fields).
 */
import type { z } from "zod";
import type { KubeObject } from "./kube_object.ts";
import {
  bfdProfileSchema,
  bfdProfileSpec,
  bgpAdvertisementSchema,
  bgpAdvertisementSpec,
  bgpPeerSchema,
  bgpPeerSpec,
  bgpPeerV1beta1Schema,
  bgpPeerV1beta1Spec,
  communitySchema,
  communitySpec,
  ipAddressPoolSchema,
  ipAddressPoolSpec,
  l2AdvertisementSchema,
  l2AdvertisementSpec,
  METALLB_GROUP,
} from "./schemas.ts";
import {
  cmp,
  type ConfigError,
  type ConfigWarning,
  issuesToErrors,
  type Parsed,
} from "./config_types.ts";

const SCHEMAS: Record<string, Record<string, z.ZodType>> = {
  IPAddressPool: { v1beta1: ipAddressPoolSchema },
  BGPAdvertisement: { v1beta1: bgpAdvertisementSchema },
  BGPPeer: { v1beta1: bgpPeerV1beta1Schema, v1beta2: bgpPeerSchema },
  Community: { v1beta1: communitySchema },
  BFDProfile: { v1beta1: bfdProfileSchema },
  L2Advertisement: { v1beta1: l2AdvertisementSchema },
};

const SPEC_FIELDS: Record<string, Record<string, readonly string[]>> = {
  IPAddressPool: { v1beta1: Object.keys(ipAddressPoolSpec.shape) },
  BGPAdvertisement: { v1beta1: Object.keys(bgpAdvertisementSpec.shape) },
  BGPPeer: {
    v1beta1: Object.keys(bgpPeerV1beta1Spec.shape),
    v1beta2: Object.keys(bgpPeerSpec.shape),
  },
  Community: { v1beta1: Object.keys(communitySpec.shape) },
  BFDProfile: { v1beta1: Object.keys(bfdProfileSpec.shape) },
  L2Advertisement: { v1beta1: Object.keys(l2AdvertisementSpec.shape) },
};

/** Kinds that are status-only and carry no configuration. */
const STATUS_KINDS = new Set(["ServiceBGPStatus", "ConfigurationState"]);

/**
 * Real MetalLB kinds ferrolb has no use for (L2 status, the AddressPool removed in MetalLB
 * 0.14, OSPF): a dump of a MetalLB cluster may hold them, so they are ignored with a warning
 * rather than taken for typos.
 */
const FOREIGN_KINDS = new Set([
  "ServiceL2Status",
  "AddressPool",
  "OSPFAdvertisement",
  "OSPFInstance",
]);

/** Every kind of the metallb.io group ferrolb knows. */
export const METALLB_KINDS: readonly string[] = [...Object.keys(SCHEMAS), ...STATUS_KINDS];

/** Levenshtein distance, case-insensitive (typos and wrong capitals alike). */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length];
}

/** The closest of `candidates` to `word`, if it is close enough to be a typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return bestD > 0 && bestD <= Math.max(2, Math.floor(word.length / 4)) ? best : undefined;
}

/** Splits `group/version` (core objects have no group). */
export function splitApiVersion(apiVersion: unknown): [string, string] {
  if (typeof apiVersion !== "string") return ["", ""];
  const i = apiVersion.lastIndexOf("/");
  return i < 0 ? ["", apiVersion] : [apiVersion.slice(0, i), apiVersion.slice(i + 1)];
}

/**
 * The error for an object whose kind or group looks like a mistyped metallb.io one
 * (`IPAdressPool`, `metalb.io/v1beta1`), else undefined. File sources call this for objects
 * they would otherwise skip, so a typo never goes unnoticed.
 */
export function mistypedKindError(obj: KubeObject, namespace: string): ConfigError | undefined {
  const [group] = splitApiVersion(obj.apiVersion);
  const at = {
    kind: String(obj.kind),
    namespace: obj.metadata?.namespace ?? namespace,
    name: obj.metadata?.name ?? "",
  };
  if (group === METALLB_GROUP) {
    if (SCHEMAS[obj.kind] || STATUS_KINDS.has(obj.kind) || FOREIGN_KINDS.has(obj.kind)) {
      return undefined;
    }
    const hint = didYouMean(obj.kind, METALLB_KINDS);
    return {
      ...at,
      field: "kind",
      reason: `unknown kind "${obj.kind}" in ${METALLB_GROUP}${
        hint ? ` (did you mean ${hint}?)` : ` (known: ${METALLB_KINDS.join(", ")})`
      }`,
    };
  }
  if (group !== "" && group !== METALLB_GROUP && distance(group, METALLB_GROUP) <= 2) {
    return {
      ...at,
      field: "apiVersion",
      reason: `unknown group "${group}" (did you mean ${METALLB_GROUP}?)`,
    };
  }
  return undefined;
}

/** What the per-object step found. */
export interface ObjectSet {
  /** Objects that passed their schema, by kind, sorted by name. */
  valid: Map<string, Parsed[]>;
  /** Names of objects present but refused, so references to them are not "not found". */
  invalidNames: Map<string, Set<string>>;
  /** Pools that failed their schema but whose good addresses still take part in overlaps. */
  partialPools: Parsed[];
  /** Secrets of the install namespace, by name. */
  secrets: Map<string, KubeObject>;
  /** Nodes given with the input (none from a plain manifest directory). */
  nodes: KubeObject[];
  errors: ConfigError[];
  warnings: ConfigWarning[];
}

/** Sorts and validates every object (schema rules only). */
export function collectObjects(objects: readonly KubeObject[], ns: string): ObjectSet {
  const set: ObjectSet = {
    valid: new Map(),
    invalidNames: new Map(),
    partialPools: [],
    secrets: new Map(),
    nodes: [],
    errors: [],
    warnings: [],
  };
  const sorted = [...objects].filter((o) => o && typeof o === "object").sort((a, b) =>
    cmp(String(a.kind), String(b.kind)) || cmp(a.metadata?.name ?? "", b.metadata?.name ?? "")
  );
  for (const raw of sorted) {
    const obj: KubeObject = raw.metadata ? raw : { ...raw, metadata: { name: "" } };
    const [group, version] = splitApiVersion(obj.apiVersion);
    if (group === "" && obj.kind === "Secret") {
      if ((obj.metadata.namespace ?? "default") === ns) set.secrets.set(obj.metadata.name, obj);
    } else if (group === "" && obj.kind === "Node") {
      set.nodes.push(obj);
    } else {
      const typo = mistypedKindError(obj, ns);
      if (typo) set.errors.push(typo);
      else if (group === METALLB_GROUP && FOREIGN_KINDS.has(obj.kind)) {
        set.warnings.push({
          kind: obj.kind,
          namespace: obj.metadata.namespace ?? ns,
          name: obj.metadata.name,
          reason: `${obj.kind} is a MetalLB kind ferrolb does not use; ignored`,
        });
      } else if (group === METALLB_GROUP && !STATUS_KINDS.has(obj.kind)) {
        collectOne(set, obj, version, ns);
      }
    }
  }
  return set;
}

function markInvalid(set: ObjectSet, obj: KubeObject): void {
  let names = set.invalidNames.get(obj.kind);
  if (!names) set.invalidNames.set(obj.kind, names = new Set());
  names.add(obj.metadata.name);
}

function collectOne(set: ObjectSet, obj: KubeObject, version: string, ns: string): void {
  const objNs = obj.metadata.namespace ?? ns;
  const at = { kind: obj.kind, namespace: objNs, name: obj.metadata.name };
  if (objNs !== ns) {
    set.warnings.push({ ...at, reason: `ignored: not in the install namespace "${ns}"` });
    return;
  }
  const byVersion = SCHEMAS[obj.kind];
  const schema = byVersion[version];
  if (!schema) {
    const served = Object.keys(byVersion).map((v) => `${METALLB_GROUP}/${v}`).join(", ");
    set.errors.push({
      ...at,
      field: "apiVersion",
      reason: `unsupported version "${obj.apiVersion}" (served: ${served})`,
    });
    markInvalid(set, obj);
    return;
  }
  const r = schema.safeParse({ ...obj, metadata: { ...obj.metadata, namespace: objNs } });
  warnUnknownFields(set, obj, version, objNs);
  if (!r.success) {
    set.errors.push(...issuesToErrors(obj, r.error.issues, { namespace: ns }));
    markInvalid(set, obj);
    keepPartialPool(set, obj, objNs);
    return;
  }
  const data = r.data as { metadata: { name: string } };
  const list = set.valid.get(obj.kind) ?? [];
  if (list.some((p) => p.data.metadata.name === data.metadata.name)) {
    set.errors.push({
      ...at,
      field: "metadata.name",
      reason: `duplicate ${obj.kind} "${data.metadata.name}" (defined more than once)`,
    });
    return;
  }
  list.push({ obj, data });
  set.valid.set(obj.kind, list);
}

function keepPartialPool(set: ObjectSet, obj: KubeObject, objNs: string): void {
  const addresses = (obj.spec as { addresses?: unknown } | undefined)?.addresses;
  if (obj.kind !== "IPAddressPool" || !Array.isArray(addresses)) return;
  // Its good entries still take part in the overlap check, so one run shows every
  // problem rather than revealing overlaps only after the first fix.
  set.partialPools.push({
    obj,
    data: {
      metadata: { name: obj.metadata.name, namespace: objNs },
      spec: { addresses: addresses.map((a) => (typeof a === "string" ? a : "")) },
    },
  });
}

function warnUnknownFields(set: ObjectSet, obj: KubeObject, version: string, ns: string): void {
  const known = SPEC_FIELDS[obj.kind]?.[version];
  if (!known || !obj.spec || typeof obj.spec !== "object") return;
  // zod drops unknown keys; say so, since a typo such as `autoassign` would otherwise
  // silently fall back to the default.
  for (const key of Object.keys(obj.spec)) {
    if (known.includes(key)) continue;
    const onlyV2 = obj.kind === "BGPPeer" && version === "v1beta1" &&
      (SPEC_FIELDS.BGPPeer.v1beta2 as readonly string[]).includes(key);
    const hint = onlyV2 ? ` (only in ${METALLB_GROUP}/v1beta2)` : suggestion(key, known);
    set.warnings.push({
      kind: obj.kind,
      namespace: ns,
      name: obj.metadata.name,
      field: `spec.${key}`,
      reason: `unknown field ignored${hint}`,
    });
  }
}

function suggestion(word: string, candidates: readonly string[]): string {
  const hint = didYouMean(word, candidates);
  return hint ? ` (did you mean ${hint}?)` : "";
}
