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
import { NO_PEERS, StatusSlots } from "./status_slots.ts";
import {
  DecisionChanges,
  isOwnStatus,
  serviceBGPStatusName,
  serviceBGPStatusObject,
  serviceEvent,
  serviceKeyOf,
  statusNameBase,
  statusNameHash,
  statusNameOfTag,
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

/** Peers of one Service that `#holding` tracks in a bit mask; more take a list. */
const MASK_PEERS = 30;

/** Reports, per Service, what this node's peers really hold. */
export class ServiceStatusReporter {
  readonly #o: ServiceStatusOptions;
  /** Origin of the slots' `since`. */
  readonly #base: number;
  /** The decisions last observed, and what is followed per Service. */
  readonly #slots: StatusSlots;
  /** Interned per-slot peer lists, by their names joined. */
  readonly #peerLists = new Map<string, readonly string[]>();
  /** Shared sublists of the planner's peer lists, by the bits of the peers they keep. */
  readonly #subsets = new WeakMap<readonly string[], Map<number, readonly string[]>>();
  /** Services whose peers may not hold what they should (yet): looked at on every pass. */
  #unconfirmed = new Set<string>();
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
    this.#slots = new StatusSlots(options.node);
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
    const before = this.#slots.handled;
    if (before !== services) yield* this.#slots.realign(services);
    let n = 0;
    const changes = new DecisionChanges(before, services);
    while (changes.next()) {
      if ((++n & 511) === 0) yield;
      const key = changes.key, s = changes.now;
      if (s?.peers.length && !this.#index && !this.#slots.stands(this.#slots.slotOf(key))) {
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

  #decided(key: string, s: ServiceAnnouncement, notices: { sent: number; more: number }) {
    this.#notice(key, s, notices);
    if (s.peers.length === 0) {
      this.#forget(key);
      return;
    }
    // What it wants is its decision now (see `wantedOf`): the IPs shown stay until confirmed.
    const t = this.#slots.slotOf(key) ?? this.#slots.track(key);
    // The same IPs in the new view's list: keep that one, not a list of an old view's own.
    const ips = this.#slots.shown(key, t);
    if (ips !== undefined && ips !== s.ips && sameList(ips, s.ips)) this.#slots.show(key, t, s.ips);
    this.#unconfirmed.add(key);
    if (!this.#slots.stands(t)) this.#adopt(key, t, s);
  }

  /** Now as a `#since`: whole ms while they fit 30 bits, as before. */
  #sinceNow(): number {
    const ms = this.#o.now() - this.#base;
    return ms >= 0 && ms <= 0x3fffffff ? ms | 0 : ms;
  }

  /** After a restart the objects written before it are adopted, and left alone when right. */
  #adopt(key: string, t: number, s: ServiceAnnouncement): void {
    const found = this.#existing(key, s);
    if (!found) return;
    const peers = (found.status as { peers?: unknown } | undefined)?.peers;
    const name = found.metadata.name;
    this.#slots.setName(key, t, name);
    this.#slots.setListed(
      t,
      this.#sharedPeers(
        Array.isArray(peers) ? peers.filter((p) => typeof p === "string").sort() : [],
      ),
    );
    this.#slots.setSince(t, this.#sinceNow());
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
    const t = this.#slots.slotOf(key);
    if (t === undefined) return;
    if (this.#slots.stands(t)) this.#unconfirmed.add(key);
    else this.#slots.untrack(key, t);
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
      yield* this.#slots.addFollowedTo(this.#unconfirmed);
    }
    // Those still unconfirmed go to a new set (usually few): deleting the confirmed ones one
    // by one would shrink a set of 100,000s again and again, a new table each time.
    const all = this.#unconfirmed;
    const still = new Set<string>();
    let n = 0;
    for (const key of all) {
      if ((++n & 255) === 0) yield;
      const t = this.#slots.slotOf(key);
      const s = t === undefined ? undefined : this.#slots.wantedOf(key);
      const holding = s ? this.#holding(t!, s) : NO_PEERS;
      if (s && holding !== s.peers) still.add(key);
      if (t !== undefined) this.#record(key, t, holding);
    }
    if (this.#unconfirmed === all) this.#unconfirmed = still;
  }

  /**
   * Peers of `s` that hold every route of it they should, sorted: `s.peers` itself when all
   * do, else a shared list (see `#subset`). Nothing is made per Service: this runs for
   * every Service on every confirmation, 100,000s at a start.
   */
  #holding(t: number, s: ServiceAnnouncement): readonly string[] {
    const before = this.#slots.stands(t) ? this.#slots.listed(t) : NO_PEERS;
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
    const held = this.#slots.stands(t);
    const listed = this.#slots.listed(t);
    const wanted = this.#slots.wantedOf(key);
    if (held && (listed === holding || sameList(listed, holding))) {
      // The same peers, other addresses (the Service's IP changed): the metric follows.
      if (this.#slots.shown(key, t) !== wanted?.ips) this.#slots.showWanted(t);
      return;
    }
    if (holding.length === 0) {
      if (held) this.#withdraw(key, t);
      if (!wanted) this.#slots.untrack(key, t);
      return;
    }
    const s = wanted!;
    let name = this.#slots.nameOf(key, t);
    if (name === undefined) {
      // The name's hash is kept as the number it spells: made once, no hex string parsed.
      const node = this.#o.node;
      const tag = statusNameHash(s.namespace, s.name, node);
      name = statusNameOfTag(statusNameBase(s.name, node), tag);
      // The IPs shown are the wanted ones from now on (`#metricsOf` below says so too).
      this.#slots.setNameTag(t, tag);
    }
    // Already shared: the planner's interned list, or one of `#subset`'s.
    this.#slots.setListed(t, holding);
    this.#slots.setSince(t, this.#sinceNow());
    if (this.#deleting.size > 0) this.#deleting.delete(name);
    const queue = this.#o.queue;
    // The object is built when written, not held by the write queue (100,000s at a start).
    queue.push("ServiceBGPStatus", this.#writeStatus, name, s, holding);
    // Only when the Service starts being announced from this node, not after a restart.
    if (!held) queue.push("Event", this.#writeAssigned, s, undefined);
    this.#metricsOf(t);
  }

  /** No peer holds the Service any more: its object goes. */
  #withdraw(key: string, t: number): void {
    const name = this.#slots.nameOf(key, t)!;
    this.#deleting.add(name);
    this.#delete(name);
    this.#slots.clearName(key, t);
    this.#slots.setListed(t, NO_PEERS);
    this.#metricsOf(t);
  }

  #delete(name: string): void {
    this.#o.queue.push("ServiceBGPStatus", this.#writeDelete, name, undefined);
  }

  // One function per kind of write, shared by every queued item (no closure per item).
  readonly #writeStatus = (name: string, s: ServiceAnnouncement, peers: readonly string[]) => {
    const { namespace, node, writer } = this.#o;
    // A writer that keeps statuses as their parts takes them as such: no object to take apart.
    if (writer.setServiceBGPStatusParts) {
      const parts = { node, serviceName: s.name, serviceNamespace: s.namespace, peers };
      return writer.setServiceBGPStatusParts(namespace, name, parts);
    }
    const object = serviceBGPStatusObject(name, { s, peers, namespace, node });
    return writer.setServiceBGPStatus(namespace, name, object);
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
    this.#slots.showWanted(t);
  }

  /** The series of `metallb_speaker_announced`: service, protocol, node, IP. */
  #announcedRows(row: (values: readonly string[], value: number) => void): void {
    const node = this.#o.node;
    for (const [key, ips] of this.#slots.shownAll()) {
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
    const t = this.#slots.slotOf(key);
    return t !== undefined && this.#slots.shown(key, t)?.includes(ip) ? 1 : undefined;
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
      const t = this.#slots.slotOf(service);
      if (t !== undefined && this.#slots.nameOf(service, t) === name) continue;
      this.#deleting.add(name);
      this.#o.log.info("deleting stale ServiceBGPStatus", { name, service });
      this.#delete(name);
    }
  }

  /** Every handled Service for /status, built when read. */
  services(): SpeakerServiceStatus[] {
    const peers = this.#o.peers;
    return this.#slots.handled.map((s, i) => {
      const t = this.#slots.slotAt(i);
      const h = this.#slots.stands(t) ? t : undefined;
      const st: SpeakerServiceStatus = {
        namespace: s.namespace,
        name: s.name,
        ips: s.ips,
        peers: (h === undefined ? [] : this.#slots.listed(h)).map((p) => peers.label(p) ?? p),
      };
      if (s.pool) st.pool = s.pool;
      if (s.path) st.path = s.path;
      if (h !== undefined) {
        st.announcedSince = new Date(this.#base + this.#slots.since(h)).toISOString();
      }
      if (s.reason) st.pending = s.reason;
      const why = s.ips.length > 0 && s.reason ? s.reason : s.partial;
      if (why) st.notAnnounced = why;
      else if (!h && s.peers.length > 0) st.notAnnounced = "waiting for its peers to take it";
      return st;
    });
  }
}
