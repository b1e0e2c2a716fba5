/**
 * Test and benchmark helpers for the controller: object builders and a writer that reflects
 * writes back into a memory source the way an API server's watch would.
 */
import { createMemorySource, type MemorySource } from "../../cluster/memory_source.ts";
import { silentLogger } from "../../api/log.ts";
import { Controller, type ControllerOptions } from "../../controller/controller.ts";
import {
  type EventRecord,
  type IngressEntry,
  type KubeObject,
  objectKey,
  type ObjectWriter,
} from "../../cluster/types.ts";

/** The install namespace used by the helpers. */
export const TEST_NAMESPACE = "metallb-system";

/** An IPAddressPool object in the install namespace. */
export function poolObject(
  name: string,
  addresses: string[],
  spec: Record<string, unknown> = {},
): KubeObject {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: TEST_NAMESPACE },
    spec: { addresses, ...spec },
  };
}

/** Options for {@linkcode serviceObject}. */
export interface ServiceObjectOptions {
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  spec?: Record<string, unknown>;
  /** `metadata.creationTimestamp`. */
  created?: string;
  ingress?: string[];
  uid?: string;
}

/** A `type: LoadBalancer` Service (override `spec.type` to make it something else). */
export function serviceObject(
  namespace: string,
  name: string,
  options: ServiceObjectOptions = {},
): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace,
      uid: options.uid ?? `uid-${namespace}-${name}`,
      creationTimestamp: options.created ?? "2026-01-01T00:00:00Z",
      ...(options.annotations ? { annotations: { ...options.annotations } } : {}),
      ...(options.labels ? { labels: { ...options.labels } } : {}),
    },
    spec: { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }], ...options.spec },
    ...(options.ingress
      ? { status: { loadBalancer: { ingress: options.ingress.map((ip) => ({ ip })) } } }
      : {}),
  };
}

/** A Namespace object. */
export function namespaceObject(name: string, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } };
}

/** A writer over a memory source that applies writes to it, plus what was written. */
export interface ReflectingWriter extends ObjectWriter {
  events: EventRecord[];
  configurationStates: Map<string, unknown>;
  /** Calls per writer method. */
  calls: Record<string, number>;
  /** Total calls. */
  writes(): number;
  /** When set, the next `n` calls throw (an API outage). */
  failNext: number;
}

/**
 * A writer that applies status, annotation and pool-status writes to `source` (so the
 * controller's next snapshot shows them, as a cluster's watch would) and records Events.
 */
export function createReflectingWriter(source: MemorySource): ReflectingWriter {
  const calls: Record<string, number> = {};
  let total = 0;
  const w: ReflectingWriter = {
    events: [],
    configurationStates: new Map(),
    calls,
    failNext: 0,
    writes: () => total,
    setServiceIngress(namespace, name, ingress: IngressEntry[]) {
      count("setServiceIngress");
      const obj = find("Service", `${namespace}/${name}`);
      source.put({ ...obj, status: { loadBalancer: { ingress: ingress.map((i) => ({ ...i })) } } });
      return Promise.resolve();
    },
    patchServiceAnnotations(namespace, name, annotations) {
      count("patchServiceAnnotations");
      const obj = find("Service", `${namespace}/${name}`);
      const next: Record<string, string> = { ...obj.metadata.annotations };
      for (const [k, v] of Object.entries(annotations)) {
        if (v === null) delete next[k];
        else next[k] = v;
      }
      source.put({ ...obj, metadata: { ...obj.metadata, annotations: next } });
      return Promise.resolve();
    },
    recordEvent(event) {
      count("recordEvent");
      w.events.push(event);
      return Promise.resolve();
    },
    setPoolStatus(namespace, name, status) {
      count("setPoolStatus");
      const obj = find("IPAddressPool", `${namespace}/${name}`);
      source.put({ ...obj, status: { ...status } });
      return Promise.resolve();
    },
    setConfigurationState(namespace, name, status) {
      count("setConfigurationState");
      w.configurationStates.set(objectKey({ namespace, name }), status);
      return Promise.resolve();
    },
    setServiceBGPStatus() {
      count("setServiceBGPStatus");
      return Promise.resolve();
    },
  };
  function count(method: string): void {
    if (w.failNext > 0) {
      w.failNext--;
      throw new Error(`injected failure of ${method}`);
    }
    total++;
    calls[method] = (calls[method] ?? 0) + 1;
  }
  function find(kind: "Service" | "IPAddressPool", key: string): KubeObject {
    const obj = source.snapshot().objects.get(kind)?.get(key);
    if (!obj) throw new Error(`${kind} ${key} not found`);
    return obj;
  }
  return w;
}

/** `status.loadBalancer.ingress[].ip` of a Service object. */
export function ingressOf(obj: KubeObject | undefined): string[] {
  const st = obj?.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined;
  return (st?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []));
}

/**
 * A started controller over a memory source holding `objects`, writing through a
 * {@linkcode ReflectingWriter}, in {@linkcode TEST_NAMESPACE} and logging nothing unless
 * `options` say otherwise.
 */
export async function startTestController(
  objects: KubeObject[],
  options: Partial<ControllerOptions> = {},
): Promise<{ source: MemorySource; writer: ReflectingWriter; controller: Controller }> {
  const source = createMemorySource(objects);
  const writer = createReflectingWriter(source);
  const controller = new Controller(source, writer, {
    namespace: TEST_NAMESPACE,
    logger: silentLogger,
    ...options,
  });
  await controller.start();
  return { source, writer, controller };
}
