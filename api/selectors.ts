/**
 * Kubernetes label-selector matching for controller and speaker. The matching itself lives
 * in ipam/ (which must stay free of Kubernetes imports); this adapts the schema types to it.
 */
import { matchesSelector } from "../ipam/selector.ts";
import type { LabelSelector } from "./schemas.ts";

/**
 * Whether `labels` satisfy `selector` (all matchLabels and all matchExpressions). An empty
 * selector matches everything, as in Kubernetes.
 */
export function matchLabelSelector(
  selector: LabelSelector,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  return matchesSelector(selector, (labels ?? {}) as Record<string, string>);
}

/** Whether any selector matches; an empty list matches everything. */
export function matchesAnySelector(
  selectors: readonly LabelSelector[] | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selectors || selectors.length === 0) return true;
  return selectors.some((s) => matchLabelSelector(s, labels));
}
