/**
 * What the controller wrote and has not yet seen come back. A write is not repeated while
 * the source still shows what it showed when the write was made (its watch has not caught
 * up yet); once the source shows the desired value the record goes.
 */

/** The two writes a Service can get. */
export type ServicePart = "ingress" | "annotations";

/** Desired and observed value (as comparable text) of one write. */
export interface Comparison {
  observed: string;
  desired: string;
}

/**
 * One comparison per distinct pair of annotation texts: those are per pool (see
 * `service_writes.ts`), so 100,000 Services written with one pool share one.
 */
const ANNOTATION_PAIRS = new Map<string, Map<string, Comparison>>();

function sharedPair(c: Comparison): Comparison {
  let byDesired = ANNOTATION_PAIRS.get(c.observed);
  if (byDesired === undefined) {
    // Pools are few; a bound keeps a cluster that churns through them from growing this.
    if (ANNOTATION_PAIRS.size >= 1000) ANNOTATION_PAIRS.clear();
    ANNOTATION_PAIRS.set(c.observed, byDesired = new Map());
  }
  let shared = byDesired.get(c.desired);
  if (shared === undefined) {
    if (byDesired.size >= 1000) byDesired.clear();
    shared = Object.freeze({ observed: c.observed, desired: c.desired });
    byDesired.set(c.desired, shared);
  }
  return shared;
}

/**
 * One Service's writes in flight: a flat record of the ingress strings and the shared
 * annotations comparison (null: no write of that part), one object per Service. A first
 * pass notes 100,000 of them, which live until the writes come back; a record holding two
 * comparison objects cost three objects each.
 */
class ServiceWrites {
  ingressObserved: string | null = null;
  ingressDesired: string | null = null;
  annotations: Comparison | null = null;

  matches(part: ServicePart, c: Comparison): boolean {
    if (part === "ingress") {
      return this.ingressDesired === c.desired && this.ingressObserved === c.observed;
    }
    const a = this.annotations;
    return a !== null && a.desired === c.desired && a.observed === c.observed;
  }

  has(part: ServicePart): boolean {
    return (part === "ingress" ? this.ingressDesired : this.annotations) !== null;
  }

  set(part: ServicePart, c: Comparison | null): void {
    if (part === "ingress") {
      this.ingressObserved = c && c.observed;
      this.ingressDesired = c && c.desired;
    } else this.annotations = c && sharedPair(c);
  }
}

/** Writes made and not yet observed, per Service and per other object (pool status). */
export class WriteLedger {
  /**
   * Per Service; null marks a forgotten one until {@linkcode WriteLedger.compact}. Deleting
   * 100,000 keys one by one as their writes come back (the pass after a first pass) shrank
   * the table step by step, a new table each time; the pass's end drops them at once.
   */
  #services = new Map<string, ServiceWrites | null>();
  #forgotten = 0;
  #others = new Map<string, Comparison>();

  /** Whether the Service's `part` must be written (see the module comment). */
  serviceNeeds(key: string, part: ServicePart, c: Comparison): boolean {
    const rec = this.#services.get(key);
    if (c.observed === c.desired) {
      if (rec?.has(part)) this.#drop(key, part, rec);
      return false;
    }
    return !(rec?.has(part) && rec.matches(part, c));
  }

  /** Notes a write of the Service's `part` (only its strings are kept, not `c`). */
  noteService(key: string, part: ServicePart, c: Comparison): void {
    let rec = this.#services.get(key);
    if (!rec) {
      if (rec === null) this.#forgotten--;
      this.#services.set(key, rec = new ServiceWrites());
    }
    rec.set(part, c);
  }

  /** Whether another object's write (e.g. `pool|name`) must be made. */
  needs(key: string, c: Comparison): boolean {
    if (c.observed === c.desired) {
      this.#others.delete(key);
      return false;
    }
    const w = this.#others.get(key);
    return !(w && w.desired === c.desired && w.observed === c.observed);
  }

  /** Notes a write of another object. */
  note(key: string, c: Comparison): void {
    this.#others.set(key, c);
  }

  /** Forgets every write of `key` (a Service key or another object's), e.g. after a failure. */
  forget(key: string): void {
    this.#forgetService(key);
    this.#others.delete(key);
  }

  /**
   * Lets the forgotten Services' entries go: all at once when none is left (a new, empty
   * table), else by copying the rest once they are the fewer. Call at the end of a step that
   * may forget many.
   */
  compact(): void {
    if (this.#forgotten === 0) return;
    if (this.#forgotten === this.#services.size) {
      this.#services = new Map();
      this.#forgotten = 0;
    } else if (this.#forgotten * 2 > this.#services.size) {
      const kept = new Map<string, ServiceWrites | null>();
      for (const [key, rec] of this.#services) if (rec) kept.set(key, rec);
      this.#services = kept;
      this.#forgotten = 0;
    }
  }

  /** Forgets everything (a resync reads the cluster again). */
  clear(): void {
    this.#services = new Map();
    this.#forgotten = 0;
    this.#others.clear();
  }

  #forgetService(key: string): void {
    if (!this.#services.get(key)) return;
    this.#services.set(key, null);
    this.#forgotten++;
  }

  #drop(key: string, part: ServicePart, rec: ServiceWrites): void {
    rec.set(part, null);
    if (!rec.has("ingress") && !rec.has("annotations")) this.#forgetService(key);
  }
}
