/**
 * File mode glue: a directory of manifests cannot take writes, so the controller's writes
 * go to a state store and are laid over the manifests, the way an API server would reflect
 * them back. The controller then reads its own assignments on restart exactly as it does
 * from a cluster, and keeps them.
 */
import type { Logger } from "../api/log.ts";
import type { ServiceState, StateData, StateStore } from "./state_store.ts";
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
  /** ServiceBGPStatus objects by `namespace/name`. */
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

function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}

/** Lays the state in `store` over `inner`'s Services and sends writes to `store`. */
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
  const services = new Map<string, ServiceState>(Object.entries(loaded.services));

  const listeners = new Set<(changed: ReadonlySet<ReadKind>) => void>();
  const ring: RecordedEvent[] = [];
  const pools = new Map<string, Record<string, number | bigint>>();
  const configStates = new Map<string, unknown>();
  const bgpStatuses = new Map<string, KubeObject>();
  const counts: Partial<Record<WriteMethod, number>> = {};
  let totalWrites = 0;
  let overlayRevision = 0;
  let cache: { innerRevision: number; overlayRevision: number; snap: Snapshot } | undefined;
  // Overlaid Services by the manifest object they came from: an unchanged Service with an
  // unchanged state stays the same object across snapshots, so readers that cache by
  // identity (the speaker's parsed views) do not redo every Service on every write.
  const overlaid = new WeakMap<KubeObject, { state: ServiceState; obj: KubeObject }>();
  let unsubscribeInner: (() => void) | undefined;

  function count(method: WriteMethod): void {
    totalWrites++;
    counts[method] = (counts[method] ?? 0) + 1;
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

  function stateData(): StateData {
    return { ...extra, version: 1, services: Object.fromEntries(services) };
  }

  /** Persists after `key` changed; on failure undoes the change so a retry is not a no-op. */
  async function commit(key: string, prev: ServiceState | undefined): Promise<void> {
    overlayRevision++;
    const mine = services.get(key);
    try {
      await store.save(stateData());
    } catch (err) {
      if (services.get(key) === mine) {
        if (prev) services.set(key, prev);
        else services.delete(key);
        overlayRevision++;
      }
      log.error("could not persist service state", { service: key, error: err });
      throw err;
    }
    // Deferred like a watch event, so a writer is never re-entered from its own write.
    queueMicrotask(() => notify(new Set<ReadKind>(["Service"])));
  }

  function overlay(obj: KubeObject, state: ServiceState): KubeObject {
    const status =
      (typeof obj.status === "object" && obj.status !== null
        ? obj.status
        : {}) as LoadBalancerStatus;
    return {
      ...obj,
      metadata: {
        ...obj.metadata,
        annotations: { ...obj.metadata.annotations, ...state.annotations },
      },
      status: {
        ...status,
        loadBalancer: {
          ...status.loadBalancer,
          ingress: state.ingress.map((ip) => ({ ip })),
        },
      },
    };
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
    if (innerServices && services.size > 0) {
      const merged = new Map(innerServices);
      for (const [key, obj] of innerServices) {
        const state = services.get(key);
        if (!state) continue;
        let hit = overlaid.get(obj);
        if (hit?.state !== state) overlaid.set(obj, hit = { state, obj: overlay(obj, state) });
        merged.set(key, hit.obj);
      }
      objects.set("Service", merged);
    }
    // Both parts only grow by one per change, so their sum does too.
    const snap: Snapshot = { revision: base.revision + overlayRevision, objects };
    cache = { innerRevision: base.revision, overlayRevision, snap };
    return snap;
  }

  async function setServiceIngress(
    namespace: string,
    name: string,
    ingress: IngressEntry[],
  ): Promise<void> {
    count("setServiceIngress");
    const key = objectKey({ namespace, name });
    const ips = ingress.map((e) => e.ip);
    const prev = services.get(key);
    if (ips.length === 0) {
      // Released by the controller: only now may the entry (and its annotations) go.
      if (!prev) return;
      services.delete(key);
    } else {
      if (prev && sameStrings(prev.ingress, ips)) return;
      services.set(key, { ingress: ips, annotations: prev?.annotations ?? {} });
    }
    log.debug("service ingress written", { service: key, ingress: ips });
    await commit(key, prev);
  }

  async function patchServiceAnnotations(
    namespace: string,
    name: string,
    annotations: Record<string, string | null>,
  ): Promise<void> {
    count("patchServiceAnnotations");
    const key = objectKey({ namespace, name });
    const prev = services.get(key);
    const next: Record<string, string> = { ...prev?.annotations };
    for (const [k, v] of Object.entries(annotations)) {
      if (v === null) delete next[k];
      else next[k] = v;
    }
    if (sameRecord(next, prev?.annotations ?? {})) return;
    services.set(key, { ingress: prev?.ingress ?? [], annotations: next });
    await commit(key, prev);
  }

  function recordEvent(event: EventRecord): Promise<void> {
    count("recordEvent");
    const rec: RecordedEvent = { ...event, time: now().toISOString() };
    ring.push(rec);
    if (ring.length > EVENT_RING_SIZE) ring.splice(0, ring.length - EVENT_RING_SIZE);
    const ctx = {
      object: `${event.involved.kind}/${objectKey(event.involved)}`,
      type: event.type,
      reason: event.reason,
      message: event.message,
      source: event.component,
    };
    if (event.type === "Warning") log.warn("event", ctx);
    else log.info("event", ctx);
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
    const key = objectKey({ namespace, name });
    if (object === null) bgpStatuses.delete(key);
    else bgpStatuses.set(key, object);
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
      unsubscribeInner?.();
      unsubscribeInner = undefined;
      listeners.clear();
      await inner.close();
    },
    setServiceIngress,
    patchServiceAnnotations,
    recordEvent,
    setPoolStatus,
    setConfigurationState,
    setServiceBGPStatus,
    events: () => [...ring],
    poolStatus: () => pools,
    configurationStates: () => configStates,
    serviceBGPStatuses: () => bgpStatuses,
    writes: () => totalWrites,
    writeCounts: () => ({ ...counts }),
    serviceStates: () => services,
  };
}
