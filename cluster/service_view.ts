/**
 * The readers' side of file mode: a Service's durable state, and the snapshot's Services as
 * a view over the manifests' map and those states. Built for 100,000 Services: no copy of
 * the map per save, one laid-over object per Service, its addresses kept as strings.
 */
import { SelfViewService } from "../api/objects.ts";
import { ObjectMapView } from "./object_map_view.ts";
import type { ServiceState } from "./state_store.ts";
import type { IngressEntry, KubeObject } from "./types.ts";

interface LoadBalancerStatus {
  loadBalancer?: { ingress?: IngressEntry[] };
  [field: string]: unknown;
}

/**
 * {@linkcode objectKey} as one flat string: a template literal makes a rope of two strings
 * (64 bytes for `default/svc-000001`), a join one string (40 bytes). For keys kept per object.
 */
export function heldKey(meta: { namespace?: string; name: string }): string {
  return meta.namespace ? [meta.namespace, meta.name].join("/") : meta.name;
}

type Plain = Record<string, unknown>;

/**
 * A Service's durable state, and the Service as readers see it with that state laid over
 * (kept for the manifest object it was made from; not saved: JSON takes the public fields).
 * States are replaced on change, never changed, so one laid-over object serves every
 * snapshot until the state or the manifest object changes: readers that cache by identity
 * (the parsed views) redo nothing for an unchanged Service. The addresses are kept as their
 * strings: the `{ip}` entries of the status are made when it is read.
 */
export class SavedState implements ServiceState {
  /** The addresses, in order (frozen; shared by every laid-over object of this state). */
  readonly ips: readonly string[];
  readonly annotations: Record<string, string>;
  /** The laid-over object last made; {@linkcode baseOf} tells what it was made from. */
  #shown: KubeObject | undefined;

  constructor(ingress: readonly string[], annotations: Record<string, string>) {
    // An exact-size copy the caller cannot change.
    this.ips = ingress.length === 0 ? NO_IPS : Object.freeze(ingress.slice());
    this.annotations = annotations;
  }

  /** The addresses, in order (a copy: the state's own list is frozen). */
  get ingress(): string[] {
    return this.ips.slice();
  }

  /** The ingress as the status shows it (made when asked). */
  get entries(): IngressEntry[] {
    return this.ips.map((ip) => ({ ip }));
  }

  /** What is saved: `{ingress, annotations}`, as {@linkcode ServiceState} says. */
  toJSON(): ServiceState {
    return { ingress: this.ips as string[], annotations: this.annotations };
  }

  /** `obj` with this state laid over. */
  over(obj: KubeObject): KubeObject {
    const shown = this.#shown;
    if (shown !== undefined && baseOf(shown) === obj) return shown;
    return this.#shown = overlay(obj, this);
  }
}

const NO_IPS: readonly string[] = Object.freeze([]);

/**
 * The manifest objects of laid-over objects of an unusual shape (a {@linkcode StatedService}
 * knows its own): kept aside so that a state need not hold one per Service.
 */
const SPREAD_BASES = new WeakMap<KubeObject, KubeObject>();

/** The manifest object `shown` was laid over. */
function baseOf(shown: KubeObject): KubeObject | undefined {
  return shown instanceof StatedService ? shown.base : SPREAD_BASES.get(shown);
}

/**
 * A Service of the usual shape (`apiVersion`, `kind`, `metadata`, `spec`; no status) with a
 * state laid over, kept as its parts: the manifest object, the laid-over metadata and the
 * addresses. The other fields read through to the manifest object and the status is made
 * when read (getters on the prototype cost nothing per instance). It is also its own parsed
 * view ({@linkcode SelfViewService}): 64 B and the metadata per Service, instead of five
 * records, a view and a memo entry. Reads as the plain object `toJSON` gives.
 */
class StatedService extends SelfViewService {
  readonly metadata: KubeObject["metadata"];
  readonly #base: KubeObject;
  readonly #ips: readonly string[];

  constructor(base: KubeObject, metadata: KubeObject["metadata"], ips: readonly string[]) {
    super();
    this.metadata = metadata;
    this.#base = base;
    this.#ips = ips;
  }

  /** The manifest object this was laid over. */
  get base(): KubeObject {
    return this.#base;
  }

  get apiVersion(): string {
    return this.#base.apiVersion;
  }
  get kind(): string {
    return this.#base.kind;
  }
  get spec(): unknown {
    return this.#base.spec;
  }
  get status(): { loadBalancer: { ingress: IngressEntry[] } } {
    return { loadBalancer: { ingress: this.#ips.map((ip) => ({ ip })) } };
  }
  protected get shownIPs(): readonly string[] {
    return this.#ips;
  }

  /** The plain object this stands for. */
  toJSON(): KubeObject {
    return {
      apiVersion: this.apiVersion,
      kind: this.kind,
      metadata: this.metadata,
      spec: this.spec,
      status: this.status,
    };
  }
}

/**
 * The Services of a snapshot with their states laid over, made as they are read: no map of
 * 100,000 entries is copied per save. Reads as the manifests' map with each Service that has
 * a state replaced by the laid-over one (same keys, same order).
 */
export class ServicesWithState extends ObjectMapView {
  readonly #inner: ReadonlyMap<string, KubeObject>;
  readonly #states: ReadonlyMap<string, SavedState>;

  constructor(inner: ReadonlyMap<string, KubeObject>, states: ReadonlyMap<string, SavedState>) {
    super();
    this.#inner = inner;
    this.#states = states;
  }

  get size(): number {
    return this.#inner.size;
  }

  get(key: string): KubeObject | undefined {
    const obj = this.#inner.get(key);
    if (obj === undefined) return undefined;
    const state = this.#states.get(key);
    return state ? state.over(obj) : obj;
  }

  override has(key: string): boolean {
    return this.#inner.has(key);
  }

  *entries(): MapIterator<[string, KubeObject]> {
    for (const [key, obj] of this.#inner) {
      const state = this.#states.get(key);
      yield [key, state ? state.over(obj) : obj];
    }
  }

  override *keys(): MapIterator<string> {
    yield* this.#inner.keys();
  }

  override *values(): MapIterator<KubeObject> {
    for (const [key, obj] of this.#inner) {
      const state = this.#states.get(key);
      yield state ? state.over(obj) : obj;
    }
  }
}

/**
 * `obj` with `state` laid over: as the API server would show it, with the status and the
 * annotations written. A Service of the usual shape becomes a {@linkcode StatedService}
 * (there is one per Service), others are spread.
 */
function overlay(obj: KubeObject, state: SavedState): KubeObject {
  const m = obj.metadata;
  // Without annotations of its own the Service shows the (shared) saved ones as they are.
  const annotations = m.annotations
    ? { ...m.annotations, ...state.annotations }
    : state.annotations;
  // A literal of a fixed shape: V8 sizes it exactly.
  const metadata = hasOnly(m, "name", "namespace", "annotations") && m.namespace !== undefined
    ? { name: m.name, namespace: m.namespace, annotations }
    : { ...m, annotations };
  if (
    obj.status === undefined && obj.spec !== undefined &&
    hasOnly(obj as unknown as Plain, "apiVersion", "kind", "metadata", "spec")
  ) {
    return new StatedService(obj, metadata, state.ips) as unknown as KubeObject;
  }
  const status =
    (typeof obj.status === "object" && obj.status !== null ? obj.status : {}) as LoadBalancerStatus;
  const shown = {
    ...obj,
    metadata,
    status: { ...status, loadBalancer: { ...status.loadBalancer, ingress: state.entries } },
  };
  SPREAD_BASES.set(shown, obj);
  return shown;
}

/** Whether `o`'s own keys are among `keys`. */
function hasOnly(o: object, ...keys: string[]): boolean {
  for (const k in o) if (Object.hasOwn(o, k) && !keys.includes(k)) return false;
  return true;
}

/** Whether two states hold the same addresses, in order, and the same annotations. */
export function sameState(a: SavedState, b: SavedState): boolean {
  return a.ips.length === b.ips.length && a.ips.every((ip, i) => ip === b.ips[i]) &&
    sameRecord(a.annotations, b.annotations);
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}
