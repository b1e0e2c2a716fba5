/**
 * The readers' side of file mode: a Service's durable state, and the snapshot's Services as
 * a view over the manifests' map and those states. Built for 100,000 Services: no copy of
 * the map per save, one laid-over object per Service, its addresses kept as strings.
 */
import { SelfViewService, type ServiceView } from "../api/objects.ts";
import { metadataWith } from "./manifest_service.ts";
import { ObjectMapView } from "./object_map_view.ts";
import type { ServiceState } from "./state_store.ts";
import { type IngressEntry, type KubeObject, LAID_OVER } from "./types.ts";

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
  /**
   * The addresses: one address as its string (most Services hold one: no list of 45 B is
   * kept per Service), else the list in order (frozen).
   */
  readonly #ips: string | readonly string[];
  readonly annotations: Record<string, string>;
  /** The laid-over object last made; {@linkcode baseOf} tells what it was made from. */
  #shown: KubeObject | undefined;

  /**
   * `options.owned`: `ingress` is an exact-size list no one else holds (a fresh `map`, a
   * parsed file's), kept frozen instead of copied; else the state keeps a copy.
   */
  constructor(
    ingress: readonly string[],
    annotations: Record<string, string>,
    options: { owned?: boolean } = {},
  ) {
    // An exact-size list the caller cannot change.
    this.#ips = ingress.length === 0
      ? NO_IPS
      : ingress.length === 1
      ? ingress[0]
      : Object.freeze(options.owned ? ingress : ingress.slice());
    this.annotations = annotations;
  }

  /** The addresses, in order (a list made when read for a single address). */
  get ips(): readonly string[] {
    const ips = this.#ips;
    return typeof ips === "string" ? [ips] : ips;
  }

  /** The addresses, in order (a copy: the state's own list is frozen). */
  get ingress(): string[] {
    const ips = this.#ips;
    return typeof ips === "string" ? [ips] : ips.slice();
  }

  /** The ingress as the status shows it (made when asked). */
  get entries(): IngressEntry[] {
    const ips = this.#ips;
    return typeof ips === "string" ? [{ ip: ips }] : ips.map((ip) => ({ ip }));
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

  /** Whether `other` holds the same addresses, in order (no list made for one address). */
  sameIps(other: SavedState): boolean {
    const a = this.#ips;
    const b = other.#ips;
    if (typeof a === "string" || typeof b === "string") return a === b;
    return a.length === b.length && a.every((ip, i) => ip === b[i]);
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
 * state laid over, kept as its two parts: the manifest object and the state. Every field
 * reads through to them and what the state changes (the metadata's annotations, the status)
 * is made when read (getters on the prototype cost nothing per instance). It is also its own
 * parsed view ({@linkcode SelfViewService}): 40 B per Service, instead of five records, a
 * view and a memo entry. Reads as the plain object `toJSON` gives.
 */
class StatedService extends SelfViewService {
  readonly #base: KubeObject;
  readonly #state: SavedState;

  constructor(base: KubeObject, state: SavedState) {
    super();
    this.#base = base;
    this.#state = state;
  }

  /** The manifest object this was laid over. */
  get base(): KubeObject {
    return this.#base;
  }
  /** The manifest object, for readers that tell an echo of a write ({@linkcode LAID_OVER}). */
  [LAID_OVER](): KubeObject {
    return this.#base;
  }

  get apiVersion(): string {
    return this.#base.apiVersion;
  }
  get kind(): string {
    return this.#base.kind;
  }
  /** The manifest's metadata with the annotations written (made when read). */
  get metadata(): KubeObject["metadata"] {
    const written = this.#state.annotations;
    // Read often (sorts by age read it per comparison): at once from a manifest Service.
    return metadataWith(this.#base, written) ?? laidOverMetadata(this.#base.metadata, written);
  }
  get spec(): unknown {
    return this.#base.spec;
  }
  get status(): { loadBalancer: { ingress: IngressEntry[] } } {
    return { loadBalancer: { ingress: this.#state.entries } };
  }
  protected get shownIPs(): readonly string[] {
    return this.#state.ips;
  }

  /**
   * Of the usual shape when the manifest object is a view of the usual shape itself: what
   * the state adds (annotations and addresses, strings) keeps it so. Over a plain object
   * the memo of api/objects.ts holds the view instead (not so in file mode).
   */
  isOwnView(): boolean {
    const base = this.#base;
    return base instanceof SelfViewService && base.isOwnView();
  }
  get ports(): ServiceView["ports"] {
    return (this.#base as unknown as ServiceView).ports;
  }

  // The view's metadata fields without making the metadata, when the manifest object is a
  // view itself (file mode's: manifest_service.ts).
  override get name(): string {
    const base = this.#base;
    return base instanceof SelfViewService ? base.name : super.name;
  }
  override get namespace(): string {
    const base = this.#base;
    return base instanceof SelfViewService ? base.namespace : super.namespace;
  }
  override get labels(): Readonly<Record<string, string>> {
    const base = this.#base;
    return base instanceof SelfViewService ? base.labels : super.labels;
  }
  override get annotations(): Readonly<Record<string, string>> {
    const base = this.#base;
    if (!(base instanceof SelfViewService)) return super.annotations;
    const own = base.annotations;
    const written = this.#state.annotations;
    for (const _ in own) return { ...own, ...written };
    return written;
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

/** The metadata `m` with the `annotations` of a state written over its own. */
function laidOverMetadata(
  m: KubeObject["metadata"],
  written: Record<string, string>,
): KubeObject["metadata"] {
  // Without annotations of its own the Service shows the (shared) saved ones as they are.
  const annotations = m.annotations ? { ...m.annotations, ...written } : written;
  // A literal of a fixed shape: V8 sizes it exactly.
  return hasOnly(m, "name", "namespace", "annotations") && m.namespace !== undefined
    ? { name: m.name, namespace: m.namespace, annotations }
    : { ...m, annotations };
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
  if (
    obj.status === undefined && obj.spec !== undefined &&
    hasOnly(obj as unknown as Plain, "apiVersion", "kind", "metadata", "spec")
  ) {
    return new StatedService(obj, state) as unknown as KubeObject;
  }
  // A Service object of a class of its own spreads as the plain object it stands for.
  const plain = obj instanceof SelfViewService
    ? (obj as unknown as { toJSON(): KubeObject }).toJSON()
    : obj;
  const status =
    (typeof plain.status === "object" && plain.status !== null
      ? plain.status
      : {}) as LoadBalancerStatus;
  const shown = {
    ...plain,
    metadata: laidOverMetadata(plain.metadata, state.annotations),
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
  return a.sameIps(b) &&
    sameRecord(a.annotations, b.annotations);
}

function sameRecord(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k]);
}
