/**
 * An in-memory ObjectSource: objects put and deleted by code. Used by tests and benchmarks
 * of the controller and speaker, and as the store behind other sources.
 */
import {
  type KubeObject,
  objectKey,
  type ObjectSource,
  type ObjectWriter,
  READ_KINDS,
  type ReadKind,
  type Snapshot,
} from "./types.ts";

/** A mutable ObjectSource whose changes are made by calling `put` and `remove`. */
export interface MemorySource extends ObjectSource {
  /** Adds or replaces an object (by kind and namespace/name). */
  put(obj: KubeObject): void;
  /** Removes an object; returns whether it existed. */
  remove(kind: ReadKind, key: string): boolean;
  /** Replaces every object of `kinds` with `objects` (one notification per microtask). */
  replaceAll(kinds: readonly ReadKind[], objects: readonly KubeObject[]): void;
}

function isReadKind(kind: string): kind is ReadKind {
  return (READ_KINDS as readonly string[]).includes(kind);
}

/** Creates a memory source holding `initial`; notifications are batched per microtask. */
export function createMemorySource(initial: readonly KubeObject[] = []): MemorySource {
  const maps = new Map<ReadKind, Map<string, KubeObject>>();
  for (const k of READ_KINDS) maps.set(k, new Map());
  let revision = 0;
  let current: Snapshot | null = null;
  // Copies handed out in snapshots, per kind; only a changed kind is copied again.
  const copies = new Map<ReadKind, ReadonlyMap<string, KubeObject>>();
  const listeners = new Set<(changed: ReadonlySet<ReadKind>) => void>();
  let pending: Set<ReadKind> | null = null;

  function changed(kind: ReadKind): void {
    revision++;
    current = null;
    copies.delete(kind);
    if (pending) {
      pending.add(kind);
      return;
    }
    pending = new Set([kind]);
    queueMicrotask(() => {
      const kinds = pending!;
      pending = null;
      for (const l of [...listeners]) l(kinds);
    });
  }

  function put(obj: KubeObject): void {
    if (!isReadKind(obj.kind)) throw new Error(`memory source: kind ${obj.kind} is not read`);
    const frozen = structuredClone(obj);
    maps.get(obj.kind)!.set(objectKey(obj.metadata), frozen);
    changed(obj.kind);
  }

  for (const o of initial) put(o);
  revision = 0;

  return {
    start: () => Promise.resolve(),
    snapshot(): Snapshot {
      if (!current) {
        const objects = new Map<ReadKind, ReadonlyMap<string, KubeObject>>();
        for (const [k, m] of maps) {
          let copy = copies.get(k);
          if (!copy) copies.set(k, copy = new Map(m));
          objects.set(k, copy);
        }
        current = { revision, objects };
      }
      return current;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close: () => Promise.resolve(),
    put,
    remove(kind, key) {
      const existed = maps.get(kind)!.delete(key);
      if (existed) changed(kind);
      return existed;
    },
    replaceAll(kinds, objects) {
      for (const k of kinds) {
        maps.get(k)!.clear();
        changed(k);
      }
      for (const o of objects) put(o);
    },
  };
}

/** A writer that accepts every write and keeps nothing: for drivers that only watch the wire. */
export function createDiscardWriter(): ObjectWriter {
  const ok = () => Promise.resolve();
  return {
    setServiceIngress: ok,
    patchServiceAnnotations: ok,
    recordEvent: ok,
    setPoolStatus: ok,
    setConfigurationState: ok,
    setServiceBGPStatus: ok,
  };
}
