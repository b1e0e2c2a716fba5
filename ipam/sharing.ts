/** Address sharing (MetalLB's allow-shared-ip): when two Services may hold one address. */
import type { SharingFacts } from "./assignment.ts";

/**
 * Why two Services may not share an address, or null when they may: the same non-empty
 * sharing key, the same backends and no overlapping (protocol, port).
 */
export function sharingConflict(a: SharingFacts, b: SharingFacts): string | null {
  if (!a.sharingKey || !b.sharingKey) return "no sharing key";
  if (a.sharingKey !== b.sharingKey) return "sharing key differs";
  if (a.backendKey !== b.backendKey) return "backends differ";
  for (const p of a.ports) {
    for (const q of b.ports) {
      if (p.port === q.port && p.protocol.toUpperCase() === q.protocol.toUpperCase()) {
        return "ports overlap";
      }
    }
  }
  return null;
}

/**
 * The addresses held under each sharing key, with how many Services hold each, so that a
 * Service with a sharing key finds the address its peers share without a scan.
 */
export class SharingIndex {
  #byKey = new Map<string, Map<string, number>>();

  /** Addresses held under `sharingKey`, oldest first. */
  ipsOf(sharingKey: string | undefined): Iterable<string> {
    return (sharingKey ? this.#byKey.get(sharingKey)?.keys() : undefined) ?? [];
  }

  /** One more (`delta` 1) or one less (-1) Service holds `ip` under `sharingKey`. */
  count(sharingKey: string | undefined, change: { ip: string; delta: 1 | -1 }): void {
    if (!sharingKey) return;
    let m = this.#byKey.get(sharingKey);
    if (!m) {
      m = new Map();
      this.#byKey.set(sharingKey, m);
    }
    const n = (m.get(change.ip) ?? 0) + change.delta;
    if (n > 0) m.set(change.ip, n);
    else m.delete(change.ip);
    if (m.size === 0) this.#byKey.delete(sharingKey);
  }

  /** A Service holding `ips` changed its sharing key from `from` to `to`. */
  move(ips: readonly string[], keys: { from?: string; to?: string }): void {
    if (keys.from === keys.to) return;
    for (const ip of ips) {
      this.count(keys.from, { ip, delta: -1 });
      this.count(keys.to, { ip, delta: 1 });
    }
  }
}
