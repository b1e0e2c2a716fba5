/**
 * RBAC against recorded traffic: the real object source (client-node over HTTPS) reads from
 * the fake API server as each component will, and every request it made must be allowed by
 * the committed Roles for that component's service account. Write calls join this check as
 * the controller and speaker scenario tests land (see callsFromRequestLog).
 */
import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { createKubeSource } from "../../cluster/kube_source.ts";
import { READ_KINDS, type ReadKind } from "../../cluster/types.ts";
import { buildDocuments, DEFAULT_INSTALL } from "../../manifests/generate.ts";
import { startFakeApiServer } from "../fake_apiserver/mod.ts";
import { callsFromRequestLog, checkRbac } from "./mod.ts";

const NS = DEFAULT_INSTALL.namespace;
const rbacDocs = buildDocuments().map((d) => d.value);

// The controller assigns addresses: it needs pools, the config it validates, Services and
// Namespaces (for serviceAllocation selectors), but neither nodes, endpoints nor Secrets.
const CONTROLLER_KINDS: readonly ReadKind[] = READ_KINDS.filter(
  (k) => k !== "EndpointSlice" && k !== "Node" && k !== "Secret",
);

async function recordReads(kinds: readonly ReadKind[]) {
  const server = await startFakeApiServer();
  server.objects.put("ipaddresspools.metallb.io", {
    metadata: { name: "pool", namespace: NS },
    spec: { addresses: ["192.0.2.0/28"] },
  });
  server.objects.put("services", {
    metadata: { name: "web", namespace: "default" },
    spec: { type: "LoadBalancer" },
  });
  server.objects.put("nodes", { metadata: { name: "node-1" } });
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  const source = createKubeSource(kc, { namespace: NS, kinds, watchTimeoutSeconds: 60 });
  try {
    await source.start();
    // Watches open right after the lists; wait until every kind has one on record.
    const until = Date.now() + 15_000;
    while (server.requestLog.filter((r) => r.verb === "watch").length < kinds.length) {
      if (Date.now() > until) throw new Error("watches did not open");
      await new Promise((r) => setTimeout(r, 10));
    }
    return [...server.requestLog];
  } finally {
    await source.close();
    await server.close();
  }
}

for (
  const [component, kinds] of [
    ["speaker", READ_KINDS],
    ["controller", CONTROLLER_KINDS],
  ] as const
) {
  Deno.test(`RBAC allows every read the ${component}'s object source makes`, async () => {
    const log = await recordReads(kinds);
    const calls = callsFromRequestLog(log, `${NS}/${component}`);
    assert.ok(calls.some((c) => c.verb === "list") && calls.some((c) => c.verb === "watch"));
    const report = checkRbac(calls, rbacDocs);
    assert.deepEqual(report.denied, []);
    // Every list/watch permission of this component is exercised by its reads.
    const unusedReads = report.unused.filter((p) =>
      p.role.includes(component) && (p.verb === "list" || p.verb === "watch")
    );
    assert.deepEqual(unusedReads, []);
  });
}
