import assert from "node:assert/strict";
import type { ServiceAnnouncement } from "./announce_types.ts";
import {
  changedDecisions,
  serviceBGPStatusName,
  statusNameBase,
  statusNameHash,
  statusNameOfTag,
  statusNameTag,
} from "./status_objects.ts";
import { sha256Hex } from "./short_hash.ts";

const decision = (namespace: string, name: string): ServiceAnnouncement => ({
  namespace,
  name,
  ips: [],
  peers: [],
});

Deno.test("changedDecisions: new, changed and gone Services, in one walk of sorted lists", () => {
  const a = decision("a", "x"), b = decision("b", "x"), c = decision("b", "y");
  const d = decision("c", "z");
  const b2 = decision("b", "x");
  const e = decision("a", "w");
  const got = [...changedDecisions([a, b, c, d], [e, a, b2, d])];
  assert.deepEqual(got, [["a/w", e], ["b/x", b2], ["b/y", undefined]]);
  assert.deepEqual([...changedDecisions([a, b], [a, b])], []);
  assert.deepEqual([...changedDecisions([], [a])], [["a/x", a]]);
  assert.deepEqual([...changedDecisions([a, d], [])], [["a/x", undefined], ["c/z", undefined]]);
});

Deno.test("changedDecisions: a decision's key is the planner's string when it gives one", () => {
  const a = { ...decision("a", "x"), key: "planner's a/x" };
  const b = decision("b", "y");
  assert.deepEqual([...changedDecisions([], [a, b])], [["planner's a/x", a], ["b/y", b]]);
  assert.deepEqual([...changedDecisions([a], [])], [["planner's a/x", undefined]]);
});

Deno.test("a ServiceBGPStatus name is the readable part and 10 hex digits of the SHA-256", () => {
  const cases = [
    ["default", "web", "node-1"],
    ["ns", "A_b", "n.2"],
    ["ns", "web", "n1."],
    ["ns", "x".repeat(250), "n1"],
    ["ns", "café", "n1"],
  ];
  for (const [namespace, service, node] of cases) {
    const base = `${service}-${node}`.toLowerCase().replace(/[^a-z0-9.-]/g, "-").slice(0, 200)
      .replace(/[.-]+$/, "");
    assert.equal(statusNameBase(service, node), base);
    const hash = sha256Hex(`${namespace}/${service}/${node}`, 10);
    assert.equal(serviceBGPStatusName(namespace, service, node), `${base}-${hash}`);
    assert.equal(statusNameHash(namespace, service, node), parseInt(hash, 16));
  }
});

Deno.test("a ServiceBGPStatus name we give is a number made into the same name again", () => {
  for (const [service, node] of [["web", "node-1"], ["A_b", "n.2"], ["x", "y"]]) {
    const name = serviceBGPStatusName("default", service, node);
    const base = statusNameBase(service, node);
    const tag = statusNameTag(name, base);
    assert.ok(tag >= 0);
    assert.equal(statusNameOfTag(base, tag), name);
  }
  // Leading zeros of the hash are kept.
  assert.equal(statusNameTag("web-n1-000000000a", "web-n1"), 10);
  assert.equal(statusNameOfTag("web-n1", 10), "web-n1-000000000a");
  // Other names are not numbers: another base, other digits, uppercase, another length.
  for (const other of ["web-n2-000000000a", "web-n1-00000000ag", "web-n1-000000000A", "web-n1-a"]) {
    assert.equal(statusNameTag(other, "web-n1"), -1);
  }
  assert.equal(statusNameTag("web-n1x000000000a", "web-n1"), -1);
});
