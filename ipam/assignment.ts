/**
 * One Service's assignment as the allocator keeps it between calls: its addresses, its pool
 * and only those facts of the request that a later decision reads (a pool change, a sharing
 * check), flat on one object. The whole request is kept only for the few Services that name
 * a pool or a sharing key; 100,000 Services each kept a request and an address array before.
 * The others keep their namespace's name and labels and their pool as one record shared by
 * their namespace's assignments in that pool.
 */
import type { Labels } from "./selector.ts";
import type { ServiceRequest } from "./types.ts";

/** What a pool's serviceAllocation reads of a Service. */
export type ServiceFacts = Pick<ServiceRequest, "namespace" | "serviceLabels" | "namespaceLabels">;

/** What the sharing rule reads of a Service. */
export type SharingFacts = Pick<ServiceRequest, "sharingKey" | "backendKey" | "ports">;

/** A holder without a sharing key: shares with nobody. */
const NOT_SHARED: SharingFacts = Object.freeze({ backendKey: "", ports: [] });

/**
 * A namespace's name and labels as a Service showed them, and the pool its addresses lie
 * in: shared by the assignments of that namespace in that pool.
 */
class PlacedFacts {
  constructor(readonly name: string, readonly labels: Labels | undefined, readonly pool: string) {}
}

/** A Service naming a pool or a sharing key (few do): its request and pool, its own. */
class NamedFacts {
  constructor(public request: ServiceRequest, public pool: string) {}
}

/**
 * The facts last seen per namespace, one record per pool: Services of one namespace
 * (thousands each) show the same name and labels objects and mostly lie in one pool, so
 * their assignments share one record instead of three fields each. A namespace whose
 * labels change gets a new record; older ones stay with the assignments that saw them.
 */
const NAMESPACES = new Map<string, PlacedFacts[]>();

function placed(namespace: string, at: { labels: Labels | undefined; pool: string }): PlacedFacts {
  let list = NAMESPACES.get(namespace);
  if (list === undefined) {
    // Namespaces are few; a bound keeps one that churns through names from growing it.
    if (NAMESPACES.size >= 10_000) NAMESPACES.clear();
    NAMESPACES.set(namespace, list = []);
  }
  const i = list.findIndex((f) => f.pool === at.pool);
  if (i !== -1 && list[i].labels === at.labels) return list[i];
  const facts = new PlacedFacts(namespace, at.labels, at.pool);
  if (i === -1) list.push(facts);
  else list[i] = facts;
  return facts;
}

/** The request when it names a pool or a sharing key, else its namespace's shared facts. */
function factsOf(request: ServiceRequest, pool: string): NamedFacts | PlacedFacts {
  return request.pool || request.sharingKey
    ? new NamedFacts(request, pool)
    : placed(request.namespace, { labels: request.namespaceLabels, pool });
}

/** A Service's addresses and the request facts later decisions need. */
export class Assignment {
  /** One address as its text (nearly every Service), else the list in family order. */
  ips: string | readonly string[];
  serviceLabels: Labels | undefined;
  /**
   * The request last seen and the pool when it names a pool or a sharing key (few do), else
   * the namespace facts and pool it shares with its namespace's assignments in that pool.
   */
  #facts: NamedFacts | PlacedFacts;

  /** `ips` in family order, taken from `pool` for `request`. */
  constructor(ips: readonly string[], pool: string, request: ServiceRequest) {
    this.ips = ips.length === 1 ? ips[0] : ips;
    this.serviceLabels = request.serviceLabels;
    this.#facts = factsOf(request, pool);
  }

  /** The pool its addresses lie in. */
  get pool(): string {
    return this.#facts.pool;
  }

  set pool(pool: string) {
    const f = this.#facts;
    if (f instanceof NamedFacts) f.pool = pool;
    else this.#facts = placed(f.name, { labels: f.labels, pool });
  }

  /** The request facts of `request` replace those kept (the Service changed, kept its IPs). */
  adopt(request: ServiceRequest): void {
    this.serviceLabels = request.serviceLabels;
    const f = this.#facts;
    if (f instanceof NamedFacts) {
      if (request.pool || request.sharingKey) f.request = request;
      else this.#facts = factsOf(request, f.pool);
    } else if (
      request.pool || request.sharingKey || f.name !== request.namespace ||
      f.labels !== request.namespaceLabels
    ) {
      this.#facts = factsOf(request, f.pool);
    }
  }

  /** The request last seen when it names a pool or a sharing key, else undefined. */
  get named(): ServiceRequest | undefined {
    const f = this.#facts;
    return f instanceof NamedFacts ? f.request : undefined;
  }

  /** The Service's namespace. */
  get namespace(): string {
    const f = this.#facts;
    return f instanceof NamedFacts ? f.request.namespace : f.name;
  }

  /** The labels its namespace had when the Service was last seen. */
  get namespaceLabels(): Labels | undefined {
    const f = this.#facts;
    return f instanceof NamedFacts ? f.request.namespaceLabels : f.labels;
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
