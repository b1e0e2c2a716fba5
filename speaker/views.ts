/**
 * The speaker's parsed views of the snapshot: LoadBalancer Services, EndpointSlices and this
 * node, rebuilt only for the kinds that changed. Each object is parsed once; one that does
 * not parse is logged once and skipped.
 */
import type { Logger } from "../api/log.ts";
import {
  type EndpointSliceView,
  type NodeView,
  parseEndpointSlice,
  parseNode,
  parseSnapshotService,
  type ServiceView,
} from "../api/objects.ts";
import type { KubeObject, ReadKind, Snapshot } from "../cluster/types.ts";

/** Marks an object whose parse failed (already logged). */
const UNPARSABLE = Symbol("unparsable");

/** Views of the last snapshot read. */
export class SnapshotViews {
  readonly #log: Logger;
  readonly #parsed = new WeakMap<KubeObject, unknown>();
  /** The EndpointSlice objects of the last refresh and their views, index by index. */
  #sliceMemo: {
    objects: readonly KubeObject[];
    views: readonly (EndpointSliceView | undefined)[];
  } = { objects: [], views: [] };
  /** Service objects whose parse failed, logged once. */
  readonly #unparsable = new WeakSet<KubeObject>();
  /**
   * LoadBalancer Services; undefined before the first refresh. Frozen, as are `slices`: a new
   * list when they change, so that the planner keeps them rather than a copy (100,000s).
   */
  services?: readonly ServiceView[];
  slices?: readonly EndpointSliceView[];

  /** No views yet; unparsable objects are reported on `log`. */
  constructor(log: Logger) {
    this.#log = log;
  }

  /** The Node object `name` of `snap`, and its view. */
  node(snap: Snapshot, name: string): { obj?: KubeObject; view?: NodeView } {
    const obj = snap.objects.get("Node")?.get(name);
    return { obj, view: obj ? this.#view<NodeView>(obj, parseNode) : undefined };
  }

  /** Rebuilds the views of the kinds that changed; yields now and then (see `drive`). */
  *refresh(snap: Snapshot, kinds: ReadonlySet<ReadKind> | "all"): Generator<void, void> {
    const all = kinds === "all";
    if (all || kinds.has("Service") || !this.services) yield* this.#refreshServices(snap);
    if (all || kinds.has("EndpointSlice") || !this.slices) yield* this.#refreshSlices(snap);
  }

  /**
   * Views of the EndpointSlices, each object parsed once: an object the last refresh saw
   * keeps its view, found at the same place in the snapshot's order (the usual case) or
   * through an index made only when the order moved. Two arrays, not a memo entry per
   * slice (100,000s, one per Service in file mode).
   */
  *#refreshSlices(snap: Snapshot): Generator<void, void> {
    const last = this.#sliceMemo;
    const objects: KubeObject[] = [];
    const views: (EndpointSliceView | undefined)[] = [];
    let index: Map<KubeObject, number> | undefined;
    let parsable = true;
    let n = 0;
    for (const o of snap.objects.get("EndpointSlice")?.values() ?? []) {
      if ((++n & 1023) === 0) yield;
      const i = objects.length;
      let at = last.objects[i] === o ? i : -1;
      if (at < 0 && last.objects.length > 0) {
        index ??= new Map(last.objects.map((x, j) => [x, j]));
        at = index.get(o) ?? -1;
      }
      const v = at >= 0 ? last.views[at] : this.#parseSlice(o);
      objects.push(o);
      views.push(v);
      if (v === undefined) parsable = false;
    }
    this.#sliceMemo = { objects, views };
    this.slices = Object.freeze(
      parsable
        ? views as EndpointSliceView[]
        : views.filter((v): v is EndpointSliceView => v !== undefined),
    );
  }

  /** The view of a slice object not seen before; undefined (logged) when it does not parse. */
  #parseSlice(o: KubeObject): EndpointSliceView | undefined {
    const r = parseEndpointSlice(o);
    if (r.ok) return r.value;
    this.#unparsableLog(o);
    return undefined;
  }

  *#refreshServices(snap: Snapshot): Generator<void, void> {
    const views: ServiceView[] = [];
    let n = 0;
    // The views are memoized by object in api/objects.ts (shared with the controller): no
    // map of our own from object to view, 100,000s of entries.
    for (const o of snap.objects.get("Service")?.values() ?? []) {
      if ((++n & 1023) === 0) yield;
      const r = parseSnapshotService(o);
      if (r.ok) {
        if (r.value.type === "LoadBalancer") views.push(r.value);
      } else if (!this.#unparsable.has(o)) {
        this.#unparsable.add(o);
        this.#unparsableLog(o);
      }
    }
    this.services = Object.freeze(views);
  }

  #unparsableLog(o: KubeObject): void {
    this.#log.warn("ignoring unparsable object", { kind: o.kind, name: o.metadata?.name });
  }

  #view<T>(obj: KubeObject, parse: (o: KubeObject) => { ok: boolean }): T | undefined {
    // The view itself is stored (no result wrapper per object): 100,000s of them.
    let v = this.#parsed.get(obj);
    if (v === undefined) {
      const r = parse(obj) as { ok: boolean; value?: T };
      v = r.ok ? r.value : UNPARSABLE;
      this.#parsed.set(obj, v);
      if (!r.ok) this.#unparsableLog(obj);
    }
    return v === UNPARSABLE ? undefined : v as T;
  }
}
