/**
 * The {@linkcode ObjectWriter} for the API server: status through the status subresource,
 * annotations and Events, metallb.io status objects. Requests are pipelined: up to
 * `maxInFlight` at once across objects, in call order per object. Every mutating request is
 * counted, so the controller can prove a restart wrote nothing.
 */

import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "../api/log.ts";
import { silentLogger } from "../api/log.ts";
import { canonical, createEventRecorder } from "./kube_events.ts";
import { forceHttp1, isStatus, kubeRequest, type KubeRequestOptions } from "./kube_config.ts";
import { createKeyedLimiter } from "./request_limiter.ts";
import type { KubeObject, ObjectWriter } from "./types.ts";

/** Write counters; `writesTotal` counts every mutating request sent, failed ones included. */
export interface KubeWriterStats {
  writesTotal: number;
  writeErrorsTotal: number;
  /** Mutating requests by writer operation, e.g. `setServiceIngress`. */
  byOperation: Record<string, number>;
  /** The most writer calls seen in flight at once (pipelining depth reached). */
  maxInFlightSeen: number;
}

/** Options for {@linkcode createKubeWriter}. */
export interface KubeWriterOptions {
  /** Install namespace (where metallb.io status objects live by default). */
  namespace: string;
  logger?: Logger;
  /** Bound on each request (default 30 s). */
  requestTimeoutMs?: number;
  /** Attempts on 409 Conflict before giving up (default 5). */
  maxConflictRetries?: number;
  /** Recent Events remembered for aggregation into one Event with a count (default 1024). */
  eventCacheSize?: number;
  /** Writer calls in flight at once, each to a different object (default 32). */
  maxInFlight?: number;
  /** Clock for Event timestamps (tests). */
  now?: () => Date;
}

/** An {@linkcode ObjectWriter} with write counters. */
export interface KubeWriter extends ObjectWriter {
  stats(): KubeWriterStats;
}

type Method = "POST" | "PUT" | "PATCH" | "DELETE";

/** What every request helper below needs. */
interface WriterContext {
  kc: k8s.KubeConfig;
  log: Logger;
  timeoutMs: number;
  maxRetries: number;
  stats: KubeWriterStats;
}

const MERGE_PATCH = "application/merge-patch+json";
const METALLB = "/apis/metallb.io/v1beta1";

function enc(s: string): string {
  return encodeURIComponent(s);
}

function read<T>(ctx: WriterContext, path: string): Promise<T> {
  return kubeRequest<T>(ctx.kc, "GET", path, { timeoutMs: ctx.timeoutMs });
}

async function getOrUndefined<T>(ctx: WriterContext, path: string): Promise<T | undefined> {
  try {
    return await read<T>(ctx, path);
  } catch (err) {
    if (isStatus(err, 404)) return undefined;
    throw err;
  }
}

/** One mutating request, counted under `op`. */
async function write<T>(
  ctx: WriterContext,
  op: string,
  method: Method,
  path: string,
  req: KubeRequestOptions = {},
): Promise<T> {
  ctx.stats.writesTotal++;
  ctx.stats.byOperation[op] = (ctx.stats.byOperation[op] ?? 0) + 1;
  try {
    return await kubeRequest<T>(ctx.kc, method, path, { timeoutMs: ctx.timeoutMs, ...req });
  } catch (err) {
    ctx.stats.writeErrorsTotal++;
    throw err;
  }
}

/** Runs `attempt` again while it fails with 409 Conflict, a bounded number of times. */
async function onConflictRetry<T>(
  ctx: WriterContext,
  what: string,
  attempt: (n: number) => Promise<T>,
): Promise<T> {
  for (let n = 0;; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (!isStatus(err, 409) || n + 1 >= ctx.maxRetries) throw err;
      ctx.log.debug("conflict; retrying with a fresh read", { what, attempt: n + 1 });
    }
  }
}

/**
 * A merge patch of `patch` at `path`. A real server never answers an unpinned merge patch
 * with 409, but one that is pinned (after a conflict elsewhere) can: the retry pins the patch
 * to the resourceVersion just read.
 */
async function mergePatch(
  ctx: WriterContext,
  op: string,
  path: string,
  patch: { metadata?: Record<string, unknown>; [k: string]: unknown },
): Promise<void> {
  await onConflictRetry(ctx, path, async (n) => {
    let body = patch;
    if (n > 0) {
      const resourceVersion = (await read<KubeObject>(ctx, path)).metadata.resourceVersion;
      body = { ...patch, metadata: { ...patch.metadata, resourceVersion } };
    }
    await write(ctx, op, "PATCH", path, { body, contentType: MERGE_PATCH });
  });
}

/** Reads `path`, creating the object with `create()` when it is absent (or lost a race). */
async function getOrCreate(
  ctx: WriterContext,
  op: string,
  path: string,
  collection: string,
  create: () => KubeObject,
): Promise<KubeObject> {
  const current = await getOrUndefined<KubeObject>(ctx, path);
  if (current) return current;
  try {
    return await write<KubeObject>(ctx, op, "POST", collection, { body: create() });
  } catch (err) {
    if (!isStatus(err, 409)) throw err;
    return await read<KubeObject>(ctx, path);
  }
}

interface Condition {
  type?: string;
  status?: string;
  lastTransitionTime?: string;
}

/**
 * `desired` with the `lastTransitionTime` of every condition whose status did not change
 * taken from `current`, as apimachinery's SetStatusCondition does: a condition's time is
 * when it last changed, so restating an unchanged condition is no reason to write.
 */
export function keepTransitionTimes(current: unknown, desired: unknown): unknown {
  const want = (desired as { conditions?: Condition[] } | null)?.conditions;
  const have = (current as { conditions?: Condition[] } | null)?.conditions;
  if (!Array.isArray(want) || !Array.isArray(have)) return desired;
  const conditions = want.map((c) => {
    const old = have.find((h) => h.type === c.type);
    return old && old.status === c.status && old.lastTransitionTime
      ? { ...c, lastTransitionTime: old.lastTransitionTime }
      : c;
  });
  return { ...(desired as object), conditions };
}

/** Replaces `.status` via PUT on /status unless it is already equal; creates when absent. */
async function putStatus(
  ctx: WriterContext,
  op: string,
  target: { path: string; collection: string; create: () => KubeObject },
  desired: unknown,
): Promise<void> {
  await onConflictRetry(ctx, target.path, async () => {
    const current = await getOrCreate(ctx, op, target.path, target.collection, target.create);
    const status = keepTransitionTimes(current.status, desired);
    if (canonical(current.status ?? null) === canonical(status ?? null)) return;
    await write(ctx, op, "PUT", `${target.path}/status`, { body: { ...current, status } });
  });
}

/** Brings a ServiceBGPStatus to `object` (labels, annotations, spec, status); null deletes. */
async function syncServiceBGPStatus(
  ctx: WriterContext,
  namespace: string,
  name: string,
  object: KubeObject | null,
): Promise<void> {
  const op = "setServiceBGPStatus";
  const collection = `${METALLB}/namespaces/${enc(namespace)}/servicebgpstatuses`;
  const path = `${collection}/${enc(name)}`;
  if (object === null) {
    if (!(await getOrUndefined(ctx, path))) return;
    try {
      await write(ctx, op, "DELETE", path);
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
    return;
  }
  const labels = object.metadata.labels;
  const annotations = object.metadata.annotations;
  const create = (): KubeObject => ({
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceBGPStatus",
    metadata: { name, namespace, labels, annotations },
    spec: object.spec,
  });
  const shape = (o: KubeObject) =>
    canonical({
      labels: o.metadata.labels ?? {},
      annotations: o.metadata.annotations ?? {},
      spec: o.spec ?? {},
    });
  await onConflictRetry(ctx, path, async () => {
    let current = await getOrCreate(ctx, op, path, collection, create);
    if (shape(current) !== shape(object)) {
      const metadata = {
        ...current.metadata,
        labels: labels ?? {},
        annotations: annotations ?? {},
      };
      current = await write<KubeObject>(ctx, op, "PUT", path, {
        body: { ...current, metadata, spec: object.spec },
      });
    }
    if (canonical(current.status ?? null) !== canonical(object.status ?? null)) {
      await write(ctx, op, "PUT", `${path}/status`, {
        body: { ...current, status: object.status },
      });
    }
  });
}

/** Creates a writer for the API server of `kc`. */
export function createKubeWriter(kc: k8s.KubeConfig, options: KubeWriterOptions): KubeWriter {
  forceHttp1(kc);
  const stats: KubeWriterStats = {
    writesTotal: 0,
    writeErrorsTotal: 0,
    byOperation: {},
    maxInFlightSeen: 0,
  };
  const ctx: WriterContext = {
    kc,
    log: (options.logger ?? silentLogger).child({ component: "kube-writer" }),
    timeoutMs: options.requestTimeoutMs ?? 30_000,
    maxRetries: options.maxConflictRetries ?? 5,
    stats,
  };
  const limiter = createKeyedLimiter(options.maxInFlight ?? 32);
  /** Runs `task` pipelined with other objects' writes, after earlier writes to `key`. */
  const queued = <T>(key: string, task: () => Promise<T>): Promise<T> =>
    limiter.run(key, () => {
      stats.maxInFlightSeen = Math.max(stats.maxInFlightSeen, limiter.active());
      return task();
    });
  const events = createEventRecorder(
    (method, path, body, contentType) =>
      write(ctx, "recordEvent", method, path, { body, ...(contentType ? { contentType } : {}) }),
    {
      cacheSize: options.eventCacheSize ?? 1024,
      now: options.now ?? (() => new Date()),
      isNotFound: (err) => isStatus(err, 404),
    },
  );
  const service = (ns: string, name: string) =>
    `/api/v1/namespaces/${enc(ns)}/services/${enc(name)}`;

  return {
    setServiceIngress: (namespace, name, ingress) =>
      queued(
        service(namespace, name),
        () =>
          mergePatch(ctx, "setServiceIngress", `${service(namespace, name)}/status`, {
            status: { loadBalancer: { ingress: ingress.length > 0 ? ingress : null } },
          }),
      ),
    patchServiceAnnotations: (namespace, name, annotations) =>
      queued(
        service(namespace, name),
        () =>
          mergePatch(ctx, "patchServiceAnnotations", service(namespace, name), {
            metadata: { annotations },
          }),
      ),
    recordEvent: (event) => queued(`event ${events.keyOf(event)}`, () => events.record(event)),
    setPoolStatus(namespace, name, status) {
      const path = `${METALLB}/namespaces/${enc(namespace)}/ipaddresspools/${enc(name)}`;
      return queued(path, () => mergePatch(ctx, "setPoolStatus", `${path}/status`, { status }));
    },
    setConfigurationState(namespace, name, status) {
      const collection = `${METALLB}/namespaces/${enc(namespace)}/configurationstates`;
      const path = `${collection}/${enc(name)}`;
      const create = (): KubeObject => ({
        apiVersion: "metallb.io/v1beta1",
        kind: "ConfigurationState",
        metadata: { name, namespace },
      });
      return queued(
        path,
        () => putStatus(ctx, "setConfigurationState", { path, collection, create }, status),
      );
    },
    setServiceBGPStatus(namespace, name, object) {
      const key = `${METALLB}/namespaces/${enc(namespace)}/servicebgpstatuses/${enc(name)}`;
      return queued(key, () => syncServiceBGPStatus(ctx, namespace, name, object));
    },
    stats: () => ({ ...stats, byOperation: { ...stats.byOperation } }),
  };
}
