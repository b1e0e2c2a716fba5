/**
 * File mode's stand-ins for what a cluster supplies and a directory of manifests leaves out:
 * this node (ready, with its hostname label) and one ready endpoint on it for every Service
 * that has no EndpointSlice, so the speaker announces as it would in a cluster.
 */
import {
  type EndpointSliceView,
  OWN_SLICE_VIEW,
  parseEndpointSlice,
  SelfViewService,
  SERVICE_NAME_LABEL,
} from "../api/objects.ts";
import { companionOf } from "./manifest_service.ts";
import { ObjectMapView } from "./object_map_view.ts";
import {
  type KubeObject,
  objectKey,
  type ObjectSource,
  type ReadKind,
  type Snapshot,
} from "./types.ts";

/** Label every Node carries in a cluster; node selectors often use it. */
export const HOSTNAME_LABEL = "kubernetes.io/hostname";

/** Suffix of the EndpointSlices made up for Services that have none in the directory. */
export const SYNTHETIC_SLICE_SUFFIX = "ferrolb-local";

/** Options for {@linkcode withClusterDefaults}. */
export interface ClusterDefaultsOptions {
  /** This node's name (`--node-name`). */
  nodeName: string;
}

/** The Node a cluster would have for `nodeName`: ready, labelled with its hostname. */
export function syntheticNode(nodeName: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: nodeName, labels: { [HOSTNAME_LABEL]: nodeName } },
    status: { conditions: [{ type: "Ready", status: "True" }] },
  };
}

/** The one ready endpoint on `nodeName`, frozen so every made-up slice can share it. */
function localEndpoints(nodeName: string): readonly unknown[] {
  const endpoint = Object.freeze({
    addresses: Object.freeze(["127.0.0.1"]),
    conditions: Object.freeze({ ready: true }),
    nodeName,
  });
  return Object.freeze([endpoint]);
}

/** An EndpointSlice with one ready endpoint of `service` on `nodeName`. */
export function syntheticEndpointSlice(
  service: KubeObject,
  nodeName: string,
  endpoints: readonly unknown[] = localEndpoints(nodeName),
): KubeObject {
  const name = nameOf(service);
  // Literals of a fixed shape (no computed key, no spread): V8 sizes them exactly, and
  // there is one of each per Service.
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      // Joined, not a template literal: one flat string, not a rope of two (40 B, not 64).
      name: [name, SYNTHETIC_SLICE_SUFFIX].join("-"),
      namespace: namespaceOf(service),
      labels: { "kubernetes.io/service-name": name },
    },
    addressType: "IPv4",
    endpoints,
  };
}

/**
 * Makes the made-up slices of one node: each holds only its Service and builds the rest
 * when read. There is one per Service (100,000s) and readers read each once (the speaker's
 * views cache by identity), so a plain object of ~200 B each (object, metadata, labels,
 * name) would be kept for nothing. `toJSON` gives the plain object
 * {@linkcode syntheticEndpointSlice} makes. Its parsed view is made the same way
 * ({@linkcode OWN_SLICE_VIEW}): 32 B instead of a 64 B record and its 40 B name.
 */
function madeUpSliceClass(nodeName: string): new (svc: KubeObject) => KubeObject {
  // One class per node, not per snapshot: slices kept across snapshots would pin each.
  const known = SLICE_CLASSES.get(nodeName);
  if (known) return known;
  const endpoints = localEndpoints(nodeName);
  const View = madeUpViewClass(nodeName, endpoints);
  const made = class MadeUpSlice {
    readonly #svc: KubeObject;
    constructor(svc: KubeObject) {
      this.#svc = svc;
    }
    get apiVersion(): string {
      return "discovery.k8s.io/v1";
    }
    get kind(): string {
      return "EndpointSlice";
    }
    get metadata(): KubeObject["metadata"] {
      return syntheticEndpointSlice(this.#svc, nodeName, endpoints).metadata;
    }
    get addressType(): string {
      return "IPv4";
    }
    get endpoints(): readonly unknown[] {
      return endpoints;
    }
    [OWN_SLICE_VIEW](): EndpointSliceView | undefined {
      // Metadata of another shape is for the parse of the plain slice to judge.
      const m = this.#svc.metadata as { name: unknown; namespace?: unknown };
      const usual = typeof m.name === "string" && m.name.length > 0 &&
        (m.namespace === undefined || typeof m.namespace === "string");
      return usual ? new View(this.#svc) : undefined;
    }
    toJSON(): KubeObject {
      return syntheticEndpointSlice(this.#svc, nodeName, endpoints);
    }
  } as unknown as new (svc: KubeObject) => KubeObject;
  SLICE_CLASSES.set(nodeName, made);
  return made;
}

/** A Service standing in for any, to parse the parts every made-up slice of a node shares. */
const SAMPLE_SERVICE: KubeObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "sample", namespace: "default" },
};

/**
 * The view class of one node's made-up slices: the fields read from the Service, the
 * endpoint views and ports those of the plain slice (one shared list for all of them).
 */
function madeUpViewClass(
  nodeName: string,
  endpoints: readonly unknown[],
): new (svc: KubeObject) => EndpointSliceView {
  const sample = parseEndpointSlice(syntheticEndpointSlice(SAMPLE_SERVICE, nodeName, endpoints));
  if (!sample.ok) throw new Error(`made-up EndpointSlice does not parse: ${sample.errors}`);
  const shared = sample.value;
  return class MadeUpSliceView implements EndpointSliceView {
    readonly #svc: KubeObject;
    constructor(svc: KubeObject) {
      this.#svc = svc;
    }
    get namespace(): string {
      return namespaceOf(this.#svc);
    }
    get name(): string {
      return [nameOf(this.#svc), SYNTHETIC_SLICE_SUFFIX].join("-");
    }
    get serviceName(): string {
      return nameOf(this.#svc);
    }
    get endpoints(): EndpointSliceView["endpoints"] {
      return shared.endpoints;
    }
    get ports(): EndpointSliceView["ports"] {
      return shared.ports;
    }
  };
}

const SLICE_CLASSES = new Map<string, new (svc: KubeObject) => KubeObject>();

/** Options for {@linkcode addClusterDefaults}. */
export interface AddDefaultsOptions extends ClusterDefaultsOptions {
  /**
   * Made-up slices by the Service they stand for: an unchanged Service keeps the same slice
   * object, so readers that cache by identity redo nothing for it.
   */
  cache?: WeakMap<KubeObject, KubeObject>;
}

const SLICE_KEY_SUFFIX = `-${SYNTHETIC_SLICE_SUFFIX}`;

/**
 * The EndpointSlices of a snapshot with a made-up one for each Service no slice covers,
 * computed as they are read: no map of 100,000 entries (and their keys) is built or copied
 * per snapshot. It reads as the map `new Map(real)` with each made-up slice then `set` would:
 * same keys, values and order (a made-up slice takes the place of a real one of its name).
 */
class SlicesWithDefaults extends ObjectMapView {
  readonly #real: ReadonlyMap<string, KubeObject> | undefined;
  readonly #services: ReadonlyMap<string, KubeObject>;
  readonly #covered: ReadonlySet<string>;
  readonly #made: (svc: KubeObject) => KubeObject;
  #size = -1;

  constructor(
    real: ReadonlyMap<string, KubeObject> | undefined,
    services: ReadonlyMap<string, KubeObject>,
    covered: ReadonlySet<string>,
    made: (svc: KubeObject) => KubeObject,
  ) {
    super();
    this.#real = real;
    this.#services = services;
    this.#covered = covered;
    this.#made = made;
  }

  /** The made-up slice of key `key`, if there is one. */
  #madeUp(key: string): KubeObject | undefined {
    if (!key.endsWith(SLICE_KEY_SUFFIX)) return undefined;
    const base = key.slice(0, -SLICE_KEY_SUFFIX.length);
    // A Service without a namespace is keyed by name alone; its slice is in `default`.
    const candidates = base.startsWith("default/") ? [base, base.slice(8)] : [base];
    for (const svcKey of candidates) {
      const svc = this.#services.get(svcKey);
      if (svc && !this.#covered.has(svcKey) && sliceKeyOf(svc) === key) return this.#made(svc);
    }
    return undefined;
  }

  get size(): number {
    if (this.#size < 0) {
      let n = this.#real?.size ?? 0;
      for (const [key, svc] of this.#services) {
        if (this.#covered.has(key)) continue;
        if (!this.#real?.has(sliceKeyOf(svc))) n++;
      }
      this.#size = n;
    }
    return this.#size;
  }

  get(key: string): KubeObject | undefined {
    return this.#madeUp(key) ?? this.#real?.get(key);
  }

  *entries(): MapIterator<[string, KubeObject]> {
    if (this.#real) {
      for (const [key, obj] of this.#real) yield [key, this.#madeUp(key) ?? obj];
    }
    for (const [key, svc] of this.#services) {
      if (this.#covered.has(key)) continue;
      const sliceKey = sliceKeyOf(svc);
      if (!this.#real?.has(sliceKey)) yield [sliceKey, this.#made(svc)];
    }
  }

  override *values(): MapIterator<KubeObject> {
    // As entries(), without a key made per made-up slice when no real slice can clash.
    const real = this.#real?.size ? this.#real : undefined;
    if (real) { for (const [key, obj] of real) yield this.#madeUp(key) ?? obj; }
    for (const [key, svc] of this.#services) {
      if (this.#covered.has(key)) continue;
      if (!real?.has(sliceKeyOf(svc))) yield this.#made(svc);
    }
  }
}

/** The key of the made-up slice of `svc`. */
function sliceKeyOf(svc: KubeObject): string {
  return objectKey({ namespace: namespaceOf(svc), name: `${nameOf(svc)}${SLICE_KEY_SUFFIX}` });
}

/**
 * `svc.metadata.name`, read from the view when the Service is one: its metadata may be made
 * when read (manifest_service.ts), and this is read per Service per walk.
 */
function nameOf(svc: KubeObject): string {
  return svc instanceof SelfViewService ? svc.name : svc.metadata.name;
}

/** `svc.metadata.namespace`, `default` when unset; as {@linkcode nameOf} reads it. */
function namespaceOf(svc: KubeObject): string {
  return svc instanceof SelfViewService ? svc.namespace : svc.metadata.namespace ?? "default";
}

/** Adds to `objects` what a cluster would supply and the directory leaves out. */
export function addClusterDefaults(
  objects: ReadonlyMap<ReadKind, ReadonlyMap<string, KubeObject>>,
  options: AddDefaultsOptions,
): Map<ReadKind, ReadonlyMap<string, KubeObject>> {
  const out = new Map(objects);
  const nodes = objects.get("Node");
  if (!nodes?.has(options.nodeName)) {
    const merged = new Map(nodes);
    merged.set(options.nodeName, syntheticNode(options.nodeName));
    out.set("Node", merged);
  }
  const services = objects.get("Service");
  if (!services || services.size === 0) return out;
  // A Service is covered when any slice in its namespace names it, as in a cluster.
  const covered = new Set<string>();
  for (const slice of objects.get("EndpointSlice")?.values() ?? []) {
    const svc = slice.metadata.labels?.[SERVICE_NAME_LABEL];
    if (svc) {
      covered.add(objectKey({ namespace: slice.metadata.namespace ?? "default", name: svc }));
    }
  }
  if (covered.size >= services.size && [...services.keys()].every((k) => covered.has(k))) {
    return out;
  }
  const MadeUpSlice = madeUpSliceClass(options.nodeName);
  const cache = options.cache ?? new WeakMap<KubeObject, KubeObject>();
  const isOurs = (v: unknown): v is KubeObject => v instanceof MadeUpSlice;
  const made = (svc: KubeObject): KubeObject => {
    // A manifest Service keeps its slice itself: no map entry per Service.
    const kept = companionOf(svc, isOurs, () => new MadeUpSlice(svc));
    if (kept) return kept;
    let slice = cache.get(svc);
    if (!slice) cache.set(svc, slice = new MadeUpSlice(svc));
    return slice;
  };
  out.set(
    "EndpointSlice",
    new SlicesWithDefaults(objects.get("EndpointSlice"), services, covered, made),
  );
  return out;
}

/**
 * Wraps `inner` so its snapshots hold what a cluster would supply: the Node `nodeName`
 * (ready) unless a manifest defines it, and one ready endpoint on this node for every
 * Service without an EndpointSlice. `start` may be called by several users; it starts
 * `inner` once.
 */
export function withClusterDefaults(
  inner: ObjectSource,
  options: ClusterDefaultsOptions,
): ObjectSource {
  let cache: { revision: number; snap: Snapshot } | undefined;
  let starting: Promise<void> | undefined;
  const slices = new WeakMap<KubeObject, KubeObject>();
  return {
    start() {
      starting ??= inner.start();
      return starting;
    },
    snapshot() {
      const base = inner.snapshot();
      if (cache?.revision === base.revision) return cache.snap;
      // The additions are a pure function of the inner snapshot, so its revision is ours.
      const snap: Snapshot = {
        revision: base.revision,
        objects: addClusterDefaults(base.objects, { ...options, cache: slices }),
      };
      cache = { revision: base.revision, snap };
      return snap;
    },
    subscribe(listener) {
      // Synthetic objects change only with Services, EndpointSlices or Nodes, which the
      // inner source reports itself.
      return inner.subscribe((changed) => {
        const kinds = new Set(changed);
        if (kinds.has("Service")) kinds.add("EndpointSlice");
        listener(kinds);
      });
    },
    close: () => inner.close(),
  };
}
