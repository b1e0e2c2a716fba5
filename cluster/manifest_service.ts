/**
 * File mode's Services of the usual shape as the manifests give them: the plain object's
 * fields, as its own properties (what JSON, spreads and key walks see), on an object that is
 * also its own parsed view (api/snapshot_service.ts `SelfViewService`). Until its state is
 * laid over, the controller and the speaker then hold no view object and no memo entry per
 * Service (100,000s of them on a cold start, garbage once the states arrive).
 */
import { SelfViewService } from "../api/objects.ts";
import type { KubeObject } from "./types.ts";

const NO_IPS: readonly string[] = Object.freeze([]);

/** A `v1` Service with `apiVersion`, `kind`, `metadata` and `spec` only (no status). */
class ManifestService extends SelfViewService {
  apiVersion: string;
  kind: string;
  metadata: KubeObject["metadata"];
  spec: unknown;
  /** The one object kept with this Service for a reader (a private slot: writable frozen). */
  #companion: unknown;

  constructor(o: KubeObject) {
    super();
    this.apiVersion = o.apiVersion;
    this.kind = o.kind;
    this.metadata = o.metadata;
    this.spec = o.spec;
  }

  protected get shownIPs(): readonly string[] {
    return NO_IPS;
  }

  /**
   * The object kept with this Service if `is` accepts it; when none is kept yet, the one
   * `make` makes, kept from now on; undefined when another reader's is kept. For what a
   * reader derives from the Service and must find again by it (file mode's made-up
   * EndpointSlice), without a map entry per Service.
   */
  companion<T>(is: (v: unknown) => v is T, make: () => T): T | undefined {
    const kept = this.#companion;
    if (kept === undefined) return this.#companion = make();
    return is(kept) ? kept : undefined;
  }
}

/**
 * {@linkcode ManifestService.companion} of `svc` when it is a manifest Service, undefined
 * otherwise or when another reader's is kept (the caller keeps its own then).
 */
export function companionOf<T>(
  svc: KubeObject,
  is: (v: unknown) => v is T,
  make: () => T,
): T | undefined {
  return svc instanceof ManifestService ? svc.companion(is, make) : undefined;
}

/** Whether `o`'s own keys are exactly those of a Service without status, in that order. */
function usualKeys(o: KubeObject): boolean {
  const keys = Object.keys(o);
  return keys.length === 4 && keys[0] === "apiVersion" && keys[1] === "kind" &&
    keys[2] === "metadata" && keys[3] === "spec";
}

/**
 * `o` as a {@linkcode ManifestService} when it is a `v1` Service of that shape, else `o`.
 * The result reads, serializes and spreads as `o` does.
 */
export function asManifestService(o: KubeObject): KubeObject {
  if (o.kind !== "Service" || o.apiVersion !== "v1" || !usualKeys(o)) return o;
  return new ManifestService(o) as unknown as KubeObject;
}
