/**
 * Who holds each address, and the order addresses were freed in. Addresses are canonical
 * text; a holder is a Service key.
 */
import type { FreedEntry } from "./pool.ts";

/** Held addresses and freed ones, in a shape that stays small at 100,000s of addresses. */
export class AddressTable {
  /** One holder as a string (nearly always), several (a shared address) as an array. */
  #holders = new Map<string, string | string[]>();
  // Freed addresses and the sequence number of their latest free; Map order is free order.
  #freed = new Map<string, number>();
  #seq = 0;

  /** Whether the cursor must skip `ip`: held, or freed and waiting in line. */
  readonly taken = (ip: string): boolean =>
    this.#holders.has(ip) || (this.#freed.size > 0 && this.#freed.has(ip));

  /** Whether a queued free is still the latest free of a still free address. */
  readonly freedValid = (e: FreedEntry): boolean => this.#freed.get(e.ip) === e.seq;

  /** The Services holding `ip` (a live array when shared: do not keep it). */
  holders(ip: string): readonly string[] {
    const h = this.#holders.get(ip);
    return h === undefined ? [] : typeof h === "string" ? [h] : h;
  }

  /** The first Service that took `ip`, or undefined when free. */
  firstHolder(ip: string): string | undefined {
    const h = this.#holders.get(ip);
    return typeof h === "string" ? h : h?.[0];
  }

  /** Every held address with its first holder. */
  *held(): IterableIterator<[string, string]> {
    for (const [ip, h] of this.#holders) yield [ip, typeof h === "string" ? h : h[0]];
  }

  /** Freed addresses still free, with the sequence number of their latest free. */
  freed(): IterableIterator<[string, number]> {
    return this.#freed.entries();
  }

  /** `key` now holds `ip` too; true when the address was free before. */
  hold(ip: string, key: string): boolean {
    const h = this.#holders.get(ip);
    if (h === undefined) {
      this.#holders.set(ip, key);
      this.#freed.delete(ip);
      return true;
    }
    if (typeof h === "string") this.#holders.set(ip, [h, key]);
    else h.push(key);
    return false;
  }

  /** `key` gives `ip` up; the free (to queue for reuse) when nobody holds it any more. */
  release(ip: string, key: string): FreedEntry | undefined {
    const h = this.#holders.get(ip);
    if (Array.isArray(h)) {
      const rest = h.filter((k) => k !== key);
      this.#holders.set(ip, rest.length === 1 ? rest[0] : rest);
      return undefined;
    }
    this.#holders.delete(ip);
    const seq = ++this.#seq;
    // Delete first so Map order stays the order of latest frees.
    this.#freed.delete(ip);
    this.#freed.set(ip, seq);
    return { ip, seq };
  }
}
