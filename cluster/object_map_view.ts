/**
 * The shared part of the snapshot's lazy maps (Services with their saved state, made-up
 * EndpointSlices, stored ServiceBGPStatuses): a `ReadonlyMap` whose entries are made as
 * they are read. A view says how big it is, how to look one key up and how to walk its
 * entries; keys, values, iteration and forEach follow from the walk, and a view with a
 * cheaper way to list keys or values overrides those.
 */
import type { KubeObject } from "./types.ts";

/** A read-only map of objects by key whose entries are computed on read. */
export abstract class ObjectMapView implements ReadonlyMap<string, KubeObject> {
  /** How many entries a walk yields. */
  abstract get size(): number;
  /** The entry of `key`, made now. */
  abstract get(key: string): KubeObject | undefined;
  /** Every entry, in the view's order. */
  abstract entries(): MapIterator<[string, KubeObject]>;

  /** Whether `key` has an entry. */
  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** The keys, in the order of {@linkcode entries}. */
  *keys(): MapIterator<string> {
    for (const [key] of this.entries()) yield key;
  }

  /** The values, in the order of {@linkcode entries}. */
  *values(): MapIterator<KubeObject> {
    for (const [, value] of this.entries()) yield value;
  }

  /** Walks the entries. */
  [Symbol.iterator](): MapIterator<[string, KubeObject]> {
    return this.entries();
  }

  /** Calls `fn` for each entry, as `Map.prototype.forEach`. */
  forEach(
    fn: (value: KubeObject, key: string, map: ReadonlyMap<string, KubeObject>) => void,
    thisArg?: unknown,
  ): void {
    for (const [key, obj] of this.entries()) fn.call(thisArg, obj, key, this);
  }
}
