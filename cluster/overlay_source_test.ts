import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { createOverlaySource, EVENT_RING_SIZE } from "./overlay_source.ts";
import { openStateStore, type StateData, type StateStore } from "./state_store.ts";
import {
  type KubeObject,
  objectKey,
  type ObjectSource,
  type ReadKind,
  type Snapshot,
} from "./types.ts";

/** A tiny in-memory source, standing in for the directory reader. */
function memorySource(initial: KubeObject[]) {
  const objects = new Map<ReadKind, Map<string, KubeObject>>();
  const listeners = new Set<(c: ReadonlySet<ReadKind>) => void>();
  let revision = 1;
  let closed = false;
  for (const o of initial) put(o);
  function put(o: KubeObject): void {
    const kind = o.kind as ReadKind;
    if (!objects.has(kind)) objects.set(kind, new Map());
    objects.get(kind)!.set(objectKey(o.metadata), o);
  }
  const source: ObjectSource = {
    start: () => Promise.resolve(),
    snapshot: (): Snapshot => ({
      revision,
      objects: new Map([...objects].map(([k, v]) => [k, new Map(v)])),
    }),
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    close() {
      closed = true;
      return Promise.resolve();
    },
  };
  return {
    source,
    isClosed: () => closed,
    apply(o: KubeObject) {
      put(o);
      revision++;
      for (const l of listeners) l(new Set([o.kind as ReadKind]));
    },
    remove(kind: ReadKind, key: string) {
      objects.get(kind)?.delete(key);
      revision++;
      for (const l of listeners) l(new Set([kind]));
    },
  };
}

function service(ns: string, name: string, annotations: Record<string, string> = {}): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { namespace: ns, name, annotations },
    spec: { type: "LoadBalancer", ports: [{ port: 80 }] },
  };
}

function ingressOf(snap: Snapshot, key: string): string[] | undefined {
  const svc = snap.objects.get("Service")?.get(key) as
    | { status?: { loadBalancer?: { ingress?: { ip: string }[] } } }
    | undefined;
  return svc?.status?.loadBalancer?.ingress?.map((e) => e.ip);
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("writes show up in the snapshot, survive a restart and need 0 writes after", () =>
  withDir(async (dir) => {
    const mem = memorySource([service("ns", "web", { "user/keep": "yes" }), service("ns", "db")]);
    const store = openStateStore(dir, { logger: silentLogger });
    const src = createOverlaySource(mem.source, store, { logger: silentLogger });
    await src.start();
    const seen: string[][] = [];
    src.subscribe((kinds) => seen.push([...kinds]));
    const rev0 = src.snapshot().revision;

    await src.setServiceIngress("ns", "web", [{ ip: "192.0.2.10" }, { ip: "2001:db8::10" }]);
    await src.patchServiceAnnotations("ns", "web", {
      "metallb.io/ip-allocated-from-pool": "default",
    });
    await Promise.resolve(); // notifications are delivered like watch events, after the write
    const snap = src.snapshot();
    assert.ok(snap.revision > rev0);
    assert.deepEqual(ingressOf(snap, "ns/web"), ["192.0.2.10", "2001:db8::10"]);
    assert.deepEqual(snap.objects.get("Service")!.get("ns/web")!.metadata.annotations, {
      "user/keep": "yes",
      "metallb.io/ip-allocated-from-pool": "default",
    });
    assert.equal(ingressOf(snap, "ns/db"), undefined);
    assert.deepEqual(seen, [["Service"], ["Service"]]);
    // The inner source's own objects were not mutated.
    assert.equal(ingressOf(mem.source.snapshot(), "ns/web"), undefined);
    assert.equal(src.writes(), 2);
    await src.close();
    assert.ok(mem.isClosed());

    // Restart: a new process reads the same directory and sees its assignment as before.
    const mem2 = memorySource([service("ns", "web", { "user/keep": "yes" }), service("ns", "db")]);
    const src2 = createOverlaySource(
      mem2.source,
      openStateStore(dir, { logger: silentLogger }),
      { logger: silentLogger },
    );
    await src2.start();
    assert.deepEqual(ingressOf(src2.snapshot(), "ns/web"), ["192.0.2.10", "2001:db8::10"]);
    assert.equal(src2.writes(), 0);
    await src2.close();
  }));

Deno.test("a Service gone from the manifests keeps its state until released with []", () =>
  withDir(async (dir) => {
    const mem = memorySource([service("ns", "web")]);
    const store = openStateStore(dir, { logger: silentLogger });
    const src = createOverlaySource(mem.source, store, { logger: silentLogger });
    await src.start();
    const changes: string[][] = [];
    src.subscribe((k) => changes.push([...k]));
    await src.setServiceIngress("ns", "web", [{ ip: "192.0.2.10" }]);
    mem.remove("Service", "ns/web");
    assert.equal(src.snapshot().objects.get("Service")!.has("ns/web"), false);
    assert.deepEqual(src.serviceStates().get("ns/web")?.ingress, ["192.0.2.10"]);
    assert.deepEqual(openStateStore(dir, { logger: silentLogger }).load().services["ns/web"], {
      ingress: ["192.0.2.10"],
      annotations: {},
    });
    // Inner changes are forwarded to subscribers.
    assert.ok(changes.some((c) => c.includes("Service")));

    // Coming back before release: the assignment is still there.
    mem.apply(service("ns", "web"));
    assert.deepEqual(ingressOf(src.snapshot(), "ns/web"), ["192.0.2.10"]);

    await src.setServiceIngress("ns", "web", []);
    assert.equal(src.serviceStates().has("ns/web"), false);
    assert.equal(
      openStateStore(dir, { logger: silentLogger }).load().services["ns/web"],
      undefined,
    );
    await src.close();
  }));

Deno.test("identical writes are counted but do not touch the disk", () =>
  withDir(async (dir) => {
    const inner = openStateStore(dir, { logger: silentLogger });
    let saves = 0;
    const counting: StateStore = {
      load: () => inner.load(),
      generation: () => inner.generation(),
      save: (d: StateData) => {
        saves++;
        return inner.save(d);
      },
    };
    const src = createOverlaySource(memorySource([]).source, counting, { logger: silentLogger });
    await src.setServiceIngress("ns", "a", [{ ip: "192.0.2.1" }]);
    await src.setServiceIngress("ns", "a", [{ ip: "192.0.2.1" }]);
    await src.patchServiceAnnotations("ns", "a", { x: null });
    assert.equal(saves, 1);
    assert.equal(src.writes(), 3);
    assert.deepEqual(src.writeCounts(), { setServiceIngress: 2, patchServiceAnnotations: 1 });
  }));

Deno.test("a failed save is reported and undone, so the retry persists", () =>
  withDir(async (dir) => {
    const inner = openStateStore(dir, { logger: silentLogger });
    let fail = true;
    const flaky: StateStore = {
      load: () => inner.load(),
      generation: () => inner.generation(),
      save: (d) => fail ? Promise.reject(new Error("disk full")) : inner.save(d),
    };
    const src = createOverlaySource(memorySource([service("ns", "a")]).source, flaky, {
      logger: silentLogger,
    });
    await src.start();
    await assert.rejects(
      () => src.setServiceIngress("ns", "a", [{ ip: "192.0.2.1" }]),
      /disk full/,
    );
    assert.equal(ingressOf(src.snapshot(), "ns/a"), undefined);
    fail = false;
    await src.setServiceIngress("ns", "a", [{ ip: "192.0.2.1" }]);
    assert.deepEqual(openStateStore(dir, { logger: silentLogger }).load().services["ns/a"], {
      ingress: ["192.0.2.1"],
      annotations: {},
    });
  }));

Deno.test("events ring keeps the last 200; status objects are kept for /status", () =>
  withDir(async (dir) => {
    const src = createOverlaySource(
      memorySource([]).source,
      openStateStore(dir, { logger: silentLogger }),
      { logger: silentLogger },
    );
    for (let i = 0; i < EVENT_RING_SIZE + 5; i++) {
      await src.recordEvent({
        involved: { kind: "Service", namespace: "ns", name: `s${i}` },
        type: "Normal",
        reason: "IPAllocated",
        message: `Assigned IP ["192.0.2.${i % 250}"]`,
        component: "metallb-controller",
      });
    }
    const ev = src.events();
    assert.equal(ev.length, EVENT_RING_SIZE);
    assert.equal(ev[0].involved.name, "s5");
    assert.equal(ev.at(-1)!.involved.name, `s${EVENT_RING_SIZE + 4}`);

    await src.setPoolStatus("metallb-system", "default", { assignedIPv4: 1, availableIPv4: 254 });
    await src.setConfigurationState("metallb-system", "controller", { result: "Valid" });
    const bgp: KubeObject = {
      apiVersion: "metallb.io/v1beta1",
      kind: "ServiceBGPStatus",
      metadata: { namespace: "metallb-system", name: "web-n1" },
      status: { node: "n1", serviceName: "web", serviceNamespace: "ns", peers: ["p1"] },
    };
    await src.setServiceBGPStatus("metallb-system", "web-n1", bgp);
    assert.deepEqual(src.poolStatus().get("metallb-system/default"), {
      assignedIPv4: 1,
      availableIPv4: 254,
    });
    assert.deepEqual(src.configurationStates().get("metallb-system/controller"), {
      result: "Valid",
    });
    assert.deepEqual(src.serviceBGPStatuses().get("metallb-system/web-n1"), bgp);
    await src.setServiceBGPStatus("metallb-system", "web-n1", null);
    assert.equal(src.serviceBGPStatuses().size, 0);
    // The speaker's status as its parts (file mode's path) reads back as the usual object.
    const parts = { node: "n1", serviceName: "web", serviceNamespace: "ns", peers: ["p1", "p2"] };
    await src.setServiceBGPStatusParts!("metallb-system", "web-n1", parts);
    assert.deepEqual(src.serviceBGPStatuses().get("metallb-system/web-n1"), {
      apiVersion: "metallb.io/v1beta1",
      kind: "ServiceBGPStatus",
      metadata: {
        name: "web-n1",
        namespace: "metallb-system",
        labels: {
          "metallb.io/node": "n1",
          "metallb.io/service-name": "web",
          "metallb.io/service-namespace": "ns",
        },
      },
      status: parts,
    });
    await src.setServiceBGPStatus("metallb-system", "web-n1", null);
    assert.equal(src.serviceBGPStatuses().size, 0);
    // Events and in-memory statuses do not go to disk.
    assert.deepEqual(openStateStore(dir, { logger: silentLogger }).load(), {
      version: 1,
      services: {},
    });
  }));

Deno.test("unreadable state refuses to start instead of handing out addresses again", () =>
  withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/state.json`, "{trunc");
    assert.throws(
      () =>
        createOverlaySource(
          memorySource([]).source,
          openStateStore(dir, { logger: silentLogger }),
          {
            logger: silentLogger,
          },
        ),
      /no readable state/,
    );
  }));

/** The fields a reader of a Service object reads, as one plain object. */
function fieldsOf(o: KubeObject): Record<string, unknown> {
  return {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: o.metadata,
    spec: o.spec,
    status: o.status,
  };
}

Deno.test("an unchanged Service with unchanged state stays the same object across changes", () =>
  withDir(async (dir) => {
    const plain = (name: string): KubeObject => ({
      apiVersion: "v1",
      kind: "Service",
      metadata: { namespace: "ns", name },
      spec: { type: "LoadBalancer" },
    });
    const web = plain("web");
    const own = service("ns", "own", { "user/keep": "yes" });
    const mem = memorySource([web, own, plain("db")]);
    const src = createOverlaySource(mem.source, openStateStore(dir, { logger: silentLogger }), {
      logger: silentLogger,
    });
    await src.start();
    await src.writeServices([
      { namespace: "ns", name: "web", ingress: [{ ip: "192.0.2.1" }], annotations: { a: "1" } },
      { namespace: "ns", name: "own", ingress: [{ ip: "192.0.2.2" }], annotations: { a: "1" } },
    ]);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/state.json`));
    assert.deepEqual(saved.data.services["ns/web"], {
      ingress: ["192.0.2.1"],
      annotations: { a: "1" },
    });
    assert.deepEqual(Object.keys(saved.data.services["ns/own"]), ["ingress", "annotations"]);
    const before = src.snapshot().objects.get("Service")!;
    const want = {
      ...web,
      metadata: { namespace: "ns", name: "web", annotations: { a: "1" } },
      status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] } },
    };
    // Field by field and as JSON: what readers and the state's users see.
    assert.deepEqual(fieldsOf(before.get("ns/web")!), want);
    assert.deepEqual(JSON.parse(JSON.stringify(before.get("ns/web"))), want);
    // The manifests change elsewhere: web and own keep their objects.
    mem.apply(plain("api"));
    const after = src.snapshot().objects.get("Service")!;
    assert.notEqual(after, before);
    assert.equal(after.get("ns/web"), before.get("ns/web"));
    assert.equal(after.get("ns/own"), before.get("ns/own"));
    // Its state changes: a new object, with the new state.
    await src.writeServices([{ namespace: "ns", name: "web", ingress: [{ ip: "192.0.2.3" }] }]);
    const third = src.snapshot();
    assert.notEqual(third.objects.get("Service")!.get("ns/web"), before.get("ns/web"));
    assert.deepEqual(ingressOf(third, "ns/web"), ["192.0.2.3"]);
    assert.equal(third.objects.get("Service")!.get("ns/own"), before.get("ns/own"));
    // Its manifest changes (same content, new object): laid over again.
    mem.apply(plain("web"));
    const fourth = src.snapshot().objects.get("Service")!;
    assert.notEqual(fourth.get("ns/web"), third.objects.get("Service")!.get("ns/web"));
    assert.deepEqual(ingressOf(src.snapshot(), "ns/web"), ["192.0.2.3"]);
    await src.close();
  }));
