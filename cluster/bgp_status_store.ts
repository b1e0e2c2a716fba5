/**
 * The ServiceBGPStatus objects file mode holds in memory (the overlay's
 * `serviceBGPStatuses()`). A speaker writes one per announced Service, 100,000s of them, each
 * of the same shape; kept whole, one costs ~300 B (object, metadata, labels, status, key).
 * Kept here as its parts (node, Service, the speaker's shared list of peers) under the
 * writer's own name string, and built again when read; an object of another shape is kept
 * as it was written.
 */
import { ObjectMapView } from "./object_map_view.ts";
import type { KubeObject } from "./types.ts";

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
  constructor(
    readonly node: string,
    readonly serviceNamespace: string,
    readonly peers: readonly string[],
  ) {}
}

/** What a ServiceBGPStatus of the usual shape says: its Service's name, and the rest shared. */
class Parts {
  constructor(readonly serviceName: string, readonly common: Common) {}
}

/** Beyond this many distinct shared parts the table starts again (parts made stay valid). */
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
 * `object` as its parts when building it again from them gives an equal object; `shared`
 * interns their common part.
 */
function partsOf(
  at: { namespace: string; name: string },
  object: KubeObject,
  shared: Map<string, Common>,
): Parts | undefined {
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
  return new Parts(serviceName, commonOf(shared, new Common(node, serviceNamespace, peers)));
}

/** The one shared {@linkcode Common} equal to `c` (`c` itself when it is the first). */
function commonOf(shared: Map<string, Common>, c: Common): Common {
  const texts = [c.node, c.serviceNamespace, ...c.peers];
  // A list of strings joined by newline is one key only while no string holds a newline.
  if (texts.some((t) => typeof t !== "string" || t.includes("\n"))) return c;
  const key = texts.join("\n");
  const hit = shared.get(key);
  if (hit) return hit;
  if (shared.size >= COMMON_LIMIT) shared.clear();
  shared.set(key, c);
  return c;
}

/** The object `parts` stand for (a new one per read: nothing is cached per Service). */
function build(namespace: string, name: string, p: Parts): KubeObject {
  const { node, serviceNamespace, peers } = p.common;
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name,
      namespace,
      labels: {
        [NODE_LABEL]: node,
        [SERVICE_NAME_LABEL]: p.serviceName,
        [SERVICE_NAMESPACE_LABEL]: serviceNamespace,
      },
    },
    status: { node, serviceName: p.serviceName, serviceNamespace, peers },
  };
}

/**
 * ServiceBGPStatus objects by `namespace/name`, read as a map whose values are equal (not
 * identical) to the objects written. Iterates namespace by namespace, each in write order.
 */
export class BgpStatusStore extends ObjectMapView {
  /** By namespace, then name: the name is the writer's string, no `namespace/name` made. */
  readonly #byNamespace = new Map<string, Map<string, Parts | KubeObject>>();
  readonly #shared = new Map<string, Common>();
  #size = 0;

  /** Keeps `object` as ServiceBGPStatus `namespace/name`; null deletes it. */
  write(namespace: string, name: string, object: KubeObject | null): void {
    let names = this.#byNamespace.get(namespace);
    if (object === null) {
      if (names?.delete(name)) this.#size--;
      if (names?.size === 0) this.#byNamespace.delete(namespace);
      return;
    }
    if (!names) this.#byNamespace.set(namespace, names = new Map());
    const before = names.size;
    names.set(name, partsOf({ namespace, name }, object, this.#shared) ?? object);
    this.#size += names.size - before;
  }

  get size(): number {
    return this.#size;
  }

  get(key: string): KubeObject | undefined {
    const slash = key.indexOf("/");
    const namespace = slash < 0 ? "" : key.slice(0, slash);
    const name = key.slice(slash + 1);
    const held = this.#byNamespace.get(namespace)?.get(name);
    return held instanceof Parts ? build(namespace, name, held) : held;
  }

  *entries(): MapIterator<[string, KubeObject]> {
    for (const [namespace, names] of this.#byNamespace) {
      for (const [name, held] of names) {
        const key = namespace ? `${namespace}/${name}` : name;
        yield [key, held instanceof Parts ? build(namespace, name, held) : held];
      }
    }
  }

  override *keys(): MapIterator<string> {
    for (const [namespace, names] of this.#byNamespace) {
      for (const name of names.keys()) yield namespace ? `${namespace}/${name}` : name;
    }
  }
}
