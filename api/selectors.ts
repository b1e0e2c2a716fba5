/** Kubernetes label-selector matching, shared by controller and speaker. */
import type { LabelSelector } from "./schemas.ts";

/**
 * Whether `labels` satisfy `selector` (all matchLabels and all matchExpressions). An empty
 * selector matches everything, as in Kubernetes.
 */
export function matchLabelSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) {
    if (l[k] !== v) return false;
  }
  for (const e of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    const values = e.values ?? [];
    switch (e.operator) {
      case "In":
        if (!has || !values.includes(l[e.key])) return false;
        break;
      case "NotIn":
        if (has && values.includes(l[e.key])) return false;
        break;
      case "Exists":
        if (!has) return false;
        break;
      case "DoesNotExist":
        if (has) return false;
        break;
    }
  }
  return true;
}

/** Whether any selector matches; an empty list matches everything. */
export function matchesAnySelector(
  selectors: readonly LabelSelector[] | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selectors || selectors.length === 0) return true;
  return selectors.some((s) => matchLabelSelector(s, labels));
}
