/**
 * The address changes of one controller pass, for the IP history: which Service got or lost
 * which addresses, and why it lost them.
 */
import { type AddressChange, releaseReason } from "../api/ip_history.ts";
import type { KubeObject } from "../cluster/types.ts";
import { Decision } from "./decision.ts";

/** Receives a pass's changes (leader only) with the pools that exist after it. */
export type AddressChangeListener = (
  changes: readonly AddressChange[],
  options: { pools: ReadonlySet<string> },
) => void;

/**
 * A decision's new assignment as its change: three fields (one address as its text), where
 * holding the decision itself until the pass ends kept its request and view too, ~200 B
 * per Service of a first pass.
 */
class Assigned implements AddressChange {
  readonly service: string;
  readonly pool: string | undefined;
  readonly #ips: string | readonly string[];

  constructor(d: Decision) {
    this.service = d.key;
    this.pool = d.pool;
    const ips = d.ips;
    this.#ips = ips.length === 1 ? ips[0] : ips;
  }

  /** The addresses it got (a new list on each read when it is one). */
  get ips(): readonly string[] {
    const ips = this.#ips;
    return typeof ips === "string" ? [ips] : ips;
  }

  /** Always a change that gave addresses. */
  get change(): "assigned" {
    return "assigned";
  }
}

/** Collects one pass's changes; cheap when nothing changes. */
export class AddressChangeLog {
  readonly changes: AddressChange[] = [];

  /** A Service that is gone or no longer handled gave back `held`. */
  released(key: string, held: { ips: readonly string[] } | undefined, obj?: KubeObject): void {
    if (!held || held.ips.length === 0) return;
    const type = (obj as { spec?: { type?: string } } | undefined)?.spec?.type ?? "ClusterIP";
    this.changes.push({
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
      // A new assignment (every Service of a first pass): a decision's is a flat record of
      // what it got, not the decision, which the pass lets go once settled (see settle);
      // else its addresses as they are. The history reads them and keeps none.
      if (o instanceof Decision && o.key === key) this.changes.push(new Assigned(o));
      else {
        this.changes.push({
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
      this.changes.push({
        service: key,
        ips: lost,
        change: "released",
        reason: o.pending ? `released: ${o.pending.reason}` : "released",
      });
    }
    if (got.length > 0) {
      this.changes.push({
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
    if (!listener || !options.leader || this.changes.length === 0) return;
    listener(this.changes, { pools: new Set(options.pools()) });
  }
}
