/**
 * Events as client-go's recorder writes them: a new Event per distinct (object, type, reason,
 * message), and a repeat of a recent one bumps its `count` and `lastTimestamp` instead of
 * creating another object.
 */
import type { EventRecord } from "./types.ts";

/** Sends one mutating request; the writer's counting `write`. */
export type EventWrite = (
  method: "POST" | "PATCH",
  path: string,
  body: unknown,
  contentType?: string,
) => Promise<unknown>;

/** Options for {@linkcode createEventRecorder}. */
export interface EventRecorderOptions {
  /** Recent Events remembered for aggregation. */
  cacheSize: number;
  now: () => Date;
  /** True when the error is a 404 (the Event to bump expired). */
  isNotFound: (err: unknown) => boolean;
}

/** Records Events, aggregating repeats. */
export interface EventRecorder {
  /** The key under which repeats of `event` aggregate (callers serialise on it). */
  keyOf(event: EventRecord): string;
  record(event: EventRecord): Promise<void>;
}

const MERGE_PATCH = "application/merge-patch+json";

/** JSON with object keys sorted, so equal content compares equal. */
export function canonical(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v) =>
      v && typeof v === "object" && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : v,
  );
}

function eventBody(event: EventRecord, name: string, namespace: string, ts: string): unknown {
  return {
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
  };
}

/** Creates a recorder sending its requests through `write`. */
export function createEventRecorder(
  write: EventWrite,
  options: EventRecorderOptions,
): EventRecorder {
  const recent = new Map<string, { name: string; namespace: string; count: number }>();
  let seq = 0n;
  const keyOf = (event: EventRecord) => {
    const namespace = event.involved.namespace ?? "default";
    return canonical([namespace, event.involved, event.type, event.reason, event.message]);
  };

  /** Bumps the count of a recent Event; false when it expired meanwhile. */
  async function bump(key: string, ts: string): Promise<boolean> {
    const seen = recent.get(key);
    if (!seen) return false;
    recent.delete(key);
    const path = `/api/v1/namespaces/${encodeURIComponent(seen.namespace)}/events/${
      encodeURIComponent(seen.name)
    }`;
    try {
      await write("PATCH", path, { count: seen.count + 1, lastTimestamp: ts }, MERGE_PATCH);
    } catch (err) {
      if (options.isNotFound(err)) return false;
      throw err;
    }
    recent.set(key, { ...seen, count: seen.count + 1 });
    return true;
  }

  async function record(event: EventRecord): Promise<void> {
    const namespace = event.involved.namespace ?? "default";
    const key = keyOf(event);
    const ts = options.now().toISOString().replace(/\.\d{3}Z$/, "Z");
    if (await bump(key, ts)) return;
    const stamp = BigInt(options.now().getTime()) * 1_000_000n + seq++;
    const name = `${event.involved.name}.${stamp.toString(16)}`;
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`;
    await write("POST", path, eventBody(event, name, namespace, ts));
    recent.set(key, { name, namespace, count: 1 });
    if (recent.size > options.cacheSize) recent.delete(recent.keys().next().value!);
  }

  return { keyOf, record };
}
