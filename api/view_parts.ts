/**
 * Shared pieces of the parsed views (api/objects.ts): the result type, and the shape checks and
 * frozen empties of the fast paths.
 */
import type { ConfigError } from "./config.ts";

/** A parse result: the view, or errors naming the field. */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; errors: ConfigError[] };

/*
 * Fast paths. Parsing 100,000s of Services and EndpointSlices through zod allocates a full
 * copy of each (and much garbage) only to keep a few fields. Objects of the usual, valid
 * shape are read directly here; the records they share (labels, annotations, selector) are
 * kept by reference, which is safe because parsed objects are treated as immutable. Anything
 * unusual falls back to the schema, which alone reports errors, so results never differ.
 */

/** A plain JSON object as the fast paths read it. */
export type Plain = Record<string, unknown>;

/** Shared empty lists of the fast paths (views are read-only). */
export const NONE: readonly string[] = Object.freeze([]);
/** The shared empty family list. */
export const NONE_FAMILIES: readonly ("IPv4" | "IPv6")[] = Object.freeze([]);
/** The shared empty port list. */
export const NONE_PORTS: readonly never[] = Object.freeze([]);
/** Labels, annotations or selector left out: one shared empty record, not one per view. */
export const NO_RECORD: Readonly<Record<string, string>> = Object.freeze({});

/** Whether `v` is a plain object (no array, no class instance). */
export function isPlain(v: unknown): v is Plain {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** Unset or a string. */
export function optString(v: unknown): boolean {
  return v === undefined || typeof v === "string";
}

/** Unset or a finite number. */
export function optNumber(v: unknown): boolean {
  return v === undefined || (typeof v === "number" && Number.isFinite(v));
}

/** Unset or a boolean. */
export function optBoolean(v: unknown): boolean {
  return v === undefined || typeof v === "boolean";
}

/** A plain object of own string values only. */
export function isStringRecord(v: unknown): v is Record<string, string> {
  if (!isPlain(v)) return false;
  for (const k in v) if (!Object.hasOwn(v, k) || typeof v[k] !== "string") return false;
  return Object.getOwnPropertySymbols(v).length === 0;
}

/** Unset or a string record. */
export function optStringRecord(v: unknown): boolean {
  return v === undefined || isStringRecord(v);
}

/** An array of strings. */
export function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

/** Metadata of the usual shape: a name, and the optional fields of their types. */
export function quickMeta(m: unknown): m is Plain {
  return isPlain(m) && typeof m.name === "string" && m.name.length > 0 &&
    optString(m.namespace) && optString(m.uid) && optString(m.resourceVersion) &&
    optNumber(m.generation) && optStringRecord(m.labels) && optStringRecord(m.annotations) &&
    optString(m.creationTimestamp) && optString(m.deletionTimestamp);
}
