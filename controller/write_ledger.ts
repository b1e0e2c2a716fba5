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

/** One Service's writes in flight; a fixed shape, one object per Service. */
interface ServiceWrites {
  ingress?: Comparison;
  annotations?: Comparison;
}

/** Writes made and not yet observed, per Service and per other object (pool status). */
export class WriteLedger {
  #services = new Map<string, ServiceWrites>();
  #others = new Map<string, Comparison>();

  /** Whether the Service's `part` must be written (see the module comment). */
  serviceNeeds(key: string, part: ServicePart, c: Comparison): boolean {
    const rec = this.#services.get(key);
    if (c.observed === c.desired) {
      if (rec?.[part]) this.#drop(key, part, rec);
      return false;
    }
    const w = rec?.[part];
    return !(w && w.desired === c.desired && w.observed === c.observed);
  }

  /** Notes a write of the Service's `part`. */
  noteService(key: string, part: ServicePart, c: Comparison): void {
    const rec = this.#services.get(key);
    if (rec) rec[part] = c;
    else this.#services.set(key, part === "ingress" ? { ingress: c } : { annotations: c });
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
    this.#services.delete(key);
    this.#others.delete(key);
  }

  /** Forgets everything (a resync reads the cluster again). */
  clear(): void {
    this.#services.clear();
    this.#others.clear();
  }

  #drop(key: string, part: ServicePart, rec: ServiceWrites): void {
    rec[part] = undefined;
    if (!rec.ingress && !rec.annotations) this.#services.delete(key);
  }
}
