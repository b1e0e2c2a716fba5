/**
 * The Kubernetes API server as an {@linkcode ObjectSource}: per kind, list then watch from the
 * list's resourceVersion (with bookmarks); on 410 Gone relist and diff; on any other failure
 * retry with bounded, jittered backoff. Snapshots are immutable and replaced per batch.
 */

import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../api/log.ts";
import { silentLogger } from "../api/log.ts";
import { forceHttp1, KubeApiError, kubeRequest } from "./kube_config.ts";
import {
  type KubeObject,
  objectKey,
  type ObjectSource,
  READ_KINDS,
  type ReadKind,
  type Snapshot,
} from "./types.ts";

/** Where a kind lives in the API and which namespaces are read. */
export interface KindEndpoint {
  apiVersion: string;
  plural: string;
  /** `install`: only the install namespace; `all`: every namespace; `cluster`: not namespaced. */
  scope: "install" | "all" | "cluster";
}

/** API location of every read kind (BGPPeer is read as v1beta2, its storage version). */
export const KIND_ENDPOINTS: Readonly<Record<ReadKind, KindEndpoint>> = {
  IPAddressPool: { apiVersion: "metallb.io/v1beta1", plural: "ipaddresspools", scope: "install" },
  BGPAdvertisement: {
    apiVersion: "metallb.io/v1beta1",
    plural: "bgpadvertisements",
    scope: "install",
  },
  BGPPeer: { apiVersion: "metallb.io/v1beta2", plural: "bgppeers", scope: "install" },
  Community: { apiVersion: "metallb.io/v1beta1", plural: "communities", scope: "install" },
  BFDProfile: { apiVersion: "metallb.io/v1beta1", plural: "bfdprofiles", scope: "install" },
  L2Advertisement: {
    apiVersion: "metallb.io/v1beta1",
    plural: "l2advertisements",
    scope: "install",
  },
  Service: { apiVersion: "v1", plural: "services", scope: "all" },
  EndpointSlice: { apiVersion: "discovery.k8s.io/v1", plural: "endpointslices", scope: "all" },
  Node: { apiVersion: "v1", plural: "nodes", scope: "cluster" },
  Namespace: { apiVersion: "v1", plural: "namespaces", scope: "cluster" },
  Secret: { apiVersion: "v1", plural: "secrets", scope: "install" },
  ServiceBGPStatus: {
    apiVersion: "metallb.io/v1beta1",
    plural: "servicebgpstatuses",
    scope: "install",
  },
};

/** The collection path of a kind, e.g. `/apis/metallb.io/v1beta1/namespaces/ns/ipaddresspools`. */
export function collectionPath(kind: ReadKind, namespace: string): string {
  const e = KIND_ENDPOINTS[kind];
  const base = e.apiVersion.includes("/") ? `/apis/${e.apiVersion}` : `/api/${e.apiVersion}`;
  return e.scope === "install"
    ? `${base}/namespaces/${encodeURIComponent(namespace)}/${e.plural}`
    : `${base}/${e.plural}`;
}

/** Counters the lead maps to `metallb_k8s_client_*`. */
export interface KubeSourceMetrics {
  /** Object changes applied (watch events and relist differences). */
  updatesTotal: number;
  /** Failed lists and watches. */
  updateErrorsTotal: number;
  /** Every kind has been listed once. */
  configLoaded: boolean;
  /** Some kind is currently not connected (its last list or watch failed). */
  stale: boolean;
}

/** Options for {@linkcode createKubeSource}. */
export interface KubeSourceOptions {
  /** Install namespace: metallb.io kinds and Secrets are read only here. */
  namespace: string;
  logger?: Logger;
  /** Kinds to read (default all of {@linkcode READ_KINDS}); others stay empty. */
  kinds?: readonly ReadKind[];
  /**
   * A label selector per kind, applied server-side to its list and watch: e.g. a speaker
   * reads only its own node's ServiceBGPStatus (`metallb.io/node=NODE`).
   */
  labelSelectors?: Partial<Record<ReadKind, string>>;
  /** Bound on each list request (default 30 s). */
  requestTimeoutMs?: number;
  /** Server-side watch timeout, asked for with `timeoutSeconds` (default 240–360 s). */
  watchTimeoutSeconds?: number;
  /**
   * A watch that delivers nothing (not even a bookmark) for this long is reopened from its
   * resourceVersion (default 30 s; cheap, no relist). Needed because under Deno a connection
   * cut under the client (API server crash, network loss) surfaces neither as an error nor as
   * an end, so a dead watch would otherwise only be noticed at its overall bound.
   */
  watchIdleTimeoutMs?: number;
  /** First retry delay (default 500 ms), doubled per failure up to `backoffMaxMs` (30 s). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Changes within this window reach subscribers as one call (default 10 ms). */
  coalesceMs?: number;
  /** When set, `start()` rejects if the caches are not synced within this time. */
  startTimeoutMs?: number;
}

/** An {@linkcode ObjectSource} backed by the API server, with client metrics. */
export interface KubeSource extends ObjectSource {
  metrics(): KubeSourceMetrics;
}

interface KindState {
  kind: ReadKind;
  path: string;
  labelSelector?: string;
  items: Map<string, KubeObject>;
  rv: string;
  synced: boolean;
  healthy: boolean;
  /** Ends the open watch now; the watch's own abort does not report back under Deno. */
  stopWatch?: (end: WatchEnd) => void;
}

type WatchEnd =
  | { outcome: "gone" }
  | { outcome: "ended"; connected: boolean; events: number; durationMs: number }
  | { outcome: "error"; error: unknown };

/** Creates a source reading the given kinds from the API server of `kc`. */
export function createKubeSource(kc: k8s.KubeConfig, options: KubeSourceOptions): KubeSource {
  forceHttp1(kc);
  const log = (options.logger ?? silentLogger).child({ component: "kube-source" });
  const kinds = options.kinds ?? READ_KINDS;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const backoffInitial = options.backoffInitialMs ?? 500;
  const backoffMax = options.backoffMaxMs ?? 30_000;
  const coalesceMs = options.coalesceMs ?? 10;
  const watchIdleTimeoutMs = options.watchIdleTimeoutMs ?? 30_000;
  const metrics: KubeSourceMetrics = {
    updatesTotal: 0,
    updateErrorsTotal: 0,
    configLoaded: false,
    stale: false,
  };
  const states = new Map<ReadKind, KindState>(kinds.map((kind) => [kind, {
    kind,
    path: collectionPath(kind, options.namespace),
    labelSelector: options.labelSelectors?.[kind] || undefined,
    items: new Map(),
    rv: "",
    synced: false,
    healthy: false,
  }]));
  const listeners = new Set<(changed: ReadonlySet<ReadKind>) => void>();
  const dirty = new Set<ReadKind>();
  let pending = new Set<ReadKind>();
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let current: Snapshot = Object.freeze({
    revision: 0,
    objects: new Map(READ_KINDS.map((k) => [k, new Map<string, KubeObject>()])),
  });
  const closing = new AbortController();
  let loops: Promise<void>[] = [];
  let started: Promise<void> | undefined;
  let onSynced: (() => void) | undefined;

  function watchTimeoutSeconds(): number {
    return options.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 120);
  }

  function materialize(): void {
    if (dirty.size === 0) return;
    const objects = new Map(current.objects);
    for (const kind of dirty) objects.set(kind, new Map(states.get(kind)!.items));
    dirty.clear();
    current = Object.freeze({ revision: current.revision + 1, objects });
  }

  function changed(kind: ReadKind): void {
    dirty.add(kind);
    pending.add(kind);
    flushTimer ??= setTimeout(flush, coalesceMs);
  }

  function flush(): void {
    flushTimer = undefined;
    if (closing.signal.aborted) return;
    materialize();
    const batch = pending;
    pending = new Set();
    if (batch.size === 0) return;
    for (const fn of [...listeners]) {
      try {
        fn(batch);
      } catch (err) {
        log.error("source subscriber failed", { err });
      }
    }
  }

  function updateStale(): void {
    metrics.stale = [...states.values()].some((s) => !s.healthy);
  }

  function normalize(kind: ReadKind, raw: unknown): KubeObject {
    const o = raw as KubeObject;
    // managedFields is large and nobody here reads it.
    const { managedFields: _drop, ...metadata } = o.metadata as KubeObject["metadata"] & {
      managedFields?: unknown;
    };
    // List items of built-in kinds come without apiVersion/kind.
    return { ...o, metadata, apiVersion: KIND_ENDPOINTS[kind].apiVersion, kind };
  }

  async function list(st: KindState): Promise<void> {
    const body = await kubeRequest<{ metadata?: { resourceVersion?: string }; items?: unknown[] }>(
      kc,
      "GET",
      st.path,
      {
        timeoutMs: requestTimeoutMs,
        signal: closing.signal,
        query: { labelSelector: st.labelSelector },
      },
    );
    const next = new Map<string, KubeObject>();
    for (const raw of body.items ?? []) {
      const o = normalize(st.kind, raw);
      next.set(objectKey(o.metadata), o);
    }
    let differences = 0;
    for (const [key, o] of next) {
      if (st.items.get(key)?.metadata.resourceVersion !== o.metadata.resourceVersion) differences++;
    }
    for (const key of st.items.keys()) if (!next.has(key)) differences++;
    st.items = next;
    st.rv = body.metadata?.resourceVersion ?? "";
    st.healthy = true;
    updateStale();
    metrics.updatesTotal += differences;
    const first = !st.synced;
    st.synced = true;
    if (differences > 0 || first) changed(st.kind);
    log.debug("listed", { kind: st.kind, count: next.size, resourceVersion: st.rv, differences });
    if (first && [...states.values()].every((s) => s.synced)) {
      metrics.configLoaded = true;
      onSynced?.();
    }
  }

  function watch(st: KindState): Promise<WatchEnd> {
    return new Promise((resolve) => {
      const timeoutSeconds = watchTimeoutSeconds();
      const w = new k8s.Watch(kc);
      // Inactivity bound; the server ends the stream at timeoutSeconds, bookmarks keep it busy.
      (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = timeoutSeconds * 1000 +
        30_000;
      const startedAt = Date.now();
      let events = 0;
      let connected = false;
      let settled = false;
      let ctl: AbortController | undefined;
      const finish = (end: WatchEnd) => {
        if (settled) return;
        settled = true;
        clearTimeout(hardBound);
        clearTimeout(idle);
        st.stopWatch = undefined;
        ctl?.abort();
        resolve(end);
      };
      st.stopWatch = finish;
      // Aborting undici's stream does not always reach the client's done callback under Deno
      // (idle timeout included), so the bound is enforced here as well.
      const hardBound = setTimeout(
        () => finish({ outcome: "error", error: new Error("watch exceeded its time bound") }),
        timeoutSeconds * 1000 + 60_000,
      );
      let idle: ReturnType<typeof setTimeout> | undefined;
      const touch = () => {
        clearTimeout(idle);
        idle = setTimeout(
          () => {
            log.debug("watch quiet; reopening", { kind: st.kind, rv: st.rv });
            finish({ outcome: "ended", connected, events, durationMs: Date.now() - startedAt });
          },
          watchIdleTimeoutMs,
        );
      };
      touch();
      const onEvent = (type: string, obj: unknown) => {
        if (settled) return;
        touch();
        if (type === "ERROR") {
          const status = obj as { code?: number; message?: string; reason?: string };
          if (status?.code === 410) return finish({ outcome: "gone" });
          return finish({
            outcome: "error",
            error: new KubeApiError(
              status?.code ?? 0,
              status?.reason ?? "WatchError",
              "WATCH",
              st.path,
              status?.message ?? "",
            ),
          });
        }
        const o = obj as KubeObject;
        const rv = o?.metadata?.resourceVersion;
        if (type === "BOOKMARK") {
          if (rv) st.rv = rv;
          return;
        }
        if (!o?.metadata?.name) return;
        const obj2 = normalize(st.kind, o);
        const key = objectKey(obj2.metadata);
        if (type === "ADDED" || type === "MODIFIED") st.items.set(key, obj2);
        else if (type === "DELETED") st.items.delete(key);
        else return;
        if (rv) st.rv = rv;
        events++;
        metrics.updatesTotal++;
        changed(st.kind);
      };
      const onDone = (err: unknown) => {
        if (err) {
          if ((err as { statusCode?: number }).statusCode === 410) {
            return finish({ outcome: "gone" });
          }
          return finish({ outcome: "error", error: err });
        }
        finish({ outcome: "ended", connected, events, durationMs: Date.now() - startedAt });
      };
      w.watch(
        st.path,
        {
          resourceVersion: st.rv || undefined,
          allowWatchBookmarks: true,
          timeoutSeconds,
          ...(st.labelSelector ? { labelSelector: st.labelSelector } : {}),
        },
        onEvent,
        onDone,
      ).then((c) => {
        ctl = c;
        if (settled || closing.signal.aborted) return c.abort();
        connected = true;
        st.healthy = true;
        updateStale();
      }, (err) => finish({ outcome: "error", error: err }));
    });
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (closing.signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        closing.signal.removeEventListener("abort", done);
        resolve();
      }
      closing.signal.addEventListener("abort", done);
    });
  }

  function jitter(ms: number): number {
    return Math.round(ms * (0.8 + 0.4 * Math.random()));
  }

  async function run(st: KindState): Promise<void> {
    let backoff = backoffInitial;
    let needList = true;
    const failed = async (what: string, err: unknown) => {
      metrics.updateErrorsTotal++;
      st.healthy = false;
      updateStale();
      const delay = jitter(backoff);
      log.warn(`${what} failed; retrying`, { kind: st.kind, err, retryInMs: delay });
      await sleep(delay);
      backoff = Math.min(backoff * 2, backoffMax);
    };
    while (!closing.signal.aborted) {
      if (needList) {
        try {
          await list(st);
          needList = false;
        } catch (err) {
          if (closing.signal.aborted) break;
          await failed("list", err);
          continue;
        }
      }
      const end = await watch(st);
      if (closing.signal.aborted) break;
      if (end.outcome === "gone") {
        log.info("watch resourceVersion too old (410); relisting", { kind: st.kind, rv: st.rv });
        needList = true;
        continue;
      }
      if (end.outcome === "error") {
        await failed("watch", end.error);
        continue;
      }
      st.healthy = true;
      updateStale();
      if (end.events > 0 || end.durationMs > 1000) {
        backoff = backoffInitial;
      } else {
        // A watch that ends at once with nothing in it: do not spin.
        await sleep(jitter(backoff));
        backoff = Math.min(backoff * 2, backoffMax);
      }
    }
  }

  return {
    start() {
      started ??= new Promise<void>((resolve, reject) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        onSynced = () => {
          clearTimeout(timer);
          resolve();
        };
        if (options.startTimeoutMs !== undefined) {
          timer = setTimeout(() => {
            const missing = [...states.values()].filter((s) => !s.synced).map((s) => s.kind);
            reject(
              new Error(
                `kube source: not synced within ${options.startTimeoutMs} ms: ${
                  missing.join(", ")
                }`,
              ),
            );
          }, options.startTimeoutMs);
        }
        closing.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(new Error("kube source closed before it synced"));
        });
        if (states.size === 0) onSynced();
        loops = [...states.values()].map((st) => run(st));
      });
      return started;
    },
    snapshot() {
      materialize();
      return current;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      closing.abort();
      clearTimeout(flushTimer);
      for (const st of states.values()) {
        st.stopWatch?.({ outcome: "error", error: new Error("source closed") });
      }
      await Promise.allSettled(loops);
      started?.catch(() => {});
    },
    metrics: () => ({ ...metrics }),
  };
}
