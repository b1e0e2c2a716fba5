/**
 * The file source's snapshots: every file's objects gathered by kind and key, compared with
 * the snapshot in force, and published (with one notification) only when a kind changed.
 */
import type { Logger } from "../api/log.ts";
import { Slice } from "../addr/turn_budget.ts";
import { mistypedKindError } from "../api/config.ts";
import { type KubeObject, READ_KINDS, type ReadKind, type Snapshot } from "./types.ts";
import { freezeShared, newShared } from "./freeze_shared.ts";

const READ_KIND_SET: ReadonlySet<string> = new Set(READ_KINDS);

type Objects = Map<ReadKind, ReadonlyMap<string, KubeObject>>;
type Listener = (changed: ReadonlySet<ReadKind>) => void;

/** Publishes snapshots of the objects of a set of files, and the unknown kinds in them. */
export class SnapshotPublisher {
  readonly #log: Logger;
  readonly #listeners = new Set<Listener>();
  #current: Snapshot = { revision: 0, objects: new Map() };
  #kindErrors = new Map<string, string>();

  constructor(log: Logger) {
    this.#log = log;
  }

  /** The snapshot in force. */
  get current(): Snapshot {
    return this.#current;
  }

  /** File → the unknown kinds in it, with a did-you-mean. */
  get kindErrors(): ReadonlyMap<string, string> {
    return this.#kindErrors;
  }

  /** Calls `listener` with the kinds that changed after each publish; returns an unsubscribe. */
  subscribe(listener: Listener): () => boolean {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Publishes the objects of `files` when they differ from the snapshot in force. */
  async publish(files: ReadonlyMap<string, { objects: KubeObject[] }>): Promise<void> {
    const slice = slicer();
    const next = await this.#gather(files, slice);
    const changed = this.#changedKinds(next);
    if (changed.size === 0) return;
    // Strings that came from the parser worker are one copy per object ("v1", "default",
    // "LoadBalancer", a name repeated as a selector): one copy each for the whole publish,
    // and so are short lists of flat records (ports).
    const shared = newShared();
    for (const kind of changed) {
      for (const o of next.get(kind)?.values() ?? []) {
        const y = slice();
        if (y) await y;
        freezeShared(o, shared);
      }
    }
    this.#current = { revision: this.#current.revision + 1, objects: next };
    this.#log.debug("manifests changed", { revision: this.#current.revision, kinds: [...changed] });
    this.#notify(changed);
  }

  /** Every object by kind and key; objects of unknown kinds are reported instead. */
  async #gather(
    files: ReadonlyMap<string, { objects: KubeObject[] }>,
    slice: () => Promise<void> | undefined,
  ): Promise<Objects> {
    const next: Objects = new Map();
    const mistyped = new Map<string, string>();
    for (const [file, state] of files) {
      for (const obj of state.objects) {
        const y = slice();
        if (y) await y;
        if (!READ_KIND_SET.has(obj.kind)) {
          noteMistyped(obj, { file, mistyped });
          continue;
        }
        const kind = obj.kind as ReadKind;
        let byKey = next.get(kind) as Map<string, KubeObject> | undefined;
        if (!byKey) next.set(kind, byKey = new Map());
        byKey.set(heldKey(obj.metadata), obj);
      }
    }
    this.#reportMistyped(mistyped);
    return next;
  }

  /** Unknown kinds with a did-you-mean, logged once per change, listed with the file errors. */
  #reportMistyped(now: Map<string, string>): void {
    for (const [file, reason] of now) {
      if (this.#kindErrors.get(file) !== reason) {
        this.#log.error("unknown kind in manifest", { file, reason });
      }
    }
    this.#kindErrors = now;
  }

  /** The kinds that differ from the snapshot in force; `next` keeps the maps of the others. */
  #changedKinds(next: Objects): Set<ReadKind> {
    const changed = new Set<ReadKind>();
    for (const kind of READ_KINDS) {
      const a = this.#current.objects.get(kind);
      const b = next.get(kind);
      if (!sameObjects(a, b)) changed.add(kind);
      // An unchanged kind keeps its map, so readers that compare maps see no change.
      else if (a) next.set(kind, a);
      else next.delete(kind);
    }
    return changed;
  }

  #notify(changed: ReadonlySet<ReadKind>): void {
    for (const l of this.#listeners) {
      try {
        l(changed);
      } catch (e) {
        this.#log.error("subscriber failed", { error: e });
      }
    }
  }
}

/** A typo (`IPAdressPool`) would otherwise vanish silently: say so, as validate does. */
function noteMistyped(
  obj: KubeObject,
  into: { file: string; mistyped: Map<string, string> },
): void {
  const { file, mistyped } = into;
  const e = mistypedKindError(obj, obj.metadata?.namespace ?? "");
  if (!e) return;
  const line = `${e.kind} ${
    e.namespace ? `${e.namespace}/` : ""
  }${e.name}: ${e.field}: ${e.reason}`;
  mistyped.set(file, mistyped.has(file) ? `${mistyped.get(file)}; ${line}` : line);
}

/**
 * `objectKey` as one flat string: a template literal makes a rope of two strings
 * (64 bytes for `default/svc-000001`), a join one string (40 bytes). For keys kept per object.
 */
function heldKey(meta: { namespace?: string; name: string }): string {
  return meta.namespace ? [meta.namespace, meta.name].join("/") : meta.name;
}

/** Returns a function that yields to the event loop once every slice of work. */
function slicer(): () => Promise<void> | undefined {
  const slice = new Slice();
  let n = 0;
  return () => {
    // Reading the clock every call would cost more than the work between two calls.
    if (++n % 256 !== 0 || !slice.due()) return undefined;
    return slice.next();
  };
}

function sameObjects(
  a: ReadonlyMap<string, KubeObject> | undefined,
  b: ReadonlyMap<string, KubeObject> | undefined,
): boolean {
  const sa = a?.size ?? 0;
  if (sa !== (b?.size ?? 0)) return false;
  if (sa === 0) return true;
  for (const [k, v] of a!) {
    const w = b!.get(k);
    if (!w || (w !== v && JSON.stringify(w) !== JSON.stringify(v))) return false;
  }
  return true;
}
