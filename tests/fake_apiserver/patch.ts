/** JSON merge patch (RFC 7386) and JSON patch (RFC 6902), as the API server applies them. */

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Applies an RFC 7386 merge patch; strategic merge patch is treated the same way here. */
export function applyMergePatch(target: Json, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

/** An RFC 6902 operation that cannot be applied; the server answers 422. */
export class JsonPatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "JsonPatchError";
  }
}

function parsePointer(pointer: string): string[] {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) throw new JsonPatchError(`bad JSON pointer "${pointer}"`);
  return pointer.slice(1).split("/").map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
}

function getAt(doc: Json, path: string[]): Json {
  let cur = doc;
  for (const seg of path) {
    if (Array.isArray(cur)) cur = cur[Number(seg)];
    else if (isObject(cur)) cur = cur[seg];
    else return undefined;
  }
  return cur;
}

function parentOf(doc: Json, path: string[], op: string): Json {
  const parent = getAt(doc, path.slice(0, -1));
  if (!Array.isArray(parent) && !isObject(parent)) {
    throw new JsonPatchError(`${op}: parent of /${path.join("/")} does not exist`);
  }
  return parent;
}

function removeAt(doc: Json, path: string[]): Json {
  const parent = parentOf(doc, path, "remove");
  const key = path[path.length - 1];
  if (Array.isArray(parent)) {
    const i = Number(key);
    if (!(i >= 0 && i < parent.length)) throw new JsonPatchError(`remove: no index ${key}`);
    return parent.splice(i, 1)[0];
  }
  const obj = parent as Record<string, Json>;
  if (!Object.hasOwn(obj, key)) throw new JsonPatchError(`remove: no key /${path.join("/")}`);
  const old = obj[key];
  delete obj[key];
  return old;
}

function addAt(doc: Json, path: string[], value: Json, replace: boolean): Json {
  if (path.length === 0) return structuredClone(value);
  const parent = parentOf(doc, path, replace ? "replace" : "add");
  const key = path[path.length - 1];
  if (Array.isArray(parent)) {
    const i = key === "-" ? parent.length : Number(key);
    if (!(i >= 0 && i <= parent.length)) throw new JsonPatchError(`add: bad index ${key}`);
    if (replace) parent[i] = structuredClone(value);
    else parent.splice(i, 0, structuredClone(value));
  } else {
    (parent as Record<string, Json>)[key] = structuredClone(value);
  }
  return doc;
}

/** Applies an RFC 6902 JSON patch to a copy of `target`. */
export function applyJsonPatch(target: Json, ops: Json): Json {
  if (!Array.isArray(ops)) throw new JsonPatchError("JSON patch must be an array");
  let doc = structuredClone(target);
  for (const raw of ops) {
    if (!isObject(raw)) throw new JsonPatchError("JSON patch operation must be an object");
    const op = String(raw.op);
    const path = parsePointer(String(raw.path ?? ""));
    switch (op) {
      case "add":
        doc = addAt(doc, path, raw.value, false);
        break;
      case "replace":
        if (getAt(doc, path) === undefined) {
          throw new JsonPatchError(`replace: /${path.join("/")} does not exist`);
        }
        doc = addAt(doc, path, raw.value, true);
        break;
      case "remove":
        removeAt(doc, path);
        break;
      case "move": {
        const value = removeAt(doc, parsePointer(String(raw.from)));
        doc = addAt(doc, path, value, false);
        break;
      }
      case "copy":
        doc = addAt(doc, path, getAt(doc, parsePointer(String(raw.from))), false);
        break;
      case "test":
        if (JSON.stringify(getAt(doc, path)) !== JSON.stringify(raw.value)) {
          throw new JsonPatchError(`test failed at /${path.join("/")}`);
        }
        break;
      default:
        throw new JsonPatchError(`unknown JSON patch op "${op}"`);
    }
  }
  return doc;
}
