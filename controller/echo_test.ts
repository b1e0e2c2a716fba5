import assert from "node:assert/strict";
import { freezeShared, newShared } from "../cluster/freeze_shared.ts";
import { asManifestService } from "../cluster/manifest_service.ts";
import { SavedState } from "../cluster/service_view.ts";
import type { KubeObject } from "../cluster/types.ts";
import { isOwnEcho } from "./echo.ts";
import { POOL_ANNOTATIONS } from "./service_writes.ts";
import type { ControllerState } from "./state.ts";

const KEY = "shop/web";

/** What isOwnEcho reads of the controller: `web` settled on 192.0.2.1 from pool `a`. */
function settled(): ControllerState {
  return {
    pending: new Map(),
    kept: new Set(),
    cleared: new Map(),
    allocator: {
      poolOf: (key: string) => key === KEY ? "a" : undefined,
      ipsOf: (key: string) => key === KEY ? ["192.0.2.1"] : undefined,
    },
  } as unknown as ControllerState;
}

/** A manifest Service `web`, frozen as the publisher leaves it. */
function manifest(app = "web"): KubeObject {
  const o = asManifestService({
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "shop" },
    spec: { type: "LoadBalancer", selector: { app }, ports: [{ protocol: "TCP", port: 80 }] },
  });
  freezeShared(o, newShared());
  return o;
}

/** The state the controller writes for `web`'s assignment (or `ips` instead). */
function written(ips = ["192.0.2.1"]): SavedState {
  const annotations = Object.fromEntries(POOL_ANNOTATIONS.map((k) => [k, "a"]));
  return new SavedState(ips, annotations);
}

Deno.test("echo: our writes laid over the same manifest Service come back as an echo", () => {
  const s = settled();
  const m = manifest();
  const first = written().over(m);
  // Spec and metadata are made when read: equal, not the same objects.
  assert.notEqual(first.spec, m.spec);
  assert.ok(isOwnEcho(s, KEY, { prev: m, next: first }), "first write over the manifest");
  const again = written().over(m);
  assert.notEqual(again, first);
  assert.ok(isOwnEcho(s, KEY, { prev: first, next: again }), "a later write over it");
});

Deno.test("echo: a real edit or other addresses are not an echo", () => {
  const s = settled();
  const m = manifest();
  const first = written().over(m);
  const edited = written().over(manifest("shop"));
  assert.ok(!isOwnEcho(s, KEY, { prev: first, next: edited }), "the spec changed");
  const moved = written(["192.0.2.9"]).over(m);
  assert.ok(!isOwnEcho(s, KEY, { prev: first, next: moved }), "other addresses shown");
  const pending = settled();
  pending.pending.set(KEY, {} as never);
  assert.ok(!isOwnEcho(pending, KEY, { prev: m, next: written().over(m) }), "still pending");
});

Deno.test("echo: plain objects compare their spec and labels by identity", () => {
  const s = settled();
  const spec = { type: "LoadBalancer", ports: [{ port: 80 }] };
  const plain: KubeObject = {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "shop", labels: { a: "b" } },
    spec,
  };
  assert.ok(isOwnEcho(s, KEY, { prev: plain, next: written().over(plain) }));
  const copy = { ...plain, spec: structuredClone(spec) };
  assert.ok(!isOwnEcho(s, KEY, { prev: plain, next: written().over(copy) }), "new spec");
});
