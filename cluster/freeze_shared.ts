/**
 * Sharing equal strings and short lists across the objects of one publish: a file parsed
 * in the worker arrives with one copy of "v1", "default" or `[{protocol: TCP, port: 80}]`
 * per object, which at 100,000 Services is most of the source's heap.
 */

/** Longest string shared by {@linkcode freezeShared}: names and values, not certificates. */
const SHARED_STRING_MAX = 128;
/** Longest JSON of a list shared by {@linkcode freezeShared} (a Service's ports, families). */
const SHARED_LIST_MAX = 256;
/** Distinct lists shared per publish: beyond it lists stay unshared, memory stays bounded. */
const SHARED_LISTS = 10_000;

/** What {@linkcode freezeShared} shares within one publish. */
export interface Shared {
  strings: Map<string, string>;
  lists: Map<string, unknown>;
}

/** An empty {@linkcode Shared}, for one publish. */
export function newShared(): Shared {
  return { strings: new Map(), lists: new Map() };
}

/**
 * Key of a method an object of a class of its own may carry to share and freeze its parts
 * itself (its fields are private, so {@linkcode freezeShared} cannot see them): file mode's
 * manifest Services (manifest_service.ts).
 */
export const SHARE_PARTS: unique symbol = Symbol("ferrolb.shareParts");

/** The equal string seen first in this publish, else `s` (remembered). */
export function sharedString(s: string, shared: Shared): string {
  if (s.length > SHARED_STRING_MAX) return s;
  const same = shared.strings.get(s);
  if (same !== undefined) return same;
  shared.strings.set(s, s);
  return s;
}

/**
 * Deep-freezes `value`, first replacing each short string in it by the equal one in
 * `shared` (the first seen), so equal strings of many objects are held once; a short list
 * of flat records or strings (100,000 Services' `ports: [{protocol: TCP, port: 80}]`) is
 * replaced by the equal frozen list seen first. Returns what to hold instead of `value`.
 */
export function freezeShared(value: unknown, shared: Shared): unknown {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  const own = (value as { [SHARE_PARTS]?: unknown })[SHARE_PARTS];
  if (typeof own === "function") {
    own.call(value, shared);
    return value;
  }
  const record = value as Record<string, unknown>;
  let flat = true;
  for (const k in record) {
    if (!Object.hasOwn(record, k)) continue;
    const v = record[k];
    if (typeof v === "string") {
      if (v.length > SHARED_STRING_MAX) continue;
      // Equal strings compare equal whatever their copy: assigning is what shares one.
      const same = shared.strings.get(v);
      if (same === undefined) shared.strings.set(v, v);
      else record[k] = same;
    } else if (v !== null && typeof v === "object") {
      const w = freezeShared(v, shared);
      if (w !== v) record[k] = w;
      if (!Array.isArray(value) || Array.isArray(w) || !flatRecord(w)) flat = false;
    }
  }
  Object.freeze(value);
  if (!flat || !Array.isArray(value)) return value;
  return sharedList(value, shared);
}

/** The equal frozen list seen first in this publish, else `list` (remembered if room). */
function sharedList(list: unknown[], shared: Shared): unknown {
  const key = JSON.stringify(list);
  if (key.length > SHARED_LIST_MAX) return list;
  const hit = shared.lists.get(key);
  if (hit !== undefined) return hit;
  if (shared.lists.size < SHARED_LISTS) shared.lists.set(key, list);
  return list;
}

/** A record whose values are all strings, numbers, booleans or null. */
function flatRecord(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  for (const x of Object.values(v)) if (x !== null && typeof x === "object") return false;
  return true;
}
