/**
 * File mode glue: a directory of manifests cannot take writes, so the controller's writes
 * go to a state store and are laid over the manifests, the way an API server would reflect
 * them back. The controller then reads its own assignments on restart exactly as it does
 * from a cluster, and keeps them. The parts live beside this file: the readers' view
 * (service_view.ts), the states writes make (service_writes.ts), their group commit
 * (group_commit.ts), the Events (event_log.ts) and ServiceBGPStatuses (bgp_status_store.ts).
 */
import type { Logger } from "../api/log.ts";
import { BgpStatusStore } from "./bgp_status_store.ts";
import { EventLog, type RecordedEvent } from "./event_log.ts";
import { GroupCommit } from "./group_commit.ts";
import { heldKey, SavedState, ServicesWithState } from "./service_view.ts";
import { type ServiceWrite, StateBuilder } from "./service_writes.ts";
import type { ServiceState, StateStore } from "./state_store.ts";
import {
  type EventRecord,
  type IngressEntry,
  type KubeObject,
  objectKey,
  type ObjectSource,
  type ObjectWriter,
  type ReadKind,
  type ServiceBGPStatusParts,
  type Snapshot,
} from "./types.ts";

export { EVENT_RING_SIZE, NORMAL_EVENTS_LOGGED_PER_SECOND } from "./event_log.ts";
export type { RecordedEvent } from "./event_log.ts";
export type { ServiceWrite } from "./service_writes.ts";

/** Writer method names, for {@linkcode OverlaySource.writeCounts}. */
export type WriteMethod = keyof ObjectWriter;

/** An object source over manifests that also takes the controller's and speaker's writes. */
export interface OverlaySource extends ObjectSource, ObjectWriter {
  /** The last {@linkcode EVENT_RING_SIZE} Events, oldest first. */
  events(): RecordedEvent[];
  /** Pool status counts by `namespace/name`. */
  poolStatus(): ReadonlyMap<string, Record<string, number | bigint>>;
  /** ConfigurationState statuses by `namespace/name`. */
  configurationStates(): ReadonlyMap<string, unknown>;
  /** ServiceBGPStatus objects by `namespace/name`: equal to those written, made when read. */
  serviceBGPStatuses(): ReadonlyMap<string, KubeObject>;
  /**
   * Writer calls so far, of any kind, counted even when they change nothing: against a
   * cluster each would be an API request, so a clean restart must make 0.
   */
  writes(): number;
  /** Writer calls so far, per method. */
  writeCounts(): Partial<Record<WriteMethod, number>>;
  /** The persisted Service state by `namespace/name`, including Services gone from the source. */
  serviceStates(): ReadonlyMap<string, ServiceState>;
  /**
   * Applies many Services' ingress and annotation changes as one: one state save, then one
   * new snapshot and one change notification holding all of them.
   */
  writeServices(writes: readonly ServiceWrite[]): Promise<void>;
}

/** Options for {@linkcode createOverlaySource}. */
export interface OverlaySourceOptions {
  logger: Logger;
  now?: () => Date;
}

/**
 * Lays the state in `store` over `inner`'s Services and sends writes to `store`. Writes are
 * group-committed: every write made while a save is running (or in the same tick) goes into
 * the next save, and becomes visible in the snapshot only once that save is durable, so a
 * crash never loses an address a reader has already seen.
 */
export function createOverlaySource(
  inner: ObjectSource,
  store: StateStore,
  options: OverlaySourceOptions,
): OverlaySource {
  const o = new Overlay(inner, { store, ...options });
  // A plain object of functions, as before: callers may pass its methods around unbound.
  return {
    start: () => o.start(),
    snapshot: () => o.snapshot(),
    subscribe: (listener) => o.subscribe(listener),
    close: () => o.close(),
    setServiceIngress: (namespace, name, ingress) => o.setServiceIngress(namespace, name, ingress),
    patchServiceAnnotations: (namespace, name, annotations) =>
      o.patchServiceAnnotations(namespace, name, annotations),
    writeServices: (writes) => o.writeServices(writes),
    recordEvent: (event) => o.recordEvent(event),
    setPoolStatus: (namespace, name, status) => o.setPoolStatus(namespace, name, status),
    setConfigurationState: (namespace, name, status) =>
      o.setConfigurationState(namespace, name, status),
    setServiceBGPStatus: (namespace, name, object) =>
      o.setServiceBGPStatus(namespace, name, object),
    setServiceBGPStatusParts: (namespace, name, parts) =>
      o.setServiceBGPStatusParts(namespace, name, parts),
    events: () => o.events.events(),
    poolStatus: () => o.pools,
    configurationStates: () => o.configStates,
    serviceBGPStatuses: () => o.bgpStatuses,
    writes: () => o.totalWrites,
    writeCounts: () => ({ ...o.counts }),
    serviceStates: () => o.commits.committed,
  };
}

type Listener = (changed: ReadonlySet<ReadKind>) => void;

/** What {@linkcode Overlay} is made of. */
interface OverlayOptions extends OverlaySourceOptions {
  store: StateStore;
}

/** The overlay's state and behaviour; {@linkcode createOverlaySource} hands out its methods. */
class Overlay {
  readonly #inner: ObjectSource;
  readonly #log: Logger;
  readonly #states = new StateBuilder();
  readonly commits: GroupCommit;
  readonly events: EventLog;
  readonly #listeners = new Set<Listener>();
  readonly pools = new Map<string, Record<string, number | bigint>>();
  readonly configStates = new Map<string, unknown>();
  // Kept as their parts: 100,000s of them, all of one shape (see BgpStatusStore).
  readonly bgpStatuses = new BgpStatusStore();
  readonly counts: Partial<Record<WriteMethod, number>> = {};
  totalWrites = 0;
  #cache: { innerRevision: number; overlayRevision: number; snap: Snapshot } | undefined;
  #unsubscribeInner: (() => void) | undefined;
  /** How a batch entry is staged: made once, not per batch. */
  readonly #step = {
    key: heldKey,
    next: (prev: SavedState | undefined, w: ServiceWrite) => this.#states.apply(prev, w),
  };

  constructor(inner: ObjectSource, options: OverlayOptions) {
    this.#inner = inner;
    this.#log = options.logger.child({ component: "overlay-source" });
    this.events = new EventLog(this.#log, { now: options.now ?? (() => new Date()) });
    // Loaded up front: if the state cannot be read we must not start and hand out addresses.
    const loaded = options.store.load();
    const extra: Record<string, unknown> = { ...loaded };
    delete extra.version;
    delete extra.services;
    // One loop, no [key, state] pair and mapped pair per Service (100,000s at a restart).
    const initial = new Map<string, SavedState>();
    const saved = loaded.services;
    for (const k in saved) {
      const st = saved[k];
      // The parsed lists are the states' own from now on: kept, not copied.
      const annotations = this.#states.intern(st.annotations);
      initial.set(k, new SavedState(st.ingress, annotations, { owned: true }));
    }
    this.commits = new GroupCommit(options.store, {
      logger: this.#log,
      initial,
      extra,
      onCommit: () => this.#notify(new Set<ReadKind>(["Service"])),
    });
  }

  async start(): Promise<void> {
    await this.#inner.start();
    this.#unsubscribeInner ??= this.#inner.subscribe((changed) => this.#notify(changed));
  }

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.events.close();
    this.#unsubscribeInner?.();
    this.#unsubscribeInner = undefined;
    this.#listeners.clear();
    // Writes already handed to us are saved before the state dir is let go.
    await this.commits.drain();
    await this.#inner.close();
  }

  snapshot(): Snapshot {
    const base = this.#inner.snapshot();
    const overlayRevision = this.commits.revision;
    const cache = this.#cache;
    if (
      cache && cache.innerRevision === base.revision && cache.overlayRevision === overlayRevision
    ) {
      return cache.snap;
    }
    const objects = new Map(base.objects);
    const innerServices = base.objects.get("Service");
    const committed = this.commits.committed;
    // No copy of the Services: a view over the manifests' and the durable states, both of
    // which are replaced, never changed, so it stays as it was when taken.
    if (innerServices && committed.size > 0) {
      objects.set("Service", new ServicesWithState(innerServices, committed));
    }
    // Both parts only grow by one per change, so their sum does too.
    const snap: Snapshot = { revision: base.revision + overlayRevision, objects };
    this.#cache = { innerRevision: base.revision, overlayRevision, snap };
    return snap;
  }

  setServiceIngress(namespace: string, name: string, ingress: IngressEntry[]): Promise<void> {
    this.#count("setServiceIngress");
    const key = heldKey({ namespace, name });
    const next = this.#states.apply(this.commits.latest(key), { namespace, name, ingress });
    this.#log.debug("service ingress written", {
      service: key,
      ingress: ingress.map((e) => e.ip),
    });
    return this.commits.stage(key, next) ?? Promise.resolve();
  }

  patchServiceAnnotations(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void> {
    this.#count("patchServiceAnnotations");
    const key = heldKey({ namespace, name });
    const prev = this.commits.latest(key);
    const next = this.#states.apply(prev, { namespace, name, annotations });
    // Annotations alone never create nor drop an entry that holds an address.
    if (next === null && prev === undefined) return Promise.resolve();
    const state = next ?? new SavedState([], this.#states.none);
    return this.commits.stage(key, state) ?? Promise.resolve();
  }

  async writeServices(writes: readonly ServiceWrite[]): Promise<void> {
    // Counted as setServiceIngress: each is one such request against a cluster.
    this.#count("setServiceIngress", writes.length);
    return await this.commits.stageAll(writes, this.#step);
  }

  recordEvent(event: EventRecord): Promise<void> {
    this.#count("recordEvent");
    this.events.record(event);
    return Promise.resolve();
  }

  setPoolStatus(
    namespace: string,
    name: string,
    status: Record<string, number | bigint>,
  ): Promise<void> {
    this.#count("setPoolStatus");
    this.pools.set(objectKey({ namespace, name }), { ...status });
    return Promise.resolve();
  }

  setConfigurationState(namespace: string, name: string, status: unknown): Promise<void> {
    this.#count("setConfigurationState");
    this.configStates.set(objectKey({ namespace, name }), status);
    return Promise.resolve();
  }

  setServiceBGPStatus(namespace: string, name: string, object: KubeObject | null): Promise<void> {
    this.#count("setServiceBGPStatus");
    this.bgpStatuses.write(namespace, name, object);
    return Promise.resolve();
  }

  setServiceBGPStatusParts(
    namespace: string,
    name: string,
    parts: ServiceBGPStatusParts,
  ): Promise<void> {
    this.#count("setServiceBGPStatus");
    this.bgpStatuses.writeParts(namespace, name, parts);
    return Promise.resolve();
  }

  #count(method: WriteMethod, n = 1): void {
    this.totalWrites += n;
    this.counts[method] = (this.counts[method] ?? 0) + n;
  }

  #notify(kinds: ReadonlySet<ReadKind>): void {
    for (const l of [...this.#listeners]) {
      try {
        l(kinds);
      } catch (err) {
        this.#log.error("change listener failed", { error: err });
      }
    }
  }
}
