/**
 * The pure IP allocator: pools, Service requests and MetalLB's allocation rules as plain
 * data. Knows nothing of Kubernetes; the controller translates objects into these types.
 */
export {
  type AddressRange,
  canonicalIP,
  canonicalKeep,
  type Family,
  formatIP,
  type IP,
  parseAddressRange,
  parseIP,
  parsePoolAddresses,
} from "./addr.ts";
export { Allocator, type AssignmentView, poolServes, sharingConflict } from "./allocator.ts";
export { type LabelSelector, type LabelSelectorRequirement, matchesSelector } from "./selector.ts";
export type * from "./types.ts";
