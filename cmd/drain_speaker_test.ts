/**
 * The real `ferrolb speaker` (the task's permission flags) against the fake API server and a
 * collector: `--graceful-shutdown-seconds` drains at SIGTERM, cordon drains and uncordon
 * brings the routes back, and path-control annotations reach the peer.
 */
import assert from "node:assert/strict";
import { startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { type FerrolbProcess, spawnFerrolb } from "../tests/e2e_helpers.ts";
import type { KubeObject } from "../cluster/types.ts";
import type { CollectedRoute } from "../bgp/mod.ts";
import {
  advObject,
  nodeObject,
  peerObject,
  poolObject,
  serviceObject,
  sliceObject,
  startTestCollector,
} from "../tests/speaker/testing.ts";

const PREFIX = "192.0.2.10/32";

Deno.test({
  name:
    "ferrolb speaker --graceful-shutdown-seconds=2: cordon and SIGTERM send 65535:0, then withdraw",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startFakeApiServer();
    const collector = await startTestCollector({ asn: 64501, routerId: "10.255.0.1" });
    const root = await Deno.makeTempDir({ prefix: "ferrolb-drain-" });
    await Deno.copyFile(server.kubeconfigPath, `${root}/kubeconfig`);
    const put = (resource: string, obj: KubeObject) => server.objects.put(resource, obj as never);
    // Every change the collector sees for the prefix, stamped.
    const seen: { at: number; route?: CollectedRoute; up: boolean }[] = [];
    collector.onChange(() => {
      const route = collector.routes().flatMap((p) => p.routes).find((r) => r.prefix === PREFIX);
      const last = seen.at(-1);
      if (JSON.stringify(last?.route) !== JSON.stringify(route)) {
        // `up`: the session was still Established, so a disappearance is a withdraw, not
        // the session closing.
        const up = collector.peers().some((x) => x.state === "Established");
        seen.push({ at: performance.now(), route, up });
      }
    });
    const marked = (r?: CollectedRoute) => r?.communities.includes("65535:0") === true;
    let proc: FerrolbProcess | undefined;
    try {
      put("ipaddresspools.metallb.io", poolObject("pool-a", ["192.0.2.0/26"]));
      const ad = advObject("all", { communities: ["64500:7"] });
      ad.metadata.annotations = { "ferrolb.io/med": "300", "ferrolb.io/as-path-prepend": "2" };
      put("bgpadvertisements.metallb.io", ad);
      put(
        "bgppeers.metallb.io",
        peerObject("router1", {
          myASN: 64500,
          peerASN: 64501,
          peerAddress: "127.0.0.1",
          peerPort: collector.addr.port,
        }),
      );
      put("nodes", nodeObject("n1", { internalIP: "10.0.0.11" }));
      put("services", serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
      put("endpointslices.discovery.k8s.io", sliceObject("web", [{ node: "n1" }]));
      proc = spawnFerrolb([
        "speaker",
        "--kubeconfig",
        "kubeconfig",
        "--node-name",
        "n1",
        "--admin-addr",
        "127.0.0.1:0",
        "--graceful-shutdown-seconds=2",
      ], { cwd: root });
      const p = proc;
      const current = () => seen.at(-1)?.route;
      await collector.waitFor(() => current() !== undefined, { timeoutMs: 30_000 });
      assert.equal(current()!.med, 300);
      assert.deepEqual(current()!.asPath, [64500, 64500, 64500]);
      assert.deepEqual(current()!.communities, ["64500:7"]);

      // Cordon: marked, withdrawn 2 s later; uncordon: back, unmarked.
      const from = seen.length;
      const cordoned = nodeObject("n1", { internalIP: "10.0.0.11" });
      (cordoned as { spec?: unknown }).spec = { unschedulable: true };
      put("nodes", cordoned);
      await collector.waitFor(
        () => seen.slice(from).some((s) => marked(s.route)) && current() === undefined,
        { timeoutMs: 30_000 },
      );
      const mark = seen.slice(from).find((s) => marked(s.route))!;
      const gone = seen.slice(from).find((s) => s.route === undefined)!;
      assert.ok(mark.at < gone.at);
      assert.equal(gone.up, true, "withdrawn, session kept");
      console.log(`cordon: 65535:0 -> withdraw ${(gone.at - mark.at).toFixed(0)} ms (grace 2000)`);
      assert.ok(gone.at - mark.at >= 1900, `${gone.at - mark.at} ms`);
      put("nodes", nodeObject("n1", { internalIP: "10.0.0.11" }));
      await collector.waitFor(() => current() !== undefined && !marked(current()), {
        timeoutMs: 30_000,
      });

      // SIGTERM: marked, 2 s, withdrawn, Cease; the process ends within 2 + 2 s.
      const before = seen.length;
      const t0 = performance.now();
      const st = await p.stop("SIGTERM");
      const took = performance.now() - t0;
      assert.equal(st.code, 0, p.tail());
      const m2 = seen.slice(before).find((s) => marked(s.route));
      const g2 = seen.slice(before).find((s) => s.route === undefined);
      assert.ok(m2 && g2 && m2.at < g2.at, JSON.stringify(seen.slice(before)));
      console.log(
        `SIGTERM: 65535:0 -> withdraw ${(g2.at - m2.at).toFixed(0)} ms; exit after ${
          took.toFixed(0)
        } ms`,
      );
      assert.ok(g2.at - m2.at >= 1900);
      assert.equal(g2.up, true, "withdrawn in an UPDATE before the Cease");
      const ended = collector.peers().find((x) => x.state === "Closed");
      assert.equal(ended?.lastNotification?.code, 6, "Cease after the withdraw");
    } finally {
      await proc?.stop("SIGKILL").catch(() => {});
      await collector.close();
      await server.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
