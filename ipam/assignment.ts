/**
 * One Service's assignment as the allocator keeps it between calls: its addresses, its pool
 * and only those facts of the request that a later decision reads (a pool change, a sharing
 * check), flat on one object. The whole request is kept only for the few Services that name
 * a pool or a sharing key; 100,000 Services each kept a request and an address array before.
 */
import type { Labels } from "./selector.ts";
import type { ServiceRequest } from "./types.ts";

/** What a pool's serviceAllocation reads of a Service. */
export type ServiceFacts = Pick<ServiceRequest, "namespace" | "serviceLabels" | "namespaceLabels">;

/** What the sharing rule reads of a Service. */
export type SharingFacts = Pick<ServiceRequest, "sharingKey" | "backendKey" | "ports">;

/** A holder without a sharing key: shares with nobody. */
const NOT_SHARED: SharingFacts = Object.freeze({ backendKey: "", ports: [] });

function namedOf(request: ServiceRequest): ServiceRequest | undefined {
  return request.pool || request.sharingKey ? request : undefined;
}

/** A Service's addresses and the request facts later decisions need. */
export class Assignment {
  /** One address as its text (nearly every Service), else the list in family order. */
  ips: string | readonly string[];
  pool: string;
  namespace: string;
  serviceLabels: Labels | undefined;
  namespaceLabels: Labels | undefined;
  /** The request last seen when it names a pool or a sharing key (few do), else undefined. */
  named: ServiceRequest | undefined;

  /** `ips` in family order, taken from `pool` for `request`. */
  constructor(ips: readonly string[], pool: string, request: ServiceRequest) {
    this.ips = ips.length === 1 ? ips[0] : ips;
    this.pool = pool;
    this.namespace = request.namespace;
    this.serviceLabels = request.serviceLabels;
    this.namespaceLabels = request.namespaceLabels;
    this.named = namedOf(request);
  }

  /** The request facts of `request` replace those kept (the Service changed, kept its IPs). */
  adopt(request: ServiceRequest): void {
    this.namespace = request.namespace;
    this.serviceLabels = request.serviceLabels;
    this.namespaceLabels = request.namespaceLabels;
    this.named = namedOf(request);
  }

  /** The annotated pool name, if any. */
  get requestedPool(): string | undefined {
    return this.named?.pool;
  }

  /** The sharing key, if any. */
  get sharingKey(): string | undefined {
    return this.named?.sharingKey;
  }

  /** What the sharing rule reads of this Service. */
  get sharing(): SharingFacts {
    return this.named ?? NOT_SHARED;
  }

  /** How many addresses it holds. */
  get count(): number {
    return typeof this.ips === "string" ? 1 : this.ips.length;
  }

  /** Its addresses as a list (a new one-element list for a single address). */
  list(): readonly string[] {
    return typeof this.ips === "string" ? [this.ips] : this.ips;
  }

  /** Replaces its addresses (in family order). */
  setIps(ips: readonly string[]): void {
    this.ips = ips.length === 1 ? ips[0] : ips;
  }
}
