/**
 * A small deterministic YAML emitter for the install manifest. Written here rather than
 * using `dumpYaml` from `@kubernetes/client-node`, because that one round-trips objects
 * through the client's typed models, which renames CRD schema keys
 * (`x-kubernetes-validations` becomes `x_kubernetes_validations`) and drops unknown fields.
 * Keys keep insertion order, so output only changes when the objects do.
 */

/** A JSON-like value the emitter accepts. */
export type YamlValue =
  | string
  | number
  | boolean
  | null
  | YamlValue[]
  | { [key: string]: YamlValue | undefined };

// Words YAML 1.1 (kubectl's parser) reads as booleans or null when unquoted.
const RESERVED = /^(y|yes|n|no|true|false|on|off|null|~)$/i;
const PLAIN = /^[A-Za-z_/][A-Za-z0-9_./-]*$/;

function scalarText(value: string): string {
  if (PLAIN.test(value) && !RESERVED.test(value)) return value;
  // A JSON string literal is a valid YAML double-quoted scalar with the same meaning.
  return JSON.stringify(value);
}

function isMap(value: YamlValue): value is { [key: string]: YamlValue | undefined } {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function entries(map: { [key: string]: YamlValue | undefined }): [string, YamlValue][] {
  return Object.entries(map).filter((e): e is [string, YamlValue] => e[1] !== undefined);
}

function inline(value: YamlValue): string | undefined {
  if (value === null) return "null";
  if (typeof value === "string") return scalarText(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`cannot write ${value} as YAML`);
    return String(value);
  }
  if (typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return value.length === 0 ? "[]" : undefined;
  return entries(value).length === 0 ? "{}" : undefined;
}

function block(value: YamlValue, indent: string): string[] {
  const lines: string[] = [];
  if (Array.isArray(value)) {
    for (const item of value) {
      const text = inline(item);
      if (text !== undefined) {
        lines.push(`${indent}- ${text}`);
        continue;
      }
      // The first line of a nested block goes on the dash line; the rest align under it.
      const inner = block(item, indent + "  ");
      lines.push(`${indent}- ${inner[0].slice(indent.length + 2)}`, ...inner.slice(1));
    }
    return lines;
  }
  if (!isMap(value)) throw new Error("block() needs a list or a map");
  for (const [key, child] of entries(value)) {
    const text = inline(child);
    if (text !== undefined) lines.push(`${indent}${scalarText(key)}: ${text}`);
    else if (Array.isArray(child)) {
      lines.push(`${indent}${scalarText(key)}:`, ...block(child, indent));
    } else lines.push(`${indent}${scalarText(key)}:`, ...block(child, indent + "  "));
  }
  return lines;
}

/** Writes one value as a YAML block (a map or list at the top), ending in a newline. */
export function toYaml(value: YamlValue): string {
  const text = inline(value);
  if (text !== undefined) return text + "\n";
  return block(value, "").join("\n") + "\n";
}

/** A document and the comment lines written above it. */
export interface YamlDocument {
  comment?: string;
  value: YamlValue;
}

/** Writes documents separated by `---`, each preceded by its `# comment` lines. */
export function toYamlDocuments(docs: readonly YamlDocument[]): string {
  return docs.map((doc) => {
    const comment = doc.comment
      ? doc.comment.split("\n").map((l) => (l ? `# ${l}` : "#")).join("\n") + "\n"
      : "";
    return comment + toYaml(doc.value);
  }).join("---\n");
}
