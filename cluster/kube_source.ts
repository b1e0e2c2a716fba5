/**
 * The Kubernetes API server as an {@linkcode ObjectSource}: per kind, list then watch from the
 * list's resourceVersion (with bookmarks); on 410 Gone relist and diff; on any other failure
 * retry with bounded, jittered backoff. Snapshots are immutable and replaced per batch
 * (kube_publish.ts); one watch is kube_watch.ts; what is kept of an object, kube_kinds.ts.
 */

import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "../api/log.ts";
import { silentLogger } from "../api/log.ts";
import { forceHttp1, kubeRequest } from "./kube_config.ts";
import { admitObject, collectionPath } from "./kube_kinds.ts";
import { createPublisher, type Publisher } from "./kube_publish.ts";
import { type WatchEnd, watchKind } from "./kube_watch.ts";
import {
  type KubeObject,
  objectKey,
  type ObjectSource,
  READ_KINDS,
  type ReadKind,
} from "./types.ts";

export { collectionPath, KIND_ENDPOINTS, type KindEndpoint } from "./kube_kinds.ts";

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

/** What the list/watch loops of all kinds share. */
interface SourceCore {
  kc: k8s.KubeConfig;
  log: Logger;
  options: KubeSourceOptions;
  metrics: KubeSourceMetrics;
  states: Map<ReadKind, KindState>;
  publisher: Publisher;
  closing: AbortController;
  /** Called once every kind has been listed. */
  onSynced?: () => void;
}

function updateStale(core: SourceCore): void {
  core.metrics.stale = [...core.states.values()].some((s) => !s.healthy);
}

/** Lists `st`'s kind and replaces its objects, counting and announcing the differences. */
async function listKind(core: SourceCore, st: KindState): Promise<void> {
  const body = await kubeRequest<{ metadata?: { resourceVersion?: string }; items?: unknown[] }>(
    core.kc,
    "GET",
    st.path,
    {
      timeoutMs: core.options.requestTimeoutMs ?? 30_000,
      signal: core.closing.signal,
      query: { labelSelector: st.labelSelector },
    },
  );
  const next = new Map<string, KubeObject>();
  for (const raw of body.items ?? []) {
    const o = admitObject(st.kind, raw);
    if (typeof o === "string") core.log.error("object over the input limits", { reason: o });
    else next.set(objectKey(o.metadata), o);
  }
  let differences = 0;
  for (const [key, o] of next) {
    if (st.items.get(key)?.metadata.resourceVersion !== o.metadata.resourceVersion) differences++;
  }
  for (const key of st.items.keys()) if (!next.has(key)) differences++;
  st.items = next;
  st.rv = body.metadata?.resourceVersion ?? "";
  st.healthy = true;
  updateStale(core);
  core.metrics.updatesTotal += differences;
  const first = !st.synced;
  st.synced = true;
  if (differences > 0 || first) core.publisher.changed(st.kind);
  core.log.debug("listed", { kind: st.kind, count: next.size, rv: st.rv, differences });
  if (first && [...core.states.values()].every((s) => s.synced)) {
    core.metrics.configLoaded = true;
    core.onSynced?.();
  }
}

/** Watches `st`'s kind from its resourceVersion, applying changes as they come. */
function watchOnce(core: SourceCore, st: KindState): Promise<WatchEnd> {
  const o = core.options;
  return watchKind(core.kc, {
    kind: st.kind,
    path: st.path,
    labelSelector: st.labelSelector,
    resourceVersion: st.rv,
  }, {
    change(type, obj) {
      const key = objectKey(obj.metadata);
      if (type === "DELETED") st.items.delete(key);
      else st.items.set(key, obj);
      core.metrics.updatesTotal++;
      core.publisher.changed(st.kind);
    },
    progress(rv) {
      st.rv = rv;
    },
    connected() {
      st.healthy = true;
      updateStale(core);
    },
    setStop(stop) {
      st.stopWatch = stop;
    },
  }, {
    timeoutSeconds: o.watchTimeoutSeconds ?? 240 + Math.floor(Math.random() * 120),
    idleTimeoutMs: o.watchIdleTimeoutMs ?? 30_000,
    log: core.log,
    closing: core.closing.signal,
  });
}

/** Waits `ms`, or less when the source closes. */
function sleep(signal: AbortSignal, ms: number): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done);
  });
}

/** Doubling, jittered retry delays between `initial` and `max`. */
function createBackoff(initial: number, max: number) {
  let next = initial;
  return {
    /** The delay to wait now (the next one doubles). */
    take(): number {
      const delay = Math.round(next * (0.8 + 0.4 * Math.random()));
      next = Math.min(next * 2, max);
      return delay;
    },
    reset(): void {
      next = initial;
    },
  };
}

/** List, then watch, forever: relist on 410, back off on failures, until the source closes. */
async function runKind(core: SourceCore, st: KindState): Promise<void> {
  const backoff = createBackoff(
    core.options.backoffInitialMs ?? 500,
    core.options.backoffMaxMs ?? 30_000,
  );
  const signal = core.closing.signal;
  const failed = async (what: string, err: unknown) => {
    core.metrics.updateErrorsTotal++;
    st.healthy = false;
    updateStale(core);
    const delay = backoff.take();
    core.log.warn(`${what} failed; retrying`, { kind: st.kind, err, retryInMs: delay });
    await sleep(signal, delay);
  };
  let needList = true;
  while (!signal.aborted) {
    if (needList) {
      try {
        await listKind(core, st);
        needList = false;
      } catch (err) {
        if (!signal.aborted) await failed("list", err);
        continue;
      }
    }
    const end = await watchOnce(core, st);
    if (signal.aborted) break;
    if (end.outcome === "gone") {
      core.log.info("watch resourceVersion too old (410); relisting", { kind: st.kind, rv: st.rv });
      needList = true;
    } else if (end.outcome === "error") {
      await failed("watch", end.error);
    } else {
      st.healthy = true;
      updateStale(core);
      // A watch that ends at once with nothing in it: do not spin.
      if (end.events > 0 || end.durationMs > 1000) backoff.reset();
      else await sleep(signal, backoff.take());
    }
  }
}

/** Starts every kind's loop; resolves once all are listed (or rejects on timeout/close). */
function startLoops(core: SourceCore, loops: Promise<void>[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const startTimeoutMs = core.options.startTimeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    core.onSynced = () => {
      clearTimeout(timer);
      resolve();
    };
    if (startTimeoutMs !== undefined) {
      timer = setTimeout(() => {
        const missing = [...core.states.values()].filter((s) => !s.synced).map((s) => s.kind);
        reject(
          new Error(`kube source: not synced within ${startTimeoutMs} ms: ${missing.join(", ")}`),
        );
      }, startTimeoutMs);
    }
    core.closing.signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(new Error("kube source closed before it synced"));
    });
    if (core.states.size === 0) core.onSynced();
    for (const st of core.states.values()) loops.push(runKind(core, st));
  });
}

/** Creates a source reading the given kinds from the API server of `kc`. */
export function createKubeSource(kc: k8s.KubeConfig, options: KubeSourceOptions): KubeSource {
  forceHttp1(kc);
  const log = (options.logger ?? silentLogger).child({ component: "kube-source" });
  const states = new Map<ReadKind, KindState>((options.kinds ?? READ_KINDS).map((kind) => [kind, {
    kind,
    path: collectionPath(kind, options.namespace),
    labelSelector: options.labelSelectors?.[kind] || undefined,
    items: new Map(),
    rv: "",
    synced: false,
    healthy: false,
  }]));
  const core: SourceCore = {
    kc,
    log,
    options,
    metrics: { updatesTotal: 0, updateErrorsTotal: 0, configLoaded: false, stale: false },
    states,
    publisher: createPublisher((kind) => states.get(kind)?.items ?? new Map(), {
      coalesceMs: options.coalesceMs ?? 10,
      log,
    }),
    closing: new AbortController(),
  };
  const loops: Promise<void>[] = [];
  let started: Promise<void> | undefined;
  return {
    start: () => (started ??= startLoops(core, loops)),
    snapshot: () => core.publisher.snapshot(),
    subscribe: (listener) => core.publisher.subscribe(listener),
    async close() {
      core.closing.abort();
      core.publisher.close();
      for (const st of states.values()) {
        st.stopWatch?.({ outcome: "error", error: new Error("source closed") });
      }
      await Promise.allSettled(loops);
      started?.catch(() => {});
    },
    metrics: () => ({ ...core.metrics }),
  };
}
