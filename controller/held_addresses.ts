/**
 * A Service's addresses as the allocator keeps them (one address as its text, else a list),
 * with the list built only when read: the IP history reads 100,000 of these at a start, and a
 * list each cost 56 B more.
 */

/** A Service's held addresses and pool; `ips` is a new list on each read when it is one. */
export class HeldAddresses {
  readonly service: string;
  readonly pool: string | undefined;
  readonly #ips: string | readonly string[];

  /** `ips`: one address as its text, or the list. */
  constructor(service: string, pool: string | undefined, ips: string | readonly string[]) {
    this.service = service;
    this.pool = pool;
    this.#ips = ips;
  }

  /** The addresses. */
  get ips(): readonly string[] {
    const ips = this.#ips;
    return typeof ips === "string" ? [ips] : ips;
  }
}
