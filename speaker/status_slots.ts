/**
 * What the status reporter keeps per Service it follows (announced to some peer, or with a
 * ServiceBGPStatus standing), in slots of arrays rather than an object and a map entry per
 * Service, times 100,000s: its slot is found by binary search in the sorted decisions.
 */
import { SlotIds } from "../addr/slot_ids.ts";
import { compareServices, type ServiceAnnouncement } from "./announce_types.ts";
import { serviceKey, statusNameBase, statusNameOfTag, statusNameTag } from "./status_objects.ts";

/** A tag (see `#tag`): no ServiceBGPStatus stands for the Service. */
const NO_STATUS = -2;
/** A tag: its ServiceBGPStatus has a name of another form, in `#otherNames`. */
const OTHER_NAME = -1;
/** `#tagHigh` of {@linkcode NO_STATUS} and {@linkcode OTHER_NAME} (a name's is below 256). */
const HIGH_NO_STATUS = 0xffff;
const HIGH_OTHER_NAME = 0xfffe;
/** 2 ** 32: numbers up to 2 ** 40 are kept as a 32-bit low part and a high part. */
const LOW = 0x1_0000_0000;
/** Numbers kept in two parts are below this. */
const HIGH_END = 2 ** 40;

/** Beyond this many peer lists the table keeps only those some slot uses. */
const LIST_LIMIT = 4096;

/** What decision `s` asks the reporter for: itself while announced to some peer. */
function wantedIn(s: ServiceAnnouncement): ServiceAnnouncement | undefined {
  return s.peers.length > 0 ? s : undefined;
}

/** `to` with `from` copied into its start. */
function widened<T extends Uint8Array | Uint16Array | Uint32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}

/**
 * `a` against `key`'s characters `from` to `to` (before `to`), as `<` orders strings (by
 * UTF-16 unit): below 0, 0 or above 0.
 */
function comparePart(a: string, key: string, from: number, to: number): number {
  const n = to - from;
  const m = a.length < n ? a.length : n;
  for (let i = 0; i < m; i++) {
    const d = a.charCodeAt(i) - key.charCodeAt(from + i);
    if (d !== 0) return d;
  }
  return a.length - n;
}

/** No peers: one list for all. */
export const NO_PEERS: readonly string[] = Object.freeze([]);

/** The reporter's state per Service, by slot. */
export class StatusSlots {
  readonly #node: string;
  /** The decisions last observed, sorted by namespace/name. */
  #handled: readonly ServiceAnnouncement[] = [];
  /**
   * Per decision in `#handled`, the slot of its Service while it is followed (announced to
   * some peer, or with a ServiceBGPStatus standing), else -1; only the first of decisions
   * sharing a `namespace/name` has one. Its state sits at that index in the arrays below: no
   * object, nor map entry, per Service, times 100,000s (found by binary search).
   */
  #slotAt: Int32Array = new Int32Array(0);
  /** Slots of Services no longer handled while their object stands, by `namespace/name`. */
  readonly #goneSlots = new Map<string, number>();
  /** Slots given back, taken again before the arrays grow. */
  readonly #free: number[] = [];
  /** Slots made so far (free or not). */
  #count = 0;
  /** Per slot, the BGPPeer names its object lists (sorted and shared: the reporter interns them). */
  readonly #listed = new SlotIds<readonly string[], readonly string[]>(NO_PEERS, {
    keyOf: (peers) => peers,
    limit: LIST_LIMIT,
    slots: 1024,
  });
  /**
   * The IPs `metallb_speaker_announced` shows for a slot, by slot, where they are not the
   * IPs of what it wants while its object stands (see `shown`): for a while after its
   * decision changed, or after an adoption. No array slot per Service for them.
   */
  readonly #shownElse = new Map<number, readonly string[] | undefined>();
  /**
   * Per slot, when its object's peers last changed, in ms after the reporter was made: a
   * whole number below 2 ** 40 in two parts (five bytes rather than a double's eight), any
   * other in `#sinceElse`.
   */
  #sinceLow = new Uint32Array(1024);
  #sinceHigh = new Uint8Array(1024);
  readonly #sinceElse = new Map<number, number>();
  /**
   * Per slot, the name of its ServiceBGPStatus while one stands (written, or adopted after
   * a restart) as a number (see `statusNameTag`: the name is made again when needed; a
   * 40-bit one, in two parts), or {@linkcode NO_STATUS} or {@linkcode OTHER_NAME}.
   */
  #tagLow = new Uint32Array(1024);
  #tagHigh = new Uint16Array(1024).fill(HIGH_NO_STATUS);
  /** Names of the form `statusNameTag` does not take, by slot (adopted objects only). */
  readonly #otherNames = new Map<number, string>();

  /** State for this node's objects (their names hold the node's). */
  constructor(node: string) {
    this.#node = node;
  }

  /** The decisions last observed (see `realign`). */
  get handled(): readonly ServiceAnnouncement[] {
    return this.#handled;
  }

  /** When the object of slot `t` last changed its peers, in ms after the reporter's start. */
  since(t: number): number {
    const other = this.#sinceElse;
    if (other.size > 0 && other.has(t)) return other.get(t)!;
    return this.#sinceHigh[t] * LOW + this.#sinceLow[t];
  }

  /** Sets `since` of slot `t`. */
  setSince(t: number, ms: number): void {
    if (Number.isInteger(ms) && ms >= 0 && ms < HIGH_END) {
      this.#sinceLow[t] = ms % LOW;
      this.#sinceHigh[t] = Math.floor(ms / LOW);
      this.#sinceElse.delete(t);
    } else this.#sinceElse.set(t, ms);
  }

  /** BGPPeer names the object of slot `t` lists. */
  listed(t: number): readonly string[] {
    return this.#listed.valueAt(t);
  }

  /** Sets the peers the object of slot `t` lists (an interned list). */
  setListed(t: number, peers: readonly string[]): void {
    this.#listed.set(t, peers, this.#count);
  }

  /** The object of Service `key` in slot `t` is gone (the IPs shown stay: see `show`). */
  clearName(key: string, t: number): void {
    const shown = this.shown(key, t);
    this.#setTag(t, NO_STATUS);
    this.#otherNames.delete(t);
    this.#keepShown(key, t, shown);
  }

  /**
   * What Service `key` wants: its decision (the first of those sharing its name) while it is
   * announced to some peer; nothing while it is not, or no longer handled.
   */
  wantedOf(key: string): ServiceAnnouncement | undefined {
    const i = this.#indexOf(key);
    return i < 0 ? undefined : wantedIn(this.#handled[i]);
  }

  /** The IPs `metallb_speaker_announced` shows for Service `key` in slot `t`. */
  shown(key: string, t: number): readonly string[] | undefined {
    const other = this.#shownElse;
    if (other.size > 0 && other.has(t)) return other.get(t);
    return this.#tag(t) !== NO_STATUS ? this.wantedOf(key)?.ips : undefined;
  }

  /** `metallb_speaker_announced` shows `ips` for Service `key` in slot `t`. */
  show(key: string, t: number, ips: readonly string[] | undefined): void {
    this.#keepShown(key, t, ips);
  }

  /** `metallb_speaker_announced` shows the IPs of what slot `t` wants while its object stands. */
  showWanted(t: number): void {
    if (this.#shownElse.size > 0) this.#shownElse.delete(t);
  }

  #keepShown(key: string, t: number, ips: readonly string[] | undefined): void {
    const derived = this.#tag(t) !== NO_STATUS ? this.wantedOf(key)?.ips : undefined;
    if (ips === derived) this.#shownElse.delete(t);
    else this.#shownElse.set(t, ips);
  }

  /**
   * What slot `t` wants changes from `before` to `after` (decisions, or none): the IPs it
   * shows stay those of before until `showWanted`.
   */
  #pinShown(
    t: number,
    before: ServiceAnnouncement | undefined,
    after: ServiceAnnouncement | undefined,
  ): void {
    // Without an object nothing is shown either way; already pinned, it stays so.
    if (this.#tag(t) === NO_STATUS || this.#shownElse.has(t)) return;
    const was = before && wantedIn(before)?.ips, now = after && wantedIn(after)?.ips;
    if (was !== now) this.#shownElse.set(t, was);
  }

  /**
   * Takes the decisions `now` (sorted like the last ones): each Service keeps its slot;
   * those gone keep theirs in `#goneSlots`, and take it back when they come back.
   */
  *realign(now: readonly ServiceAnnouncement[]): Generator<void, void> {
    const slotAt = yield* this.#slotsFor(now);
    this.#handled = now;
    this.#slotAt = slotAt;
  }

  /** `#slotAt` for `now`. */
  *#slotsFor(now: readonly ServiceAnnouncement[]): Generator<void, Int32Array> {
    const before = this.#handled, old = this.#slotAt;
    // The same Services in the same order (only decisions changed): the same slots.
    if (before.length === now.length) {
      let k = 0;
      while (k < now.length && (now[k] === before[k] || compareServices(now[k], before[k]) === 0)) {
        if (now[k] !== before[k] && old[k] >= 0) this.#pinShown(old[k], before[k], now[k]);
        if ((++k & 16383) === 0) yield;
      }
      if (k === now.length) return old;
    }
    const out = new Int32Array(now.length).fill(-1);
    let i = 0, j = 0, n = 0;
    while (i < before.length || j < now.length) {
      if ((++n & 16383) === 0) yield;
      const b = before[i], a = now[j];
      const c = b === undefined ? 1 : a === undefined ? -1 : a === b ? 0 : compareServices(b, a);
      if (c < 0) {
        if (old[i] >= 0) {
          this.#pinShown(old[i], b, undefined);
          this.#goneSlots.set(serviceKey(b), old[i]);
        }
        i++;
        continue;
      }
      const first = j === 0 || compareServices(now[j - 1], a) !== 0;
      if (c > 0) {
        const back = first ? this.#goneSlots.get(serviceKey(a)) : undefined;
        if (back !== undefined) {
          out[j] = back;
          this.#pinShown(back, undefined, a);
          this.#goneSlots.delete(serviceKey(a));
        }
      } else {
        if (first) {
          out[j] = old[i];
          if (a !== b && old[i] >= 0) this.#pinShown(old[i], b, a);
        } else if (old[i] >= 0) this.#goneSlots.set(serviceKey(b), old[i]);
        i++;
      }
      j++;
    }
    return out;
  }

  /** The index of the first decision in `#handled` for Service `key`, or -1. */
  #indexOf(key: string): number {
    const slash = key.indexOf("/");
    if (slash < 0) return -1;
    const list = this.#handled;
    let lo = 0, hi = list.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = list[mid];
      // Compared in place: no namespace and name strings cut from `key` per search.
      const c = comparePart(s.namespace, key, 0, slash) ||
        comparePart(s.name, key, slash + 1, key.length);
      if (c < 0) lo = mid + 1;
      else {
        if (c === 0) found = mid;
        hi = mid - 1;
      }
    }
    return found;
  }

  /** The slot of Service `key`, while it is followed. */
  slotOf(key: string): number | undefined {
    const i = this.#indexOf(key);
    const t = i < 0 ? -1 : this.#slotAt[i];
    return t >= 0 ? t : this.#goneSlots.get(key);
  }

  /** The slot of the Service of decision `i` in `handled`, while it is followed. */
  slotAt(i: number): number | undefined {
    const list = this.#handled;
    // Decisions sharing a name share the slot of the first.
    while (i > 0 && compareServices(list[i - 1], list[i]) === 0) i--;
    const t = this.#slotAt[i];
    return t >= 0 ? t : undefined;
  }

  /**
   * Adds to `keys` the `namespace/name` of every followed Service (handled ones in order,
   * then those gone), yielding now and then: nothing is made per Service.
   */
  *addFollowedTo(keys: Set<string>): Generator<void, void> {
    const list = this.#handled, slotAt = this.#slotAt;
    for (let i = 0; i < list.length; i++) {
      if ((i & 4095) === 4095) yield;
      if (slotAt[i] >= 0) keys.add(serviceKey(list[i]));
    }
    for (const key of this.#goneSlots.keys()) keys.add(key);
  }

  /**
   * Every followed Service's `namespace/name` and the IPs shown for it, where any are (see
   * `shown`): one walk, no search per Service.
   */
  *shownAll(): Generator<[string, readonly string[]]> {
    const list = this.#handled, slotAt = this.#slotAt, other = this.#shownElse;
    for (let i = 0; i < list.length; i++) {
      const t = slotAt[i];
      if (t < 0) continue;
      const ips = other.has(t)
        ? other.get(t)
        : this.#tag(t) !== NO_STATUS
        ? wantedIn(list[i])?.ips
        : undefined;
      if (ips !== undefined) yield [serviceKey(list[i]), ips];
    }
    // Gone Services want nothing: only IPs pinned are shown.
    for (const [key, t] of this.#goneSlots) {
      const ips = other.get(t);
      if (ips !== undefined) yield [key, ips];
    }
  }

  /** A slot for Service `key`, with nothing in it. */
  track(key: string): number {
    let t = this.#free.pop();
    if (t === undefined) {
      t = this.#count++;
      if (t >= this.#tagHigh.length) this.#grow();
    }
    const i = this.#indexOf(key);
    if (i >= 0) this.#slotAt[i] = t;
    else this.#goneSlots.set(key, t);
    return t;
  }

  /** Gives back the slot of `key` (its state is dropped). */
  untrack(key: string, t: number): void {
    const i = this.#indexOf(key);
    if (i >= 0 && this.#slotAt[i] === t) this.#slotAt[i] = -1;
    else this.#goneSlots.delete(key);
    this.#listed.clear(t);
    this.#shownElse.delete(t);
    this.#setTag(t, NO_STATUS);
    this.#otherNames.delete(t);
    this.#sinceElse.delete(t);
    this.#free.push(t);
  }

  /** The name tag of slot `t`. */
  #tag(t: number): number {
    const high = this.#tagHigh[t];
    if (high === HIGH_NO_STATUS) return NO_STATUS;
    if (high === HIGH_OTHER_NAME) return OTHER_NAME;
    return high * LOW + this.#tagLow[t];
  }

  #setTag(t: number, tag: number): void {
    if (tag === NO_STATUS || tag === OTHER_NAME) {
      this.#tagHigh[t] = tag === NO_STATUS ? HIGH_NO_STATUS : HIGH_OTHER_NAME;
      return;
    }
    // A name's tag is 10 hex digits (see `statusNameTag`): below 2 ** 40.
    this.#tagLow[t] = tag % LOW;
    this.#tagHigh[t] = Math.floor(tag / LOW);
  }

  /** More room in the typed arrays. */
  #grow(): void {
    // A quarter more, not twice: the slack is at most a quarter (100,000s of slots).
    const size = this.#tagHigh.length + (this.#tagHigh.length >> 2);
    this.#sinceLow = widened(this.#sinceLow, new Uint32Array(size));
    this.#sinceHigh = widened(this.#sinceHigh, new Uint8Array(size));
    this.#tagLow = widened(this.#tagLow, new Uint32Array(size));
    this.#tagHigh = widened(this.#tagHigh, new Uint16Array(size).fill(HIGH_NO_STATUS));
    this.#listed.grow(size);
  }

  /** Whether a ServiceBGPStatus stands for slot `t` (none for no slot). */
  stands(t: number | undefined): boolean {
    return t !== undefined && this.#tag(t) !== NO_STATUS;
  }

  /** The name of the ServiceBGPStatus of Service `key` in slot `t`, while one stands. */
  nameOf(key: string, t: number): string | undefined {
    const tag = this.#tag(t);
    if (tag === NO_STATUS) return undefined;
    if (tag === OTHER_NAME) return this.#otherNames.get(t);
    return statusNameOfTag(this.#nameBase(key), tag);
  }

  /** Sets the name of the ServiceBGPStatus of Service `key` in slot `t` (IPs shown stay). */
  setName(key: string, t: number, name: string): void {
    const shown = this.shown(key, t);
    const tag = statusNameTag(name, this.#nameBase(key));
    this.#setTag(t, tag < 0 ? OTHER_NAME : tag);
    if (tag < 0) this.#otherNames.set(t, name);
    else this.#otherNames.delete(t);
    this.#keepShown(key, t, shown);
  }

  /**
   * Sets the name of the ServiceBGPStatus of slot `t` to the one `statusNameOfTag` makes of
   * `tag` (a number >= 0) and its readable part, and shows the IPs it wants (as `showWanted`):
   * a status written now. Nothing is pinned to be unpinned right after (a map entry made and
   * dropped per Service, 100,000s at a start).
   */
  setNameTag(t: number, tag: number): void {
    this.#setTag(t, tag);
    if (this.#otherNames.size > 0) this.#otherNames.delete(t);
    this.showWanted(t);
  }

  /** The readable part of the names of Service `key`'s objects (see `statusNameBase`). */
  #nameBase(key: string): string {
    // Namespaces hold no slash: the name is what follows the first.
    return statusNameBase(key.slice(key.indexOf("/") + 1), this.#node);
  }
}
