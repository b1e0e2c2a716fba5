/**
 * End to end, as a user runs it: the ferrolb binary (`ferrolb all`) on a directory of
 * manifests, peering with a collector on loopback. Adds, deletes and breaks files while it
 * runs, restarts it, and checks what the router and `/status` see.
 */
import assert from "node:assert/strict";
import { startCollector } from "../bgp/mod.ts";
import {
  fileModeScenario,
  onFreeBgpPort,
  pollUntil,
  REPO_ROOT,
  runFerrolb,
  type ScenarioRouter,
} from "./e2e_helpers.ts";

const COLLECTOR_ASN = 65001;

Deno.test({
  name: "e2e: ferrolb all on a directory announces to a collector, follows edits, survives restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const collector = await onFreeBgpPort((port) =>
      startCollector({ listen: `127.0.0.1:${port}`, asn: COLLECTOR_ASN, routerId: "127.0.0.2" })
    );
    const live = () => collector.peers().find((p) => p.state === "Established");
    const router: ScenarioRouter = {
      peer: { peerAddress: "127.0.0.1", peerASN: COLLECTOR_ASN, peerPort: collector.addr.port },
      label: `127.0.0.1:${collector.addr.port}`,
      nextHop: "127.0.0.1",
      routes: () => Promise.resolve(collector.routes().flatMap((p) => p.routes)),
      session: () =>
        Promise.resolve(live() ? `${live()!.peer}@${live()!.establishedAt}` : undefined),
      async checkStopped() {
        const ended = await pollUntil(
          () => collector.peers().find((p) => p.closedAt !== undefined),
          { what: "the collector to see the session end" },
        );
        assert.equal(ended.lastNotification?.direction, "received");
        // Cease (6), not a dropped connection: the peer withdraws at once.
        assert.equal(ended.lastNotification?.code, 6, JSON.stringify(ended));
      },
    };
    try {
      await fileModeScenario(t, router);
    } finally {
      await collector.close();
    }
  },
});

Deno.test({
  name: "e2e: `ferrolb demo examples/quickstart --exit-when-converged` prints the route",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "ferrolb-demo-" });
    try {
      const out = await runFerrolb(
        [
          "demo",
          `${REPO_ROOT}/examples/quickstart`,
          "--exit-when-converged",
          "--admin-addr",
          "127.0.0.1:0",
        ],
        { cwd: root },
      );
      assert.equal(out.code, 0, `${out.stdout}\n${out.stderr}`);
      assert.match(out.stdout, /default\/example-service\s+172\.19\.0\.\d+\s+pool example-pool/);
      assert.match(out.stdout, /172\.19\.0\.\d+\/32\s+127\.0\.0\.1\s+64512/);
      assert.match(out.stdout, /converged/);
      // The throwaway state directory is gone.
      assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), []);
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
