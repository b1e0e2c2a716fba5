/**
 * One Service's assignment as the allocator keeps it between calls: its addresses, its pool
 * and only those facts of the request that a later decision reads (a pool change, a sharing
 * check), flat on one object. The whole request is kept only for the few Services that name
 * a pool or a sharing key; 100,000 Services each kept a request and an address array before.
 * The others keep their namespace's name and labels as one record their namespace shares.
 */
import type { Labels } from "./selector.ts";
import type { ServiceRequest } from "./types.ts";

/** What a pool's serviceAllocation reads of a Service. */
export type ServiceFacts = Pick<ServiceRequest, "namespace" | "serviceLabels" | "namespaceLabels">;

/** What the sharing rule reads of a Service. */
export type SharingFacts = Pick<ServiceRequest, "sharingKey" | "backendKey" | "ports">;

/** A holder without a sharing key: shares with nobody. */
const NOT_SHARED: SharingFacts = Object.freeze({ backendKey: "", ports: [] });

/** A namespace's name and labels as a Service showed them, shared by its namespace's. */
class NamespaceFacts {
  constructor(readonly name: string, readonly labels: Labels | undefined) {}
}

/**
 * The facts last seen per namespace: Services of one namespace (thousands each) show the
 * same name and labels objects, so their assignments share one record instead of two
 * fields each. A namespace whose labels change gets a new record; older ones stay with
 * the assignments that saw them.
 */
const NAMESPACES = new Map<string, NamespaceFacts>();

/** The request when it names a pool or a sharing key, else its namespace's shared facts. */
function factsOf(request: ServiceRequest): ServiceRequest | NamespaceFacts {
  return request.pool || request.sharingKey ? request : namespaceFacts(request);
}

function namespaceFacts(request: ServiceRequest): NamespaceFacts {
  let facts = NAMESPACES.get(request.namespace);
  if (facts === undefined || facts.labels !== request.namespaceLabels) {
    facts = new NamespaceFacts(request.namespace, request.namespaceLabels);
    // Namespaces are few; a bound keeps one that churns through names from growing it.
    if (NAMESPACES.size >= 10_000) NAMESPACES.clear();
    NAMESPACES.set(request.namespace, facts);
  }
  return facts;
}

/** A Service's addresses and the request facts later decisions need. */
export class Assignment {
  /** One address as its text (nearly every Service), else the list in family order. */
  ips: string | readonly string[];
  pool: string;
  serviceLabels: Labels | undefined;
  /**
   * The request last seen when it names a pool or a sharing key (few do), which holds its
   * namespace facts too; else the namespace's shared facts.
   */
  #facts: ServiceRequest | NamespaceFacts;

  /** `ips` in family order, taken from `pool` for `request`. */
  constructor(ips: readonly string[], pool: string, request: ServiceRequest) {
    this.ips = ips.length === 1 ? ips[0] : ips;
    this.pool = pool;
    this.serviceLabels = request.serviceLabels;
    this.#facts = factsOf(request);
  }

  /** The request facts of `request` replace those kept (the Service changed, kept its IPs). */
  adopt(request: ServiceRequest): void {
    this.serviceLabels = request.serviceLabels;
    this.#facts = factsOf(request);
  }

  /** The request last seen when it names a pool or a sharing key, else undefined. */
  get named(): ServiceRequest | undefined {
    const f = this.#facts;
    return f instanceof NamespaceFacts ? undefined : f;
  }

  /** The Service's namespace. */
  get namespace(): string {
    const f = this.#facts;
    return f instanceof NamespaceFacts ? f.name : f.namespace;
  }

  /** The labels its namespace had when the Service was last seen. */
  get namespaceLabels(): Labels | undefined {
    const f = this.#facts;
    return f instanceof NamespaceFacts ? f.labels : f.namespaceLabels;
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
