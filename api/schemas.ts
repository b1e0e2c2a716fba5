/**
 * zod schemas for every `metallb.io` kind and for the parts of core Kubernetes objects
 * ferrolb reads. The `*Spec` schemas are exported separately so CRD OpenAPI schemas can be
 * generated from them with `z.toJSONSchema` (use `io: "input"` so defaults are not
 * marked required). Per-object rules that JSON Schema cannot express live in `.superRefine`;
 * rules that need other objects live in `config.ts`.
 */
import { z } from "zod";
import { objectMeta } from "./core_schemas.ts";
import { bgpPeerSpec, bgpPeerV1beta1Spec } from "./peer_schema.ts";
import {
  ALWAYS,
  bounded,
  checkUnique,
  type Ctx,
  isRecord,
  labelSelectors,
  LIMITS,
  stringsOf,
  UINT32_MAX,
} from "./schema_parts.ts";
import { parseAddressEntry } from "./ip.ts";
import { isCommunityLiteral, parseCommunity } from "./community.ts";

/** The `metallb.io` API group. */
export const METALLB_GROUP = "metallb.io";

// ---------------------------------------------------------------------------------------
// IPAddressPool

/** `IPAddressPool.spec.serviceAllocation`. */
export const serviceAllocation = z.object({
  priority: z.number().int().min(0).optional(),
  namespaces: z.array(z.string()).optional(),
  namespaceSelectors: labelSelectors.optional(),
  serviceSelectors: labelSelectors.optional(),
});

/** `IPAddressPool.spec`. */
export const ipAddressPoolSpec = z.object({
  addresses: z.array(bounded(LIMITS.addressText))
    .min(1, "must not be empty: a pool needs at least one address")
    .max(LIMITS.addresses, `must have at most ${LIMITS.addresses} entries`),
  autoAssign: z.boolean().default(true),
  avoidBuggyIPs: z.boolean().default(false),
  serviceAllocation: serviceAllocation.optional(),
}).superRefine((spec, ctx) => {
  if (!isRecord(spec)) return;
  const addresses = Array.isArray(spec.addresses) ? spec.addresses : [];
  addresses.forEach((a, i) => {
    if (typeof a !== "string") return;
    const r = parseAddressEntry(a);
    if (!r.ok) ctx.addIssue({ code: "custom", path: ["addresses", i], message: r.error });
  });
  const sa = isRecord(spec.serviceAllocation) ? spec.serviceAllocation : {};
  checkUnique(ctx, sa.namespaces, ["serviceAllocation", "namespaces"]);
  checkUnique(ctx, sa.namespaceSelectors, ["serviceAllocation", "namespaceSelectors"]);
  checkUnique(ctx, sa.serviceSelectors, ["serviceAllocation", "serviceSelectors"]);
}, ALWAYS);

/** `IPAddressPool.status` (counts written by the controller). */
export const ipAddressPoolStatus = z.object({
  assignedIPv4: z.number().int().min(0).optional(),
  assignedIPv6: z.number().int().min(0).optional(),
  availableIPv4: z.number().int().min(0).optional(),
  availableIPv6: z.number().int().min(0).optional(),
});

// ---------------------------------------------------------------------------------------
// BGPAdvertisement

const AD_LIST_FIELDS = [
  "communities",
  "ipAddressPools",
  "ipAddressPoolSelectors",
  "nodeSelectors",
  "peers",
  "serviceSelectors",
] as const;

function refineAdvertisement(spec: unknown, ctx: Ctx): void {
  if (!isRecord(spec)) return;
  stringsOf(spec.communities)?.forEach((c, i) => {
    if (!isCommunityLiteral(c)) return;
    const r = parseCommunity(c);
    if (!r.ok) ctx.addIssue({ code: "custom", path: ["communities", i], message: r.error });
  });
  for (const f of AD_LIST_FIELDS) checkUnique(ctx, spec[f], [f]);
  // MetalLB: a per-Service route cannot also be an aggregate; an explicit default is fine.
  if (Array.isArray(spec.serviceSelectors) && spec.serviceSelectors.length > 0) {
    for (const [f, dflt] of [["aggregationLength", 32], ["aggregationLengthV6", 128]] as const) {
      if (spec[f] === undefined || spec[f] === dflt) continue;
      ctx.addIssue({
        code: "custom",
        path: [f],
        message: `must not be set (other than ${dflt}) together with serviceSelectors`,
      });
    }
  }
}

/** `BGPAdvertisement.spec`. Optional: without it every pool goes to every peer. */
export const bgpAdvertisementSpec = z.object({
  aggregationLength: z.number().int().min(0).max(32, "must be at most 32").default(32),
  aggregationLengthV6: z.number().int().min(0).max(128, "must be at most 128").default(128),
  localPref: z.number().int().min(0).max(UINT32_MAX).optional(),
  communities: z.array(bounded(LIMITS.communityText))
    .max(LIMITS.communities, `must have at most ${LIMITS.communities} entries`).optional(),
  ipAddressPools: z.array(z.string()).optional(),
  ipAddressPoolSelectors: labelSelectors.optional(),
  nodeSelectors: labelSelectors.optional(),
  peers: z.array(z.string()).optional(),
  serviceSelectors: labelSelectors.optional(),
}).superRefine(refineAdvertisement, ALWAYS);

// ---------------------------------------------------------------------------------------
// Community, BFDProfile, L2Advertisement

function refineCommunity(spec: unknown, ctx: Ctx): void {
  if (!isRecord(spec) || !Array.isArray(spec.communities)) return;
  const seen = new Map<string, number>();
  spec.communities.forEach((c: unknown, i) => {
    if (!isRecord(c)) return;
    if (typeof c.value === "string" && c.value) {
      const r = parseCommunity(c.value);
      if (!r.ok) {
        ctx.addIssue({ code: "custom", path: ["communities", i, "value"], message: r.error });
      }
    }
    if (typeof c.name !== "string") return;
    const first = seen.get(c.name);
    if (first !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["communities", i, "name"],
        message: `duplicate alias "${c.name}" (already at index ${first})`,
      });
    } else seen.set(c.name, i);
  });
}

/** `Community.spec`: named aliases for community values. */
export const communitySpec = z.object({
  communities: z.array(z.object({
    name: bounded(LIMITS.communityText).min(1, "must not be empty"),
    value: bounded(LIMITS.communityText).min(1, "must not be empty"),
  })).max(LIMITS.communities, `must have at most ${LIMITS.communities} entries`).optional(),
}).superRefine(refineCommunity, ALWAYS);

function interval(min: number, max: number) {
  const msg = `must be between ${min} and ${max}`;
  return z.number().int().min(min, msg).max(max, msg).optional();
}

/** `BFDProfile.spec`. Intervals are milliseconds. */
export const bfdProfileSpec = z.object({
  receiveInterval: interval(10, 60000),
  transmitInterval: interval(10, 60000),
  echoInterval: interval(10, 60000),
  detectMultiplier: interval(2, 255),
  minimumTtl: interval(1, 254),
  echoMode: z.boolean().optional(),
  passiveMode: z.boolean().optional(),
});

const L2_LIST_FIELDS = [
  "ipAddressPools",
  "ipAddressPoolSelectors",
  "nodeSelectors",
  "serviceSelectors",
] as const;

function refineL2Advertisement(spec: unknown, ctx: Ctx): void {
  if (!isRecord(spec)) return;
  for (const f of L2_LIST_FIELDS) checkUnique(ctx, spec[f], [f]);
}

/**
 * `L2Advertisement.spec` (accepted; L2 mode is not supported). Its per-object rules are
 * still MetalLB's, so a manifest refused there is refused here too.
 */
export const l2AdvertisementSpec = z.object({
  ipAddressPools: z.array(z.string()).optional(),
  ipAddressPoolSelectors: labelSelectors.optional(),
  nodeSelectors: labelSelectors.optional(),
  serviceSelectors: labelSelectors.optional(),
  interfaces: z.array(z.string()).optional(),
}).superRefine(refineL2Advertisement, ALWAYS);

// ---------------------------------------------------------------------------------------
// Status-only kinds

/** `ServiceBGPStatus.status` (written by the speaker). */
export const serviceBGPStatusStatus = z.object({
  node: z.string().optional(),
  serviceName: z.string().optional(),
  serviceNamespace: z.string().optional(),
  peers: z.array(z.string()).optional(),
});

/** `ServiceBGPStatus.spec` (empty). */
export const serviceBGPStatusSpec = z.object({});

/** A `metav1.Condition`. */
export const condition = z.object({
  type: z.string(),
  status: z.enum(["True", "False", "Unknown"]),
  reason: z.string().optional(),
  message: z.string().optional(),
  lastTransitionTime: z.string().optional(),
  observedGeneration: z.number().int().optional(),
});

/** `ConfigurationState.status`. */
export const configurationStateStatus = z.object({
  result: z.enum(["Valid", "Invalid", "Unknown"]).optional(),
  errorSummary: z.string().optional(),
  conditions: z.array(condition).optional(),
});

/** `ConfigurationState.spec` (empty). */
export const configurationStateSpec = z.object({});

// ---------------------------------------------------------------------------------------
// Whole metallb.io objects

function crd<K extends string, S extends z.ZodType, T extends z.ZodType>(
  version: string,
  kind: K,
  spec: S,
  status: T,
) {
  return z.object({
    apiVersion: z.literal(`${METALLB_GROUP}/${version}`),
    kind: z.literal(kind),
    metadata: objectMeta,
    spec,
    status: status.optional(),
  });
}

const anyStatus = z.record(z.string(), z.unknown());

/** A whole `IPAddressPool` object. */
export const ipAddressPoolSchema = crd(
  "v1beta1",
  "IPAddressPool",
  ipAddressPoolSpec,
  ipAddressPoolStatus,
);
// MetalLB's docs print a BGPAdvertisement, a BFDProfile and an L2Advertisement without
// `spec`; a missing spec means all defaults (`prefault` runs the defaults of every field).
/** A whole `BGPAdvertisement` object. */
export const bgpAdvertisementSchema = crd(
  "v1beta1",
  "BGPAdvertisement",
  bgpAdvertisementSpec.prefault({}),
  anyStatus,
);
/** A whole `BGPPeer` v1beta2 object. */
export const bgpPeerSchema = crd("v1beta2", "BGPPeer", bgpPeerSpec, anyStatus);
/** A whole `BGPPeer` v1beta1 object. */
export const bgpPeerV1beta1Schema = crd("v1beta1", "BGPPeer", bgpPeerV1beta1Spec, anyStatus);
/** A whole `Community` object. */
export const communitySchema = crd("v1beta1", "Community", communitySpec.prefault({}), anyStatus);
/** A whole `BFDProfile` object. */
export const bfdProfileSchema = crd(
  "v1beta1",
  "BFDProfile",
  bfdProfileSpec.prefault({}),
  anyStatus,
);
/** A whole `L2Advertisement` object. */
export const l2AdvertisementSchema = crd(
  "v1beta1",
  "L2Advertisement",
  l2AdvertisementSpec.prefault({}),
  anyStatus,
);
/** A whole `ServiceBGPStatus` object. */
export const serviceBGPStatusSchema = crd(
  "v1beta1",
  "ServiceBGPStatus",
  serviceBGPStatusSpec.optional(),
  serviceBGPStatusStatus,
);
/** A whole `ConfigurationState` object. */
export const configurationStateSchema = crd(
  "v1beta1",
  "ConfigurationState",
  configurationStateSpec.optional(),
  configurationStateStatus,
);

/** Parsed object types. */
export type IPAddressPoolObject = z.infer<typeof ipAddressPoolSchema>;
/** Parsed `BGPAdvertisement`. */
export type BGPAdvertisementObject = z.infer<typeof bgpAdvertisementSchema>;
/** Parsed `BGPPeer` (v1beta2). */
export type BGPPeerObject = z.infer<typeof bgpPeerSchema>;
/** Parsed `BGPPeer` (v1beta1). */
export type BGPPeerV1beta1Object = z.infer<typeof bgpPeerV1beta1Schema>;
/** Parsed `Community`. */
export type CommunityObject = z.infer<typeof communitySchema>;
/** Parsed `BFDProfile`. */
export type BFDProfileObject = z.infer<typeof bfdProfileSchema>;

/** Every metallb.io CRD: kind → served versions → spec schema (storage version marked). */
export const crdSpecs = {
  IPAddressPool: { v1beta1: ipAddressPoolSpec, storage: "v1beta1", status: ipAddressPoolStatus },
  BGPAdvertisement: { v1beta1: bgpAdvertisementSpec, storage: "v1beta1" },
  BGPPeer: { v1beta1: bgpPeerV1beta1Spec, v1beta2: bgpPeerSpec, storage: "v1beta2" },
  Community: { v1beta1: communitySpec, storage: "v1beta1" },
  BFDProfile: { v1beta1: bfdProfileSpec, storage: "v1beta1" },
  L2Advertisement: { v1beta1: l2AdvertisementSpec, storage: "v1beta1" },
  ServiceBGPStatus: {
    v1beta1: serviceBGPStatusSpec,
    storage: "v1beta1",
    status: serviceBGPStatusStatus,
  },
  ConfigurationState: {
    v1beta1: configurationStateSpec,
    storage: "v1beta1",
    status: configurationStateStatus,
  },
} as const;

// The core kinds live in core_schemas.ts; importers of this module keep finding them here.
export {
  type EndpointSliceObject,
  endpointSliceSchema,
  namespaceSchema,
  type NodeObject,
  nodeSchema,
  objectMeta,
  type SecretObject,
  secretSchema,
  type ServiceObject,
  serviceSchema,
} from "./core_schemas.ts";

// Shared pieces and the BGPPeer schemas live in their own modules; importers of this module
// keep finding them here.
export {
  canonicalJson,
  formatPath,
  type LabelSelector,
  labelSelector,
  labelSelectorRequirement,
  labelSelectors,
  LIMITS,
  selectorKey,
} from "./schema_parts.ts";
export { bgpPeerSpec, bgpPeerV1beta1Spec, secretReference } from "./peer_schema.ts";
