/** Plain data the allocator takes and returns; the controller translates Kubernetes into it. */
import type { AddressRange, Family } from "./addr.ts";
import type { Labels, LabelSelector } from "./selector.ts";

/** `IPAddressPool.spec.serviceAllocation`: which Services a pool serves, and its priority. */
export interface ServiceAllocation {
  /** Lower positive number wins; 0 or unset sorts after every positive priority. */
  priority?: number;
  namespaces?: string[];
  namespaceSelectors?: LabelSelector[];
  serviceSelectors?: LabelSelector[];
}

/** An address pool: an IPAddressPool's spec as plain data. */
export interface PoolSpec {
  name: string;
  /** Parsed ranges, or CIDR / `a-b` range strings as in `spec.addresses`; both may mix. */
  ranges: (AddressRange | string)[];
  /** Default true: false means only Services asking for this pool (or its IPs) get it. */
  autoAssign?: boolean;
  /** Skip IPv4 addresses ending in .0 or .255. */
  avoidBuggyIPs?: boolean;
  serviceAllocation?: ServiceAllocation;
}

/** One service port; sharing requires that no (protocol, port) pair overlaps. */
export interface ServicePort {
  protocol: string;
  port: number;
}

/** `spec.ipFamilyPolicy` of a Service. */
export type FamilyPolicy = "SingleStack" | "PreferDualStack" | "RequireDualStack";

/** What a Service asks of the allocator. */
export interface ServiceRequest {
  /** `namespace/name`; the identity of the assignment. */
  key: string;
  namespace: string;
  /** `spec.ipFamilies` in order; the first is the primary family. */
  families: Family[];
  policy: FamilyPolicy;
  /** Requested addresses (annotation or `spec.loadBalancerIP`), at most one per family. */
  requestedIPs?: string[];
  /** The annotated pool name. */
  pool?: string;
  /** `allow-shared-ip` annotation value. */
  sharingKey?: string;
  ports: ServicePort[];
  /** `Cluster`, or `Local:<selector>`; sharing Services must have equal backend keys. */
  backendKey: string;
  serviceLabels?: Labels;
  namespaceLabels?: Labels;
}

/** Why a request was refused; `reason` is the message users see. */
export type RefusalCode =
  | "exhausted"
  | "no-pool"
  | "unknown-pool"
  | "not-in-pool"
  | "in-use"
  | "not-served"
  | "bad-request";

/** A refusal as a value. */
export interface Refusal {
  ok: false;
  code: RefusalCode;
  reason: string;
  ip?: string;
  pool?: string;
}

/** A successful allocation: addresses in the Service's family order, and their pool. */
export interface Allocation {
  ok: true;
  ips: string[];
  pool: string;
  /** True when the existing assignment was kept unchanged. */
  kept: boolean;
  /**
   * The address of the other family a PreferDualStack Service listing one family got in
   * this call (MetalLB's additional assignment, with its own Event).
   */
  additional?: string;
}

/** The outcome of `Allocator.allocate`. */
export type AllocateResult = Allocation | Refusal;

/** An assignment the allocator dropped or refused, and why. */
export interface DroppedAssignment {
  key: string;
  ips: string[];
  reason: string;
}

/** The outcome of `Allocator.setPools`. */
export type PoolChangeReport =
  | {
    ok: true;
    /**
     * Assignments no longer valid: `ips` were released and the Service must be allocated
     * again. A dual-stack Service whose other address stays valid keeps that one.
     */
    invalid: DroppedAssignment[];
    /** Assignments whose addresses now belong to a different pool name. */
    moved: { key: string; from: string; to: string }[];
  }
  | { ok: false; reason: string };

/** A Service and the addresses it already holds (its ingress IPs), for `restore`. */
export interface ExistingAssignment {
  request: ServiceRequest;
  ips: string[];
}

/** The outcome of `Allocator.restore`. */
export interface RestoreReport {
  restored: number;
  /** Assignments not kept: conflicts (the later claimant), addresses outside every pool. */
  refused: DroppedAssignment[];
}

/** Address counts of one family in one pool; totals are bigint so an IPv6 /64 fits. */
export interface FamilyCounts {
  total: bigint;
  used: number;
  available: bigint;
}

/** Counts of one pool, for status and metrics. */
export interface PoolCounts {
  ipv4: FamilyCounts;
  ipv6: FamilyCounts;
}
