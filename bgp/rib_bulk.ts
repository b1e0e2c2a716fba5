/**
 * Whole-table changes of an Adj-RIB-Out (adj_rib_out.ts), kept as the two tables instead of
 * a diff entry per prefix: a table emptied at once (a stop withdrawing every route, a peer
 * losing all of them) and a table restated with the same prefixes and many new attribute
 * sets (an RFC 8326 drain marking every route, a BGPAdvertisement changed under 100,000s of
 * Services). Each is walked in prefix order by the next UPDATEs, as the unsent part is, so
 * a change of 100,000s of prefixes on several peers makes no key string, Map slot or Prefix
 * per prefix and per peer.
 */
import { comparePrefix, lowerBound } from "./prefix_order.ts";
import type { Route } from "./route_attributes.ts";
import { AFI_IPV4, type Prefix } from "./types.ts";

/** The slot of `r`'s family in a `[IPv4, IPv6]` pair of counts. */
function familySlot(r: Route): 0 | 1 {
  return r.prefix.afi === AFI_IPV4 ? 0 : 1;
}

/** Default fewest changed routes for which a restated table is kept whole, not diffed. */
export const BULK_MIN_CHANGED = 4096;

/**
 * A table withdrawn as a whole: `routes[at..end)` are what the peer still has of it, each as
 * sent (the routes from `end` on lay in the unsent part: the peer never had them).
 */
export interface Retired {
  routes: readonly Route[];
  at: number;
  end: number;
}

/** Where the sent part of `table` ends: the unsent part starts at `unsentFrom`. */
export function sentEnd(table: readonly Route[], unsentFrom: Prefix | undefined): number {
  return unsentFrom === undefined ? table.length : lowerBound(table, unsentFrom);
}

/**
 * A table replaced by one of the same prefixes, in the same order: the peer has `old[i]` for
 * each `i` of `[at, end)` (as sent) and wants `table[i]`; `pending` counts the routes there
 * whose attribute sets differ, IPv4 and IPv6 apart.
 */
export class Replaced {
  readonly old: readonly Route[];
  at = 0;
  readonly end: number;
  readonly pending: [number, number];

  constructor(old: readonly Route[], at: { end: number; pending: [number, number] }) {
    this.old = old;
    this.end = at.end;
    this.pending = at.pending;
  }

  /** Changed routes still to send, in `families` (`[v4, v6]`). */
  pendingIn(v4: boolean, v6: boolean): number {
    return (v4 ? this.pending[0] : 0) + (v6 ? this.pending[1] : 0);
  }

  /** The attribute key the peer has for `table[i]` when that one is still owed, else undefined. */
  owed(
    table: readonly Route[],
    i: number,
    keyOf: (r: Route) => string,
  ): string | undefined {
    if (i < this.at || i >= this.end) return undefined;
    const r = table[i];
    const o = this.old[i];
    if (r === o) return undefined;
    const was = keyOf(o);
    return keyOf(r) === was ? undefined : was;
  }

  /** One owed route dealt with (sent, or moved to the diff). */
  settle(r: Route): void {
    this.pending[familySlot(r)]--;
  }
}

/**
 * `routes` as a replacement of `old` when both hold the same prefixes in the same order and
 * at least `at.min` (default {@linkcode BULK_MIN_CHANGED}) of the sent part change attribute
 * sets; undefined otherwise (fewer changes are cheaper as diff entries). `keyOf` gives a route's attribute
 * key, or undefined when its attributes cannot be encoded (then no replacement either).
 */
export function replacement(
  old: readonly Route[],
  routes: readonly Route[],
  at: { end: number; keyOf: (r: Route) => string | undefined; min?: number },
): Replaced | undefined {
  const min = Math.max(1, at.min ?? BULK_MIN_CHANGED);
  if (routes.length !== old.length || at.end < min) return undefined;
  const pending: [number, number] = [0, 0];
  for (let i = 0; i < routes.length; i++) {
    const r = routes[i];
    const o = old[i];
    if (r === o) continue;
    if (r.prefix !== o.prefix && comparePrefix(r.prefix, o.prefix) !== 0) return undefined;
    const key = at.keyOf(r);
    if (key === undefined) return undefined;
    if (i < at.end && key !== at.keyOf(o)) pending[familySlot(r)]++;
  }
  if (pending[0] + pending[1] < min) return undefined;
  return new Replaced(old, { end: at.end, pending });
}

/**
 * What a batch announces for a replaced route: the attribute key the peer had, so that a
 * route held back from the batch is recorded as still having it. One object per key.
 */
export class Was {
  constructor(readonly key: string) {}
}
