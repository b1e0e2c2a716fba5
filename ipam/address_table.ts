/**
 * Who holds each address, and the order addresses were freed in. Addresses are canonical
 * text; a holder is a Service key.
 */
import { formatIPv4, parseIPv4 } from "./addr.ts";
import type { FreedEntry } from "./pool.ts";

/** One holder as a string (nearly always), several (a shared address) as an array. */
type Holder = string | string[];

// IPv4 holders live in blocks of 16 consecutive addresses: the cursor hands addresses out
// in range order, so 100,000 Services fill 6,250 small arrays instead of a 100,000-entry
// Map (3.5 MiB at 100k, and each outgrown table left as garbage in large-object space).
const BLOCK_BITS = 4;
const BLOCK_MASK = (1 << BLOCK_BITS) - 1;

/** Held addresses and freed ones, in a shape that stays small at 100,000s of addresses. */
export class AddressTable {
  /** IPv4 holders by block number (address >>> BLOCK_BITS), slot by the low bits. */
  #v4 = new Map<number, (Holder | undefined)[]>();
  /** IPv6 holders by canonical text (few Services hold one in practice). */
  #other = new Map<string, Holder>();
  // Freed addresses and the sequence number of their latest free; Map order is free order.
  #freed = new Map<string, number>();
  #seq = 0;

  /**
   * Whether the cursor must skip `ip`: held, or freed and waiting in line. An IPv4 cursor
   * gives the address's number too (`v4`), which spares parsing the text back.
   */
  readonly taken = (ip: string, v4?: number): boolean =>
    this.#get(ip, v4) !== undefined || (this.#freed.size > 0 && this.#freed.has(ip));

  /** Whether a queued free is still the latest free of a still free address. */
  readonly freedValid = (e: FreedEntry): boolean => this.#freed.get(e.ip) === e.seq;

  /** The Services holding `ip` (a live array when shared: do not keep it). */
  holders(ip: string): readonly string[] {
    const h = this.#get(ip);
    return h === undefined ? [] : typeof h === "string" ? [h] : h;
  }

  /** The first Service that took `ip`, or undefined when free. */
  firstHolder(ip: string): string | undefined {
    const h = this.#get(ip);
    return typeof h === "string" ? h : h?.[0];
  }

  /** Every held address with its first holder. */
  *held(): IterableIterator<[string, string]> {
    for (const [block, slots] of this.#v4) {
      for (let i = 0; i <= BLOCK_MASK; i++) {
        const h = slots[i];
        if (h === undefined) continue;
        yield [formatIPv4(block * (BLOCK_MASK + 1) + i), typeof h === "string" ? h : h[0]];
      }
    }
    for (const [ip, h] of this.#other) yield [ip, typeof h === "string" ? h : h[0]];
  }

  /** Freed addresses still free, with the sequence number of their latest free. */
  freed(): IterableIterator<[string, number]> {
    return this.#freed.entries();
  }

  /** `key` now holds `ip` too; true when the address was free before. */
  hold(ip: string, key: string): boolean {
    const v = parseIPv4(ip);
    const h = this.#get(ip, v);
    if (h === undefined) {
      this.#set(ip, { v, h: key });
      this.#freed.delete(ip);
      return true;
    }
    if (typeof h === "string") this.#set(ip, { v, h: [h, key] });
    else h.push(key);
    return false;
  }

  /** `key` gives `ip` up; the free (to queue for reuse) when nobody holds it any more. */
  release(ip: string, key: string): FreedEntry | undefined {
    const v = parseIPv4(ip);
    const h = this.#get(ip, v);
    if (Array.isArray(h)) {
      const rest = h.filter((k) => k !== key);
      this.#set(ip, { v, h: rest.length === 1 ? rest[0] : rest });
      return undefined;
    }
    this.#set(ip, { v, h: undefined });
    const seq = ++this.#seq;
    // Delete first so Map order stays the order of latest frees.
    this.#freed.delete(ip);
    this.#freed.set(ip, seq);
    return { ip, seq };
  }

  // `v` is the address's IPv4 number, null for any other text.
  #get(ip: string, v = parseIPv4(ip)): Holder | undefined {
    if (v === null) return this.#other.get(ip);
    return this.#v4.get(v >>> BLOCK_BITS)?.[v & BLOCK_MASK];
  }

  // Sets or (with undefined) clears the holder of `ip`; an emptied block is dropped.
  #set(ip: string, to: { v: number | null; h: Holder | undefined }): void {
    const { v, h } = to;
    if (v === null) {
      if (h === undefined) this.#other.delete(ip);
      else this.#other.set(ip, h);
      return;
    }
    const block = v >>> BLOCK_BITS;
    let slots = this.#v4.get(block);
    if (slots === undefined) {
      if (h === undefined) return;
      slots = new Array(BLOCK_MASK + 1);
      this.#v4.set(block, slots);
    }
    slots[v & BLOCK_MASK] = h;
    if (h === undefined && slots.every((s) => s === undefined)) this.#v4.delete(block);
  }
}
