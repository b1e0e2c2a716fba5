/**
 * Snapshots and change notices of a source: kinds marked changed are materialised into a new
 * immutable snapshot on demand, and subscribers hear of a burst of changes once, after a short
 * coalescing window.
 */
import type { Logger } from "../api/log.ts";
import { type KubeObject, READ_KINDS, type ReadKind, type Snapshot } from "./types.ts";

/** The publishing half of a source. */
export interface Publisher {
  /** Marks `kind` changed; subscribers hear of it after the coalescing window. */
  changed(kind: ReadKind): void;
  /** The current snapshot, including every change marked so far. */
  snapshot(): Snapshot;
  subscribe(listener: (changed: ReadonlySet<ReadKind>) => void): () => void;
  /** Stops notifying. */
  close(): void;
}

/** Creates a publisher reading each kind's current objects through `itemsOf`. */
export function createPublisher(
  itemsOf: (kind: ReadKind) => ReadonlyMap<string, KubeObject>,
  options: { coalesceMs: number; log: Logger },
): Publisher {
  const listeners = new Set<(changed: ReadonlySet<ReadKind>) => void>();
  const dirty = new Set<ReadKind>();
  let pending = new Set<ReadKind>();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  let current: Snapshot = Object.freeze({
    revision: 0,
    objects: new Map(READ_KINDS.map((k) => [k, new Map<string, KubeObject>()])),
  });

  function materialize(): void {
    if (dirty.size === 0) return;
    const objects = new Map(current.objects);
    for (const kind of dirty) objects.set(kind, new Map(itemsOf(kind)));
    dirty.clear();
    current = Object.freeze({ revision: current.revision + 1, objects });
  }

  function flush(): void {
    timer = undefined;
    if (closed) return;
    materialize();
    const batch = pending;
    pending = new Set();
    if (batch.size === 0) return;
    for (const fn of [...listeners]) {
      try {
        fn(batch);
      } catch (err) {
        options.log.error("source subscriber failed", { err });
      }
    }
  }

  return {
    changed(kind) {
      dirty.add(kind);
      pending.add(kind);
      timer ??= setTimeout(flush, options.coalesceMs);
    },
    snapshot() {
      materialize();
      return current;
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    close() {
      closed = true;
      clearTimeout(timer);
    },
  };
}
