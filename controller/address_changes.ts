/**
 * The address changes of one controller pass, for the IP history: which Service got or lost
 * which addresses, and why it lost them.
 */
import { type AddressChange, releaseReason } from "../api/ip_history.ts";
import type { KubeObject } from "../cluster/types.ts";
import { Decision } from "./decision.ts";
import { HeldAddresses } from "./held_addresses.ts";

/** Receives a pass's changes (leader only) with the pools that exist after it. */
export type AddressChangeListener = (
  changes: readonly AddressChange[],
  options: { pools: ReadonlySet<string> },
) => void;

/** Where a Service's addresses are held once the pass has decided (the allocator). */
export interface HeldLookup {
  heldOf(key: string): string | readonly string[] | undefined;
  poolOf(key: string): string | undefined;
}

/**
 * A decision's new assignment as its change, made only when the changes are delivered:
 * three fields (one address as its text) read from where the pass left the addresses.
 */
class Assigned extends HeldAddresses implements AddressChange {
  /** Always a change that gave addresses. */
  get change(): "assigned" {
    return "assigned";
  }
}

/**
 * Collects one pass's changes; cheap when nothing changes. A decision's new assignment (every
 * Service of a first pass) is kept as its key alone until delivered, and made then from
 * `held`, which nothing changes between the pass's decisions and their delivery. Kept as
 * the decisions themselves, they held ~18 MiB (with their requests) at 100,000 until the
 * pass's end; kept as records, ~5 MiB beside the pass's writes.
 */
export class AddressChangeLog {
  /** The changes in order; a string is the new assignment of that key (see above). */
  readonly #changes: (AddressChange | string)[] = [];
  readonly #held: HeldLookup;

  /** A log whose new assignments are read from `held` when delivered. */
  constructor(held: HeldLookup) {
    this.#held = held;
  }

  /** The changes so far, each as the listener gets it (made on each call). */
  get changes(): AddressChange[] {
    const out: AddressChange[] = [];
    for (const c of this.#changes) {
      if (typeof c !== "string") out.push(c);
      else {
        const ips = this.#held.heldOf(c);
        if (ips !== undefined) out.push(new Assigned(c, this.#held.poolOf(c), ips));
      }
    }
    return out;
  }

  /** A Service that is gone or no longer handled gave back `held`. */
  released(key: string, held: { ips: readonly string[] } | undefined, obj?: KubeObject): void {
    if (!held || held.ips.length === 0) return;
    const type = (obj as { spec?: { type?: string } } | undefined)?.spec?.type ?? "ClusterIP";
    this.#changes.push({
      service: key,
      ips: [...held.ips],
      change: "released",
      reason: releaseReason({ present: obj !== undefined, handled: false, type }),
    });
  }

  /**
   * A handled Service went from `before` to `o`.
   * Without `before` (a configuration change rebuilt the allocator and refused its old
   * address) what it held is what its status says.
   */
  compare(
    key: string,
    before: readonly string[] | undefined,
    o: {
      ips: readonly string[];
      pool?: string;
      pending?: { reason: string };
      view?: { ingressIPs: readonly string[] };
    },
  ): void {
    const was = before ?? o.view?.ingressIPs ?? [];
    if (was.length === o.ips.length && was.every((ip, i) => ip === o.ips[i])) return;
    if (was.length === 0) {
      // A new assignment (every Service of a first pass): a decision's is its key, its
      // record made when delivered; else its addresses as they are. The history reads them
      // and keeps none.
      if (o instanceof Decision && o.key === key) this.#changes.push(key);
      else {
        this.#changes.push({
          service: key,
          ips: o.ips,
          change: "assigned",
          ...(o.pool ? { pool: o.pool } : {}),
        });
      }
      return;
    }
    const lost = was.filter((ip) => !o.ips.includes(ip));
    const got = o.ips.filter((ip) => !was.includes(ip));
    if (lost.length > 0) {
      this.#changes.push({
        service: key,
        ips: lost,
        change: "released",
        reason: o.pending ? `released: ${o.pending.reason}` : "released",
      });
    }
    if (got.length > 0) {
      this.#changes.push({
        service: key,
        ips: got,
        change: "assigned",
        ...(o.pool ? { pool: o.pool } : {}),
      });
    }
  }

  /** Hands the changes to `listener` when there are any and this replica leads. */
  deliver(
    listener: AddressChangeListener | undefined,
    options: { leader: boolean; pools: () => Iterable<string> },
  ): void {
    if (!listener || !options.leader || this.#changes.length === 0) return;
    listener(this.changes, { pools: new Set(options.pools()) });
  }
}
