/** The fake API server's object store: one global resourceVersion and a watch history window. */

/** A stored object: plain JSON with metadata. */
export interface StoredObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    labels?: Record<string, string>;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

/** A change recorded in the history window. */
export interface StoreEvent {
  type: "ADDED" | "MODIFIED" | "DELETED";
  storageKey: string;
  /** The object after the change (for DELETED, the last state with the delete's version). */
  object: StoredObject;
  /** The object before the change (absent for ADDED); watches use it for selector transitions. */
  old?: StoredObject;
  rv: number;
}

/** Options for {@linkcode createStore}. */
export interface StoreOptions {
  /** Events kept for watches that resume from an older resourceVersion. */
  historyLimit?: number;
}

/** The mutable object store shared by every request. */
export interface Store {
  /** The current (latest) resourceVersion. */
  currentRv(): number;
  /** Watches from a resourceVersion below this get 410 Gone. */
  oldestServableRv(): number;
  get(storageKey: string, namespace: string | undefined, name: string): StoredObject | undefined;
  list(storageKey: string, namespace?: string): StoredObject[];
  /** Writes an object, assigning the next resourceVersion; returns the stored copy. */
  put(storageKey: string, object: StoredObject): StoredObject;
  /** Removes an object, returning its last state, or undefined when absent. */
  remove(storageKey: string, namespace: string | undefined, name: string): StoredObject | undefined;
  /** Events after `rv`, oldest first. */
  eventsSince(rv: number): StoreEvent[];
  /** Forgets the whole history window, so every older resourceVersion becomes too old. */
  compact(): void;
  /** Calls `fn` after every change; returns unsubscribe. */
  onEvent(fn: (ev: StoreEvent) => void): () => void;
}

function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Creates an empty store. */
export function createStore(options: StoreOptions = {}): Store {
  const limit = options.historyLimit ?? 10_000;
  const objects = new Map<string, Map<string, StoredObject>>();
  let history: StoreEvent[] = [];
  let rv = 1;
  let oldest = 0;
  const listeners = new Set<(ev: StoreEvent) => void>();

  function bucket(storageKey: string): Map<string, StoredObject> {
    let m = objects.get(storageKey);
    if (!m) {
      m = new Map();
      objects.set(storageKey, m);
    }
    return m;
  }

  function record(ev: StoreEvent): void {
    history.push(ev);
    if (history.length > limit) {
      const dropped = history.splice(0, history.length - limit);
      oldest = dropped[dropped.length - 1].rv;
    }
    for (const fn of listeners) fn(ev);
  }

  return {
    currentRv: () => rv,
    oldestServableRv: () => oldest,
    get(storageKey, namespace, name) {
      const o = objects.get(storageKey)?.get(keyOf(namespace, name));
      return o ? structuredClone(o) : undefined;
    },
    list(storageKey, namespace) {
      const out: StoredObject[] = [];
      for (const o of objects.get(storageKey)?.values() ?? []) {
        if (namespace === undefined || o.metadata.namespace === namespace) {
          out.push(structuredClone(o));
        }
      }
      return out.sort((a, b) =>
        keyOf(a.metadata.namespace, a.metadata.name) < keyOf(b.metadata.namespace, b.metadata.name)
          ? -1
          : 1
      );
    },
    put(storageKey, object) {
      const m = bucket(storageKey);
      const key = keyOf(object.metadata.namespace, object.metadata.name);
      const old = m.get(key);
      rv++;
      const stored = structuredClone(object);
      stored.metadata.resourceVersion = String(rv);
      m.set(key, stored);
      record({
        type: old ? "MODIFIED" : "ADDED",
        storageKey,
        object: structuredClone(stored),
        old,
        rv,
      });
      return structuredClone(stored);
    },
    remove(storageKey, namespace, name) {
      const m = bucket(storageKey);
      const key = keyOf(namespace, name);
      const old = m.get(key);
      if (!old) return undefined;
      m.delete(key);
      rv++;
      const last = structuredClone(old);
      last.metadata.resourceVersion = String(rv);
      record({ type: "DELETED", storageKey, object: structuredClone(last), old, rv });
      return last;
    },
    eventsSince(since) {
      return history.filter((e) => e.rv > since);
    },
    compact() {
      history = [];
      oldest = rv;
    },
    onEvent(fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
  };
}
