/**
 * zod schemas for every `metallb.io` kind and for the parts of core Kubernetes objects
 * ferrolb reads. The `*Spec` schemas are exported separately so CRD OpenAPI schemas can be
 * generated from them with `z.toJSONSchema` (use `io: "input"` so defaults are not
 * marked required). Per-object rules that JSON Schema cannot express live in `.superRefine`;
 * rules that need other objects live in `config.ts`.
 */
import { z } from "zod";
import { parseAddressEntry, parseIP } from "./ip.ts";
import { isCommunityLiteral, parseCommunity } from "./community.ts";
import { resolveTimers } from "./timers.ts";

/** The `metallb.io` API group. */
export const METALLB_GROUP = "metallb.io";

type Ctx = z.core.$RefinementCtx<unknown>;
type Path = (string | number)[];

const UINT32_MAX = 4294967295;

/**
 * Bounds on the fields the CRDs check with CEL rules: the API server refuses a rule whose
 * worst-case cost is unbounded, so the lists and strings it reads need a maximum. They are
 * far above what a configuration uses, and `validate` applies the same ones.
 */
export const LIMITS = {
  /** Entries in one pool's `addresses` (pairs are compared for overlaps). */
  addresses: 64,
  /** Characters of one address entry (an IPv6 range with spaces fits). */
  addressText: 100,
  /** Communities in one advertisement or aliases in one Community object. */
  communities: 128,
  /** Characters of a community value or alias. */
  communityText: 64,
  /** Characters of a peer address, source address or router ID. */
  ipText: 64,
  /** Characters of a TCP MD5 password (RFC 2385 keys are at most 80 bytes). */
  password: 80,
  /** Characters of an interface or VRF name. */
  ifaceText: 63,
  /** Selectors in one list (lists of selectors are compared pairwise for duplicates). */
  selectors: 16,
  /** Labels in one selector's `matchLabels`. */
  selectorLabels: 16,
  /** Expressions in one selector's `matchExpressions`. */
  expressions: 16,
  /** Values in one match expression. */
  expressionValues: 64,
  /** Characters of a label key (Kubernetes: 253 for the prefix, 1 slash, 63 for the name). */
  labelKey: 317,
  /** Characters of a label value (Kubernetes' own limit). */
  labelValue: 63,
} as const;

function bounded(max: number) {
  return z.string().max(max, `must be at most ${max} characters`);
}

/**
 * Refinements run even when a field of the same object has a type error, so one run shows
 * every problem of an object; each refinement therefore checks the types it reads.
 */
const ALWAYS = { when: () => true } as const;

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function stringsOf(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined;
}

function asn(what: string) {
  return z.number().int().min(0).max(UINT32_MAX, `${what} must be at most ${UINT32_MAX}`);
}

/** Stable JSON (sorted keys) so equal selectors compare equal whatever the key order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** A selector's identity: `values` of each match expression sorted (their order is no meaning). */
export function selectorKey(selector: unknown): string {
  if (!isRecord(selector) || !Array.isArray(selector.matchExpressions)) {
    return canonicalJson(selector);
  }
  return canonicalJson({
    ...selector,
    matchExpressions: selector.matchExpressions.map((e) =>
      isRecord(e) && Array.isArray(e.values) ? { ...e, values: [...e.values].sort() } : e
    ),
  });
}

function checkUnique(
  ctx: Ctx,
  items: unknown,
  path: Path,
  what = "selector",
  keyOf: (item: unknown) => string = selectorKey,
): void {
  if (!Array.isArray(items)) return;
  const seen = new Map<string, number>();
  items.forEach((item, i) => {
    const key = keyOf(item);
    const first = seen.get(key);
    if (first === undefined) {
      seen.set(key, i);
      return;
    }
    const shown = typeof item === "string" ? `"${item}"` : what;
    ctx.addIssue({
      code: "custom",
      path: [...path, i],
      message: `duplicate ${shown} (already at index ${first})`,
    });
  });
}

/** Formats a zod-style path as `spec.addresses[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const p of path) {
    if (typeof p === "number") out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

// ---------------------------------------------------------------------------------------
// Shared pieces

/** `metadata` (the subset ferrolb reads). */
export const objectMeta = z.object({
  name: z.string().min(1, "must not be empty"),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
});

/** A `matchExpressions[]` entry. */
export const labelSelectorRequirement = z.object({
  key: bounded(LIMITS.labelKey).min(1, "must not be empty"),
  operator: z.enum(["In", "NotIn", "Exists", "DoesNotExist"]),
  values: z.array(bounded(LIMITS.labelValue))
    .max(LIMITS.expressionValues, `must have at most ${LIMITS.expressionValues} entries`)
    .optional(),
}).superRefine((r, ctx) => {
  if (!isRecord(r)) return;
  const n = Array.isArray(r.values) ? r.values.length : 0;
  if ((r.operator === "In" || r.operator === "NotIn") && n === 0) {
    ctx.addIssue({
      code: "custom",
      path: ["values"],
      message: `must not be empty for operator ${r.operator}`,
    });
  }
  if ((r.operator === "Exists" || r.operator === "DoesNotExist") && n > 0) {
    ctx.addIssue({
      code: "custom",
      path: ["values"],
      message: `must be empty for operator ${r.operator}`,
    });
  }
  // MetalLB refuses a value listed twice in one expression.
  checkUnique(ctx, r.values, ["values"]);
}, ALWAYS);

/** A Kubernetes label selector: `{matchLabels, matchExpressions}`. */
export const labelSelector = z.object({
  matchLabels: z.record(bounded(LIMITS.labelKey), bounded(LIMITS.labelValue)).optional(),
  matchExpressions: z.array(labelSelectorRequirement)
    .max(LIMITS.expressions, `must have at most ${LIMITS.expressions} entries`).optional(),
}).superRefine((sel, ctx) => {
  if (isRecord(sel) && isRecord(sel.matchLabels)) {
    const n = Object.keys(sel.matchLabels).length;
    if (n > LIMITS.selectorLabels) {
      ctx.addIssue({
        code: "custom",
        path: ["matchLabels"],
        message: `must have at most ${LIMITS.selectorLabels} labels`,
      });
    }
  }
  // Two identical expressions (values compared as sets) are a duplicate for MetalLB.
  if (isRecord(sel)) {
    // An expression's values are a set: compare them sorted.
    const keyOf = (e: unknown) => selectorKey({ matchExpressions: [e] });
    checkUnique(ctx, sel.matchExpressions, ["matchExpressions"], "match expression", keyOf);
  }
}, ALWAYS);

/** A list of label selectors (bounded: the CRD compares them pairwise). */
export const labelSelectors = z.array(labelSelector)
  .max(LIMITS.selectors, `must have at most ${LIMITS.selectors} selectors`);

/** A parsed label selector. */
export type LabelSelector = z.infer<typeof labelSelector>;

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
// BGPPeer

/** A reference to a Secret: `{name, namespace}`. */
export const secretReference = z.object({
  name: z.string().min(1, "must not be empty"),
  namespace: z.string().optional(),
});

const peerCoreFields = {
  myASN: asn("myASN").min(1, "must not be 0"),
  peerASN: asn("peerASN").optional(),
  peerAddress: bounded(LIMITS.ipText).optional(),
  sourceAddress: bounded(LIMITS.ipText).optional(),
  peerPort: z.number().int().min(1, "must be between 1 and 16384")
    .max(16384, "must be between 1 and 16384").default(179),
  holdTime: z.string().optional(),
  keepaliveTime: z.string().optional(),
  routerID: bounded(LIMITS.ipText).optional(),
  nodeSelectors: labelSelectors.optional(),
  password: bounded(LIMITS.password).optional(),
  bfdProfile: z.string().optional(),
  ebgpMultiHop: z.boolean().default(false),
};

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function refinePeerIdentity(spec: Record<string, unknown>, issue: (p: Path, m: string) => void) {
  const hasPeerASN = typeof spec.peerASN === "number" && spec.peerASN !== 0;
  const hasDynamic = spec.dynamicASN !== undefined;
  if (hasPeerASN === hasDynamic) {
    issue(
      [hasPeerASN ? "dynamicASN" : "peerASN"],
      `exactly one of peerASN or dynamicASN must be set (got ${hasPeerASN ? "both" : "neither"})`,
    );
  }
  const hasAddr = !!spec.peerAddress;
  const hasIface = !!spec.interface;
  if (hasAddr === hasIface) {
    issue(
      [hasAddr ? "interface" : "peerAddress"],
      `exactly one of peerAddress or interface must be set (got ${hasAddr ? "both" : "neither"})`,
    );
  }
  const ibgp = (hasPeerASN && spec.peerASN === spec.myASN) || spec.dynamicASN === "internal";
  if (spec.ebgpMultiHop === true && ibgp) {
    issue(["ebgpMultiHop"], "must not be set on an iBGP peer (peer AS equals myASN)");
  }
}

function refinePeerAddresses(spec: Record<string, unknown>, issue: (p: Path, m: string) => void) {
  for (const f of ["peerAddress", "sourceAddress"] as const) {
    const text = str(spec[f]);
    if (!text) continue;
    const r = parseIP(text);
    if (!r.ok) issue([f], r.error);
  }
  const routerID = str(spec.routerID);
  if (routerID) {
    const r = parseIP(routerID);
    if (!r.ok) issue(["routerID"], r.error);
    // The BGP identifier is four bytes (RFC 4271), so only IPv4 notation can carry it.
    else if (r.value.family !== 4) {
      issue(["routerID"], `must be an IPv4 address, got "${routerID}"`);
    }
  }
}

function refinePeer(spec: unknown, ctx: Ctx): void {
  if (!isRecord(spec)) return;
  const issue = (path: Path, message: string) => ctx.addIssue({ code: "custom", path, message });
  refinePeerIdentity(spec, issue);
  refinePeerAddresses(spec, issue);
  const t = resolveTimers({
    holdTime: str(spec.holdTime),
    keepaliveTime: str(spec.keepaliveTime),
    connectTime: str(spec.connectTime),
  });
  if (!t.ok) { for (const e of t.errors) issue([e.field], e.reason); }
  if (spec.password && spec.passwordSecret) {
    issue(["passwordSecret"], "must not be set together with password");
  }
  // These end up in routing daemon configuration lines in MetalLB, which refuses them.
  for (const f of ["password", "interface", "vrf"] as const) {
    if (/[\r\n]/.test(str(spec[f]) ?? "")) issue([f], "must not contain a line break");
  }
  checkUnique(ctx, spec.nodeSelectors, ["nodeSelectors"]);
}

/** `BGPPeer.spec` of `metallb.io/v1beta1` (deprecated; converted to v1beta2). */
export const bgpPeerV1beta1Spec = z.object(peerCoreFields).superRefine(refinePeer, ALWAYS);

/** `BGPPeer.spec` of `metallb.io/v1beta2` (the storage version). */
export const bgpPeerSpec = z.object({
  ...peerCoreFields,
  dynamicASN: z.enum(["internal", "external"]).optional(),
  localASN: asn("localASN").optional(),
  interface: bounded(LIMITS.ifaceText).optional(),
  connectTime: z.string().optional(),
  passwordSecret: secretReference.optional(),
  vrf: bounded(LIMITS.ifaceText).optional(),
  enableGracefulRestart: z.boolean().default(false),
  disableMP: z.boolean().default(false),
  dualStackAddressFamily: z.boolean().default(false),
}).superRefine(refinePeer, ALWAYS);

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

// ---------------------------------------------------------------------------------------
// Core Kubernetes objects (the parts we read)

/** `Service` (core/v1), the fields ferrolb reads. */
export const serviceSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Service"),
  metadata: objectMeta,
  spec: z.object({
    type: z.string().default("ClusterIP"),
    loadBalancerClass: z.string().optional(),
    loadBalancerIP: z.string().optional(),
    ipFamilies: z.array(z.enum(["IPv4", "IPv6"])).optional(),
    ipFamilyPolicy: z.enum(["SingleStack", "PreferDualStack", "RequireDualStack"]).optional(),
    clusterIP: z.string().optional(),
    clusterIPs: z.array(z.string()).optional(),
    externalTrafficPolicy: z.enum(["Cluster", "Local"]).optional(),
    selector: z.record(z.string(), z.string()).optional(),
    ports: z.array(z.object({
      name: z.string().optional(),
      protocol: z.enum(["TCP", "UDP", "SCTP"]).default("TCP"),
      port: z.number().int().min(1, "must be between 1 and 65535")
        .max(65535, "must be between 1 and 65535"),
      targetPort: z.union([z.number(), z.string()]).optional(),
      nodePort: z.number().optional(),
    })).optional(),
  }).default({ type: "ClusterIP" }),
  status: z.object({
    loadBalancer: z.object({
      ingress: z.array(z.object({
        ip: z.string().optional(),
        hostname: z.string().optional(),
        ipMode: z.string().optional(),
      })).optional(),
    }).optional(),
  }).optional(),
});

/** `EndpointSlice` (discovery.k8s.io/v1), the fields ferrolb reads. */
export const endpointSliceSchema = z.object({
  apiVersion: z.literal("discovery.k8s.io/v1"),
  kind: z.literal("EndpointSlice"),
  metadata: objectMeta,
  addressType: z.string().optional(),
  endpoints: z.array(z.object({
    addresses: z.array(z.string()),
    conditions: z.object({
      ready: z.boolean().optional(),
      serving: z.boolean().optional(),
      terminating: z.boolean().optional(),
    }).optional(),
    nodeName: z.string().optional(),
  })).nullish(),
  ports: z.array(z.object({
    name: z.string().optional(),
    protocol: z.string().optional(),
    port: z.number().optional(),
  })).nullish(),
});

/** `Node` (core/v1), the fields ferrolb reads. */
export const nodeSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Node"),
  metadata: objectMeta,
  status: z.object({
    conditions: z.array(z.object({ type: z.string(), status: z.string() })).optional(),
    addresses: z.array(z.object({ type: z.string(), address: z.string() })).optional(),
  }).optional(),
});

/** `Namespace` (core/v1): only labels matter. */
export const namespaceSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Namespace"),
  metadata: objectMeta,
});

/** `Secret` (core/v1): type and data (base64) or stringData (plain, manifests only). */
export const secretSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Secret"),
  metadata: objectMeta,
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
});

/** Parsed `Service` object. */
export type ServiceObject = z.infer<typeof serviceSchema>;
/** Parsed `EndpointSlice` object. */
export type EndpointSliceObject = z.infer<typeof endpointSliceSchema>;
/** Parsed `Node` object. */
export type NodeObject = z.infer<typeof nodeSchema>;
/** Parsed `Secret` object. */
export type SecretObject = z.infer<typeof secretSchema>;
