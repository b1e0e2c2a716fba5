import assert from "node:assert/strict";
import { startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { eventually } from "../tests/fake_apiserver/testing.ts";
import { type FerrolbProcess, pollUntil, spawnFerrolb } from "../tests/e2e_helpers.ts";
import type { StatusDocument } from "./status.ts";
import { ffiAvailable, md5Available } from "../bgp/md5_transport.ts";
import type { KubeObject } from "../cluster/types.ts";
import { parseCommandLine } from "./args.ts";
import { speakerFlags } from "./speaker.ts";
import { serviceBGPStatusName } from "../speaker/speaker.ts";
import {
  advObject,
  nodeObject,
  passwordSecretObject,
  peerObject,
  poolObject,
  serviceObject,
  sliceObject,
  startTestCollector,
} from "../tests/speaker/testing.ts";

Deno.test("speaker flags: --node-name is required, NODE_NAME works too", () => {
  const noNode = speakerFlags(parseCommandLine(["speaker"]));
  assert.equal(typeof noNode, "string");
  assert.match(noNode as string, /--node-name/);
  const fromEnv = speakerFlags(
    parseCommandLine(["speaker"], (n) => n === "NODE_NAME" ? "worker-1" : undefined),
  );
  assert.equal(typeof fromEnv === "object" && fromEnv.nodeName, "worker-1");
});

/** A ServiceBGPStatus as a speaker on `node` would have written it before a restart. */
function bgpStatus(node: string, service: string, peers: string[]): KubeObject {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceBGPStatus",
    metadata: {
      name: serviceBGPStatusName("default", service, node),
      namespace: "metallb-system",
      labels: {
        "metallb.io/node": node,
        "metallb.io/service-name": service,
        "metallb.io/service-namespace": "default",
      },
    },
    status: { node, serviceName: service, serviceNamespace: "default", peers },
  };
}

Deno.test({
  name: "ferrolb speaker against an API server: announces, writes status, Cease on SIGTERM",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startFakeApiServer();
    const collector = await startTestCollector({ asn: 64501, routerId: "10.255.0.1" });
    const put = (resource: string, obj: KubeObject) => server.objects.put(resource, obj as never);
    let child: Deno.ChildProcess | undefined;
    try {
      put("ipaddresspools.metallb.io", poolObject("pool-a", ["192.0.2.0/26"]));
      put("bgpadvertisements.metallb.io", advObject("all", { communities: ["64500:7"] }));
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
      // Left from before a restart: web's is right, old's Service is gone, n2 is not ours.
      const ST = "servicebgpstatuses.metallb.io";
      const web = put(ST, bgpStatus("n1", "web", ["router1"]));
      const old = put(ST, bgpStatus("n1", "old", ["router1"]));
      const n2 = put(ST, bgpStatus("n2", "old", ["router1"]));
      child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-all",
          new URL("./speaker.ts", import.meta.url).pathname,
          "--kubeconfig",
          server.kubeconfigPath,
          "--node-name",
          "n1",
          "--admin-addr",
          "127.0.0.1:0",
          "--log-level",
          "warn",
        ],
        cwd: new URL("..", import.meta.url).pathname,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      await collector.waitFor(
        () =>
          collector.routes().some((p) =>
            p.routes.some((r) => r.prefix === "192.0.2.10/32" && r.communities[0] === "64500:7")
          ),
        { timeoutMs: 30_000 },
      );
      await eventually("stale ServiceBGPStatus deleted and ConfigurationState written", () => {
        const st = server.objects.list(ST, "metallb-system");
        const cs = server.objects.get(
          "configurationstates.metallb.io",
          "metallb-system",
          "speaker-n1",
        );
        return st.length === 2 && (cs?.status as { result?: string })?.result === "Valid";
      });
      assert.equal(server.objects.get(ST, "metallb-system", old.metadata.name), undefined);
      const st = server.objects.get(ST, "metallb-system", web.metadata.name)!;
      assert.deepEqual((st.status as { peers: string[] }).peers, ["router1"]);
      assert.equal(st.metadata.resourceVersion, web.metadata.resourceVersion, "not rewritten");
      const other = server.objects.get(ST, "metallb-system", n2.metadata.name)!;
      assert.equal(other.metadata.resourceVersion, n2.metadata.resourceVersion);
      const statusWrites = server.requestLog.filter((r) =>
        r.resource === "servicebgpstatuses" && !["get", "list", "watch"].includes(r.verb)
      );
      assert.deepEqual(statusWrites.map((r) => `${r.verb} ${r.name}`), [
        `delete ${old.metadata.name}`,
      ]);

      const peer = collector.peers().find((p) => p.state === "Established")!.peer;
      child.kill("SIGTERM");
      const status = await child.status;
      assert.equal(status.code, 0);
      await collector.waitFor(() =>
        collector.peers().find((p) => p.peer === peer)?.state === "Closed"
      );
      const ended = collector.peers().find((p) => p.peer === peer)!;
      assert.equal(ended.lastNotification?.direction, "received");
      assert.equal(ended.lastNotification?.code, 6, "Cease before exiting");
    } finally {
      if (child) {
        try {
          child.kill("SIGKILL");
        } catch { /* exited */ }
        await child.stderr.cancel().catch(() => {});
        await child.status;
      }
      await collector.close();
      await server.close();
    }
  },
});

const md5 = md5Available();
const ffi = ffiAvailable();

Deno.test({
  name: "ferrolb speaker with the task's permissions: sourceAddress binds, a password peer runs",
  ignore: !md5.ok || !ffi.ok,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startFakeApiServer();
    const collector = await startTestCollector({ asn: 64501, routerId: "10.255.0.1" });
    // Holds no key: it never sees the signed session.
    const plain = await startTestCollector({ asn: 64501, routerId: "10.255.0.2" });
    const root = await Deno.makeTempDir({ prefix: "ferrolb-speaker-md5-" });
    await Deno.copyFile(server.kubeconfigPath, `${root}/kubeconfig`);
    const put = (resource: string, obj: KubeObject) => server.objects.put(resource, obj as never);
    let proc: FerrolbProcess | undefined;
    try {
      put("ipaddresspools.metallb.io", poolObject("pool-a", ["192.0.2.0/26"]));
      put("bgpadvertisements.metallb.io", advObject("all"));
      put("secrets", passwordSecretObject("bgp-auth", "hunter2"));
      put(
        "bgppeers.metallb.io",
        peerObject("sourced", {
          myASN: 64500,
          peerASN: 64501,
          peerAddress: "127.0.0.1",
          peerPort: collector.addr.port,
          sourceAddress: "127.0.0.2",
        }),
      );
      put(
        "bgppeers.metallb.io",
        peerObject("signed", {
          myASN: 64500,
          peerASN: 64501,
          peerAddress: "127.0.0.1",
          peerPort: plain.addr.port,
          passwordSecret: { name: "bgp-auth" },
          connectTime: "1s",
        }),
      );
      put("nodes", nodeObject("n1", { internalIP: "10.0.0.11" }));
      put("services", serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
      put("endpointslices.discovery.k8s.io", sliceObject("web", [{ node: "n1" }]));
      proc = spawnFerrolb(
        [
          "speaker",
          "--kubeconfig",
          "kubeconfig",
          "--node-name",
          "n1",
          "--admin-addr",
          "127.0.0.1:0",
        ],
        { cwd: root },
      );
      await collector.waitFor(
        () => collector.routes().some((p) => p.routes.some((r) => r.prefix === "192.0.2.10/32")),
        { timeoutMs: 30_000 },
      );
      const [live] = collector.peers().filter((p) => p.state === "Established");
      assert.match(live.peer, /^127\.0\.0\.2:\d+$/);
      assert.equal(collector.routes()[0].routes[0].nextHop, "127.0.0.2");
      const admin = await proc.adminAddr();
      const status = await pollUntil(async () => {
        const doc = await (await fetch(`http://${admin}/status`)).json() as StatusDocument;
        const st = doc.sessions.find((x) => x.name === "signed");
        return st?.lastError ? st : undefined;
      }, { what: "the signed session's connect error in /status", context: () => proc!.tail() });
      assert.notEqual(status.state, "Rejected", "TCP MD5 works with the task's permissions");
      // The connector's ETIMEDOUT (with its TCP MD5 hint) or, on a loaded machine, the
      // session's own connect timeout: either way a connect that got no answer.
      assert.match(status.lastError!, /^connect failed: /);
      if (/ETIMEDOUT/.test(status.lastError!)) assert.match(status.lastError!, /TCP MD5/);
      assert.deepEqual(plain.peers(), []);
      const result = await pollUntil(() => {
        const cs = server.objects.get(
          "configurationstates.metallb.io",
          "metallb-system",
          "speaker-n1",
        );
        return (cs?.status as { result?: string } | undefined)?.result;
      }, { what: "ConfigurationState speaker-n1" });
      assert.equal(result, "Valid");
    } finally {
      await proc?.stop();
      await collector.close();
      await plain.close();
      await server.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});
