/**
 * What a Service write makes of its saved state. Every Service of a pool carries the same
 * annotations, so records are interned (one frozen record per distinct set) and merges are
 * remembered by record and patch: 100,000 Services cost a lookup each, not a merge.
 */
import { SavedState } from "./service_view.ts";
import type { IngressEntry } from "./types.ts";

/** One Service's writes for `OverlaySource.writeServices`. */
export interface ServiceWrite {
  namespace: string;
  name: string;
  /** New `status.loadBalancer.ingress`; absent leaves it as is. */
  ingress?: IngressEntry[];
  /** Annotations to merge (a null value deletes the key); absent leaves them as they are. */
  annotations?: Record<string, string | null>;
}

/** Whether `s` holds a character a short intern key uses itself (NUL or \u0001). */
function hasSeparator(s: string): boolean {
  return s.includes("\u0000") || s.includes("\u0001");
}

/** Makes the states Service writes lead to, sharing annotation records among them. */
export class StateBuilder {
  readonly #interned = new Map<string, Record<string, string>>();
  readonly #merges = new WeakMap<Record<string, string>, Map<string, Record<string, string>>>();
  /** The empty record, shared by every state without annotations. */
  readonly none: Record<string, string> = this.intern({});

  /** The one frozen record equal to `record` (which may be frozen and kept). */
  intern(record: Record<string, string>): Record<string, string> {
    // Most records are empty or hold one pool's annotation: their key needs no stringify.
    // Separated by NUL; a record with a NUL or \u0001 of its own (or more than two keys)
    // takes the JSON form, marked by a leading \u0001 that no short key holds.
    let key = "";
    let n = 0;
    for (const k in record) {
      const v = record[k];
      if (++n > 2 || hasSeparator(k) || hasSeparator(v)) {
        n = 3;
        break;
      }
      key += `${k}\u0000${v}\u0000`;
    }
    if (n > 2) key = `\u0001${JSON.stringify(record)}`;
    let hit = this.#interned.get(key);
    if (!hit) {
      if (this.#interned.size >= 10_000) this.#interned.clear();
      this.#interned.set(key, hit = Object.freeze(record) as Record<string, string>);
    }
    return hit;
  }

  /** `patch` over the interned `base`, interned. */
  merged(
    base: Record<string, string>,
    patch: Record<string, string | null>,
  ): Record<string, string> {
    const key = JSON.stringify(patch);
    let byPatch = this.#merges.get(base);
    if (!byPatch) this.#merges.set(base, byPatch = new Map());
    let hit = byPatch.get(key);
    if (!hit) {
      if (byPatch.size >= 1000) byPatch.clear();
      byPatch.set(key, hit = this.intern(mergeAnnotations(base, patch)));
    }
    return hit;
  }

  /** The state `write` makes of `prev`, or null when the entry goes. */
  apply(prev: SavedState | undefined, write: ServiceWrite): SavedState | null {
    let ingress = prev?.ingress ?? [];
    let annotations = prev?.annotations ?? this.none;
    if (write.ingress) {
      // Released by the controller: only now may the entry (and its annotations) go.
      if (write.ingress.length === 0 && !write.annotations) return null;
      ingress = write.ingress.map((e) => e.ip);
    }
    if (write.annotations) annotations = this.merged(annotations, write.annotations);
    if (ingress.length === 0 && Object.keys(annotations).length === 0) return null;
    // A fresh list either way (mapped, or the copy `ingress` gives): no second copy.
    return new SavedState(ingress, annotations, { owned: true });
  }
}

function mergeAnnotations(
  base: Record<string, string>,
  patch: Record<string, string | null>,
): Record<string, string> {
  const next: Record<string, string> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete next[k];
    else next[k] = v;
  }
  return next;
}
