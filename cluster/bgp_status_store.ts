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

/** What a ServiceBGPStatus of the usual shape says: four pointers, nothing else. */
class Parts {
  constructor(
    readonly node: string,
    readonly serviceNamespace: string,
    readonly serviceName: string,
    readonly peers: readonly string[],
  ) {}
}

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

/** `object` as its parts when building it again from them gives an equal object. */
function partsOf(namespace: string, name: string, object: KubeObject): Parts | undefined {
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
  return new Parts(node, serviceNamespace, serviceName, peers);
}

/** The object `parts` stand for (a new one per read: nothing is cached per Service). */
function build(namespace: string, name: string, p: Parts): KubeObject {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    metadata: {
      name,
      namespace,
      labels: {
        [NODE_LABEL]: p.node,
        [SERVICE_NAME_LABEL]: p.serviceName,
        [SERVICE_NAMESPACE_LABEL]: p.serviceNamespace,
      },
    },
    status: {
      node: p.node,
      serviceName: p.serviceName,
      serviceNamespace: p.serviceNamespace,
      peers: p.peers,
    },
  };
}

/**
 * ServiceBGPStatus objects by `namespace/name`, read as a map whose values are equal (not
 * identical) to the objects written. Iterates namespace by namespace, each in write order.
 */
export class BgpStatusStore extends ObjectMapView {
  /** By namespace, then name: the name is the writer's string, no `namespace/name` made. */
  readonly #byNamespace = new Map<string, Map<string, Parts | KubeObject>>();
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
    names.set(name, partsOf(namespace, name, object) ?? object);
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
