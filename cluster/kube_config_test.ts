import assert from "node:assert/strict";
import * as k8s from "@kubernetes/client-node";
import { startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { createTestCertificates } from "../tests/fake_apiserver/tls.ts";
import {
  forceHttp1,
  KubeApiError,
  KubeConfigError,
  kubeRequest,
  loadKubeConfig,
} from "./kube_config.ts";

Deno.test("loadKubeConfig: a kubeconfig file reaches the server over TLS with its token", async () => {
  const server = await startFakeApiServer();
  try {
    server.objects.put("nodes", { metadata: { name: "n1" } });
    const kc = loadKubeConfig({ kubeconfig: server.kubeconfigPath });
    const list = await kubeRequest<{ items: { metadata: { name: string } }[] }>(
      kc,
      "GET",
      "/api/v1/nodes",
    );
    assert.deepEqual(list.items.map((n) => n.metadata.name), ["n1"]);
    const err = await kubeRequest(kc, "GET", "/api/v1/nodes/missing").catch((e) => e);
    assert.ok(err instanceof KubeApiError);
    assert.equal(err.status, 404);
    assert.equal(err.reason, "NotFound");
    assert.match(err.message, /nodes "missing" not found/);
  } finally {
    await server.close();
  }
});

Deno.test("loadKubeConfig: clear errors for a missing file and for no configuration at all", () => {
  assert.throws(
    () => loadKubeConfig({ kubeconfig: "/nonexistent/kubeconfig" }),
    (err) => err instanceof KubeConfigError && err.message.includes("/nonexistent/kubeconfig"),
  );
  const saved = Deno.env.get("KUBERNETES_SERVICE_HOST");
  Deno.env.delete("KUBERNETES_SERVICE_HOST");
  try {
    assert.throws(
      () => loadKubeConfig({}),
      (err) =>
        err instanceof KubeConfigError && /--kubeconfig/.test(err.message) &&
        /KUBERNETES_SERVICE_HOST/.test(err.message),
    );
  } finally {
    if (saved !== undefined) Deno.env.set("KUBERNETES_SERVICE_HOST", saved);
  }
});

Deno.test("kubeRequest: a request that gets no answer fails within its bound", async () => {
  const server = await startFakeApiServer();
  try {
    const kc = loadKubeConfig({ kubeconfig: server.kubeconfigPath });
    server.faults.delayMs = 1_000;
    const err = await kubeRequest(kc, "GET", "/api/v1/nodes", { timeoutMs: 100 }).catch((e) => e);
    assert.ok(err instanceof KubeApiError);
    assert.match(err.message, /timed out/);
    server.faults.delayMs = 0;
  } finally {
    await server.close();
  }
});

Deno.test("forceHttp1: the client offers only HTTP/1.1 to a server that speaks h2", async () => {
  const certs = await createTestCertificates();
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: certs.certPem,
    key: certs.keyPem,
    alpnProtocols: ["h2", "http/1.1"],
  });
  const negotiated: (string | null)[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const hs = await conn.handshake();
      negotiated.push(hs.alpnProtocol);
      const buf = new Uint8Array(4096);
      await conn.read(buf);
      await conn.write(
        new TextEncoder().encode(
          "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n" +
            'connection: close\r\n\r\n{"items":1}',
        ),
      );
      conn.close();
    }
  })();
  try {
    const kc = new k8s.KubeConfig();
    kc.loadFromOptions({
      clusters: [{
        name: "c",
        server: `https://127.0.0.1:${listener.addr.port}`,
        caData: btoa(certs.caPem),
      }],
      users: [{ name: "u", token: "t" }],
      contexts: [{ name: "x", cluster: "c", user: "u" }],
      currentContext: "x",
    });
    forceHttp1(kc);
    const body = await kubeRequest<{ items: number }>(kc, "GET", "/api/v1/nodes");
    assert.equal(body.items, 1);
    assert.deepEqual(negotiated, ["http/1.1"]);
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
});
