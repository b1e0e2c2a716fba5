/**
 * The pure IP allocator: MetalLB's allocation rules over plain data. State is a map from
 * address to holders, per-pool cursors and freed queues (see pool.ts), so every operation
 * costs the same with ten or a million addresses assigned.
 */
import {
  type AddressRange,
  type Family,
  formatIP,
  formatRange,
  type IP,
  parseAddressRange,
  parseIP,
} from "./addr.ts";
import { type AddressSpace, buildSpace, type FreedEntry } from "./pool.ts";
import { matchesSelector } from "./selector.ts";
import type {
  AllocateResult,
  DroppedAssignment,
  ExistingAssignment,
  FamilyCounts,
  PoolChangeReport,
  PoolCounts,
  PoolSpec,
  Refusal,
  RefusalCode,
  RestoreReport,
  ServiceAllocation,
  ServiceRequest,
} from "./types.ts";

interface PoolState {
  name: string;
  autoAssign: boolean;
  allocation: ServiceAllocation | null;
  priority: number;
  ranges: AddressRange[];
  v4: AddressSpace | null;
  v6: AddressSpace | null;
}

interface Assignment {
  ips: string[];
  pool: string;
  request: ServiceRequest;
}

/** A Service's current assignment as the allocator holds it. */
export interface AssignmentView {
  ips: string[];
  pool: string;
}

function refuse(
  code: RefusalCode,
  reason: string,
  extra: { ip?: string; pool?: string } = {},
): Refusal {
  return { ok: false, code, reason, ...extra };
}

function familyOf(ip: string): Family {
  return ip.includes(":") ? 6 : 4;
}

function spaceOf(pool: PoolState, family: Family): AddressSpace | null {
  return family === 4 ? pool.v4 : pool.v6;
}

/**
 * Why two Services may not share an address, or null when they may: the same non-empty
 * sharing key, the same backends and no overlapping (protocol, port).
 */
export function sharingConflict(a: ServiceRequest, b: ServiceRequest): string | null {
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

/** Whether a pool's serviceAllocation admits this Service (pools without one serve all). */
export function poolServes(allocation: ServiceAllocation | undefined, request: ServiceRequest) {
  if (!allocation) return true;
  const namespaces = allocation.namespaces ?? [];
  const nsSelectors = allocation.namespaceSelectors ?? [];
  // MetalLB folds namespaceSelectors into the namespace set: either admits the namespace.
  if (namespaces.length > 0 || nsSelectors.length > 0) {
    const labels = request.namespaceLabels ?? {};
    const ok = namespaces.includes(request.namespace) ||
      nsSelectors.some((s) => matchesSelector(s, labels));
    if (!ok) return false;
  }
  const svcSelectors = allocation.serviceSelectors ?? [];
  if (svcSelectors.length > 0) {
    const labels = request.serviceLabels ?? {};
    if (!svcSelectors.some((s) => matchesSelector(s, labels))) return false;
  }
  return true;
}

function checkRequest(req: ServiceRequest): string | null {
  if (!req.key) return "service key is empty";
  if (req.families.length === 0 || req.families.length > 2) {
    return `${req.key}: ipFamilies must list one or two families`;
  }
  if (req.families.some((f) => f !== 4 && f !== 6)) return `${req.key}: unknown IP family`;
  if (req.families.length === 2 && req.families[0] === req.families[1]) {
    return `${req.key}: ipFamilies lists a family twice`;
  }
  if (!["SingleStack", "PreferDualStack", "RequireDualStack"].includes(req.policy)) {
    return `${req.key}: unknown ipFamilyPolicy "${req.policy}"`;
  }
  if (req.policy === "RequireDualStack" && req.families.length !== 2) {
    return `${req.key}: RequireDualStack needs both IP families`;
  }
  return null;
}

function wantedFamilies(req: ServiceRequest): Family[] {
  return req.policy === "SingleStack" ? [req.families[0]] : req.families.slice(0, 2);
}

function orderByFamilies(ips: string[], families: Family[]): string[] {
  if (ips.length < 2) return ips;
  return [...ips].sort((a, b) => families.indexOf(familyOf(a)) - families.indexOf(familyOf(b)));
}

function autoOrder(a: PoolState, b: PoolState): number {
  const rank = (p: PoolState) => (p.allocation ? (p.priority > 0 ? 0 : 1) : 2);
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0 && a.priority !== b.priority) return a.priority - b.priority;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * Assigns LoadBalancer addresses to Services from pools, following MetalLB's rules. Call
 * `setPools`, then `restore` with every Service's current ingress IPs, then `allocate` and
 * `release` as Services change.
 */
export class Allocator {
  #pools = new Map<string, PoolState>();
  #byName: PoolState[] = [];
  #auto: PoolState[] = [];
  #autoFiltered = false;
  #assignments = new Map<string, Assignment>();
  #holders = new Map<string, string | string[]>();
  #sharing = new Map<string, Map<string, number>>();
  // Freed addresses and the sequence number of their latest free; Map order is free order.
  #freed = new Map<string, number>();
  #seq = 0;
  #taken = (ip: string) => this.#holders.has(ip) || (this.#freed.size > 0 && this.#freed.has(ip));
  #freedValid = (e: FreedEntry) => this.#freed.get(e.ip) === e.seq;

  /**
   * Replaces the pool set. On invalid pools nothing changes and the reason is returned.
   * Assignments that are no longer valid (address outside every pool, family addresses
   * split across pools, excluded by avoidBuggyIPs, pool no longer serving the Service) are
   * released and reported, so no address outside every pool is ever kept.
   */
  setPools(specs: PoolSpec[]): PoolChangeReport {
    const built = buildPools(specs);
    if (!built.ok) return built;
    const old = this.#pools;
    for (const pool of built.pools) {
      const prev = old.get(pool.name);
      if (!prev) continue;
      for (const family of [4, 6] as const) {
        const next = spaceOf(pool, family);
        const before = spaceOf(prev, family);
        if (next && before && next.sameRanges(before)) next.adoptCursor(before);
      }
    }
    this.#pools = new Map(built.pools.map((p) => [p.name, p]));
    this.#byName = [...built.pools].sort((a, b) => (a.name < b.name ? -1 : 1));
    this.#auto = built.pools.filter((p) => p.autoAssign).sort(autoOrder);
    this.#autoFiltered = this.#auto.some((p) => p.allocation !== null);

    const invalid: DroppedAssignment[] = [];
    const moved: { key: string; from: string; to: string }[] = [];
    const shrink: { key: string; ip: string; pool: PoolState }[] = [];
    for (const [key, rec] of this.#assignments) {
      const found = this.#locate(rec.ips);
      let reason = found.ok ? null : found.reason;
      if (found.ok) {
        const ip = rec.ips.find((a) => spaceOf(found.pool, familyOf(a))!.excluded(a));
        if (ip) reason = `ip ${ip} is excluded by avoidBuggyIPs in pool ${found.pool.name}`;
        else if (!poolServes(found.pool.allocation ?? undefined, rec.request)) {
          reason = `pool ${found.pool.name} does not serve ${key}`;
        } else if (rec.request.pool && rec.request.pool !== found.pool.name) {
          // The Service asked for a pool by name; its address now lies in another one.
          reason = `ip ${rec.ips[0]} is not in pool ${rec.request.pool}`;
        } else if (found.pool.name !== rec.pool) {
          moved.push({ key, from: rec.pool, to: found.pool.name });
          rec.pool = found.pool.name;
        }
      }
      if (reason === null) continue;
      // A dual-stack Service keeps the address still valid and loses only the other one
      // (allocate then gives it the missing family from the same pool).
      const survivor = rec.ips.length === 2 ? this.#survivor(rec) : undefined;
      if (survivor) {
        shrink.push({ key, ...survivor });
        invalid.push({ key, ips: rec.ips.filter((ip) => ip !== survivor.ip), reason });
      } else invalid.push({ key, ips: rec.ips, reason });
    }
    for (const s of shrink) {
      const rec = this.#assignments.get(s.key)!;
      for (const ip of rec.ips) if (ip !== s.ip) this.#unhold(s.key, rec, ip, undefined);
      rec.ips = [s.ip];
      if (rec.pool !== s.pool.name) {
        moved.push({ key: s.key, from: rec.pool, to: s.pool.name });
        rec.pool = s.pool.name;
      }
    }
    const shrunk = new Set(shrink.map((s) => s.key));
    for (const drop of invalid) if (!shrunk.has(drop.key)) this.#drop(drop.key, false);
    for (const [ip, holder] of this.#holders) {
      const rec = this.#assignments.get(typeof holder === "string" ? holder : holder[0])!;
      spaceOf(this.#pools.get(rec.pool)!, familyOf(ip))!.used++;
    }
    for (const [ip, seq] of this.#freed) {
      const parsed = parseIP(ip)!;
      const pool = this.#poolOf(parsed);
      if (pool) spaceOf(pool, parsed.family)!.pushFreed({ ip, seq });
    }
    return { ok: true, invalid, moved };
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
        ? this.#claim(request, ips, { lenient: true })
        : refuse("bad-request", bad);
      if (result.ok) restored++;
      else if (!this.#restoreInside(request, ips, result, refused)) {
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
   * keeps it and gets only the missing family, from the same pool. Refusals are values
   * naming the reason.
   */
  allocate(request: ServiceRequest): AllocateResult {
    const bad = checkRequest(request);
    if (bad !== null) return refuse("bad-request", bad);
    const existing = this.#assignments.get(request.key);
    if (existing) {
      const want = request.policy === "SingleStack" ? 1 : request.families.length;
      if (existing.ips.length === want && this.#invalidReason(existing, request) === null) {
        this.#reindexSharing(existing, request);
        return { ok: true, ips: existing.ips, pool: existing.pool, kept: true };
      }
      const kept = this.#keepAndComplete(existing, request);
      if (kept) return kept;
      this.release(request.key);
    }
    if (request.requestedIPs && request.requestedIPs.length > 0) {
      return this.#claim(request, request.requestedIPs, { lenient: false });
    }
    let candidates: PoolState[];
    if (request.pool !== undefined && request.pool !== "") {
      const pool = this.#pools.get(request.pool);
      if (!pool) return refuse("unknown-pool", `unknown pool ${request.pool}`);
      if (!poolServes(pool.allocation ?? undefined, request)) {
        return refuse("not-served", `pool ${pool.name} does not serve ${request.key}`, {
          pool: pool.name,
        });
      }
      candidates = [pool];
    } else {
      candidates = this.#autoFiltered
        ? this.#auto.filter((p) => poolServes(p.allocation ?? undefined, request))
        : this.#auto;
    }
    const wanted = wantedFamilies(request);
    if (wanted.length === 2) {
      for (const pool of candidates) {
        const a = this.#pick(pool, wanted[0], request);
        const b = a === undefined ? undefined : this.#pick(pool, wanted[1], request);
        if (a !== undefined && b !== undefined) return this.#commit(request, [a, b], pool);
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
        const a = this.#pick(pool, family, request);
        if (a !== undefined) return this.#commit(request, [a], pool);
      }
    }
    if (!candidates.some((p) => wanted.some((f) => spaceOf(p, f)))) {
      const fams = wanted.map((f) => `IPv${f}`).join(" or ");
      return refuse("no-pool", `no pool with ${fams} addresses serves ${request.key}`);
    }
    return refuse("exhausted", "pool exhausted", { pool: request.pool });
  }

  /** Releases a Service's addresses (freed ones go to the back of the reuse line). */
  release(key: string): boolean {
    return this.#drop(key, true);
  }

  /** The Service's current addresses and pool, or undefined. */
  assignmentOf(key: string): AssignmentView | undefined {
    const rec = this.#assignments.get(key);
    return rec ? { ips: [...rec.ips], pool: rec.pool } : undefined;
  }

  /** Every current assignment, in assignment order. */
  *assignments(): IterableIterator<[string, AssignmentView]> {
    for (const [key, rec] of this.#assignments) yield [key, { ips: [...rec.ips], pool: rec.pool }];
  }

  /** The Services holding an address (several when shared). */
  holdersOf(ip: string): string[] {
    const parsed = parseIP(ip);
    const h = parsed ? this.#holders.get(formatIP(parsed)) : undefined;
    return h === undefined ? [] : typeof h === "string" ? [h] : [...h];
  }

  /** Pool names, sorted. */
  poolNames(): string[] {
    return this.#byName.map((p) => p.name);
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

  #poolOf(ip: IP): PoolState | undefined {
    for (const pool of this.#byName) {
      if (spaceOf(pool, ip.family)?.contains(ip)) return pool;
    }
    return undefined;
  }

  #locate(ips: string[]): { ok: true; pool: PoolState } | { ok: false; reason: string } {
    let pool: PoolState | undefined;
    for (const ip of ips) {
      const p = this.#poolOf(parseIP(ip)!);
      if (!p) return { ok: false, reason: `ip ${ip} is not in any pool` };
      if (pool && pool !== p) {
        return { ok: false, reason: `ips ${ips.join(" and ")} are not in one pool` };
      }
      pool = p;
    }
    return { ok: true, pool: pool! };
  }

  #holderList(ip: string): string[] {
    const h = this.#holders.get(ip);
    return h === undefined ? [] : typeof h === "string" ? [h] : h;
  }

  #conflict(ip: string, request: ServiceRequest): string | null {
    for (const holder of this.#holderList(ip)) {
      if (holder === request.key) continue;
      const why = sharingConflict(this.#assignments.get(holder)!.request, request);
      if (why !== null) return `ip in use by ${holder} and not shareable: ${why}`;
    }
    return null;
  }

  #pick(pool: PoolState, family: Family, request: ServiceRequest): string | undefined {
    const space = spaceOf(pool, family);
    if (!space) return undefined;
    const shared = request.sharingKey ? this.#sharing.get(request.sharingKey) : undefined;
    if (shared) {
      // Services with one sharing key get one address when compatible, as in MetalLB.
      for (const ip of shared.keys()) {
        if (familyOf(ip) !== family || space.excluded(ip)) continue;
        const first = this.#holderList(ip)[0];
        if (this.#assignments.get(first)?.pool !== pool.name) continue;
        if (this.#conflict(ip, request) === null) return ip;
      }
    }
    return space.peekFresh(this.#taken) ?? space.peekFreed(this.#freedValid);
  }

  #commit(request: ServiceRequest, ips: string[], pool: PoolState): AllocateResult {
    const ordered = orderByFamilies(ips, request.families);
    this.#assignments.set(request.key, { ips: ordered, pool: pool.name, request });
    for (const ip of ordered) {
      const h = this.#holders.get(ip);
      if (h === undefined) {
        this.#holders.set(ip, request.key);
        this.#freed.delete(ip);
        spaceOf(pool, familyOf(ip))!.used++;
      } else if (typeof h === "string") {
        this.#holders.set(ip, [h, request.key]);
      } else {
        h.push(request.key);
      }
      if (request.sharingKey) this.#indexSharing(request.sharingKey, ip, 1);
    }
    return { ok: true, ips: [...ordered], pool: pool.name, kept: false };
  }

  #indexSharing(sharingKey: string, ip: string, delta: number): void {
    let m = this.#sharing.get(sharingKey);
    if (!m) {
      m = new Map();
      this.#sharing.set(sharingKey, m);
    }
    const n = (m.get(ip) ?? 0) + delta;
    if (n > 0) m.set(ip, n);
    else m.delete(ip);
    if (m.size === 0) this.#sharing.delete(sharingKey);
  }

  #reindexSharing(rec: Assignment, request: ServiceRequest): void {
    if (rec.request.sharingKey !== request.sharingKey) {
      for (const ip of rec.ips) {
        if (rec.request.sharingKey) this.#indexSharing(rec.request.sharingKey, ip, -1);
        if (request.sharingKey) this.#indexSharing(request.sharingKey, ip, 1);
      }
    }
    rec.request = request;
  }

  #drop(key: string, counted: boolean): boolean {
    const rec = this.#assignments.get(key);
    if (!rec) return false;
    this.#assignments.delete(key);
    const pool = counted ? this.#pools.get(rec.pool) : undefined;
    for (const ip of rec.ips) this.#unhold(key, rec, ip, pool);
    return true;
  }

  // Gives up one address of an assignment; `pool` (when counts are kept live) gets it back.
  #unhold(key: string, rec: Assignment, ip: string, pool: PoolState | undefined): void {
    if (rec.request.sharingKey) this.#indexSharing(rec.request.sharingKey, ip, -1);
    const h = this.#holders.get(ip);
    if (Array.isArray(h)) {
      const rest = h.filter((k) => k !== key);
      this.#holders.set(ip, rest.length === 1 ? rest[0] : rest);
      return;
    }
    this.#holders.delete(ip);
    const seq = ++this.#seq;
    // Delete first so Map order stays the order of latest frees.
    this.#freed.delete(ip);
    this.#freed.set(ip, seq);
    const space = pool ? spaceOf(pool, familyOf(ip)) : null;
    if (space) {
      space.used--;
      space.pushFreed({ ip, seq });
    }
  }

  // The address of a dual-stack assignment that stays valid on its own after a pool change,
  // preferring one in the assignment's pool; undefined when none does.
  #survivor(rec: Assignment): { ip: string; pool: PoolState } | undefined {
    let found: { ip: string; pool: PoolState } | undefined;
    for (const ip of rec.ips) {
      const pool = this.#poolOf(parseIP(ip)!);
      if (!pool || spaceOf(pool, familyOf(ip))!.excluded(ip)) continue;
      if (!poolServes(pool.allocation ?? undefined, rec.request)) continue;
      if (rec.request.pool && rec.request.pool !== pool.name) continue;
      if (pool.name === rec.pool) return { ip, pool };
      found ??= { ip, pool };
    }
    return found;
  }

  // A restored dual-stack status with one address outside every pool: the other is restored
  // alone and the outside one reported. False when that does not apply.
  #restoreInside(
    request: ServiceRequest,
    ips: string[],
    result: Refusal,
    refused: DroppedAssignment[],
  ): boolean {
    if (result.code !== "not-in-pool" || ips.length !== 2) return false;
    const inside = ips.filter((t) => {
      const ip = parseIP(t.trim());
      return ip !== undefined && ip !== null && this.#poolOf(ip) !== undefined;
    });
    if (inside.length !== 1 || !this.#claim(request, inside, { lenient: true }).ok) return false;
    refused.push({
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
    if (!pool || (request.requestedIPs && request.requestedIPs.length > 0)) return null;
    if (request.pool && request.pool !== pool.name) return null;
    if (!poolServes(pool.allocation ?? undefined, request)) return null;
    const wanted = wantedFamilies(request);
    const ips = rec.ips.filter((ip) => {
      const space = spaceOf(pool, familyOf(ip));
      return wanted.includes(familyOf(ip)) && space !== null && space.contains(parseIP(ip)!) &&
        !space.excluded(ip) && this.#conflict(ip, request) === null;
    });
    if (ips.length === 0) return null;
    const kept = ips.length;
    for (const family of wanted) {
      if (ips.some((ip) => familyOf(ip) === family)) continue;
      const ip = this.#pick(pool, family, request);
      if (ip !== undefined) ips.push(ip);
    }
    if (request.policy === "RequireDualStack" && ips.length !== 2) return null;
    if (kept === rec.ips.length && ips.length === kept) {
      // PreferDualStack whose pool has no address of the other family: unchanged.
      this.#reindexSharing(rec, request);
      return { ok: true, ips: rec.ips, pool: rec.pool, kept: true };
    }
    this.#drop(request.key, true);
    return this.#commit(request, ips, pool);
  }

  #invalidReason(rec: Assignment, request: ServiceRequest): string | null {
    const pool = this.#pools.get(rec.pool);
    if (!pool) return `pool ${rec.pool} no longer exists`;
    for (const ip of rec.ips) {
      const space = spaceOf(pool, familyOf(ip));
      if (!space || !space.contains(parseIP(ip)!) || space.excluded(ip)) {
        return `ip ${ip} is not in pool ${pool.name}`;
      }
    }
    if (!poolServes(pool.allocation ?? undefined, request)) {
      return `pool ${pool.name} does not serve ${request.key}`;
    }
    if (request.pool && request.pool !== pool.name) {
      return `ip ${rec.ips[0]} is not in pool ${request.pool}`;
    }
    if (request.requestedIPs && request.requestedIPs.length > 0) {
      const want = request.requestedIPs.map((t) => {
        const p = parseIP(t);
        return p ? formatIP(p) : t;
      }).sort().join(",");
      if (want !== [...rec.ips].sort().join(",")) return "requested ips changed";
    }
    const wanted = wantedFamilies(request);
    const families = rec.ips.map(familyOf);
    if (families.some((f) => !wanted.includes(f))) return "ip families changed";
    if (request.policy === "RequireDualStack" && families.length !== 2) {
      return "RequireDualStack needs both families";
    }
    for (const ip of rec.ips) {
      const why = this.#conflict(ip, request);
      if (why !== null) return why;
    }
    return null;
  }

  // Takes specific addresses: requested IPs (strict) or restored ones (lenient: pool
  // annotation, serviceAllocation and family policy are left to the next allocate).
  #claim(request: ServiceRequest, texts: string[], opts: { lenient: boolean }): AllocateResult {
    const parsed: IP[] = [];
    for (const text of texts) {
      const ip = parseIP(text.trim());
      if (!ip) return refuse("bad-request", `invalid ip "${text}"`);
      if (parsed.some((p) => p.family === ip.family)) {
        return refuse("bad-request", `at most one ip per family: ${texts.join(",")}`);
      }
      if (!opts.lenient && !request.families.includes(ip.family)) {
        return refuse("bad-request", `ip ${formatIP(ip)} is not of the service's families`, {
          ip: formatIP(ip),
        });
      }
      parsed.push(ip);
    }
    const ips = parsed.map(formatIP);
    if (!opts.lenient) {
      if (request.policy === "SingleStack" && ips.length !== 1) {
        return refuse("bad-request", `SingleStack service requests ${ips.length} ips`);
      }
      if (request.policy === "RequireDualStack" && ips.length !== 2) {
        return refuse("bad-request", "RequireDualStack needs one requested ip of each family");
      }
    }
    let pool: PoolState | undefined;
    if (!opts.lenient && request.pool) {
      pool = this.#pools.get(request.pool);
      if (!pool) return refuse("unknown-pool", `unknown pool ${request.pool}`);
      for (let i = 0; i < parsed.length; i++) {
        if (!spaceOf(pool, parsed[i].family)?.contains(parsed[i])) {
          return refuse("not-in-pool", `ip ${ips[i]} is not in pool ${pool.name}`, {
            ip: ips[i],
            pool: pool.name,
          });
        }
      }
    } else {
      for (let i = 0; i < parsed.length; i++) {
        const p = this.#poolOf(parsed[i]);
        if (!p) {
          return refuse("not-in-pool", `ip ${ips[i]} is not in any pool`, { ip: ips[i] });
        }
        if (pool && p !== pool) {
          return refuse("not-in-pool", `ips ${ips.join(" and ")} are not in one pool`);
        }
        pool = p;
      }
    }
    if (!opts.lenient && !poolServes(pool!.allocation ?? undefined, request)) {
      return refuse("not-served", `pool ${pool!.name} does not serve ${request.key}`, {
        pool: pool!.name,
      });
    }
    for (const ip of ips) {
      if (spaceOf(pool!, familyOf(ip))!.excluded(ip)) {
        return refuse(
          "not-in-pool",
          `ip ${ip} is excluded by avoidBuggyIPs in pool ${pool!.name}`,
          {
            ip,
            pool: pool!.name,
          },
        );
      }
      const why = this.#conflict(ip, request);
      if (why !== null) return refuse("in-use", why, { ip, pool: pool!.name });
    }
    if (opts.lenient) this.#drop(request.key, true);
    return this.#commit(request, ips, pool!);
  }
}

function buildPools(
  specs: PoolSpec[],
): { ok: true; pools: PoolState[] } | { ok: false; reason: string } {
  const pools: PoolState[] = [];
  const names = new Set<string>();
  const all: { range: AddressRange; pool: string }[] = [];
  for (const spec of specs) {
    if (!spec.name) return { ok: false, reason: "pool with empty name" };
    if (names.has(spec.name)) return { ok: false, reason: `duplicate pool ${spec.name}` };
    names.add(spec.name);
    if (spec.ranges.length === 0) return { ok: false, reason: `pool ${spec.name} is empty` };
    const ranges: AddressRange[] = [];
    for (const r of spec.ranges) {
      if (typeof r === "string") {
        const parsed = parseAddressRange(r);
        if (!parsed.ok) return { ok: false, reason: `pool ${spec.name}: ${parsed.reason}` };
        ranges.push(parsed.value);
      } else {
        const max = r.family === 4 ? (1n << 32n) - 1n : (1n << 128n) - 1n;
        if (r.start < 0n || r.end > max || r.start > r.end) {
          return { ok: false, reason: `pool ${spec.name}: bad range ${r.start}-${r.end}` };
        }
        ranges.push({ family: r.family, start: r.start, end: r.end });
      }
    }
    for (const range of ranges) all.push({ range, pool: spec.name });
    const avoidBuggyIPs = spec.avoidBuggyIPs ?? false;
    pools.push({
      name: spec.name,
      autoAssign: spec.autoAssign ?? true,
      allocation: spec.serviceAllocation ?? null,
      priority: spec.serviceAllocation?.priority ?? 0,
      ranges,
      v4: buildSpace(4, ranges, { avoidBuggyIPs }),
      v6: buildSpace(6, ranges),
    });
  }
  all.sort((a, b) =>
    a.range.family - b.range.family ||
    (a.range.start < b.range.start ? -1 : a.range.start > b.range.start ? 1 : 0)
  );
  for (let i = 1; i < all.length; i++) {
    const prev = all[i - 1];
    const cur = all[i];
    if (prev.range.family === cur.range.family && cur.range.start <= prev.range.end) {
      return {
        ok: false,
        reason: `${formatRange(cur.range)} in pool ${cur.pool} overlaps ${
          formatRange(prev.range)
        } in pool ${prev.pool}`,
      };
    }
  }
  return { ok: true, pools };
}
