/**
 * The ServiceBGPStatus objects file mode holds in memory (the overlay's
 * `serviceBGPStatuses()`). A speaker writes one per announced Service, 100,000s of them, each
 * of the same shape; kept whole, one costs ~300 B (object, metadata, labels, status, key).
 * Kept here as its parts (node, Service, the speaker's shared list of peers) in a slot of an
 * array and a typed array, under the writer's own name string, and built again when read; an
 * object of another shape is kept as it was written.
 */
import { SlotIds } from "../addr/slot_ids.ts";
import { ObjectMapView } from "./object_map_view.ts";
import type { KubeObject, ServiceBGPStatusParts } from "./types.ts";

const API_VERSION = "metallb.io/v1beta1";
const KIND = "ServiceBGPStatus";
const NODE_LABEL = "metallb.io/node";
const SERVICE_NAME_LABEL = "metallb.io/service-name";
const SERVICE_NAMESPACE_LABEL = "metallb.io/service-namespace";

/**
 * What many statuses share: a node's objects for the Services of one namespace announced to
 * the same peers (one per distinct triple, not one per Service).
 */
class Common {
  /** Its key (see `commonKey`) once made; null: not made yet. */
  #key: string | undefined | null = null;

  constructor(
    readonly node: string,
    readonly serviceNamespace: string,
    readonly peers: readonly string[],
  ) {}

  /** The key equal parts share (made once: the same part is set for many slots in a row). */
  key(): string | undefined {
    if (this.#key === null) this.#key = commonKey(this);
    return this.#key;
  }
}

/** The part of no slot (id 0). */
const NO_COMMON = new Common("", "", []);

/** Beyond this many shared parts the table keeps only those some slot uses. */
const COMMON_LIMIT = 4096;

/** Whether `o`'s own keys are exactly `keys` (in any order). */
function keysAre(o: object, keys: readonly string[]): boolean {
  let n = 0;
  for (const k in o) {
    if (!Object.hasOwn(o, k)) continue;
    if (!keys.includes(k)) return false;
    n++;
  }
  return n === keys.length;
}

/**
 * The parts of `object` when building it again from them gives an equal object (its
 * Service's name is `serviceName`).
 */
function partsOf(
  at: { namespace: string; name: string },
  object: KubeObject,
): ServiceBGPStatusParts | undefined {
  const { namespace, name } = at;
  if (object.apiVersion !== API_VERSION || object.kind !== KIND) return undefined;
  if (!keysAre(object, ["apiVersion", "kind", "metadata", "status"])) return undefined;
  const m = object.metadata;
  if (m.name !== name || m.namespace !== namespace || !m.labels) return undefined;
  if (!keysAre(m, ["name", "namespace", "labels"])) return undefined;
  const st = object.status as Record<string, unknown> | undefined;
  if (typeof st !== "object" || st === null) return undefined;
  if (!keysAre(st, ["node", "serviceName", "serviceNamespace", "peers"])) return undefined;
  const { node, serviceName, serviceNamespace, peers } = st;
  if (typeof node !== "string" || typeof serviceName !== "string") return undefined;
  if (typeof serviceNamespace !== "string" || !Array.isArray(peers)) return undefined;
  const l = m.labels;
  if (!keysAre(l, [NODE_LABEL, SERVICE_NAME_LABEL, SERVICE_NAMESPACE_LABEL])) return undefined;
  if (l[NODE_LABEL] !== node || l[SERVICE_NAME_LABEL] !== serviceName) return undefined;
  if (l[SERVICE_NAMESPACE_LABEL] !== serviceNamespace) return undefined;
  // The object's own status: its fields are the parts (no object made for them).
  return st as unknown as ServiceBGPStatusParts;
}

/** The key equal {@linkcode Common}s share, or undefined when it cannot be one. */
function commonKey(c: Common): string | undefined {
  const texts = [c.node, c.serviceNamespace, ...c.peers];
  // A list of strings joined by newline is one key only while no string holds a newline.
  if (texts.some((t) => typeof t !== "string" || t.includes("\n"))) return undefined;
  return texts.join("\n");
}

/** Characters of the hash a speaker's ServiceBGPStatus name ends with. */
const HASH_LENGTH = 10;

/**
 * The Service name that `name` spells as `<service>-<node>-<10 characters>` (a speaker's
 * names of lowercase Services and nodes), else undefined: then kept apart.
 */
function serviceNameIn(name: string, node: string): string | undefined {
  const at = serviceNameEnd(name, node);
  return at < 0 ? undefined : name.slice(0, at);
}

/** Where the Service name `name` spells (see `serviceNameIn`) ends, or -1. */
function serviceNameEnd(name: string, node: string): number {
  const end = name.length - HASH_LENGTH - 1;
  const at = end - node.length;
  if (at < 2 || name.charCodeAt(end) !== 45 || name.charCodeAt(at - 1) !== 45) return -1;
  return name.startsWith(node, at) ? at - 1 : -1;
}

/** Whether `serviceNameIn(name, node)` is `service`, without cutting it out of `name`. */
function spellsService(name: string, node: string, service: string): boolean {
  const at = serviceNameEnd(name, node);
  return at === service.length && name.startsWith(service);
}

/** The object its parts stand for (a new one per read: nothing is cached per Service). */
function build(
  at: { namespace: string; name: string },
  p: { serviceName: string; common: Common },
): KubeObject {
  const { namespace, name } = at;
  const { serviceName } = p;
  const { node, serviceNamespace, peers } = p.common;
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name,
      namespace,
      labels: {
        [NODE_LABEL]: node,
        [SERVICE_NAME_LABEL]: serviceName,
        [SERVICE_NAMESPACE_LABEL]: serviceNamespace,
      },
    },
    status: { node, serviceName, serviceNamespace, peers },
  };
}

/**
 * ServiceBGPStatus objects by `namespace/name`, read as a map whose values are equal (not
 * identical) to the objects written. Iterates namespace by namespace, each in write order.
 */
export class BgpStatusStore extends ObjectMapView {
  /**
   * By namespace, then name: the name is the writer's string, no `namespace/name` made. A
   * status of the usual shape is a slot number: its common part is found through
   * `#commons` at that index, and its Service's name is read from its own name (see
   * `serviceNameIn`) or kept in `#serviceNames` (two bytes rather than an object and a name,
   * times 100,000s).
   */
  readonly #byNamespace = new Map<string, Map<string, number | KubeObject>>();
  /** Service names of slots whose name does not give it (see `serviceNameIn`). */
  readonly #serviceNames = new Map<number, string>();
  /** Slots made so far (free or not). */
  #slots = 0;
  /** Per slot, its common part (none: a free slot). */
  readonly #commons = new SlotIds<Common, string>(NO_COMMON, {
    // The part standing for none is never found again: its id marks a free slot.
    keyOf: (c) => c === NO_COMMON ? undefined : c.key(),
    limit: COMMON_LIMIT,
    slots: 1024,
  });
  /** Slots given back by deletes, taken again before the arrays grow. */
  readonly #free: number[] = [];
  #size = 0;
  /**
   * The parts last written and the common part set for them: statuses come in runs of the
   * same node, namespace and peer list, which then make no new part nor key each.
   */
  #lastParts: ServiceBGPStatusParts | undefined;
  #lastCommon: Common | undefined;

  /** Keeps `object` as ServiceBGPStatus `namespace/name`; null deletes it. */
  write(namespace: string, name: string, object: KubeObject | null): void {
    let names = this.#byNamespace.get(namespace);
    const held = names?.get(name);
    if (object === null) {
      if (held === undefined) return;
      this.#release(held);
      names!.delete(name);
      this.#size--;
      if (names!.size === 0) this.#byNamespace.delete(namespace);
      return;
    }
    if (!names) this.#byNamespace.set(namespace, names = new Map());
    const parts = partsOf({ namespace, name }, object);
    if (parts === undefined) {
      this.#release(held);
      names.set(name, object);
    } else this.#keepParts(names, name, parts);
    if (held === undefined) this.#size++;
  }

  /**
   * Keeps as ServiceBGPStatus `namespace/name` the object of the usual shape made of `parts`
   * (see `ServiceBGPStatusParts`): the same as writing that object, which is not made.
   */
  writeParts(namespace: string, name: string, parts: ServiceBGPStatusParts): void {
    let names = this.#byNamespace.get(namespace);
    if (!names) this.#byNamespace.set(namespace, names = new Map());
    const held = names.get(name);
    this.#keepParts(names, name, parts);
    if (held === undefined) this.#size++;
  }

  /** Keeps `parts` in a slot under `name` in `names` (the slot it had, if any). */
  #keepParts(
    names: Map<string, number | KubeObject>,
    name: string,
    parts: ServiceBGPStatusParts,
  ): void {
    const held = names.get(name);
    // An object of the usual shape again keeps its slot.
    const slot = typeof held === "number" ? held : this.#free.pop() ?? this.#slots++;
    // A quarter more, not twice: the slack is at most a quarter (100,000s of slots).
    const room = this.#commons.room;
    if (slot >= room) this.#commons.grow(Math.max(slot + 1, room + (room >> 2)));
    const { node, serviceName } = parts;
    if (spellsService(name, node, serviceName)) this.#serviceNames.delete(slot);
    else this.#serviceNames.set(slot, serviceName);
    this.#commons.set(slot, this.#commonOf(parts), this.#slots);
    names.set(name, slot);
  }

  /** The common part of `parts`: the last one again when they share it. */
  #commonOf(parts: ServiceBGPStatusParts): Common {
    const last = this.#lastParts;
    if (
      last !== undefined && last.node === parts.node &&
      last.serviceNamespace === parts.serviceNamespace && last.peers === parts.peers
    ) {
      return this.#lastCommon!;
    }
    const common = new Common(parts.node, parts.serviceNamespace, parts.peers);
    // Only what is compared is kept, not the parts object (an object's own status).
    this.#lastParts = {
      node: parts.node,
      serviceName: "",
      serviceNamespace: parts.serviceNamespace,
      peers: parts.peers,
    };
    this.#lastCommon = common;
    return common;
  }

  /** Gives back the slot of `held`, if it is one (its parts are dropped). */
  #release(held: number | KubeObject | undefined): void {
    if (typeof held !== "number") return;
    this.#serviceNames.delete(held);
    this.#commons.clear(held);
    this.#free.push(held);
  }

  /** The object `held` under `namespace/name` stands for. */
  #object(namespace: string, name: string, held: number | KubeObject): KubeObject {
    if (typeof held !== "number") return held;
    const at = { namespace, name };
    const common = this.#commons.valueAt(held);
    const serviceName = this.#serviceNames.get(held) ?? serviceNameIn(name, common.node)!;
    return build(at, { serviceName, common });
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): KubeObject | undefined {
    const slash = key.indexOf("/");
    const namespace = slash < 0 ? "" : key.slice(0, slash);
    const name = key.slice(slash + 1);
    const held = this.#byNamespace.get(namespace)?.get(name);
    return held === undefined ? undefined : this.#object(namespace, name, held);
  }

  *entries(): MapIterator<[string, KubeObject]> {
    for (const [namespace, names] of this.#byNamespace) {
      for (const [name, held] of names) {
        const key = namespace ? `${namespace}/${name}` : name;
        yield [key, this.#object(namespace, name, held)];
      }
    }
  }

  override *keys(): MapIterator<string> {
    for (const [namespace, names] of this.#byNamespace) {
      for (const name of names.keys()) yield namespace ? `${namespace}/${name}` : name;
    }
  }
}
