/**
 * File mode glue: a directory of manifests cannot take writes, so the controller's writes
 * go to a state store and are laid over the manifests, the way an API server would reflect
 * them back. The controller then reads its own assignments on restart exactly as it does
 * from a cluster, and keeps them.
 */
import type { Logger } from "../api/log.ts";
import { BgpStatusStore } from "./bgp_status_store.ts";
import type { ServiceState, StateStore } from "./state_store.ts";
import {
  type EventRecord,
  type IngressEntry,
  type KubeObject,
  objectKey,
  type ObjectSource,
  type ObjectWriter,
  type ReadKind,
  type Snapshot,
} from "./types.ts";

/** How many Events {@linkcode OverlaySource.events} keeps. */
export const EVENT_RING_SIZE = 200;
/**
 * Normal Events logged at info per second; beyond it they go to debug and one line says how
 * many, so 100,000 new Services do not write 100,000 log lines. Warnings are always logged.
 */
export const NORMAL_EVENTS_LOGGED_PER_SECOND = 100;

/** An Event as recorded, with when. */
export interface RecordedEvent extends EventRecord {
  time: string;
}

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

/** One Service's writes for {@linkcode OverlaySource.writeServices}. */
export interface ServiceWrite {
  namespace: string;
  name: string;
  /** New `status.loadBalancer.ingress`; absent leaves it as is. */
  ingress?: IngressEntry[];
  /** Annotations to merge (a null value deletes the key); absent leaves them as they are. */
  annotations?: Record<string, string | null>;
}

/** Options for {@linkcode createOverlaySource}. */
export interface OverlaySourceOptions {
  logger: Logger;
  now?: () => Date;
}

interface LoadBalancerStatus {
  loadBalancer?: { ingress?: IngressEntry[] };
  [field: string]: unknown;
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/** Longest stretch of staging a batch without yielding to the event loop. */
const STAGE_SLICE_MS = 20;

/** A change waiting for the next save: the new state, or null when the entry goes. */
type Staged = Map<string, SavedState | null>;

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
  const log = options.logger.child({ component: "overlay-source" });
  const now = options.now ?? (() => new Date());
  // Loaded up front: if the state cannot be read we must not start and hand out addresses.
  const loaded = store.load();
  const extra: Record<string, unknown> = { ...loaded };
  delete extra.version;
  delete extra.services;
  /** Durable state; what snapshots show. Replaced (never mutated) by each save. */
  let committed: ReadonlyMap<string, SavedState>;
  let staged: Staged = new Map();
  let waiters: { resolve: () => void; reject: (err: unknown) => void }[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let flushing = false;
  /** Batches being staged: the save waits for them, so each batch lands in one save. */
  let staging = 0;

  const listeners = new Set<(changed: ReadonlySet<ReadKind>) => void>();
  const ring: RecordedEvent[] = [];
  const pools = new Map<string, Record<string, number | bigint>>();
  const configStates = new Map<string, unknown>();
  // Kept as their parts: 100,000s of them, all of one shape (see BgpStatusStore).
  const bgpStatuses = new BgpStatusStore();
  const counts: Partial<Record<WriteMethod, number>> = {};
  let totalWrites = 0;
  let overlayRevision = 0;
  let cache: { innerRevision: number; overlayRevision: number; snap: Snapshot } | undefined;
  let unsubscribeInner: (() => void) | undefined;

  function count(method: WriteMethod | "writeServices", n = 1): void {
    totalWrites += n;
    const m = method === "writeServices" ? "setServiceIngress" : method;
    counts[m] = (counts[m] ?? 0) + n;
  }

  function notify(kinds: ReadonlySet<ReadKind>): void {
    for (const l of [...listeners]) {
      try {
        l(kinds);
      } catch (err) {
        log.error("change listener failed", { error: err });
      }
    }
  }

  // Every Service of a pool carries the same annotations: one frozen record per distinct set.
  const interned = new Map<string, Record<string, string>>();
  function intern(record: Record<string, string>): Record<string, string> {
    const key = JSON.stringify(record);
    let hit = interned.get(key);
    if (!hit) {
      if (interned.size >= 10_000) interned.clear();
      interned.set(key, hit = Object.freeze(record) as Record<string, string>);
    }
    return hit;
  }

  const NO_ANNOTATIONS = intern({});
  /**
   * Merges by the (interned) record and the patch: 100,000 Services of a pool get the same
   * patch over the same record, and then cost one lookup each, not a merge and a JSON key.
   */
  const merges = new WeakMap<Record<string, string>, Map<string, Record<string, string>>>();
  function merged(
    base: Record<string, string>,
    patch: Record<string, string | null>,
  ): Record<string, string> {
    const key = JSON.stringify(patch);
    let byPatch = merges.get(base);
    if (!byPatch) merges.set(base, byPatch = new Map());
    let hit = byPatch.get(key);
    if (!hit) {
      if (byPatch.size >= 1000) byPatch.clear();
      byPatch.set(key, hit = intern(mergeAnnotations(base, patch)));
    }
    return hit;
  }

  committed = new Map(
    Object.entries(loaded.services).map((
      [k, st],
    ) => [k, new SavedState(st.ingress, intern(st.annotations))]),
  );

  /** The state a new write builds on: staged if any, else durable. */
  function latest(key: string): SavedState | undefined {
    const s = staged.get(key);
    return s === undefined ? committed.get(key) : s ?? undefined;
  }

  /** Resolves once everything staged so far is durable (and visible). */
  function afterFlush(): Promise<void> {
    return new Promise((resolve, reject) => {
      waiters.push({ resolve, reject });
      scheduleFlush();
    });
  }

  function scheduleFlush(): void {
    if (flushTimer !== undefined || flushing || staging > 0) return;
    // A macrotask first, so every write of the same tick lands in one save.
    flushTimer = setTimeout(() => {
      flushTimer = undefined;
      flush();
    }, 0);
  }

  async function flush(): Promise<void> {
    const batch = staged;
    const done = waiters;
    staged = new Map();
    waiters = [];
    if (batch.size === 0) {
      for (const w of done) w.resolve();
      return;
    }
    flushing = true;
    const next = new Map(committed);
    for (const [key, state] of batch) {
      if (state) next.set(key, state);
      else next.delete(key);
    }
    try {
      await store.save({ ...extra, version: 1, services: next });
      // Readers see it only now that it is durable; the Services are laid over as read.
      committed = next;
      overlayRevision++;
      log.debug("service state saved", { services: batch.size, generation: store.generation() });
      for (const w of done) w.resolve();
      // Deferred like a watch event, so a writer is never re-entered from its own write.
      queueMicrotask(() => notify(new Set<ReadKind>(["Service"])));
    } catch (err) {
      // Nothing of the batch became visible; the writers see the error and retry.
      log.error("could not persist service state", { services: batch.size, error: err });
      for (const w of done) w.reject(err);
    } finally {
      flushing = false;
      if (staged.size > 0 || waiters.length > 0) scheduleFlush();
    }
  }

  /** Stages `next` for `key`; resolves when durable. A no-op write resolves at once. */
  function stage(key: string, next: SavedState | null): Promise<void> | undefined {
    return stageOnly(key, next) ? afterFlush() : undefined;
  }

  /** Stages `next` for `key`; true when the caller must wait for a save to be durable. */
  function stageOnly(key: string, next: SavedState | null): boolean {
    const cur = latest(key);
    if (next === null ? cur === undefined : cur !== undefined && sameState(cur, next)) {
      // Equal to what is staged: still wait for it, so the caller's write is durable.
      return staged.has(key);
    }
    staged.set(key, next);
    return true;
  }

  function snapshot(): Snapshot {
    const base = inner.snapshot();
    if (
      cache && cache.innerRevision === base.revision && cache.overlayRevision === overlayRevision
    ) {
      return cache.snap;
    }
    const objects = new Map(base.objects);
    const innerServices = base.objects.get("Service");
    // No copy of the Services: a view over the manifests' and the durable states, both of
    // which are replaced, never changed, so it stays as it was when taken.
    if (innerServices && committed.size > 0) {
      objects.set("Service", new ServicesWithState(innerServices, committed));
    }
    // Both parts only grow by one per change, so their sum does too.
    const snap: Snapshot = { revision: base.revision + overlayRevision, objects };
    cache = { innerRevision: base.revision, overlayRevision, snap };
    return snap;
  }

  /** The state `write` makes of `prev`, or null when the entry goes. */
  function applyWrite(prev: SavedState | undefined, write: ServiceWrite): SavedState | null {
    let ingress = prev?.ingress ?? [];
    let annotations = prev?.annotations ?? NO_ANNOTATIONS;
    if (write.ingress) {
      // Released by the controller: only now may the entry (and its annotations) go.
      if (write.ingress.length === 0 && !write.annotations) return null;
      ingress = write.ingress.map((e) => e.ip);
    }
    if (write.annotations) annotations = merged(annotations, write.annotations);
    if (ingress.length === 0 && Object.keys(annotations).length === 0) return null;
    return new SavedState(ingress, annotations);
  }

  function setServiceIngress(
    namespace: string,
    name: string,
    ingress: IngressEntry[],
  ): Promise<void> {
    count("setServiceIngress");
    const key = heldKey({ namespace, name });
    const next = applyWrite(latest(key), { namespace, name, ingress });
    log.debug("service ingress written", { service: key, ingress: ingress.map((e) => e.ip) });
    return stage(key, next) ?? Promise.resolve();
  }

  function patchServiceAnnotations(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void> {
    count("patchServiceAnnotations");
    const key = heldKey({ namespace, name });
    const prev = latest(key);
    const next = applyWrite(prev, { namespace, name, annotations });
    // Annotations alone never create nor drop an entry that holds an address.
    if (next === null && prev === undefined) return Promise.resolve();
    return stage(key, next ?? new SavedState([], NO_ANNOTATIONS)) ?? Promise.resolve();
  }

  async function writeServices(writes: readonly ServiceWrite[]): Promise<void> {
    count("writeServices", writes.length);
    let wait = false;
    // Staged in slices so a batch of 100,000 never stalls the event loop; the save waits
    // until the whole batch is staged, so it is one save and one change.
    staging++;
    try {
      let sliceStart = performance.now();
      for (const w of writes) {
        if (performance.now() - sliceStart >= STAGE_SLICE_MS) {
          await new Promise((r) => setTimeout(r, 0));
          sliceStart = performance.now();
        }
        const key = heldKey(w);
        if (stageOnly(key, applyWrite(latest(key), w))) wait = true;
      }
    } finally {
      staging--;
      // Writes of others that came in meanwhile wait for a save too.
      if (!wait && (staged.size > 0 || waiters.length > 0)) scheduleFlush();
    }
    if (wait) return await afterFlush();
  }

  let windowStart = 0;
  let windowCount = 0;
  let windowTimer: ReturnType<typeof setTimeout> | undefined;

  /** Whether this Normal Event may be logged at info; counts the ones that may not. */
  function normalBudget(): boolean {
    const t = performance.now();
    if (t - windowStart >= 1000 && windowTimer === undefined) {
      windowStart = t;
      windowCount = 0;
    }
    windowCount++;
    if (windowCount <= NORMAL_EVENTS_LOGGED_PER_SECOND) return true;
    windowTimer ??= setTimeout(() => {
      windowTimer = undefined;
      const quiet = windowCount - NORMAL_EVENTS_LOGGED_PER_SECOND;
      windowStart = performance.now();
      windowCount = 0;
      log.info("more events recorded (logged at debug level)", { events: quiet });
    }, 1000);
    return false;
  }

  function recordEvent(event: EventRecord): Promise<void> {
    count("recordEvent");
    const rec: RecordedEvent = { ...event, time: now().toISOString() };
    ring.push(rec);
    if (ring.length > EVENT_RING_SIZE * 2) ring.splice(0, ring.length - EVENT_RING_SIZE);
    const ctx = {
      object: `${event.involved.kind}/${objectKey(event.involved)}`,
      type: event.type,
      reason: event.reason,
      message: event.message,
      source: event.component,
    };
    if (event.type === "Warning") log.warn("event", ctx);
    else if (normalBudget()) log.info("event", ctx);
    else log.debug("event", ctx);
    return Promise.resolve();
  }

  function setPoolStatus(
    namespace: string,
    name: string,
    status: Record<string, number | bigint>,
  ): Promise<void> {
    count("setPoolStatus");
    pools.set(objectKey({ namespace, name }), { ...status });
    return Promise.resolve();
  }

  function setConfigurationState(namespace: string, name: string, status: unknown): Promise<void> {
    count("setConfigurationState");
    configStates.set(objectKey({ namespace, name }), status);
    return Promise.resolve();
  }

  function setServiceBGPStatus(
    namespace: string,
    name: string,
    object: KubeObject | null,
  ): Promise<void> {
    count("setServiceBGPStatus");
    bgpStatuses.write(namespace, name, object);
    return Promise.resolve();
  }

  return {
    async start() {
      await inner.start();
      unsubscribeInner ??= inner.subscribe((changed) => notify(changed));
    },
    snapshot,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      clearTimeout(windowTimer);
      windowTimer = undefined;
      unsubscribeInner?.();
      unsubscribeInner = undefined;
      listeners.clear();
      // Writes already handed to us are saved before the state dir is let go.
      if (staged.size > 0 || flushing) await afterFlush().catch(() => {});
      await inner.close();
    },
    setServiceIngress,
    patchServiceAnnotations,
    writeServices,
    recordEvent,
    setPoolStatus,
    setConfigurationState,
    setServiceBGPStatus,
    events: () => ring.slice(-EVENT_RING_SIZE),
    poolStatus: () => pools,
    configurationStates: () => configStates,
    serviceBGPStatuses: () => bgpStatuses,
    writes: () => totalWrites,
    writeCounts: () => ({ ...counts }),
    serviceStates: () => committed,
  };
}

/**
 * {@linkcode objectKey} as one flat string: a template literal makes a rope of two strings
 * (64 bytes for `default/svc-000001`), a join one string (40 bytes). For keys kept per object.
 */
function heldKey(meta: { namespace?: string; name: string }): string {
  return meta.namespace ? [meta.namespace, meta.name].join("/") : meta.name;
}

type Plain = Record<string, unknown>;

/**
 * A Service's durable state, and the Service as readers see it with that state laid over
 * (kept for the manifest object it was made from; not saved: JSON takes the public fields).
 * States are replaced on change, never changed, so one laid-over object serves every
 * snapshot until the state or the manifest object changes: readers that cache by identity
 * (the parsed views) redo nothing for an unchanged Service.
 */
class SavedState implements ServiceState {
  /** The ingress as the status shows it, shared by every laid-over object of this state. */
  readonly entries: readonly IngressEntry[];
  readonly annotations: Record<string, string>;
  #base: KubeObject | undefined;
  #shown: KubeObject | undefined;

  constructor(ingress: readonly string[], annotations: Record<string, string>) {
    this.entries = ingress.length === 0
      ? NO_ENTRIES
      : Object.freeze(ingress.map((ip) => Object.freeze({ ip })));
    this.annotations = annotations;
  }

  /** The addresses, in order (made when asked: the entries hold them). */
  get ingress(): string[] {
    return this.entries.map((e) => e.ip);
  }

  /** What is saved: `{ingress, annotations}`, as {@linkcode ServiceState} says. */
  toJSON(): ServiceState {
    return { ingress: this.ingress, annotations: this.annotations };
  }

  /** `obj` with this state laid over. */
  over(obj: KubeObject): KubeObject {
    if (this.#base !== obj || this.#shown === undefined) {
      this.#shown = overlay(obj, this);
      this.#base = obj;
    }
    return this.#shown;
  }
}

const NO_ENTRIES: readonly IngressEntry[] = Object.freeze([]);

/**
 * The Services of a snapshot with their states laid over, made as they are read: no map of
 * 100,000 entries is copied per save. Reads as the manifests' map with each Service that has
 * a state replaced by the laid-over one (same keys, same order).
 */
class ServicesWithState implements ReadonlyMap<string, KubeObject> {
  readonly #inner: ReadonlyMap<string, KubeObject>;
  readonly #states: ReadonlyMap<string, SavedState>;

  constructor(inner: ReadonlyMap<string, KubeObject>, states: ReadonlyMap<string, SavedState>) {
    this.#inner = inner;
    this.#states = states;
  }

  get size(): number {
    return this.#inner.size;
  }

  get(key: string): KubeObject | undefined {
    const obj = this.#inner.get(key);
    if (obj === undefined) return undefined;
    const state = this.#states.get(key);
    return state ? state.over(obj) : obj;
  }

  has(key: string): boolean {
    return this.#inner.has(key);
  }

  *entries(): MapIterator<[string, KubeObject]> {
    for (const [key, obj] of this.#inner) {
      const state = this.#states.get(key);
      yield [key, state ? state.over(obj) : obj];
    }
  }

  *keys(): MapIterator<string> {
    yield* this.#inner.keys();
  }

  *values(): MapIterator<KubeObject> {
    for (const [key, obj] of this.#inner) {
      const state = this.#states.get(key);
      yield state ? state.over(obj) : obj;
    }
  }

  [Symbol.iterator](): MapIterator<[string, KubeObject]> {
    return this.entries();
  }

  forEach(
    fn: (value: KubeObject, key: string, map: ReadonlyMap<string, KubeObject>) => void,
    thisArg?: unknown,
  ): void {
    for (const [key, obj] of this.entries()) fn.call(thisArg, obj, key, this);
  }
}

/**
 * `obj` with `state` laid over: as the API server would show it, with the status and the
 * annotations written. A Service of the usual shape is built from literals of a fixed shape
 * (V8 sizes them exactly; there is one per Service), others by spreading.
 */
function overlay(obj: KubeObject, state: SavedState): KubeObject {
  const m = obj.metadata;
  // Without annotations of its own the Service shows the (shared) saved ones as they are.
  const annotations = m.annotations
    ? { ...m.annotations, ...state.annotations }
    : state.annotations;
  const ingress = state.entries;
  const metadata = hasOnly(m, "name", "namespace", "annotations") && m.namespace !== undefined
    ? { name: m.name, namespace: m.namespace, annotations }
    : { ...m, annotations };
  if (
    obj.status === undefined && obj.spec !== undefined &&
    hasOnly(obj as unknown as Plain, "apiVersion", "kind", "metadata", "spec")
  ) {
    return {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      metadata,
      spec: obj.spec,
      status: { loadBalancer: { ingress } },
    };
  }
  const status =
    (typeof obj.status === "object" && obj.status !== null ? obj.status : {}) as LoadBalancerStatus;
  return {
    ...obj,
    metadata,
    status: { ...status, loadBalancer: { ...status.loadBalancer, ingress } },
  };
}

/** Whether `o`'s own keys are among `keys`. */
function hasOnly(o: object, ...keys: string[]): boolean {
  for (const k in o) if (Object.hasOwn(o, k) && !keys.includes(k)) return false;
  return true;
}

function sameState(a: SavedState, b: SavedState): boolean {
  return a.entries.length === b.entries.length &&
    a.entries.every((e, i) => e.ip === b.entries[i].ip) &&
    sameRecord(a.annotations, b.annotations);
}

function mergeAnnotations(
  base: Record<string, string>,
  patch: Record<string, string | null>,
): Record<string, string> {
  const next: Record<string, string> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  return next;
}
