/**
 * The speaker's status reporter for Services: ServiceBGPStatus objects that list the peers
 * really holding a Service's routes (session Established and the routes in its Adj-RIB-Out
 * as sent), `nodeAssigned` Events, and the reason, Event and log line for an assigned
 * Service that is not announced. Cost follows what changed: decisions that did not change
 * come back as the same objects and are skipped.
 */
import type { Logger } from "../api/log.ts";
import type { Prefix } from "../bgp/mod.ts";
import type { MetallbMetrics } from "../api/metrics.ts";
import type { KubeObject, ObjectWriter } from "../cluster/types.ts";
import type { ServiceAnnouncement } from "./announce.ts";
import type { PeerSet } from "./peer_set.ts";
import type { SpeakerServiceStatus } from "./status_types.ts";
import type { WriteQueue } from "./write_queue.ts";
import { compareServices } from "./announce_types.ts";
import {
  changedDecisions,
  isOwnStatus,
  serviceBGPStatusName,
  serviceBGPStatusObject,
  serviceEvent,
  serviceKey,
  serviceKeyOf,
  statusNameBase,
  statusNameOfTag,
  statusNameTag,
} from "./status_objects.ts";

export { serviceBGPStatusName } from "./status_objects.ts";

/** Events and log lines about unannounced Services per pass; the rest are counted. */
const NOTICES_PER_PASS = 20;

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Options of {@linkcode ServiceStatusReporter}. */
export interface ServiceStatusOptions {
  node: string;
  namespace: string;
  log: Logger;
  writer: ObjectWriter;
  queue: WriteQueue;
  peers: PeerSet;
  metrics?: MetallbMetrics;
  now: () => number;
}

/** A `#tags` entry: no ServiceBGPStatus stands for the Service. */
const NO_STATUS = -2;
/** A `#tags` entry: its ServiceBGPStatus has a name of another form, in `#otherNames`. */
const OTHER_NAME = -1;

const NO_PEERS: readonly string[] = Object.freeze([]);

/** Peers of one Service that `#holding` tracks in a bit mask; more take a list. */
const MASK_PEERS = 30;

/** Reports, per Service, what this node's peers really hold. */
export class ServiceStatusReporter {
  readonly #o: ServiceStatusOptions;
  /** Origin of `#since`. */
  readonly #base: number;
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
  /** Per slot, the decision while the Service is announced to at least one peer. */
  readonly #wanted: (ServiceAnnouncement | undefined)[] = [];
  /** Per slot, BGPPeer names its object lists, sorted and shared (see `#sharedPeers`). */
  readonly #listed: (readonly string[])[] = [];
  /** Per slot, the IPs `metallb_speaker_announced` shows for it. */
  readonly #ips: (readonly string[] | undefined)[] = [];
  /** Per slot, when its object's peers last changed, in ms after `#base`. */
  #since = new Float64Array(1024);
  /**
   * Per slot, the name of its ServiceBGPStatus while one stands (written, or adopted after
   * a restart) as a number (see `statusNameTag`: the name is made again when needed), or
   * {@linkcode NO_STATUS} or {@linkcode OTHER_NAME}.
   */
  #tags = new Float64Array(1024).fill(NO_STATUS);
  /** Names of the form `statusNameTag` does not take, by slot (adopted objects only). */
  readonly #otherNames = new Map<number, string>();
  /** Interned per-slot peer lists, by their names joined. */
  readonly #peerLists = new Map<string, readonly string[]>();
  /** Shared sublists of the planner's peer lists, by the bits of the peers they keep. */
  readonly #subsets = new WeakMap<readonly string[], Map<number, readonly string[]>>();
  /** Services whose peers may not hold what they should (yet): looked at on every pass. */
  readonly #unconfirmed = new Set<string>();
  /** A peer came up or went down since the last confirmation: look at every Service. */
  #recheck = false;
  /** Peers seen Established since start: until then an adopted status is left as it was. */
  readonly #seenUp = new Set<string>();
  /** Adopted objects no longer stand for peers that never came up (see `adoptionOver`). */
  #adoptionOver = false;
  /** The not-announced reason last reported per Service. */
  readonly #notices = new Map<string, string>();
  /** Objects deleted by us but maybe still in the snapshot. */
  readonly #deleting = new Set<string>();
  /** This node's objects by their Service's `namespace/name`, while adopting. */
  #index?: Map<string, KubeObject | KubeObject[]>;

  /** A reporter with nothing observed yet. */
  constructor(options: ServiceStatusOptions) {
    this.#o = options;
    this.#base = options.now();
    // `metallb_speaker_announced` is read from the tracked records: no series of its own.
    options.metrics?.speakerAnnounced.attach({
      forEach: (row) => this.#announcedRows(row),
      get: (values) => this.#announced(values),
    });
  }

  /**
   * Takes the planner's decisions. `statuses` gives the snapshot's ServiceBGPStatus objects
   * (read only when a Service is new to this process, to adopt this node's object for it).
   */
  *observe(
    services: readonly ServiceAnnouncement[],
    statuses: () => ReadonlyMap<string, KubeObject>,
  ): Generator<void, void> {
    this.#index = undefined;
    const notices = { sent: 0, more: 0 };
    const before = this.#handled;
    if (before !== services) {
      const slotAt = yield* this.#realign(before, services);
      this.#handled = services;
      this.#slotAt = slotAt;
    }
    let n = 0;
    for (const [key, s] of changedDecisions(before, services)) {
      if ((++n & 511) === 0) yield;
      if (s?.peers.length && !this.#index && !this.#stands(this.#slotOf(key))) {
        yield* this.#buildIndex(statuses());
      }
      if (s === undefined) {
        this.#notices.delete(key);
        this.#forget(key);
      } else this.#decided(key, s, notices);
    }
    if (notices.more > 0) {
      this.#o.log.warn("more assigned Services are not announced from this node", {
        count: notices.more,
      });
    }
    this.#index = undefined;
  }

  /**
   * `#slotAt` for the decisions `now` (sorted like `before`): each Service keeps its slot;
   * those gone keep theirs in `#goneSlots`, and take it back when they come back.
   */
  *#realign(
    before: readonly ServiceAnnouncement[],
    now: readonly ServiceAnnouncement[],
  ): Generator<void, Int32Array> {
    const old = this.#slotAt;
    // The same Services in the same order (only decisions changed): the same slots.
    if (before.length === now.length) {
      let k = 0;
      while (k < now.length && (now[k] === before[k] || compareServices(now[k], before[k]) === 0)) {
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
        if (old[i] >= 0) this.#goneSlots.set(serviceKey(b), old[i]);
        i++;
        continue;
      }
      const first = j === 0 || compareServices(now[j - 1], a) !== 0;
      if (c > 0) {
        const back = first ? this.#goneSlots.get(serviceKey(a)) : undefined;
        if (back !== undefined) {
          out[j] = back;
          this.#goneSlots.delete(serviceKey(a));
        }
      } else {
        if (first) out[j] = old[i];
        else if (old[i] >= 0) this.#goneSlots.set(serviceKey(b), old[i]);
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
    const namespace = key.slice(0, slash), name = key.slice(slash + 1);
    const list = this.#handled;
    let lo = 0, hi = list.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = list[mid];
      const c = s.namespace !== namespace
        ? (s.namespace < namespace ? -1 : 1)
        : s.name < name
        ? -1
        : s.name > name
        ? 1
        : 0;
      if (c < 0) lo = mid + 1;
      else {
        if (c === 0) found = mid;
        hi = mid - 1;
      }
    }
    return found;
  }

  /** The slot of Service `key`, while it is followed. */
  #slotOf(key: string): number | undefined {
    const i = this.#indexOf(key);
    const t = i < 0 ? -1 : this.#slotAt[i];
    return t >= 0 ? t : this.#goneSlots.get(key);
  }

  /** Every followed Service's `namespace/name` and slot. */
  *#followed(): Generator<[string, number]> {
    const list = this.#handled, slotAt = this.#slotAt;
    for (let i = 0; i < list.length; i++) {
      if (slotAt[i] >= 0) yield [serviceKey(list[i]), slotAt[i]];
    }
    yield* this.#goneSlots;
  }

  #decided(key: string, s: ServiceAnnouncement, notices: { sent: number; more: number }) {
    this.#notice(key, s, notices);
    if (s.peers.length === 0) {
      this.#forget(key);
      return;
    }
    const t = this.#slotOf(key) ?? this.#track(key);
    this.#wanted[t] = s;
    // The same IPs in the new view's list: keep that one, not a list of an old view's own.
    const ips = this.#ips[t];
    if (ips !== undefined && ips !== s.ips && sameList(ips, s.ips)) this.#ips[t] = s.ips;
    this.#unconfirmed.add(key);
    if (!this.#stands(t)) this.#adopt(key, t);
  }

  /** A slot for Service `key`, with nothing in it. */
  #track(key: string): number {
    let t = this.#free.pop();
    if (t === undefined) {
      t = this.#wanted.length;
      this.#wanted.push(undefined);
      this.#listed.push(NO_PEERS);
      this.#ips.push(undefined);
      if (t >= this.#tags.length) this.#grow();
    }
    const i = this.#indexOf(key);
    if (i >= 0) this.#slotAt[i] = t;
    else this.#goneSlots.set(key, t);
    return t;
  }

  /** Gives back the slot of `key` (its state is dropped). */
  #untrack(key: string, t: number): void {
    const i = this.#indexOf(key);
    if (i >= 0 && this.#slotAt[i] === t) this.#slotAt[i] = -1;
    else this.#goneSlots.delete(key);
    this.#wanted[t] = undefined;
    this.#listed[t] = NO_PEERS;
    this.#ips[t] = undefined;
    this.#tags[t] = NO_STATUS;
    this.#otherNames.delete(t);
    this.#free.push(t);
  }

  /** Twice the room in the typed arrays. */
  #grow(): void {
    const since = new Float64Array(this.#since.length * 2);
    since.set(this.#since);
    this.#since = since;
    const tags = new Float64Array(this.#tags.length * 2).fill(NO_STATUS);
    tags.set(this.#tags);
    this.#tags = tags;
  }

  /** Whether a ServiceBGPStatus stands for slot `t` (none for no slot). */
  #stands(t: number | undefined): boolean {
    return t !== undefined && this.#tags[t] !== NO_STATUS;
  }

  /** The name of the ServiceBGPStatus of Service `key` in slot `t`, while one stands. */
  #nameOf(key: string, t: number): string | undefined {
    const tag = this.#tags[t];
    if (tag === NO_STATUS) return undefined;
    if (tag === OTHER_NAME) return this.#otherNames.get(t);
    return statusNameOfTag(this.#nameBase(key), tag);
  }

  /** Sets the name of the ServiceBGPStatus of Service `key` in slot `t`. */
  #setName(key: string, t: number, name: string): void {
    const tag = statusNameTag(name, this.#nameBase(key));
    this.#tags[t] = tag < 0 ? OTHER_NAME : tag;
    if (tag < 0) this.#otherNames.set(t, name);
    else this.#otherNames.delete(t);
  }

  /** The readable part of the names of Service `key`'s objects (see `statusNameBase`). */
  #nameBase(key: string): string {
    // Namespaces hold no slash: the name is what follows the first.
    return statusNameBase(key.slice(key.indexOf("/") + 1), this.#o.node);
  }

  /** Now as a `#since`: whole ms while they fit 30 bits, as before. */
  #sinceNow(): number {
    const ms = this.#o.now() - this.#base;
    return ms >= 0 && ms <= 0x3fffffff ? ms | 0 : ms;
  }

  /** After a restart the objects written before it are adopted, and left alone when right. */
  #adopt(key: string, t: number): void {
    const found = this.#existing(key, this.#wanted[t]!);
    if (!found) return;
    const peers = (found.status as { peers?: unknown } | undefined)?.peers;
    const name = found.metadata.name;
    this.#setName(key, t, name);
    this.#listed[t] = this.#sharedPeers(
      Array.isArray(peers) ? peers.filter((p) => typeof p === "string").sort() : [],
    );
    this.#since[t] = this.#sinceNow();
    this.#deleting.delete(name);
  }

  /** One list per distinct set of peers (most Services have the same few): not one each. */
  #sharedPeers(peers: readonly string[]): readonly string[] {
    if (peers.length === 0) return NO_PEERS;
    const key = peers.join("\n");
    let hit = this.#peerLists.get(key);
    if (!hit) {
      if (this.#peerLists.size >= 1024) this.#peerLists.clear();
      this.#peerLists.set(key, hit = Object.freeze(peers.slice()));
    }
    return hit;
  }

  #forget(key: string): void {
    const t = this.#slotOf(key);
    if (t === undefined) return;
    this.#wanted[t] = undefined;
    if (this.#stands(t)) this.#unconfirmed.add(key);
    else this.#untrack(key, t);
  }

  /** Reports an assigned Service that is not announced (or only partly): Event and log. */
  #notice(key: string, s: ServiceAnnouncement, notices: { sent: number; more: number }) {
    const text = s.cause === "config" && s.ips.length > 0 ? s.reason : s.partial;
    if (text === undefined) {
      this.#notices.delete(key);
      return;
    }
    if (this.#notices.get(key) === text) return;
    this.#notices.set(key, text);
    if (notices.sent >= NOTICES_PER_PASS) {
      notices.more++;
      return;
    }
    notices.sent++;
    const { log, queue, node } = this.#o;
    log.warn("assigned Service not announced from this node", { service: key, reason: text });
    queue.push("Event", this.#writeNotice, s, `not announced from node "${node}": ${text}`);
  }

  /** A peer came up or went down: every Service it may carry must be looked at again. */
  peerChanged(name: string, established: boolean): void {
    if (established) this.#seenUp.add(name);
    this.#recheck = true;
  }

  /**
   * Peers that did not come up since the restart no longer count as holding what the objects
   * written before it said: a peer keeps stale routes only for the graceful-restart time.
   */
  adoptionOver(): void {
    this.#adoptionOver = true;
    this.#recheck = true;
  }

  /** Whether some Service's status may still change without a new decision. */
  get unsettled(): boolean {
    return this.#recheck || this.#unconfirmed.size > 0;
  }

  /**
   * Compares what peers hold with what each unconfirmed Service's status says, and writes
   * the differences; yields now and then (see `drive`). Services whose every wanted peer
   * holds them leave the unconfirmed set.
   */
  *confirm(): Generator<void, void> {
    if (this.#recheck) {
      this.#recheck = false;
      let n = 0;
      for (const [key] of this.#followed()) {
        if ((++n & 4095) === 0) yield;
        this.#unconfirmed.add(key);
      }
    }
    let n = 0;
    for (const key of this.#unconfirmed) {
      if ((++n & 255) === 0) yield;
      const t = this.#slotOf(key);
      const s = t === undefined ? undefined : this.#wanted[t];
      const holding = s ? this.#holding(t!, s) : NO_PEERS;
      if (!s || holding === s.peers) this.#unconfirmed.delete(key);
      if (t !== undefined) this.#record(key, t, holding);
    }
  }

  /**
   * Peers of `s` that hold every route of it they should, sorted: `s.peers` itself when all
   * do, else a shared list (see `#subset`). Nothing is made per Service: this runs for
   * every Service on every confirmation, 100,000s at a start.
   */
  #holding(t: number, s: ServiceAnnouncement): readonly string[] {
    const before = this.#stands(t) ? this.#listed[t] : NO_PEERS;
    const wanted = s.peers;
    if (wanted.length > MASK_PEERS) return this.#holdingList(before, s);
    let mask = 0;
    for (let i = 0; i < wanted.length; i++) {
      if (this.#holds(wanted[i], s, before)) mask |= 1 << i;
    }
    return this.#subset(wanted, mask);
  }

  /** `#holding` for a Service sent to more peers than a mask has bits (rare). */
  #holdingList(before: readonly string[], s: ServiceAnnouncement): readonly string[] {
    const out = s.peers.filter((p) => this.#holds(p, s, before));
    return out.length === s.peers.length ? s.peers : this.#sharedPeers(out);
  }

  /** Whether `peer` counts as holding `s`, given the peers its object listed `before`. */
  #holds(peer: string, s: ServiceAnnouncement, before: readonly string[]): boolean {
    // Until this peer's session has been up, what the adopted object says stands: with
    // graceful restart the peer still holds our routes from before the restart. While a
    // route is on its way (pending on an Established session) the last answer stands too,
    // so that a reconnect does not flap the status.
    const known = this.#adoptionOver || this.#seenUp.has(peer);
    const st = known ? this.#peerState(peer, s) : "pending";
    return st === "holds" || (st === "pending" && before.includes(peer));
  }

  /**
   * The peers of `wanted` (an interned list of the planner's) picked by `mask`, one shared
   * list per (list, mask): no string key is joined to find it.
   */
  #subset(wanted: readonly string[], mask: number): readonly string[] {
    if (mask === 0) return NO_PEERS;
    if (mask === (1 << wanted.length) - 1) return wanted;
    let byMask = this.#subsets.get(wanted);
    if (!byMask) this.#subsets.set(wanted, byMask = new Map());
    let hit = byMask.get(mask);
    if (!hit) byMask.set(mask, hit = this.#sharedPeers(wanted.filter((_, i) => mask & (1 << i))));
    return hit;
  }

  #peerState(peer: string, s: ServiceAnnouncement): "holds" | "pending" | "no" {
    const peers = this.#o.peers;
    if (!peers.established(peer)) return "no";
    const keys = s.prefixes;
    if (keys === undefined) return "no";
    // One prefix (the usual case) stands alone: no list is made for it.
    if (!Array.isArray(keys)) {
      const st = peers.routeState(peer, keys as string | Prefix);
      return st === "sent" ? "holds" : st === "pending" ? "pending" : "no";
    }
    let any = false;
    for (const k of keys) {
      const st = peers.routeState(peer, k);
      if (st === "pending") return "pending";
      if (st === "sent") any = true;
    }
    return any ? "holds" : "no";
  }

  /** Writes (or deletes) the ServiceBGPStatus of `key` when `holding` differs from it. */
  #record(key: string, t: number, holding: readonly string[]): void {
    const held = this.#stands(t);
    const listed = this.#listed[t];
    if (held && (listed === holding || sameList(listed, holding))) {
      // The same peers, other addresses (the Service's IP changed): the metric follows.
      if (this.#ips[t] !== this.#wanted[t]?.ips) this.#metricsOf(t);
      return;
    }
    if (holding.length === 0) {
      if (held) this.#withdraw(key, t);
      if (!this.#wanted[t]) this.#untrack(key, t);
      return;
    }
    const s = this.#wanted[t]!;
    let name = this.#nameOf(key, t);
    if (name === undefined) {
      name = serviceBGPStatusName(s.namespace, s.name, this.#o.node);
      this.#setName(key, t, name);
    }
    // Already shared: the planner's interned list, or one of `#subset`'s.
    this.#listed[t] = holding;
    this.#since[t] = this.#sinceNow();
    this.#deleting.delete(name);
    const queue = this.#o.queue;
    // The object is built when written, not held by the write queue (100,000s at a start).
    queue.push("ServiceBGPStatus", this.#writeStatus, name, s, holding);
    // Only when the Service starts being announced from this node, not after a restart.
    if (!held) queue.push("Event", this.#writeAssigned, s, undefined);
    this.#metricsOf(t);
  }

  /** No peer holds the Service any more: its object goes. */
  #withdraw(key: string, t: number): void {
    const name = this.#nameOf(key, t)!;
    this.#deleting.add(name);
    this.#delete(name);
    this.#tags[t] = NO_STATUS;
    this.#otherNames.delete(t);
    this.#listed[t] = NO_PEERS;
    this.#metricsOf(t);
  }

  #delete(name: string): void {
    this.#o.queue.push("ServiceBGPStatus", this.#writeDelete, name, undefined);
  }

  // One function per kind of write, shared by every queued item (no closure per item).
  readonly #writeStatus = (name: string, s: ServiceAnnouncement, peers: readonly string[]) => {
    const { namespace, node } = this.#o;
    const object = serviceBGPStatusObject(name, { s, peers, namespace, node });
    return this.#o.writer.setServiceBGPStatus(namespace, name, object);
  };
  readonly #writeDelete = (name: string, _: undefined) =>
    this.#o.writer.setServiceBGPStatus(this.#o.namespace, name, null);
  readonly #writeAssigned = (s: ServiceAnnouncement, _: undefined) =>
    this.#o.writer.recordEvent(serviceEvent(
      s,
      this.#assigned ??= {
        type: "Normal",
        reason: "nodeAssigned",
        message: `announcing from node "${this.#o.node}" with protocol "bgp"`,
      },
    ));
  /** The `nodeAssigned` Event's fields: one message for every Service (100,000s at a start). */
  #assigned?: { type: "Normal"; reason: string; message: string };
  readonly #writeNotice = (s: ServiceAnnouncement, message: string) =>
    this.#o.writer.recordEvent(
      serviceEvent(s, { type: "Warning", reason: "notAnnounced", message }),
    );

  /** `metallb_speaker_announced` follows what peers hold: the IPs of `t` while it has an object. */
  #metricsOf(t: number): void {
    this.#ips[t] = this.#stands(t) ? this.#wanted[t]?.ips : undefined;
  }

  /** The series of `metallb_speaker_announced`: service, protocol, node, IP. */
  #announcedRows(row: (values: readonly string[], value: number) => void): void {
    const node = this.#o.node;
    for (const [key, t] of this.#followed()) {
      const ips = this.#ips[t];
      if (ips === undefined) continue;
      // A repeated IP is one series, as setting it twice made one.
      for (let i = 0; i < ips.length; i++) {
        if (ips.indexOf(ips[i]) === i) row([key, "bgp", node, ips[i]], 1);
      }
    }
  }

  /** The value of one `metallb_speaker_announced` series, or undefined. */
  #announced(values: readonly string[]): number | undefined {
    const [key, protocol, node, ip] = values;
    if (protocol !== "bgp" || node !== this.#o.node) return undefined;
    const t = this.#slotOf(key);
    return t !== undefined && this.#ips[t]?.includes(ip) ? 1 : undefined;
  }

  /** Indexes this node's objects by Service, yielding now and then (100,000s after a restart). */
  *#buildIndex(statuses: ReadonlyMap<string, KubeObject>): Generator<void, void> {
    const index = new Map<string, KubeObject | KubeObject[]>();
    let n = 0;
    for (const o of statuses.values()) {
      if ((++n & 4095) === 0) yield;
      if (!isOwnStatus(o, this.#o)) continue;
      const k = serviceKeyOf(o);
      const had = index.get(k);
      // One object alone (the usual case), a list only for duplicates.
      index.set(k, had === undefined ? o : Array.isArray(had) ? [...had, o] : [had, o]);
    }
    this.#index = index;
  }

  /** An existing object of this node for Service `key`, preferring the name we would give. */
  #existing(key: string, s: ServiceAnnouncement): KubeObject | undefined {
    const found = this.#index?.get(key);
    // Most Services have none (a first start): then no name is hashed at all.
    if (!found) return undefined;
    if (!Array.isArray(found)) return found;
    const list = found;
    const ours = serviceBGPStatusName(s.namespace, s.name, this.#o.node);
    // Objects are found by their Service's labels, so none is another Service's.
    return list.find((o) => o.metadata.name === ours) ?? list[0];
  }

  /**
   * Deletes this node's ServiceBGPStatus objects that no Service accounts for: those of
   * Services deleted or withdrawn while the speaker was down, and duplicates.
   */
  *sweep(statuses: ReadonlyMap<string, KubeObject>): Generator<void, void> {
    const ns = this.#o.namespace;
    for (const name of this.#deleting) {
      if (!statuses.has(`${ns}/${name}`)) this.#deleting.delete(name);
    }
    let n = 0;
    for (const o of statuses.values()) {
      if ((++n & 4095) === 0) yield;
      const name = o.metadata.name;
      if (!isOwnStatus(o, this.#o) || this.#deleting.has(name)) continue;
      const service = serviceKeyOf(o);
      const t = this.#slotOf(service);
      if (t !== undefined && this.#nameOf(service, t) === name) continue;
      this.#deleting.add(name);
      this.#o.log.info("deleting stale ServiceBGPStatus", { name, service });
      this.#delete(name);
    }
  }

  /** Every handled Service for /status, built when read. */
  services(): SpeakerServiceStatus[] {
    const peers = this.#o.peers;
    return this.#handled.map((s) => {
      const t = this.#slotOf(serviceKey(s));
      const h = this.#stands(t) ? t : undefined;
      const st: SpeakerServiceStatus = {
        namespace: s.namespace,
        name: s.name,
        ips: s.ips,
        peers: (h === undefined ? [] : this.#listed[h]).map((p) => peers.label(p) ?? p),
      };
      if (s.pool) st.pool = s.pool;
      if (s.path) st.path = s.path;
      if (h !== undefined) st.announcedSince = new Date(this.#base + this.#since[h]).toISOString();
      if (s.reason) st.pending = s.reason;
      const why = s.ips.length > 0 && s.reason ? s.reason : s.partial;
      if (why) st.notAnnounced = why;
      else if (!h && s.peers.length > 0) st.notAnnounced = "waiting for its peers to take it";
      return st;
    });
  }
}
