/**
 * `ferrolb all --config-dir` drains too: at SIGTERM the routes go out again with
 * GRACEFUL_SHUTDOWN (65535:0), then are withdrawn while the session is still up, then Cease.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  advertisementYaml,
  type FerrolbProcess,
  peerYaml,
  poolYaml,
  serviceYaml,
  spawnFerrolb,
} from "../tests/e2e_helpers.ts";
import type { CollectedRoute } from "../bgp/mod.ts";
import { startTestCollector } from "../tests/speaker/testing.ts";

Deno.test({
  name: "ferrolb all on a directory: SIGTERM sends 65535:0, waits the grace period, withdraws",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const collector = await startTestCollector({ asn: 64501, routerId: "10.255.0.1" });
    const root = await Deno.makeTempDir({ prefix: "ferrolb-drain-file-" });
    const config = join(root, "config");
    await Deno.mkdir(config);
    const seen: { at: number; route?: CollectedRoute; up: boolean }[] = [];
    collector.onChange(() => {
      const route = collector.routes().flatMap((p) => p.routes)[0];
      if (JSON.stringify(seen.at(-1)?.route) !== JSON.stringify(route)) {
        const up = collector.peers().some((x) => x.state === "Established");
        seen.push({ at: performance.now(), route, up });
      }
    });
    const marked = (r?: CollectedRoute) => r?.communities.includes("65535:0") === true;
    let proc: FerrolbProcess | undefined;
    try {
      await Deno.writeTextFile(join(config, "pool.yaml"), poolYaml("pool-a", ["192.0.2.0/28"]));
      await Deno.writeTextFile(join(config, "ad.yaml"), advertisementYaml("ad", ["pool-a"]));
      await Deno.writeTextFile(
        join(config, "peer.yaml"),
        peerYaml("router1", {
          myASN: 64500,
          peerASN: 64501,
          peerAddress: "127.0.0.1",
          peerPort: collector.addr.port,
        }),
      );
      await Deno.writeTextFile(join(config, "svc.yaml"), serviceYaml("web"));
      proc = spawnFerrolb([
        "all",
        "--config-dir",
        config,
        "--state-dir",
        join(root, "state"),
        "--node-name",
        "n1",
        "--admin-addr",
        "127.0.0.1:0",
        "--graceful-shutdown-seconds=2",
      ], { cwd: root });
      await collector.waitFor(() => seen.at(-1)?.route !== undefined, { timeoutMs: 60_000 });
      assert.equal(marked(seen.at(-1)?.route), false, "not marked while running");

      const before = seen.length;
      const st = await proc.stop("SIGTERM");
      assert.equal(st.code, 0, proc.tail());
      const mark = seen.slice(before).find((s) => marked(s.route));
      const gone = seen.slice(before).find((s) => s.route === undefined);
      assert.ok(mark && gone && mark.at < gone.at, JSON.stringify(seen.slice(before)));
      assert.ok(gone.at - mark.at >= 1900, `grace ${gone.at - mark.at} ms`);
      assert.equal(gone.up, true, "withdrawn in an UPDATE before the Cease");
      const ended = collector.peers().find((x) => x.state === "Closed");
      assert.equal(ended?.lastNotification?.code, 6, "Cease after the withdraw");
    } finally {
      await proc?.stop("SIGKILL").catch(() => {});
      await collector.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
