import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { eventually } from "../tests/fake_apiserver/testing.ts";
import { createLeaderElector, type LeaderElector, nextLeaseSpec } from "./lease.ts";

const NS = "metallb-system";

function elector(kc: k8s.KubeConfig, identity: string): LeaderElector {
  return createLeaderElector(kc, {
    namespace: NS,
    name: "ferrolb-controller",
    identity,
    leaseDurationMs: 2000,
    renewMs: 1500,
    retryMs: 50,
  });
}

Deno.test("lease: exactly one leader; after it stops the other takes over", async () => {
  const server = await startFakeApiServer();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  const a = elector(kc, "pod-a");
  const b = elector(kc, "pod-b");
  const changes: string[] = [];
  a.on("change", (l) => changes.push(`a:${l}`));
  b.on("change", (l) => changes.push(`b:${l}`));
  try {
    await Promise.all([a.start(), b.start()]);
    await eventually("a leader", () => a.isLeader() || b.isLeader());
    // Give both many rounds; there must never be two leaders.
    for (let i = 0; i < 20; i++) {
      assert.ok(!(a.isLeader() && b.isLeader()), "two leaders");
      await new Promise((r) => setTimeout(r, 20));
    }
    const [leader, follower, followerName] = a.isLeader() ? [a, b, "pod-b"] : [b, a, "pod-a"];
    const lease = server.objects.get("leases.coordination.k8s.io", NS, "ferrolb-controller")!;
    assert.equal(
      (lease.spec as { holderIdentity: string }).holderIdentity,
      a.isLeader() ? "pod-a" : "pod-b",
    );
    await leader.stop();
    assert.equal(leader.isLeader(), false);
    await eventually("follower takes over", () => follower.isLeader());
    const after = server.objects.get("leases.coordination.k8s.io", NS, "ferrolb-controller")!;
    const spec = after.spec as { holderIdentity: string; leaseTransitions: number };
    assert.equal(spec.holderIdentity, followerName);
    assert.ok(spec.leaseTransitions >= 1);
    const leaderName = followerName === "pod-a" ? "b" : "a";
    const followerShort = followerName === "pod-a" ? "a" : "b";
    assert.deepEqual(
      [leaderName, followerShort].map((who) => changes.filter((c) => c.startsWith(who)).at(-1)),
      [`${leaderName}:false`, `${followerShort}:true`],
    );
  } finally {
    await a.stop();
    await b.stop();
    await server.close();
  }
});

Deno.test("lease: a lease held by a live holder is respected until it stops renewing", async () => {
  const server = await startFakeApiServer();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  const now = () => new Date().toISOString();
  const ghost = () =>
    server.objects.put("leases.coordination.k8s.io", {
      metadata: { name: "ferrolb-controller", namespace: NS },
      spec: {
        holderIdentity: "ghost",
        leaseDurationSeconds: 1,
        renewTime: now(),
        acquireTime: now(),
      },
    });
  ghost();
  const b = elector(kc, "pod-b");
  let renewing = true;
  const renewer = (async () => {
    while (renewing) {
      ghost();
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    await b.start();
    for (let i = 0; i < 10; i++) {
      assert.equal(b.isLeader(), false, "must not steal a lease that is being renewed");
      await new Promise((r) => setTimeout(r, 50));
    }
    renewing = false;
    await renewer;
    await eventually("takes over an expired lease", () => b.isLeader());
  } finally {
    renewing = false;
    await b.stop();
    await server.close();
  }
});

Deno.test("nextLeaseSpec: a live holder is respected until its lease runs out on our clock", () => {
  const seen = { key: "", at: 0 };
  const theirs = {
    holderIdentity: "b",
    leaseDurationSeconds: 15,
    renewTime: "2020-01-01T00:00:00.000000Z", // their clock is irrelevant
    leaseTransitions: 3,
  };
  const me = { identity: "a", leaseSeconds: 15 };
  assert.equal(nextLeaseSpec(theirs, { ...me, now: 1_000 }, seen), undefined);
  assert.equal(nextLeaseSpec(theirs, { ...me, now: 15_999 }, seen), undefined, "still valid");
  const taken = nextLeaseSpec(theirs, { ...me, now: 16_001 }, seen);
  assert.equal(taken?.holderIdentity, "a");
  assert.equal(taken?.leaseTransitions, 4, "a change of holder is a transition");
  // Our own renewal keeps acquireTime and the transition count.
  const renewed = nextLeaseSpec(taken!, { ...me, now: 18_000 }, seen);
  assert.equal(renewed?.acquireTime, taken?.acquireTime);
  assert.equal(renewed?.leaseTransitions, 4);
  assert.notEqual(renewed?.renewTime, taken?.renewTime);
  // A released lease (no holder) is free at once.
  assert.equal(
    nextLeaseSpec({ holderIdentity: "" }, { ...me, now: 18_001 }, seen)?.holderIdentity,
    "a",
  );
});

Deno.test("lease: stop() right after start() releases a Lease the first tick took", async () => {
  const server = await startFakeApiServer();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  const a = elector(kc, "pod-a");
  try {
    const started = a.start();
    // The first tick is in flight: it creates the Lease, but the candidate is stopping.
    await a.stop();
    await started;
    const lease = server.objects.get("leases.coordination.k8s.io", NS, "ferrolb-controller");
    const holder = (lease?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    assert.notEqual(holder, "pod-a", "the stopped candidate still holds the Lease");
    assert.equal(a.isLeader(), false);
  } finally {
    await server.close();
  }
});
