/** Label and field selectors with the string syntax of the Kubernetes API. */

/** One parsed label requirement. */
export interface LabelRequirement {
  key: string;
  op: "=" | "!=" | "in" | "notin" | "exists" | "!exists";
  values: string[];
}

/** An error in a selector string; the server answers 400 BadRequest. */
export class SelectorError extends Error {
  constructor(selector: string, reason: string) {
    super(`unable to parse requirement in selector "${selector}": ${reason}`);
    this.name = "SelectorError";
  }
}

function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      terms.push(current.trim());
      current = "";
    } else {
      current += ch;
    }
  }
  if (current.trim()) terms.push(current.trim());
  return terms.filter((t) => t.length > 0);
}

/** Parses a label selector (`a=b,c!=d,e in (f,g),h notin (i),j,!k`). */
export function parseLabelSelector(selector: string): LabelRequirement[] {
  const out: LabelRequirement[] = [];
  for (const term of splitTerms(selector)) {
    const set = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(term);
    if (set) {
      const values = set[3].split(",").map((v) => v.trim()).filter((v) => v !== "");
      out.push({ key: set[1], op: set[2] as "in" | "notin", values });
      continue;
    }
    const eq = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(term);
    if (eq) {
      out.push({ key: eq[1], op: eq[2] === "!=" ? "!=" : "=", values: [eq[3]] });
      continue;
    }
    const not = /^!\s*([^\s!=(),]+)$/.exec(term);
    if (not) {
      out.push({ key: not[1], op: "!exists", values: [] });
      continue;
    }
    if (/^[^\s!=(),]+$/.test(term)) {
      out.push({ key: term, op: "exists", values: [] });
      continue;
    }
    throw new SelectorError(selector, `bad term "${term}"`);
  }
  return out;
}

/** Whether `labels` satisfy every requirement. */
export function matchLabels(
  requirements: readonly LabelRequirement[],
  labels: Record<string, string> | undefined,
): boolean {
  const l = labels ?? {};
  return requirements.every((r) => {
    const has = Object.hasOwn(l, r.key);
    switch (r.op) {
      case "=":
        return has && l[r.key] === r.values[0];
      case "!=":
        return !has || l[r.key] !== r.values[0];
      case "in":
        return has && r.values.includes(l[r.key]);
      case "notin":
        return !has || !r.values.includes(l[r.key]);
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
  });
}

/** One parsed field requirement (only metadata.name and metadata.namespace). */
export interface FieldRequirement {
  field: "metadata.name" | "metadata.namespace";
  equal: boolean;
  value: string;
}

/** Parses a field selector; only `metadata.name` and `metadata.namespace` are supported. */
export function parseFieldSelector(selector: string): FieldRequirement[] {
  const out: FieldRequirement[] = [];
  for (const term of splitTerms(selector)) {
    const m = /^([a-zA-Z.]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!m) throw new SelectorError(selector, `bad term "${term}"`);
    if (m[1] !== "metadata.name" && m[1] !== "metadata.namespace") {
      throw new SelectorError(selector, `field label not supported: ${m[1]}`);
    }
    out.push({ field: m[1], equal: m[2] !== "!=", value: m[3].trim() });
  }
  return out;
}

/** Whether an object's metadata satisfies every field requirement. */
export function matchFields(
  requirements: readonly FieldRequirement[],
  meta: { name?: string; namespace?: string },
): boolean {
  return requirements.every((r) => {
    const actual = (r.field === "metadata.name" ? meta.name : meta.namespace) ?? "";
    return (actual === r.value) === r.equal;
  });
}
