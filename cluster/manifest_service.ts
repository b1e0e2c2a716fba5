/**
 * File mode's Services of the usual shape as the manifests give them: one object per Service
 * that reads and serializes as the plain object (`apiVersion`, `kind`, `metadata`, `spec`,
 * read through getters) and is also its own parsed view (api/snapshot_service.ts
 * `JudgedSelfViewService`). Metadata of the usual shape (a name and a namespace, nothing else) is
 * kept as its two strings and made when read, and so is a spec of the usual shape (a
 * LoadBalancer selecting one `app`) from that string and its ports: 100,000s of Services then
 * cost one object each, not five objects, a view and a memo entry.
 */
import { JudgedSelfViewService } from "../api/objects.ts";
import { NO_RECORD } from "../api/view_parts.ts";
import { freezeShared, SHARE_PARTS, type Shared, sharedString } from "./freeze_shared.ts";
import type { KubeObject } from "./types.ts";

const NO_IPS: readonly string[] = Object.freeze([]);

/** A `v1` Service with `apiVersion`, `kind`, `metadata` and `spec` only (no status). */
class ManifestService extends JudgedSelfViewService {
  /** The name when the metadata holds only a name and a namespace; else the metadata. */
  #meta: string | KubeObject["metadata"];
  /** The namespace, when the metadata is kept as its strings. */
  #namespace: string | undefined;
  /**
   * The spec; or, for a spec of the usual shape (`{type: LoadBalancer, selector: {app},
   * ports}`), the selector's `app`, the spec then made when read from it and
   * {@linkcode #specPorts} (two objects of 80 B fewer per Service).
   */
  #spec: unknown;
  /** The spec's `ports` when the spec is kept as its parts. */
  #specPorts: unknown;
  /** The one object kept with this Service for a reader (a private slot: writable frozen). */
  #companion: unknown;

  constructor(o: KubeObject) {
    super();
    const m = o.metadata;
    if (nameAndNamespace(m)) {
      this.#meta = m.name;
      this.#namespace = m.namespace;
    } else {
      this.#meta = m;
    }
    const spec = o.spec;
    if (usualSpec(spec)) {
      this.#spec = spec.selector.app;
      this.#specPorts = spec.ports;
    } else {
      this.#spec = spec;
    }
  }

  get apiVersion(): string {
    return "v1";
  }
  get kind(): string {
    return "Service";
  }
  /** The metadata (made when read from its strings: equal each time, not the same object). */
  get metadata(): KubeObject["metadata"] {
    const m = this.#meta;
    if (typeof m !== "string") return m;
    const namespace = this.#namespace;
    return namespace === undefined ? { name: m } : { name: m, namespace };
  }
  /** The spec (made when read from its parts when of the usual shape: equal each time). */
  get spec(): unknown {
    const app = this.#spec;
    if (typeof app !== "string") return app;
    // Frozen as the publisher leaves the manifest's objects, once it has shared this one.
    const frozen = Object.isFrozen(this);
    const selector = frozen ? Object.freeze({ app }) : { app };
    const spec = { type: "LoadBalancer", selector, ports: this.#specPorts };
    return frozen ? Object.freeze(spec) : spec;
  }

  /**
   * The metadata with `annotations` written over its own, as a state lays it over, when the
   * metadata is kept as its strings (one literal, no metadata made first); else undefined.
   */
  metadataWith(annotations: Record<string, string>): KubeObject["metadata"] | undefined {
    const m = this.#meta;
    if (typeof m !== "string") return undefined;
    const namespace = this.#namespace;
    return namespace === undefined ? { name: m, annotations } : { name: m, namespace, annotations };
  }

  // The view's metadata fields straight from the strings: no metadata made per read.
  override get name(): string {
    const m = this.#meta;
    return typeof m === "string" ? m : super.name;
  }
  override get namespace(): string {
    return typeof this.#meta === "string" ? this.#namespace ?? "default" : super.namespace;
  }
  override get labels(): Readonly<Record<string, string>> {
    return typeof this.#meta === "string" ? NO_RECORD : super.labels;
  }
  override get annotations(): Readonly<Record<string, string>> {
    return typeof this.#meta === "string" ? NO_RECORD : super.annotations;
  }

  protected get shownIPs(): readonly string[] {
    return NO_IPS;
  }

  /** The plain object this stands for. */
  toJSON(): KubeObject {
    return { apiVersion: "v1", kind: "Service", metadata: this.metadata, spec: this.spec };
  }

  /** Shares its strings and spec with the other objects of a publish, then freezes. */
  [SHARE_PARTS](shared: Shared): void {
    if (Object.isFrozen(this)) return;
    const m = this.#meta;
    if (typeof m === "string") {
      this.#meta = sharedString(m, shared);
      if (this.#namespace !== undefined) this.#namespace = sharedString(this.#namespace, shared);
    } else {
      this.#meta = freezeShared(m, shared) as KubeObject["metadata"];
    }
    const spec = this.#spec;
    if (typeof spec === "string") {
      this.#spec = sharedString(spec, shared);
      this.#specPorts = freezeShared(this.#specPorts, shared);
    } else {
      this.#spec = freezeShared(spec, shared);
    }
    Object.freeze(this);
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

/**
 * `svc.metadata` with `annotations` written over its own, made at once when `svc` is a
 * manifest Service whose metadata is kept as its strings; else undefined (the caller
 * builds it from `svc.metadata`).
 */
export function metadataWith(
  svc: KubeObject,
  annotations: Record<string, string>,
): KubeObject["metadata"] | undefined {
  return svc instanceof ManifestService ? svc.metadataWith(annotations) : undefined;
}

/** Whether `m` is `{name}` or `{name, namespace}` (in that order) of strings. */
function nameAndNamespace(m: unknown): m is { name: string; namespace?: string } {
  if (plainWithKeys(m, NAME_KEYS)) return typeof m.name === "string";
  return plainWithKeys(m, NAME_NAMESPACE_KEYS) && typeof m.name === "string" &&
    typeof m.namespace === "string";
}

/** Whether `o` is a plain object whose own keys are exactly `keys`, in that order. */
function plainWithKeys(o: unknown, keys: readonly string[]): o is Record<string, unknown> {
  if (typeof o !== "object" || o === null || Object.getPrototypeOf(o) !== Object.prototype) {
    return false;
  }
  const own = Object.keys(o);
  return own.length === keys.length && own.every((k, i) => k === keys[i]);
}

const NAME_KEYS = ["name"];
const NAME_NAMESPACE_KEYS = ["name", "namespace"];
const SPEC_KEYS = ["type", "selector", "ports"];
const SELECTOR_KEYS = ["app"];

/** Whether `spec` is `{type: LoadBalancer, selector: {app}, ports}` (in that order). */
function usualSpec(
  spec: unknown,
): spec is { type: "LoadBalancer"; selector: { app: string }; ports: unknown } {
  return plainWithKeys(spec, SPEC_KEYS) && spec.type === "LoadBalancer" &&
    plainWithKeys(spec.selector, SELECTOR_KEYS) && typeof spec.selector.app === "string";
}

/** Whether `o`'s own keys are exactly those of a Service without status, in that order. */
function usualKeys(o: KubeObject): boolean {
  const keys = Object.keys(o);
  return keys.length === 4 && keys[0] === "apiVersion" && keys[1] === "kind" &&
    keys[2] === "metadata" && keys[3] === "spec";
}

/**
 * `o` as a {@linkcode ManifestService} when it is a `v1` Service of that shape, else `o`.
 * The result reads and serializes as `o` does.
 */
export function asManifestService(o: KubeObject): KubeObject {
  if (o.kind !== "Service" || o.apiVersion !== "v1" || !usualKeys(o)) return o;
  // A string is where a spec of the usual shape keeps its selector's app: such an object
  // (refused by the schema anyway) stays as it is.
  if (typeof o.spec === "string") return o;
  return new ManifestService(o) as unknown as KubeObject;
}
