/**
 * End to end, as a user runs it: the ferrolb binary (`ferrolb all`) on a directory of
 * manifests, peering with a collector on loopback. Adds, deletes and breaks files while it
 * runs, restarts it, and checks what the router and `/status` see.
 */
import assert from "node:assert/strict";
import { type CollectedRoute, type Collector, startCollector } from "../bgp/mod.ts";
import {
  adminGet,
  advertisementYaml,
  type FerrolbProcess,
  fetchStatus,
  onFreeBgpPort,
  peerYaml,
  pollUntil,
  poolYaml,
  REPO_ROOT,
  runFerrolb,
  serviceIn,
  serviceYaml,
  spawnFerrolb,
  writeAtomically,
} from "./e2e_helpers.ts";

const MY_ASN = 64512;
const COLLECTOR_ASN = 65001;
const POOL = "e2e-pool";
const POOL_CIDR = "198.51.100.0/28";
const COMMUNITY = "64512:7";

function routeFor(collector: Collector, ip: string): CollectedRoute | undefined {
  for (const p of collector.routes()) {
    const r = p.routes.find((r) => r.prefix === `${ip}/32`);
    if (r) return r;
  }
  return undefined;
}

function allPrefixes(collector: Collector): string[] {
  return collector.routes().flatMap((p) => p.routes.map((r) => r.prefix)).sort();
}

Deno.test({
  name: "e2e: ferrolb all on a directory announces to a collector, follows edits, survives restart",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const root = await Deno.makeTempDir({ prefix: "ferrolb-e2e-" });
    const configDir = `${root}/config`;
    const stateDir = `${root}/state`;
    await Deno.mkdir(configDir);
    const collector = await onFreeBgpPort((port) =>
      startCollector({ listen: `127.0.0.1:${port}`, asn: COLLECTOR_ASN, routerId: "127.0.0.2" })
    );
    const peerLabel = `127.0.0.1:${collector.addr.port}`;
    const poolFile = `${configDir}/pool.yaml`;
    const goodPool = poolYaml(POOL, [POOL_CIDR]);
    await Deno.writeTextFile(poolFile, goodPool);
    await Deno.writeTextFile(
      `${configDir}/peer.yaml`,
      peerYaml("collector", {
        myASN: MY_ASN,
        peerASN: COLLECTOR_ASN,
        peerAddress: "127.0.0.1",
        peerPort: collector.addr.port,
      }),
    );
    await Deno.writeTextFile(
      `${configDir}/advertisement.yaml`,
      advertisementYaml("e2e-adv", [POOL], [COMMUNITY]),
    );
    await Deno.writeTextFile(`${configDir}/alpha.yaml`, serviceYaml("alpha"));

    const argv = [
      "all",
      "--config-dir",
      configDir,
      "--state-dir",
      stateDir,
      "--node-name",
      "e2e-node",
      "--admin-addr",
      "127.0.0.1:0",
    ];
    let proc: FerrolbProcess | undefined;
    let addr = "";
    const ctx = () => `ferrolb stderr tail:\n${proc?.tail() ?? ""}`;
    const status = () => fetchStatus(addr);
    let alphaIP = "";
    let webIP = "";

    try {
      await t.step("starts, assigns an address and announces it to the collector", async () => {
        proc = spawnFerrolb(argv, { cwd: root });
        addr = await proc.adminAddr();
        await pollUntil(async () => (await adminGet(addr, "/readyz")).status === 200, {
          what: "/readyz",
          context: ctx,
        });
        const doc = await pollUntil(async () => {
          const d = await status();
          return serviceIn(d, "alpha")?.ips.length ? d : undefined;
        }, { what: "alpha to get an address", context: ctx });
        assert.equal(doc.role, "all");
        assert.equal(doc.node, "e2e-node");
        assert.equal(doc.config.valid, true, doc.config.errors.join("\n"));
        const alpha = serviceIn(doc, "alpha")!;
        assert.equal(alpha.ips.length, 1);
        assert.equal(alpha.pool, POOL);
        alphaIP = alpha.ips[0];
        assert.match(alphaIP, /^198\.51\.100\.([0-9]|1[0-5])$/);

        const route = await pollUntil(() => routeFor(collector, alphaIP), {
          what: `${alphaIP}/32 at the collector`,
          context: ctx,
        });
        assert.equal(route.nextHop, "127.0.0.1");
        assert.deepEqual(route.asPath, [MY_ASN]);
        assert.deepEqual(route.communities, [COMMUNITY]);

        const after = await pollUntil(async () => {
          const d = await status();
          const s = d.sessions.find((s) => s.peer === peerLabel);
          return s?.state === "Established" && serviceIn(d, "alpha")!.peers.length ? d : undefined;
        }, { what: "status to show the session and the announcement", context: ctx });
        assert.deepEqual(serviceIn(after, "alpha")!.peers, [peerLabel]);
        const pool = after.pools.find((p) => p.name === POOL);
        assert.deepEqual(pool?.ipv4, { used: 1, total: 16 });

        const metrics = (await adminGet(addr, "/metrics")).body;
        assert.match(metrics, new RegExp(`metallb_bgp_session_up\\{peer="${peerLabel}"\\} 1`));
        assert.equal((await adminGet(addr, "/healthz")).status, 200);
      });

      await t.step("a new Service file gets an address and a route", async () => {
        await writeAtomically(`${configDir}/web.yaml`, serviceYaml("web", 443));
        const doc = await pollUntil(async () => {
          const d = await status();
          return serviceIn(d, "web")?.ips.length ? d : undefined;
        }, { what: "web to get an address", context: ctx });
        webIP = serviceIn(doc, "web")!.ips[0];
        assert.notEqual(webIP, alphaIP);
        await pollUntil(() => routeFor(collector, webIP), {
          what: `${webIP}/32 at the collector`,
          context: ctx,
        });
      });

      await t.step("deleting a Service file withdraws its route", async () => {
        await writeAtomically(`${configDir}/extra.yaml`, serviceYaml("extra", 8080));
        const doc = await pollUntil(async () => {
          const d = await status();
          return serviceIn(d, "extra")?.ips.length ? d : undefined;
        }, { what: "extra to get an address", context: ctx });
        const extraIP = serviceIn(doc, "extra")!.ips[0];
        await pollUntil(() => routeFor(collector, extraIP), {
          what: `${extraIP}/32 at the collector`,
          context: ctx,
        });
        await Deno.remove(`${configDir}/extra.yaml`);
        await pollUntil(() => routeFor(collector, extraIP) === undefined, {
          what: `${extraIP}/32 withdrawn`,
          context: ctx,
        });
        assert.deepEqual(allPrefixes(collector), [`${alphaIP}/32`, `${webIP}/32`].sort());
        const after = await pollUntil(async () => {
          const d = await status();
          return serviceIn(d, "extra") === undefined ? d : undefined;
        }, { what: "extra gone from /status", context: ctx });
        assert.deepEqual(serviceIn(after, "alpha")!.ips, [alphaIP]);
      });

      await t.step("a pool file that does not parse keeps the last good state", async () => {
        const sessionBefore = collector.peers().find((p) => p.state === "Established");
        await writeAtomically(poolFile, goodPool + "  autoAssign: [unclosed\n");
        const doc = await pollUntil(async () => {
          const d = await status();
          return d.config.valid ? undefined : d;
        }, { what: "/status to report the broken file", context: ctx });
        assert.ok(
          doc.config.errors.some((e) => e.startsWith(`${poolFile}: line `)),
          doc.config.errors.join("\n"),
        );
        assert.deepEqual(serviceIn(doc, "alpha")!.ips, [alphaIP]);
        assert.deepEqual(serviceIn(doc, "web")!.ips, [webIP]);
        assert.deepEqual(allPrefixes(collector), [`${alphaIP}/32`, `${webIP}/32`].sort());
        const sessionNow = collector.peers().find((p) => p.state === "Established");
        assert.equal(sessionNow?.establishedAt, sessionBefore?.establishedAt);
      });

      await t.step("an invalid pool keeps the running one and says why", async () => {
        await writeAtomically(poolFile, poolYaml(POOL, ["198.51.100.0/33"]));
        const want = `${poolFile}: IPAddressPool metallb-system/${POOL}: spec.addresses[0]`;
        const doc = await pollUntil(async () => {
          const d = await status();
          return d.config.errors.some((e) => e.startsWith(want)) ? d : undefined;
        }, { what: `an error starting "${want}"`, context: ctx });
        assert.equal(doc.config.valid, false);
        assert.ok(!doc.config.errors.some((e) => e.includes(": line ")), "parse error cleared");
        assert.deepEqual(serviceIn(doc, "alpha")!.ips, [alphaIP]);
        assert.deepEqual(serviceIn(doc, "web")!.ips, [webIP]);
        assert.deepEqual(allPrefixes(collector), [`${alphaIP}/32`, `${webIP}/32`].sort());

        // The binary's `status` command, as a person would run it.
        const out = await runFerrolb(["status", "--addr", addr], { cwd: root });
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /Config: INVALID/);
        assert.ok(out.stdout.includes(want), out.stdout);
        assert.match(out.stdout, new RegExp(`default/alpha\\s+${alphaIP.replaceAll(".", "\\.")}`));
        assert.match(out.stdout, /Established/);
      });

      await t.step("fixing the pool recovers without a restart", async () => {
        await writeAtomically(poolFile, goodPool);
        const doc = await pollUntil(async () => {
          const d = await status();
          return d.config.valid ? d : undefined;
        }, { what: "the configuration to be valid again", context: ctx });
        assert.deepEqual(doc.config.errors, []);
        assert.deepEqual(serviceIn(doc, "web")!.ips, [webIP]);
      });

      await t.step("SIGTERM stops cleanly with Cease to the peer", async () => {
        const st = await proc!.stop("SIGTERM");
        assert.equal(st.code, 0, proc!.tail());
        const ended = await pollUntil(
          () => collector.peers().find((p) => p.state !== "Established" && p.closedAt),
          { what: "the collector to see the session end" },
        );
        assert.equal(ended.lastNotification?.direction, "received");
        assert.equal(ended.lastNotification?.code, 6, JSON.stringify(ended.lastNotification));
        assert.deepEqual(allPrefixes(collector), []);
      });

      await t.step("after a restart every Service keeps its address", async () => {
        // With alpha gone, a lower address is free: only the saved state keeps web's.
        await Deno.remove(`${configDir}/alpha.yaml`);
        proc = spawnFerrolb(argv, { cwd: root });
        addr = await proc.adminAddr();
        const doc = await pollUntil(async () => {
          const d = await status();
          return serviceIn(d, "web")?.ips.length ? d : undefined;
        }, { what: "web's address after restart", context: ctx });
        assert.deepEqual(serviceIn(doc, "web")!.ips, [webIP]);
        assert.equal(serviceIn(doc, "alpha"), undefined);
        await pollUntil(
          () => allPrefixes(collector).join() === `${webIP}/32` ? true : undefined,
          { what: `only ${webIP}/32 at the collector`, context: ctx },
        );
        const st = await proc.stop("SIGINT");
        assert.equal(st.code, 0, proc.tail());
      });
    } finally {
      if (proc) await proc.stop("SIGKILL").catch(() => {});
      await collector.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
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
