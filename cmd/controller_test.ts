import assert from "node:assert/strict";
import { startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { eventually } from "../tests/fake_apiserver/testing.ts";
import {
  ingressOf,
  poolObject,
  serviceObject,
  TEST_NAMESPACE,
} from "../tests/controller/testing.ts";
import type { KubeObject } from "../cluster/types.ts";

const DENO = Deno.execPath();
const CONFIG = new URL("../deno.json", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function get(url: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url);
    return { status: res.status, body: await res.text() };
  } catch {
    return { status: 0, body: "" };
  }
}

Deno.test("controller role: leads, assigns, serves /readyz /status /metrics and exits 0 on SIGTERM", async () => {
  const server = await startFakeApiServer();
  server.objects.put("ipaddresspools.metallb.io", poolObject("p", ["10.40.0.0/30"]) as never);
  server.objects.put("services", serviceObject("default", "web") as never);
  const dir = await Deno.makeTempDir();
  const entry = `${dir}/entry.ts`;
  await Deno.writeTextFile(
    entry,
    `import { runControllerRole } from ${
      JSON.stringify(new URL("./controller.ts", import.meta.url).href)
    };\n` +
      `import { parseCommandLine } from ${
        JSON.stringify(new URL("./args.ts", import.meta.url).href)
      };\n` +
      `Deno.exit(await runControllerRole(parseCommandLine(Deno.args)));\n`,
  );
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const child = new Deno.Command(DENO, {
    args: [
      "run",
      "--config",
      CONFIG,
      "--allow-net",
      "--allow-read",
      "--allow-env",
      entry,
      "controller",
      "--kubeconfig",
      server.kubeconfigPath,
      "--admin-addr",
      `127.0.0.1:${port}`,
      "--namespace",
      TEST_NAMESPACE,
    ],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let logs = "";
  const reading = (async () => {
    for (;;) {
      const { value, done } = await stderr.read();
      if (done) return;
      logs += value;
    }
  })();
  try {
    await eventually("ready", async () => (await get(`${base}/readyz`)).status === 200, {
      boundMs: 30_000,
    });
    await eventually(
      "service assigned",
      () =>
        ingressOf(server.objects.get("services", "default", "web") as KubeObject | undefined)
          .length === 1,
      { boundMs: 30_000 },
    );
    assert.equal((await get(`${base}/healthz`)).status, 200);
    const lease = server.objects.get(
      "leases.coordination.k8s.io",
      TEST_NAMESPACE,
      "ferrolb-controller",
    );
    assert.ok(lease, "lease ferrolb-controller exists");
    await eventually("status shows the service", async () => {
      const doc = JSON.parse((await get(`${base}/status`)).body || "{}");
      return doc.role === "controller" &&
        doc.services?.some((s: { name: string; ips: string[] }) =>
          s.name === "web" && s.ips[0] === "10.40.0.0"
        );
    });
    const metrics = (await get(`${base}/metrics`)).body;
    assert.match(metrics, /metallb_allocator_addresses_in_use_total\{pool="p"\} 1/);
    assert.match(metrics, /metallb_allocator_addresses_total\{pool="p"\} 4/);
    child.kill("SIGTERM");
    const status = await child.status;
    await reading;
    assert.equal(status.code, 0, logs);
    const lines = logs.trim().split("\n").filter((l) => l.startsWith("{"));
    assert.ok(lines.length > 0);
    for (const l of lines) assert.ok(JSON.parse(l).level, l);
    assert.ok(lines.some((l) => /stopping controller/.test(l)), logs);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    await child.stdout.cancel().catch(() => {});
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});
