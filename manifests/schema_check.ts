/**
 * Checks a value against a Kubernetes structural schema (the subset the CRDs use), so tests
 * can show that the generated CRDs accept users' manifests and reject bad ones without an
 * API server. CEL rules are not evaluated here. Unknown fields are reported, as
 * `kubectl apply` does with its default strict field validation.
 */
import type { SchemaNode } from "./crds.ts";

/** One reason a value does not match its schema. */
export interface SchemaIssue {
  path: string;
  message: string;
}

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number") return Number.isInteger(value) ? "integer" : "number";
  return typeof value;
}

function matchesType(type: string, value: unknown): boolean {
  const actual = typeOf(value);
  return actual === type || (type === "number" && actual === "integer");
}

/** Every way `value` breaks `schema`; empty when it conforms. */
export function checkStructural(
  schema: SchemaNode,
  value: unknown,
  path = "",
): SchemaIssue[] {
  const issues: SchemaIssue[] = [];
  const fail: Fail = (message, at = path) => issues.push({ path: at || "(root)", message });
  if (!checkKind(schema, { value, fail })) return issues;
  checkValue(schema, { value, fail });
  if (Array.isArray(value)) checkArray(schema, { value, path, fail, issues });
  if (schema.type === "object") {
    checkObject(schema, { value: value as Record<string, unknown>, path, fail, issues });
  }
  return issues;
}

/** Records an issue at `at` (the value's own path when left out). */
type Fail = (message: string, at?: string) => void;

/** What one check step looks at and where it reports. */
interface Step<T> {
  value: T;
  fail: Fail;
}

/** Null, int-or-string, open and type checks; false when nothing further applies. */
function checkKind(schema: SchemaNode, { value, fail }: Step<unknown>): boolean {
  if (value === null) {
    if (!schema.nullable) fail("must not be null");
    return false;
  }
  if (schema["x-kubernetes-int-or-string"]) {
    if (!matchesType("integer", value) && typeof value !== "string") {
      fail(`must be an integer or a string, got ${typeOf(value)}`);
    }
    return false;
  }
  if (schema["x-kubernetes-preserve-unknown-fields"] && schema.type === undefined) return false;
  const type = schema.type as string;
  if (!matchesType(type, value)) {
    fail(`must be of type ${type}, got ${typeOf(value)}`);
    return false;
  }
  return true;
}

/** Enum, and the bounds of numbers and strings. */
function checkValue(schema: SchemaNode, { value, fail }: Step<unknown>): void {
  if (Array.isArray(schema.enum) && !schema.enum.includes(value as never)) {
    fail(`must be one of ${schema.enum.join(", ")}, got ${JSON.stringify(value)}`);
  }
  if (typeof value === "number") {
    if (typeof schema.minimum === "number" && value < schema.minimum) {
      fail(`must be at least ${schema.minimum}`);
    }
    if (typeof schema.maximum === "number" && value > schema.maximum) {
      fail(`must be at most ${schema.maximum}`);
    }
  }
  if (typeof value === "string") {
    if (typeof schema.minLength === "number" && value.length < schema.minLength) {
      fail(`must be at least ${schema.minLength} characters`);
    }
    if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(value)) {
      fail(`must match ${schema.pattern}`);
    }
  }
}

/** Length, set uniqueness, then each item against `items`. */
function checkArray(
  schema: SchemaNode,
  { value, path, fail, issues }: Step<unknown[]> & { path: string; issues: SchemaIssue[] },
): void {
  if (typeof schema.minItems === "number" && value.length < schema.minItems) {
    fail(`must have at least ${schema.minItems} items`);
  }
  if (schema["x-kubernetes-list-type"] === "set") {
    const seen = new Set<string>();
    value.forEach((item, i) => {
      const key = JSON.stringify(item);
      if (seen.has(key)) fail(`duplicate entry ${key}`, `${path}[${i}]`);
      seen.add(key);
    });
  }
  const items = schema.items as SchemaNode | undefined;
  if (items) {
    value.forEach((item, i) => issues.push(...checkStructural(items, item, `${path}[${i}]`)));
  }
}

/** Required fields, then each field against its property, `additionalProperties`, or none. */
function checkObject(
  schema: SchemaNode,
  { value, path, fail, issues }:
    & Step<Record<string, unknown>>
    & { path: string; issues: SchemaIssue[] },
): void {
  for (const name of (schema.required as string[] | undefined) ?? []) {
    if (!(name in value)) fail(`required field "${name}" is missing`);
  }
  const props = schema.properties as Record<string, SchemaNode> | undefined;
  const extra = schema.additionalProperties as SchemaNode | undefined;
  const open = schema["x-kubernetes-preserve-unknown-fields"] === true;
  for (const [name, child] of Object.entries(value)) {
    const at = path ? `${path}.${name}` : name;
    if (props?.[name]) issues.push(...checkStructural(props[name], child, at));
    else if (extra) issues.push(...checkStructural(extra, child, at));
    // `{type: object}` with neither keyword (metadata, empty status) keeps anything.
    else if (props && !open) fail(`unknown field "${name}"`, at);
  }
}
