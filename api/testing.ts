/**
 * Test helpers shared by the rooms that build Service views (api/, cluster/): the fields of
 * a {@linkcode ServiceView}, for tests that compare two views field by field.
 */
import type { ServiceView } from "./objects.ts";

/** Every field of a {@linkcode ServiceView}, in the interface's order. */
export const SERVICE_VIEW_FIELDS: readonly (keyof ServiceView)[] = [
  "namespace",
  "name",
  "labels",
  "annotations",
  "type",
  "loadBalancerClass",
  "loadBalancerIP",
  "ipFamilies",
  "ipFamilyPolicy",
  "clusterIPs",
  "externalTrafficPolicy",
  "selector",
  "ports",
  "ingressIPs",
];
