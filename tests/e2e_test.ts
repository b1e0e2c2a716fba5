/**
 * End to end, as a user runs it: the ferrolb binary (`ferrolb all`) on a directory of
 * manifests, peering with a collector on loopback. Adds, deletes and breaks files while it
 * runs, restarts it, and checks what the router and `/status` see.
 */
import assert from "node:assert/strict";
import { startCollector } from "../bgp/mod.ts";
import type { KubeObject } from "../cluster/types.ts";
import {
  advObject,
  nodeObject,
  peerObject,
  poolObject,
  serviceObject,
  sliceObject,
} from "./speaker/testing.ts";
import { startFakeApiServer } from "./fake_apiserver/mod.ts";
import {
  type FerrolbProcess,
  fetchStatus,
  fileModeScenario,
  onFreeBgpPort,
  pollUntil,
  REPO_ROOT,
  runFerrolb,
  type ScenarioRouter,
  serviceIn,
  serviceYaml,
  spawnFerrolb,
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

/** A temp directory holding a copy of `examples/<name>`, as a checkout would. */
async function checkoutWithExample(name: string): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "ferrolb-demo-" });
  await Deno.mkdir(`${root}/examples/${name}`, { recursive: true });
  for (const e of Deno.readDirSync(`${REPO_ROOT}/examples/${name}`)) {
    await Deno.copyFile(
      `${REPO_ROOT}/examples/${name}/${e.name}`,
      `${root}/examples/${name}/${e.name}`,
    );
  }
  return root;
}

Deno.test({
  name: "e2e: `ferrolb demo examples/quickstart --exit-when-converged` prints the route",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // As `npm start` runs it, from a checkout: the binary may read and write only there.
    const root = await checkoutWithExample("quickstart");
    try {
      const out = await runFerrolb(
        ["demo", "examples/quickstart", "--exit-when-converged", "--admin-addr", "127.0.0.1:0"],
        { cwd: root },
      );
      assert.equal(out.code, 0, `${out.stdout}\n${out.stderr}`);
      assert.match(out.stdout, /default\/example-service\s+172\.19\.0\.\d+\s+pool example-pool/);
      assert.match(out.stdout, /172\.19\.0\.\d+\/32\s+127\.0\.0\.1\s+64512/);
      assert.match(out.stdout, /converged/);
      // The throwaway state directory is gone.
      assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["examples"]);
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "e2e: the dual-stack example announces both families with its communities",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await checkoutWithExample("dualstack");
    try {
      const out = await runFerrolb(
        ["demo", "examples/dualstack", "--exit-when-converged", "--admin-addr", "127.0.0.1:0"],
        { cwd: root },
      );
      assert.equal(out.code, 0, `${out.stdout}\n${out.stderr}`);
      const web = out.stdout.match(/default\/web\s+(\S+), (\S+)\s+pool dual/);
      assert.ok(web, out.stdout);
      const [, v4, v6] = web;
      // dns and dns-tcp share one address (same sharing key, different protocols).
      const dns = out.stdout.match(/default\/dns\s+(\S+)\s/)?.[1];
      assert.ok(dns);
      assert.match(out.stdout, new RegExp(`default/dns-tcp\\s+${dns.replaceAll(".", "\\.")}\\s`));
      const communities = "64512:100 65535:65281 large:64512:1:2";
      for (const prefix of [`${v4}/32`, `${v6}/128`, `${dns}/32`]) {
        const row = out.stdout.split("\n").find((l) => l.trim().startsWith(prefix + " "));
        assert.ok(row, `${prefix} not received:\n${out.stdout}`);
        assert.ok(row.trimEnd().endsWith(communities), row);
      }
    } finally {
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "e2e: `ferrolb demo` keeps running, shows live edits and stops on Ctrl-C",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const root = await checkoutWithExample("quickstart");
    const proc = spawnFerrolb(["demo", "examples/quickstart", "--admin-addr", "127.0.0.1:0"], {
      cwd: root,
    });
    const context = () => `stdout:\n${proc.stdout()}\nstderr:\n${proc.tail()}`;
    try {
      await pollUntil(() => proc.stdout().includes("Ctrl-C to stop"), {
        what: "the demo to converge and keep running",
        context,
      });
      await Deno.writeTextFile(
        `${root}/examples/quickstart/second.yaml`,
        serviceYaml("second").replace(
          "  namespace: default\n",
          "  namespace: default\n  annotations:\n    metallb.io/address-pool: example-pool\n",
        ),
      );
      await pollUntil(
        () => /--- changed at [\s\S]*default\/second\s+172\.19\.0\.\d+/.test(proc.stdout()),
        { what: "the summary to show the new Service", context },
      );
      const st = await proc.stop("SIGINT");
      assert.equal(st.code, 0, context());
      assert.match(proc.stdout(), /stopped\n$/);
      assert.deepEqual([...Deno.readDirSync(root)].map((e) => e.name), ["examples"]);
    } finally {
      await proc.stop("SIGKILL").catch(() => {});
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "e2e: ferrolb all against an API server assigns, announces and reports",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startFakeApiServer();
    const collector = await onFreeBgpPort((port) =>
      startCollector({ listen: `127.0.0.1:${port}`, asn: COLLECTOR_ASN, routerId: "127.0.0.2" })
    );
    // The binary reads only under its working directory, like a pod's mounted kubeconfig.
    const root = await Deno.makeTempDir({ prefix: "ferrolb-e2e-kube-" });
    await Deno.copyFile(server.kubeconfigPath, `${root}/kubeconfig`);
    const put = (resource: string, obj: KubeObject) => server.objects.put(resource, obj as never);
    let proc: FerrolbProcess | undefined;
    try {
      put("ipaddresspools.metallb.io", poolObject("pool-a", ["192.0.2.0/28"]));
      put("bgpadvertisements.metallb.io", advObject("all"));
      put(
        "bgppeers.metallb.io",
        peerObject("router", {
          myASN: 64512,
          peerASN: COLLECTOR_ASN,
          peerAddress: "127.0.0.1",
          peerPort: collector.addr.port,
        }),
      );
      put("nodes", nodeObject("n1", { internalIP: "10.0.0.11" }));
      put("services", serviceObject("web"));
      put("endpointslices.discovery.k8s.io", sliceObject("web", [{ node: "n1" }]));
      proc = spawnFerrolb(
        ["all", "--kubeconfig", "kubeconfig", "--node-name", "n1", "--admin-addr", "127.0.0.1:0"],
        { cwd: root },
      );
      const p = proc;
      const context = () => `ferrolb stderr tail:\n${p.tail()}`;
      const addr = await proc.adminAddr();
      const ip = await pollUntil(() => {
        const svc = server.objects.get("services", "default", "web");
        const status = svc?.status as { loadBalancer?: { ingress?: { ip: string }[] } };
        return status?.loadBalancer?.ingress?.[0]?.ip;
      }, { what: "web's status.loadBalancer.ingress", context });
      assert.match(ip, /^192\.0\.2\.([0-9]|1[0-5])$/);
      await pollUntil(
        () => collector.routes().some((r) => r.routes.some((x) => x.prefix === `${ip}/32`)),
        { what: `${ip}/32 at the collector`, context },
      );
      const doc = await pollUntil(async () => {
        const d = await fetchStatus(addr);
        return serviceIn(d, "web")?.peers.length ? d : undefined;
      }, { what: "/status to show web announced", context });
      assert.equal(doc.role, "all");
      assert.deepEqual(serviceIn(doc, "web")?.ips, [ip]);
      assert.deepEqual(serviceIn(doc, "web")?.peers, [`127.0.0.1:${collector.addr.port}`]);
      assert.equal(doc.sessions[0]?.state, "Established");
      const st = await proc.stop("SIGTERM");
      assert.equal(st.code, 0, proc.tail());
    } finally {
      await proc?.stop("SIGKILL").catch(() => {});
      await collector.close();
      await server.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
});
