/**
 * The pieces every metallb.io schema shares: bounds (LIMITS), refinement helpers that
 * tolerate type errors, label selectors, and canonical forms for duplicate checks.
 */
import { z } from "zod";

/** The refinement context every superRefine here receives. */
export type Ctx = z.core.$RefinementCtx<unknown>;
/** A path inside an object, as zod issues carry it. */
export type Path = (string | number)[];

/** The largest 32-bit unsigned value (ASNs, LOCAL_PREF). */
export const UINT32_MAX = 4294967295;

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

/** A string of at most `max` characters, saying so when longer. */
export function bounded(max: number) {
  return z.string().max(max, `must be at most ${max} characters`);
}

/**
 * Refinements run even when a field of the same object has a type error, so one run shows
 * every problem of an object; each refinement therefore checks the types it reads.
 */
export const ALWAYS = { when: () => true } as const;

/** Whether `v` is a plain object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The strings of an array (others dropped), or undefined when `v` is not one. */
export function stringsOf(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : undefined;
}

/** An AS number: an integer 0-4294967295. */
export function asn(what: string) {
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

/** Adds an issue for every entry of `items` equal (by `keyOf`) to an earlier one. */
export function checkUnique(
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
