/**
 * The {@linkcode ObjectWriter} for the API server: status through the status subresource,
 * annotations and Events, metallb.io status objects. Every mutating request is counted, so
 * the controller can prove a restart wrote nothing.
 */

import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "../api/log.ts";
import { silentLogger } from "../api/log.ts";
import { forceHttp1, isStatus, kubeRequest, type KubeRequestOptions } from "./kube_config.ts";
import type { EventRecord, IngressEntry, KubeObject, ObjectWriter } from "./types.ts";

/** Write counters; `writesTotal` counts every mutating request sent, failed ones included. */
export interface KubeWriterStats {
  writesTotal: number;
  writeErrorsTotal: number;
  /** Mutating requests by writer operation, e.g. `setServiceIngress`. */
  byOperation: Record<string, number>;
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
  /** Clock for Event timestamps (tests). */
  now?: () => Date;
}

/** An {@linkcode ObjectWriter} with write counters. */
export interface KubeWriter extends ObjectWriter {
  stats(): KubeWriterStats;
}

const MERGE_PATCH = "application/merge-patch+json";
const METALLB = "/apis/metallb.io/v1beta1";

/** JSON with object keys sorted, so equal content compares equal. */
function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : v,
  );
}

function enc(s: string): string {
  return encodeURIComponent(s);
}

/** Creates a writer for the API server of `kc`. */
export function createKubeWriter(kc: k8s.KubeConfig, options: KubeWriterOptions): KubeWriter {
  forceHttp1(kc);
  const log = (options.logger ?? silentLogger).child({ component: "kube-writer" });
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  const maxRetries = options.maxConflictRetries ?? 5;
  const eventCacheSize = options.eventCacheSize ?? 1024;
  const now = options.now ?? (() => new Date());
  const stats: KubeWriterStats = { writesTotal: 0, writeErrorsTotal: 0, byOperation: {} };
  const recentEvents = new Map<string, { name: string; namespace: string; count: number }>();
  let eventSeq = 0n;

  function read<T>(path: string): Promise<T> {
    return kubeRequest<T>(kc, "GET", path, { timeoutMs });
  }

  async function write<T>(
    op: string,
    method: "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    req: KubeRequestOptions = {},
  ): Promise<T> {
    stats.writesTotal++;
    stats.byOperation[op] = (stats.byOperation[op] ?? 0) + 1;
    try {
      return await kubeRequest<T>(kc, method, path, { timeoutMs, ...req });
    } catch (err) {
      stats.writeErrorsTotal++;
      throw err;
    }
  }

  /** Runs `attempt` again while it fails with 409 Conflict, a bounded number of times. */
  async function onConflictRetry<T>(what: string, attempt: (n: number) => Promise<T>): Promise<T> {
    for (let n = 0;; n++) {
      try {
        return await attempt(n);
      } catch (err) {
        if (!isStatus(err, 409) || n + 1 >= maxRetries) throw err;
        log.debug("conflict; retrying with a fresh read", { what, attempt: n + 1 });
      }
    }
  }

  async function getOrUndefined<T>(path: string): Promise<T | undefined> {
    try {
      return await read<T>(path);
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  }

  /** Replaces `.status` via PUT on /status unless it is already equal; creates when absent. */
  async function putStatus(
    op: string,
    path: string,
    collection: string,
    create: () => KubeObject,
    status: unknown,
  ): Promise<void> {
    await onConflictRetry(path, async () => {
      let current = await getOrUndefined<KubeObject>(path);
      if (!current) {
        try {
          current = await write<KubeObject>(op, "POST", collection, { body: create() });
        } catch (err) {
          if (!isStatus(err, 409)) throw err;
          current = await read<KubeObject>(path);
        }
      }
      if (canonical(current.status ?? null) === canonical(status ?? null)) return;
      await write(op, "PUT", `${path}/status`, { body: { ...current, status } });
    });
  }

  return {
    async setServiceIngress(namespace, name, ingress: IngressEntry[]) {
      const path = `/api/v1/namespaces/${enc(namespace)}/services/${enc(name)}/status`;
      const status = { loadBalancer: { ingress: ingress.length > 0 ? ingress : null } };
      await onConflictRetry(path, async (n) => {
        const body: Record<string, unknown> = { status };
        if (n > 0) {
          // After a conflict, pin the write to what we just read.
          const fresh = await read<KubeObject>(path);
          body.metadata = { resourceVersion: fresh.metadata.resourceVersion };
        }
        await write("setServiceIngress", "PATCH", path, { body, contentType: MERGE_PATCH });
      });
    },

    async patchServiceAnnotations(namespace, name, annotations) {
      const path = `/api/v1/namespaces/${enc(namespace)}/services/${enc(name)}`;
      await onConflictRetry(path, async (n) => {
        const metadata: Record<string, unknown> = { annotations };
        if (n > 0) {
          metadata.resourceVersion = (await read<KubeObject>(path)).metadata.resourceVersion;
        }
        await write("patchServiceAnnotations", "PATCH", path, {
          body: { metadata },
          contentType: MERGE_PATCH,
        });
      });
    },

    async recordEvent(event: EventRecord) {
      const namespace = event.involved.namespace ?? "default";
      const key = canonical([namespace, event.involved, event.type, event.reason, event.message]);
      const ts = now().toISOString().replace(/\.\d{3}Z$/, "Z");
      const seen = recentEvents.get(key);
      if (seen) {
        recentEvents.delete(key);
        try {
          await write(
            "recordEvent",
            "PATCH",
            `/api/v1/namespaces/${enc(namespace)}/events/${enc(seen.name)}`,
            {
              body: { count: seen.count + 1, lastTimestamp: ts },
              contentType: MERGE_PATCH,
            },
          );
          recentEvents.set(key, { ...seen, count: seen.count + 1 });
          return;
        } catch (err) {
          if (!isStatus(err, 404)) throw err;
        }
      }
      const name = `${event.involved.name}.${
        (BigInt(now().getTime()) * 1_000_000n + eventSeq++).toString(16)
      }`;
      await write("recordEvent", "POST", `/api/v1/namespaces/${enc(namespace)}/events`, {
        body: {
          apiVersion: "v1",
          kind: "Event",
          metadata: { name, namespace },
          involvedObject: {
            kind: event.involved.kind,
            apiVersion: event.involved.apiVersion,
            namespace: event.involved.namespace,
            name: event.involved.name,
            uid: event.involved.uid,
          },
          reason: event.reason,
          message: event.message,
          type: event.type,
          source: { component: event.component },
          reportingComponent: event.component,
          firstTimestamp: ts,
          lastTimestamp: ts,
          count: 1,
        },
      });
      recentEvents.set(key, { name, namespace, count: 1 });
      if (recentEvents.size > eventCacheSize) {
        recentEvents.delete(recentEvents.keys().next().value!);
      }
    },

    async setPoolStatus(namespace, name, status) {
      const path = `${METALLB}/namespaces/${enc(namespace)}/ipaddresspools/${enc(name)}/status`;
      await onConflictRetry(path, async (n) => {
        const body: Record<string, unknown> = { status };
        if (n > 0) {
          body.metadata = {
            resourceVersion: (await read<KubeObject>(path)).metadata.resourceVersion,
          };
        }
        await write("setPoolStatus", "PATCH", path, { body, contentType: MERGE_PATCH });
      });
    },

    async setConfigurationState(namespace, name, status) {
      const collection = `${METALLB}/namespaces/${enc(namespace)}/configurationstates`;
      await putStatus(
        "setConfigurationState",
        `${collection}/${enc(name)}`,
        collection,
        () => ({
          apiVersion: "metallb.io/v1beta1",
          kind: "ConfigurationState",
          metadata: { name, namespace },
        }),
        status,
      );
    },

    async setServiceBGPStatus(namespace, name, object) {
      const collection = `${METALLB}/namespaces/${enc(namespace)}/servicebgpstatuses`;
      const path = `${collection}/${enc(name)}`;
      const op = "setServiceBGPStatus";
      if (object === null) {
        if (!(await getOrUndefined(path))) return;
        try {
          await write(op, "DELETE", path);
        } catch (err) {
          if (!isStatus(err, 404)) throw err;
        }
        return;
      }
      const wanted = {
        labels: object.metadata.labels ?? {},
        annotations: object.metadata.annotations ?? {},
        spec: object.spec ?? {},
      };
      await onConflictRetry(path, async () => {
        let current = await getOrUndefined<KubeObject>(path);
        if (!current) {
          try {
            current = await write<KubeObject>(op, "POST", collection, {
              body: {
                apiVersion: "metallb.io/v1beta1",
                kind: "ServiceBGPStatus",
                metadata: {
                  name,
                  namespace,
                  labels: object.metadata.labels,
                  annotations: object.metadata.annotations,
                },
                spec: object.spec,
              },
            });
          } catch (err) {
            if (!isStatus(err, 409)) throw err;
            current = await read<KubeObject>(path);
          }
        }
        const have = {
          labels: current.metadata.labels ?? {},
          annotations: current.metadata.annotations ?? {},
          spec: current.spec ?? {},
        };
        if (canonical(have) !== canonical(wanted)) {
          current = await write<KubeObject>(op, "PUT", path, {
            body: {
              ...current,
              metadata: {
                ...current.metadata,
                labels: wanted.labels,
                annotations: wanted.annotations,
              },
              spec: object.spec,
            },
          });
        }
        if (canonical(current.status ?? null) !== canonical(object.status ?? null)) {
          await write(op, "PUT", `${path}/status`, { body: { ...current, status: object.status } });
        }
      });
    },

    stats: () => ({ ...stats, byOperation: { ...stats.byOperation } }),
  };
}
