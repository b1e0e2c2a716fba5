/**
 * IP history: which Service held which address, from when to when, and why it changed.
 * Bounded (a total and a per-address cap, oldest dropped first) and serialisable, so the
 * controller can keep it in its state directory or in a ConfigMap.
 */

/** Why an address went to a Service or left it. */
export type HistoryReason =
  | "assigned"
  /** The address was held by another Service before (freed addresses are reused last). */
  | "re-assigned"
  | "Service deleted"
  | "type changed"
  | "loadBalancerClass changed"
  | "pool removed"
  | "released";

/** One tenure of an address by a Service. `to` absent: it still holds it. */
export interface HistoryEntry {
  ip: string;
  /** `namespace/name`. */
  service: string;
  pool?: string;
  /** RFC 3339. */
  from: string;
  to?: string;
  /** How it got the address: `assigned`, or `re-assigned` when another Service had it. */
  why: HistoryReason;
  /** Why it lost it, with detail (e.g. `type changed: NodePort`), once `to` is set. */
  ended?: string;
}

/** One change the controller reports. */
export interface AddressChange {
  service: string;
  ips: readonly string[];
  pool?: string;
  change: "assigned" | "released";
  /** For releases: a {@linkcode HistoryReason} and optional detail after a colon. */
  reason?: string;
}

/** Bounds of an {@linkcode IpHistory}. */
export interface HistoryLimits {
  /** Entries kept in all (default 10,000). */
  maxEntries?: number;
  /** Entries kept per address (default 20). */
  maxPerIp?: number;
}

/** The serialised form: a version and the entries, oldest first. */
export interface HistoryFile {
  version: 1;
  entries: HistoryEntry[];
}

/**
 * One address beyond its entries: its open entry, how many entries it has (for the
 * per-address cap) and the last Service it went to (kept while it has entries).
 */
class IpState {
  constructor(
    public open: HistoryEntry | undefined,
    public count: number,
    public last: string,
  ) {}
}

/**
 * The index's value per address: nearly every address has one entry, still open, and then
 * that entry stands for the whole state, so 100,000 Services cost one Map entry each.
 */
type IpRecord = HistoryEntry | IpState;

function stateOf(r: IpRecord): IpState {
  return r instanceof IpState ? r : new IpState(r, 1, r.service);
}

function compact(st: IpState): IpRecord {
  const e = st.open;
  return st.count === 1 && e !== undefined && st.last === e.service ? e : st;
}

/** The bounded history, oldest entry first. */
export class IpHistory {
  readonly #max: number;
  readonly #perIp: number;
  /** Oldest first; closed and open entries alike. */
  #entries: HistoryEntry[] = [];
  /** What is known of each address that has entries. */
  #ips = new Map<string, IpRecord>();
  /** Bumped on each change: callers persist when it moved. */
  revision = 0;

  constructor(limits: HistoryLimits = {}) {
    this.#max = limits.maxEntries ?? 10_000;
    this.#perIp = limits.maxPerIp ?? 20;
  }

  #openOf(ip: string): HistoryEntry | undefined {
    const r = this.#ips.get(ip);
    return r instanceof IpState ? r.open : r;
  }

  /** Changes the state of `ip` (which has entries) through `fn`. */
  #update(ip: string, fn: (st: IpState) => void): void {
    const r = this.#ips.get(ip);
    if (r === undefined) return;
    const st = stateOf(r);
    fn(st);
    if (st.count > 0) this.#ips.set(ip, compact(st));
    else this.#ips.delete(ip);
  }

  #setOpen(ip: string, e: HistoryEntry | undefined): void {
    this.#update(ip, (st) => {
      st.open = e;
    });
  }

  /** Every entry, oldest first. */
  entries(): readonly HistoryEntry[] {
    this.trim();
    return this.#entries;
  }

  /**
   * Applies the changes of one controller pass, stamped `at`. With `pools` (the pools that
   * exist now), a release from a pool no longer there says `pool removed`.
   */
  record(
    changes: readonly AddressChange[],
    at: Date,
    options: { pools?: ReadonlySet<string> } = {},
  ): void {
    const when = at.toISOString();
    // Releases first: a pass that moves an address from one Service to another frees it
    // before it is given again, whatever order the controller listed them in.
    for (const c of changes) if (c.change === "released") this.#release(c, when, options.pools);
    for (const c of changes) if (c.change === "assigned") this.#assign(c, when);
  }

  #release(c: AddressChange, when: string, pools?: ReadonlySet<string>): void {
    for (const ip of c.ips) {
      const e = this.#openOf(ip);
      if (!e || e.service !== c.service) continue;
      e.to = when;
      const gone = pools && e.pool !== undefined && !pools.has(e.pool);
      e.ended = gone && (c.reason ?? "released").startsWith("released")
        ? `pool removed: ${e.pool}`
        : c.reason ?? "released";
      this.#setOpen(ip, undefined);
      this.revision++;
    }
  }

  #assign(c: AddressChange, when: string): void {
    for (const ip of c.ips) this.#assignIp(ip, { service: c.service, pool: c.pool }, when);
  }

  #assignIp(ip: string, to: { service: string; pool?: string }, when: string): void {
    const open = this.#openOf(ip);
    if (open?.service === to.service) return;
    if (open) {
      // Given to another Service without a release we saw: close it honestly.
      open.to = when;
      open.ended = "released";
    }
    const before = this.#ips.get(ip);
    const last = before instanceof IpState ? before.last : before?.service;
    const why = last !== undefined && last !== to.service ? "re-assigned" : "assigned";
    // Two literals, not a spread: no passing object per entry, and one shape each.
    const e: HistoryEntry = to.pool
      ? { ip, service: to.service, pool: to.pool, from: when, why }
      : { ip, service: to.service, from: when, why };
    this.#push(e, { open: true });
    this.revision++;
  }

  /** Appends `e`; `open`: it becomes its address's open entry. */
  #push(e: HistoryEntry, options: { open: boolean }): void {
    this.#entries.push(e);
    const r = this.#ips.get(e.ip);
    const st = r === undefined ? new IpState(undefined, 0, e.service) : stateOf(r);
    st.count++;
    st.last = e.service;
    if (options.open) st.open = e;
    this.#ips.set(e.ip, compact(st));
    if (st.count > this.#perIp) this.#dropOldestOf(e.ip);
    // Trimmed in steps of a tenth: one splice per 1,000 entries, not one per assignment.
    if (this.#entries.length > this.#max + Math.ceil(this.#max / 10)) this.trim();
  }

  /** Drops the oldest entries beyond the bound (done in steps; call before reading). */
  trim(): void {
    const extra = this.#entries.length - this.#max;
    if (extra <= 0) return;
    for (const gone of this.#entries.splice(0, extra)) this.#forget(gone);
  }

  #dropOldestOf(ip: string): void {
    const i = this.#entries.findIndex((x) => x.ip === ip);
    if (i >= 0) this.#dropAt(i);
  }

  #dropAt(i: number): void {
    const [gone] = this.#entries.splice(i, 1);
    this.#forget(gone);
  }

  #forget(gone: HistoryEntry): void {
    this.#update(gone.ip, (st) => {
      st.count--;
      if (st.open === gone) st.open = undefined;
    });
  }

  /**
   * Brings open entries in line with what Services hold now (at a start: changes made while
   * no controller recorded them). Open entries of addresses a Service no longer holds end as
   * `released while not recorded`; held addresses without an open entry start one.
   */
  reconcile(
    holders: Iterable<{ service: string; ips: readonly string[]; pool?: string }>,
    at: Date,
  ): void {
    const steps = this.reconcileSteps(holders, at);
    while (!steps.next().done);
  }

  /**
   * {@linkcode IpHistory.reconcile} as a generator that yields every few hundred addresses,
   * for a caller that runs it in slices (100,000 Services at a start).
   */
  *reconcileSteps(
    holders: Iterable<{ service: string; ips: readonly string[]; pool?: string }>,
    at: Date,
  ): Generator<void, void> {
    const when = at.toISOString();
    // Per held address its slot in two lists of holder and pool (the last holder of a shared
    // address wins, in its first place, as a Map of holders would have it), so no holder
    // object is kept per address: 100,000 of them at a start.
    const slots = new Map<string, number>();
    const services: string[] = [];
    const pools: (string | undefined)[] = [];
    let n = 0;
    for (const h of holders) {
      for (const ip of h.ips) {
        const i = slots.get(ip);
        if (i === undefined) {
          slots.set(ip, services.length);
          services.push(h.service);
          pools.push(h.pool);
        } else {
          services[i] = h.service;
          pools[i] = h.pool;
        }
      }
      if (++n % 512 === 0) yield;
    }
    for (const ip of [...this.#ips.keys()]) {
      if (++n % 512 === 0) yield;
      const e = this.#openOf(ip);
      if (e === undefined) continue;
      const i = slots.get(ip);
      if (i !== undefined && services[i] === e.service) continue;
      e.to = when;
      e.ended = "released while not recorded";
      this.#setOpen(ip, undefined);
      this.revision++;
    }
    // Which are missing is settled before any is opened (opening trims the oldest), and
    // only their addresses are listed: at a start with 100,000 Services nearly all are
    // missing (the history keeps 10,000 entries), and a change each cost 100 bytes more.
    const missing: string[] = [];
    for (const ip of slots.keys()) {
      if (++n % 512 === 0) yield;
      if (this.#openOf(ip) === undefined) missing.push(ip);
    }
    // Entries are trimmed oldest first, so of more than the bound only the last `max` would
    // stay: opening the others only to drop them again cost ~90,000 entries at each start
    // of 100,000 Services.
    for (let i = Math.max(0, missing.length - this.#max); i < missing.length; i++) {
      if (++n % 512 === 0) yield;
      const at = slots.get(missing[i])!;
      this.#assignIp(missing[i], { service: services[at], pool: pools[at] }, when);
    }
  }

  /** Entries of an address or of a Service (`namespace/name`), oldest first; all without. */
  query(what?: string): HistoryEntry[] {
    this.trim();
    if (!what) return [...this.#entries];
    return this.#entries.filter((e) => e.ip === what || e.service === what);
  }

  /** The serialised form. */
  toFile(): HistoryFile {
    this.trim();
    return { version: 1, entries: this.#entries };
  }

  /** Loads a serialised history (bounds re-applied); a string says why it was refused. */
  load(file: unknown): string | undefined {
    const f = file as Partial<HistoryFile> | null;
    if (!f || f.version !== 1 || !Array.isArray(f.entries)) {
      return "not an ip history (want {version: 1, entries: [...]})";
    }
    this.#entries = [];
    this.#ips.clear();
    for (const raw of f.entries) {
      const e = raw as HistoryEntry;
      if (typeof e?.ip !== "string" || typeof e.service !== "string") continue;
      if (typeof e.from !== "string") continue;
      this.#push({ ...e }, { open: e.to === undefined });
    }
    this.revision++;
    return undefined;
  }
}

/** Why a Service that held addresses no longer does, from what the controller saw. */
export function releaseReason(
  service: { type?: string; handled: boolean; present: boolean },
  detail?: string,
): string {
  if (!service.present) return "Service deleted";
  if (service.type !== undefined && service.type !== "LoadBalancer") {
    return `type changed: ${service.type}`;
  }
  if (!service.handled) return "loadBalancerClass changed";
  return detail ? `released: ${detail}` : "released";
}
