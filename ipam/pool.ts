/**
 * Per-pool, per-family address spaces. Nothing here enumerates a range: a cursor walks the
 * never-used addresses in range order and a FIFO holds freed ones.
 *
 * Reuse policy: an allocation takes the next never-used address first; freed addresses are
 * handed out only once every never-used one is gone, oldest freed first. A freed address
 * therefore goes to the back of the line, so a deleted Service's IP is not given to the next
 * Service at once (stale DNS entries and router state keep pointing at it for a while).
 */
import { type AddressRange, type Family, formatIPv4, formatIPv6, type IP } from "./addr.ts";

/** A freed address waiting for reuse; `seq` orders frees and detects stale entries. */
export interface FreedEntry {
  ip: string;
  seq: number;
}

/**
 * Reports whether an address is unavailable to the cursor (held, or freed and queued); an
 * IPv4 cursor passes the address's number as well.
 */
export type TakenCheck = (ip: string, v4?: number) => boolean;

/** Reports whether a queued freed entry is still free and still the latest free of its IP. */
export type FreedCheck = (entry: FreedEntry) => boolean;

/** One family's addresses of one pool, with its allocation cursor and freed queue. */
export interface AddressSpace {
  readonly family: Family;
  /** Allocatable addresses (after avoidBuggyIPs), never enumerated. */
  readonly total: bigint;
  /** Distinct addresses in use, kept by the allocator. */
  used: number;
  contains(ip: IP): boolean;
  /** The next never-used address, without consuming it. */
  peekFresh(taken: TakenCheck): string | undefined;
  /** The oldest freed address still valid, without consuming it. */
  peekFreed(valid: FreedCheck): string | undefined;
  pushFreed(entry: FreedEntry): void;
  /** Whether this address is excluded by avoidBuggyIPs. */
  excluded(ip: string): boolean;
  sameRanges(other: AddressSpace): boolean;
  /** Continues where `other` stopped; only sound when `sameRanges(other)`. */
  adoptCursor(other: AddressSpace): void;
}

class FreedQueue {
  #items: FreedEntry[] = [];
  #head = 0;

  push(entry: FreedEntry): void {
    this.#items.push(entry);
  }

  peek(valid: FreedCheck): string | undefined {
    while (this.#head < this.#items.length) {
      const entry = this.#items[this.#head];
      if (valid(entry)) return entry.ip;
      this.#head++;
    }
    // Drop consumed entries in bulk so the array does not grow without bound.
    if (this.#head > 0) {
      this.#items = [];
      this.#head = 0;
    }
    return undefined;
  }

  compact(): void {
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }
}

function countMod256(n: number, r: number): number {
  // Numbers x in [0, n) with x % 256 === r.
  return n > r ? Math.floor((n - r - 1) / 256) + 1 : 0;
}

function isBuggyV4(v: number): boolean {
  const last = v & 255;
  return last === 0 || last === 255;
}

class V4Space implements AddressSpace {
  readonly family = 4 as const;
  readonly total: bigint;
  used = 0;
  readonly #starts: number[];
  readonly #ends: number[];
  readonly #avoidBuggy: boolean;
  #idx = 0;
  #next: number;
  #freed = new FreedQueue();

  constructor(ranges: AddressRange[], avoidBuggy: boolean) {
    const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.#starts = sorted.map((r) => Number(r.start));
    this.#ends = sorted.map((r) => Number(r.end));
    this.#avoidBuggy = avoidBuggy;
    this.#next = this.#starts[0] ?? 0;
    let total = 0;
    for (let i = 0; i < this.#starts.length; i++) {
      const s = this.#starts[i];
      const e = this.#ends[i];
      let n = e - s + 1;
      if (avoidBuggy) {
        n -= countMod256(e + 1, 0) - countMod256(s, 0);
        n -= countMod256(e + 1, 255) - countMod256(s, 255);
      }
      total += n;
    }
    this.total = BigInt(total);
  }

  contains(ip: IP): boolean {
    if (ip.family !== 4) return false;
    for (let i = 0; i < this.#starts.length; i++) {
      if (ip.value >= this.#starts[i] && ip.value <= this.#ends[i]) return true;
    }
    return false;
  }

  peekFresh(taken: TakenCheck): string | undefined {
    const starts = this.#starts;
    const ends = this.#ends;
    while (this.#idx < starts.length) {
      const v = this.#next;
      if (v > ends[this.#idx]) {
        this.#idx++;
        if (this.#idx < starts.length) this.#next = starts[this.#idx];
        continue;
      }
      if (this.#avoidBuggy && isBuggyV4(v)) {
        this.#next++;
        continue;
      }
      const ip = formatIPv4(v);
      if (taken(ip, v)) {
        this.#next++;
        continue;
      }
      return ip;
    }
    return undefined;
  }

  peekFreed(valid: FreedCheck): string | undefined {
    this.#freed.compact();
    return this.#freed.peek((e) => !this.excluded(e.ip) && valid(e));
  }

  pushFreed(entry: FreedEntry): void {
    this.#freed.push(entry);
  }

  excluded(ip: string): boolean {
    return this.#avoidBuggy && (ip.endsWith(".0") || ip.endsWith(".255"));
  }

  sameRanges(other: AddressSpace): boolean {
    if (!(other instanceof V4Space) || other.#starts.length !== this.#starts.length) return false;
    return this.#starts.every((s, i) => s === other.#starts[i] && this.#ends[i] === other.#ends[i]);
  }

  adoptCursor(other: AddressSpace): void {
    if (!(other instanceof V4Space)) return;
    this.#idx = other.#idx;
    this.#next = other.#next;
  }
}

class V6Space implements AddressSpace {
  readonly family = 6 as const;
  readonly total: bigint;
  used = 0;
  readonly #starts: bigint[];
  readonly #ends: bigint[];
  #idx = 0;
  #next: bigint;
  #freed = new FreedQueue();

  constructor(ranges: AddressRange[]) {
    const sorted = [...ranges].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    this.#starts = sorted.map((r) => r.start);
    this.#ends = sorted.map((r) => r.end);
    this.#next = this.#starts[0] ?? 0n;
    this.total = sorted.reduce((sum, r) => sum + (r.end - r.start + 1n), 0n);
  }

  contains(ip: IP): boolean {
    if (ip.family !== 6) return false;
    for (let i = 0; i < this.#starts.length; i++) {
      if (ip.value >= this.#starts[i] && ip.value <= this.#ends[i]) return true;
    }
    return false;
  }

  peekFresh(taken: TakenCheck): string | undefined {
    while (this.#idx < this.#starts.length) {
      if (this.#next > this.#ends[this.#idx]) {
        this.#idx++;
        if (this.#idx < this.#starts.length) this.#next = this.#starts[this.#idx];
        continue;
      }
      const ip = formatIPv6(this.#next);
      if (taken(ip)) {
        this.#next++;
        continue;
      }
      return ip;
    }
    return undefined;
  }

  peekFreed(valid: FreedCheck): string | undefined {
    this.#freed.compact();
    return this.#freed.peek(valid);
  }

  pushFreed(entry: FreedEntry): void {
    this.#freed.push(entry);
  }

  excluded(_ip: string): boolean {
    return false;
  }

  sameRanges(other: AddressSpace): boolean {
    if (!(other instanceof V6Space) || other.#starts.length !== this.#starts.length) return false;
    return this.#starts.every((s, i) => s === other.#starts[i] && this.#ends[i] === other.#ends[i]);
  }

  adoptCursor(other: AddressSpace): void {
    if (!(other instanceof V6Space)) return;
    this.#idx = other.#idx;
    this.#next = other.#next;
  }
}

/** Builds the address space of one family, or null when the pool has no such ranges. */
export function buildSpace(
  family: Family,
  ranges: AddressRange[],
  options: { avoidBuggyIPs?: boolean } = {},
): AddressSpace | null {
  const mine = ranges.filter((r) => r.family === family);
  if (mine.length === 0) return null;
  return family === 4 ? new V4Space(mine, options.avoidBuggyIPs ?? false) : new V6Space(mine);
}
