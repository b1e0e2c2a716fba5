/**
 * YAML loading under the limits of cluster/input_limits.ts: js-yaml refuses deep nesting and
 * too many aliases while parsing; the expansion of the aliases it leaves as shared references
 * is then bounded by `createExpansionBudget` before anything walks or stringifies the tree.
 */
import { loadAll } from "js-yaml";
import type { ParseLimits } from "./input_limits.ts";

export * from "./input_limits.ts";

/**
 * Loads every document of a YAML (or JSON) text, refusing deep nesting and too many aliases
 * while parsing. Throws what js-yaml throws (with its `mark`) for syntax and parser limits.
 */
export function loadYamlDocuments(text: string, limits: ParseLimits): unknown[] {
  return loadAll(text, { maxDepth: limits.maxDepth, maxAliases: limits.maxAliases });
}
