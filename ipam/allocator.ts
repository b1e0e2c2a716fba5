/**
 * The pure IP allocator: MetalLB's allocation rules over plain data. State is a map from
 * address to holders, per-pool cursors and freed queues (see pool.ts), so every operation
 * costs the same with ten or a million addresses assigned.
 *
 * The rules live beside it: one request on its own (`rules.ts`), sharing (`sharing.ts`),
 * the pools (`pool_set.ts`), who holds what (`address_table.ts`).
 */
import { type Family, formatIP, parseIP } from "./addr.ts";
import { AddressTable } from "./address_table.ts";
import { Assignment } from "./assignment.ts";
import { claimPool, poolByAddress } from "./claim.ts";
import { movePool, type PoolChangeWork, revalidate } from "./pool_change.ts";
import { poolServes, PoolSet, type PoolState, spaceOf } from "./pool_set.ts";
import {
  additionalFamily,
  allowedFamilies,
  checkRequest,
  familiesChanged,
  familyOf,
  hasRequestedIPs,
  orderByFamilies,
  parseClaim,
  refuse,
  requestedChanged,
  wantedFamilies,
} from "./rules.ts";
import { sharingConflict, SharingIndex } from "./sharing.ts";
import type {
  AllocateResult,
  DroppedAssignment,
  ExistingAssignment,
  FamilyCounts,
  PoolChangeReport,
  PoolCounts,
  PoolSpec,
  Refusal,
  RestoreReport,
  ServiceRequest,
} from "./types.ts";
import type { AddressSpace } from "./pool.ts";

export { poolServes } from "./pool_set.ts";
export { sharingConflict } from "./sharing.ts";

/** A Service's current assignment as the allocator holds it. */
export interface AssignmentView {
  ips: string[];
  pool: string;
}

const NO_POOLS = (PoolSet.build([]) as { ok: true; value: PoolSet }).value;

/**
 * Assigns LoadBalancer addresses to Services from pools, following MetalLB's rules. Call
 * `setPools`, then `restore` with every Service's current ingress IPs, then `allocate` and
 * `release` as Services change.
 */
export class Allocator {
  #pools: PoolSet = NO_POOLS;
  #table = new AddressTable();
  #sharing = new SharingIndex();
  #assignments = new Map<string, Assignment>();

  /**
   * Replaces the pool set. On invalid pools nothing changes and the reason is returned.
   * Assignments that are no longer valid (address outside every pool, family addresses
   * split across pools, excluded by avoidBuggyIPs, pool no longer serving the Service) are
   * released and reported, so no address outside every pool is ever kept.
   */
  setPools(specs: PoolSpec[]): PoolChangeReport {
    const built = PoolSet.build(specs);
    if (!built.ok) return built;
    built.value.adoptCursors(this.#pools);
    this.#pools = built.value;
    const work: PoolChangeWork = { invalid: [], moved: [], shrink: [] };
    for (const [key, rec] of this.#assignments) revalidate(this.#pools, { key, rec, work });
    for (const s of work.shrink) {
      const rec = this.#assignments.get(s.key)!;
      for (const ip of rec.list()) if (ip !== s.ip) this.#unhold({ key: s.key, rec }, { ip });
      rec.setIps([s.ip]);
      movePool({ key: s.key, rec }, { to: s.pool, moved: work.moved });
    }
    const shrunk = new Set(work.shrink.map((s) => s.key));
    for (const drop of work.invalid) if (!shrunk.has(drop.key)) this.#drop(drop.key, false);
    this.#recount();
    return { ok: true, invalid: work.invalid, moved: work.moved };
  }

  /** Counts used and queues freed addresses in the pools that hold them now. */
  #recount(): void {
    for (const [ip, holder] of this.#table.held()) {
      const rec = this.#assignments.get(holder)!;
      spaceOf(this.#pools.get(rec.pool)!, familyOf(ip))!.used++;
    }
    for (const [ip, seq] of this.#table.freed()) {
      const parsed = parseIP(ip)!;
      const pool = this.#pools.poolOf(parsed);
      if (pool) spaceOf(pool, parsed.family)!.pushFreed({ ip, seq });
    }
  }

  /**
   * Rebuilds state from Services' existing ingress IPs before any new allocation. Give
   * Services oldest first: of two claiming one address without a valid sharing key, the
   * later one is refused and reported, never both kept.
   */
  restore(existing: ExistingAssignment[]): RestoreReport {
    let restored = 0;
    const refused: DroppedAssignment[] = [];
    for (const { request, ips } of existing) {
      if (ips.length === 0) continue;
      const bad = checkRequest(request);
      const result = bad === null
        ? this.#claim(request, { texts: ips, lenient: true })
        : refuse("bad-request", bad);
      if (result.ok) restored++;
      else if (!this.#restoreInside(request, { ips, result, refused })) {
        refused.push({ key: request.key, ips, reason: result.reason });
      } else restored++;
    }
    return { restored, refused };
  }

  /**
   * Gives a Service its addresses: the existing assignment when still valid, else the
   * requested IPs, the annotated pool, matching serviceAllocation pools by priority, then
   * other autoAssign pools by name. RequireDualStack needs both families from one pool;
   * PreferDualStack takes both from one pool if any has both, else the first family listed
   * in ipFamilies, else the other. A Service holding an address of a family it still wants
   * keeps it and gets only the missing family, from the same pool. A PreferDualStack Service
   * listing one family gets that family, and the other too when the same pool has one (as
   * MetalLB's additional assignment). Refusals are values naming the reason.
   */
  allocate(request: ServiceRequest): AllocateResult {
    const bad = checkRequest(request);
    if (bad !== null) return refuse("bad-request", bad);
    const existing = this.#assignments.get(request.key);
    if (existing) {
      const kept = this.#keep(existing, request);
      if (kept) return kept;
      this.release(request.key);
    }
    if (hasRequestedIPs(request)) {
      return this.#claim(request, { texts: request.requestedIPs!, lenient: false });
    }
    const candidates = this.#candidates(request);
    if (!Array.isArray(candidates)) return candidates as Refusal;
    return this.#allocateFrom(request, candidates);
  }

  /** The existing assignment, still valid or completed in its pool; null to start over. */
  #keep(rec: Assignment, request: ServiceRequest): AllocateResult | null {
    const want = allowedFamilies(request).length;
    if (rec.count === want && this.#invalidReason(rec, request) === null) {
      this.#reindexSharing(rec, request);
      return { ok: true, ips: rec.list() as string[], pool: rec.pool, kept: true };
    }
    return this.#keepAndComplete(rec, request);
  }

  /** The pools to try: the annotated one, else the autoAssign pools serving the Service. */
  #candidates(request: ServiceRequest): readonly PoolState[] | Refusal {
    if (request.pool === undefined || request.pool === "") return this.#pools.autoFor(request);
    const pool = this.#pools.get(request.pool);
    if (!pool) return refuse("unknown-pool", `unknown pool ${request.pool}`);
    if (!poolServes(pool.allocation, request)) {
      return refuse("not-served", `pool ${pool.name} does not serve ${request.key}`, {
        pool: pool.name,
      });
    }
    return [pool];
  }

  /** Fresh addresses from the first candidate pool that has them. */
  #allocateFrom(request: ServiceRequest, candidates: readonly PoolState[]): AllocateResult {
    const wanted = wantedFamilies(request);
    if (wanted.length === 2) {
      for (const pool of candidates) {
        const a = this.#pick(pool, { family: wanted[0], request });
        const b = a === undefined ? undefined : this.#pick(pool, { family: wanted[1], request });
        if (a !== undefined && b !== undefined) return this.#commit(request, { ips: [a, b], pool });
      }
      if (request.policy === "RequireDualStack") {
        if (!candidates.some((p) => p.v4 && p.v6)) {
          return refuse("no-pool", `no pool with both IPv4 and IPv6 serves ${request.key}`);
        }
        return refuse("exhausted", "pool exhausted", { pool: request.pool });
      }
    }
    // PreferDualStack without a pool for both: the primary family, else the secondary, as
    // MetalLB does.
    for (const family of wanted) {
      for (const pool of candidates) {
        const a = this.#pick(pool, { family, request });
        if (a !== undefined) return this.#commit(request, this.#withAdditional(pool, [a], request));
      }
    }
    if (!candidates.some((p) => wanted.some((f) => spaceOf(p, f)))) {
      const fams = wanted.map((f) => `IPv${f}`).join(" or ");
      return refuse("no-pool", `no pool with ${fams} addresses serves ${request.key}`);
    }
    return refuse("exhausted", "pool exhausted", { pool: request.pool });
  }

  // MetalLB adds the other family to a PreferDualStack Service listing one, from the pool
  // of the address it got, when that pool has one for it; without one it keeps the one.
  #withAdditional(
    pool: PoolState,
    ips: string[],
    request: ServiceRequest,
  ): { ips: string[]; pool: PoolState; additional?: string } {
    const family = additionalFamily(request);
    if (family === undefined || ips.some((ip) => familyOf(ip) === family)) return { ips, pool };
    const additional = this.#pick(pool, { family, request });
    return additional === undefined
      ? { ips, pool }
      : { ips: [...ips, additional], pool, additional };
  }

  /** Releases a Service's addresses (freed ones go to the back of the reuse line). */
  release(key: string): boolean {
    return this.#drop(key, true);
  }

  /** The Service's current addresses and pool, or undefined. */
  assignmentOf(key: string): AssignmentView | undefined {
    const rec = this.#assignments.get(key);
    return rec ? { ips: [...rec.list()], pool: rec.pool } : undefined;
  }

  /**
   * The Service's addresses without a copy, or undefined: read them, do not change them (a
   * list of two is the assignment's own). For per-Service checks on every pass.
   */
  ipsOf(key: string): readonly string[] | undefined {
    return this.#assignments.get(key)?.list();
  }

  /**
   * The Service's addresses as the assignment keeps them, or undefined: one as its text,
   * else its own list (read it, do not change it). For holding on to without a list each.
   */
  heldOf(key: string): string | readonly string[] | undefined {
    return this.#assignments.get(key)?.ips;
  }

  /** The pool of the Service's assignment, or undefined when it holds none. */
  poolOf(key: string): string | undefined {
    return this.#assignments.get(key)?.pool;
  }

  /** Every current assignment, in assignment order. */
  *assignments(): IterableIterator<[string, AssignmentView]> {
    for (const [key, rec] of this.#assignments) {
      yield [key, { ips: [...rec.list()], pool: rec.pool }];
    }
  }

  /** The keys of every Service holding an assignment, in assignment order. */
  keys(): IterableIterator<string> {
    return this.#assignments.keys();
  }

  /** The Services holding an address (several when shared). */
  holdersOf(ip: string): string[] {
    const parsed = parseIP(ip);
    return parsed ? [...this.#table.holders(formatIP(parsed))] : [];
  }

  /** Pool names, sorted. */
  poolNames(): string[] {
    return this.#pools.byName.map((p) => p.name);
  }

  /** Address counts of a pool per family (distinct addresses in use), or undefined. */
  counts(pool: string): PoolCounts | undefined {
    const p = this.#pools.get(pool);
    if (!p) return undefined;
    const fc = (s: AddressSpace | null): FamilyCounts =>
      s
        ? { total: s.total, used: s.used, available: s.total - BigInt(s.used) }
        : { total: 0n, used: 0, available: 0n };
    return { ipv4: fc(p.v4), ipv6: fc(p.v6) };
  }

  #conflict(ip: string, request: ServiceRequest): string | null {
    for (const holder of this.#table.holders(ip)) {
      if (holder === request.key) continue;
      const why = sharingConflict(this.#assignments.get(holder)!.sharing, request);
      if (why !== null) return `ip in use by ${holder} and not shareable: ${why}`;
    }
    return null;
  }

  /** An address of `family` in `pool` for the Service: a shareable one, else a free one. */
  #pick(pool: PoolState, want: { family: Family; request: ServiceRequest }): string | undefined {
    const { family, request } = want;
    const space = spaceOf(pool, family);
    if (!space) return undefined;
    // Services with one sharing key get one address when compatible, as in MetalLB.
    if (request.sharingKey) {
      return this.#pickShared(space, { pool, family, request }) ?? this.#pickFree(space);
    }
    return this.#pickFree(space);
  }

  #pickFree(space: AddressSpace): string | undefined {
    return space.peekFresh(this.#table.taken) ?? space.peekFreed(this.#table.freedValid);
  }

  /** An address of `pool` that Services with the request's sharing key hold and may share. */
  #pickShared(
    space: AddressSpace,
    want: { pool: PoolState; family: Family; request: ServiceRequest },
  ): string | undefined {
    const { pool, family, request } = want;
    for (const ip of this.#sharing.ipsOf(request.sharingKey)) {
      if (familyOf(ip) !== family || space.excluded(ip)) continue;
      const first = this.#table.firstHolder(ip);
      if (first === undefined || this.#assignments.get(first)?.pool !== pool.name) continue;
      if (this.#conflict(ip, request) === null) return ip;
    }
    return undefined;
  }

  #commit(
    request: ServiceRequest,
    got: { ips: string[]; pool: PoolState; additional?: string },
  ): AllocateResult {
    const ordered = orderByFamilies(got.ips, request.families);
    this.#assignments.set(request.key, new Assignment(ordered, got.pool.name, request));
    for (const ip of ordered) {
      if (this.#table.hold(ip, request.key)) spaceOf(got.pool, familyOf(ip))!.used++;
      if (request.sharingKey) this.#sharing.count(request.sharingKey, { ip, delta: 1 });
    }
    // One address is kept as text, so the list can go to the caller as it is.
    const ips = ordered.length === 1 ? ordered : [...ordered];
    if (got.additional === undefined) return { ok: true, ips, pool: got.pool.name, kept: false };
    return { ok: true, ips, pool: got.pool.name, kept: false, additional: got.additional };
  }

  #reindexSharing(rec: Assignment, request: ServiceRequest): void {
    const from = rec.sharingKey;
    if (from !== request.sharingKey) {
      this.#sharing.move(rec.list(), { from, to: request.sharingKey });
    }
    rec.adopt(request);
  }

  #drop(key: string, counted: boolean): boolean {
    const rec = this.#assignments.get(key);
    if (!rec) return false;
    this.#assignments.delete(key);
    const pool = counted ? this.#pools.get(rec.pool) : undefined;
    for (const ip of rec.list()) this.#unhold({ key, rec }, { ip, pool });
    return true;
  }

  // Gives up one address of an assignment; `pool` (when counts are kept live) gets it back.
  #unhold(held: { key: string; rec: Assignment }, what: { ip: string; pool?: PoolState }): void {
    const { ip, pool } = what;
    const sharingKey = held.rec.sharingKey;
    if (sharingKey) this.#sharing.count(sharingKey, { ip, delta: -1 });
    const freed = this.#table.release(ip, held.key);
    const space = freed && pool ? spaceOf(pool, familyOf(ip)) : null;
    if (space) {
      space.used--;
      space.pushFreed(freed!);
    }
  }

  // A restored dual-stack status with one address outside every pool: the other is restored
  // alone and the outside one reported. False when that does not apply.
  #restoreInside(
    request: ServiceRequest,
    claim: { ips: string[]; result: Refusal; refused: DroppedAssignment[] },
  ): boolean {
    const { ips, result } = claim;
    if (result.code !== "not-in-pool" || ips.length !== 2) return false;
    const inside = ips.filter((t) => {
      const ip = parseIP(t.trim());
      return ip !== undefined && ip !== null && this.#pools.poolOf(ip) !== undefined;
    });
    if (inside.length !== 1) return false;
    if (!this.#claim(request, { texts: inside, lenient: true }).ok) return false;
    claim.refused.push({
      key: request.key,
      ips: ips.filter((t) => t !== inside[0]),
      reason: result.reason,
    });
    return true;
  }

  // Keeps the addresses of families the Service still wants that are still valid in its
  // pool and adds the missing family from that same pool, as MetalLB does for an additional
  // family. Null when nothing can be kept or RequireDualStack cannot be completed there.
  #keepAndComplete(rec: Assignment, request: ServiceRequest): AllocateResult | null {
    const pool = this.#pools.get(rec.pool);
    if (!pool || hasRequestedIPs(request)) return null;
    if (request.pool && request.pool !== pool.name) return null;
    if (!poolServes(pool.allocation, request)) return null;
    const wanted = wantedFamilies(request);
    const allowed = allowedFamilies(request);
    const had = rec.list();
    const ips = had.filter((ip) => {
      const space = spaceOf(pool, familyOf(ip));
      return allowed.includes(familyOf(ip)) && space !== null && space.contains(parseIP(ip)!) &&
        !space.excluded(ip) && this.#conflict(ip, request) === null;
    });
    // Only an address of a family the Service lists is kept: an additional one alone is not.
    if (!ips.some((ip) => wanted.includes(familyOf(ip)))) return null;
    const kept = ips.length;
    for (const family of wanted) {
      if (ips.some((ip) => familyOf(ip) === family)) continue;
      const ip = this.#pick(pool, { family, request });
      if (ip !== undefined) ips.push(ip);
    }
    if (request.policy === "RequireDualStack" && ips.length !== 2) return null;
    const got = this.#withAdditional(pool, ips, request);
    if (kept === had.length && got.ips.length === kept) {
      // PreferDualStack whose pool has no address of the other family: unchanged.
      this.#reindexSharing(rec, request);
      return { ok: true, ips: had as string[], pool: rec.pool, kept: true };
    }
    this.#drop(request.key, true);
    return this.#commit(request, got);
  }

  #invalidReason(rec: Assignment, request: ServiceRequest): string | null {
    const pool = this.#pools.get(rec.pool);
    if (!pool) return `pool ${rec.pool} no longer exists`;
    const ips = rec.list();
    for (const ip of ips) {
      const space = spaceOf(pool, familyOf(ip));
      if (!space || !space.contains(parseIP(ip)!) || space.excluded(ip)) {
        return `ip ${ip} is not in pool ${pool.name}`;
      }
    }
    if (!poolServes(pool.allocation, request)) {
      return `pool ${pool.name} does not serve ${request.key}`;
    }
    if (request.pool && request.pool !== pool.name) {
      return `ip ${ips[0]} is not in pool ${request.pool}`;
    }
    const why = requestedChanged(request, ips) ?? familiesChanged(request, ips);
    if (why !== null) return why;
    for (const ip of ips) {
      const conflict = this.#conflict(ip, request);
      if (conflict !== null) return conflict;
    }
    return null;
  }

  // Takes specific addresses: requested IPs (strict) or restored ones (lenient: pool
  // annotation, serviceAllocation and family policy are left to the next allocate).
  #claim(request: ServiceRequest, what: { texts: string[]; lenient: boolean }): AllocateResult {
    const claim = parseClaim(request, what);
    if (!claim.ok) return claim;
    // Restored addresses are taken from wherever they lie (the next allocate checks them).
    const pool = what.lenient || !request.pool
      ? poolByAddress(this.#pools, claim)
      : claimPool(this.#pools, { claim, named: request.pool });
    if ("ok" in pool) return pool;
    if (!what.lenient && !poolServes(pool.allocation, request)) {
      return refuse("not-served", `pool ${pool.name} does not serve ${request.key}`, {
        pool: pool.name,
      });
    }
    for (const ip of claim.ips) {
      if (spaceOf(pool, familyOf(ip))!.excluded(ip)) {
        const reason = `ip ${ip} is excluded by avoidBuggyIPs in pool ${pool.name}`;
        return refuse("not-in-pool", reason, { ip, pool: pool.name });
      }
      const why = this.#conflict(ip, request);
      if (why !== null) return refuse("in-use", why, { ip, pool: pool.name });
    }
    if (what.lenient) this.#drop(request.key, true);
    return this.#commit(request, { ips: claim.ips, pool });
  }
}
