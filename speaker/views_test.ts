import assert from "node:assert/strict";
import { createLogger } from "../api/log.ts";
import type { KubeObject, ReadKind, Snapshot } from "../cluster/types.ts";
import { sliceObject } from "../tests/speaker/testing.ts";
import { SnapshotViews } from "./views.ts";

function snapshot(slices: KubeObject[]): Snapshot {
  const byKey = new Map(slices.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));
  return {
    revision: 1,
    objects: new Map<ReadKind, Map<string, KubeObject>>([["EndpointSlice", byKey]]),
  };
}

function run(views: SnapshotViews, snap: Snapshot): void {
  const g = views.refresh(snap, new Set<ReadKind>(["EndpointSlice"]));
  while (!g.next().done) { /* drive to the end */ }
}

Deno.test("slice views: each object parsed once, kept when the order moves, bad ones left out", () => {
  const lines: string[] = [];
  const views = new SnapshotViews(createLogger({ write: (l) => void lines.push(l) }));
  const [a, b, c, d] = ["a", "b", "c", "d"].map((s) => sliceObject(s, [{ node: "n1" }]));
  const bad = { ...sliceObject("bad", []), endpoints: "nope" } as unknown as KubeObject;
  run(views, snapshot([a, bad, b]));
  const first = views.slices!;
  assert.deepEqual(first.map((v) => v.serviceName), ["a", "b"]);
  assert.equal(lines.length, 1, "the unparsable slice is logged");
  run(views, snapshot([a, bad, b]));
  assert.equal(views.slices![0], first[0]);
  assert.equal(views.slices![1], first[1]);
  // Moved, dropped and new objects: the known ones keep their views.
  run(views, snapshot([c, b, bad, d, a]));
  const now = views.slices!;
  assert.deepEqual(now.map((v) => v.serviceName), ["c", "b", "d", "a"]);
  assert.equal(now[1], first[1]);
  assert.equal(now[3], first[0]);
  assert.equal(lines.length, 1, "still logged once");
  run(views, snapshot([]));
  assert.deepEqual(views.slices, []);
});
