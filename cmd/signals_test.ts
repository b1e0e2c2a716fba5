import assert from "node:assert/strict";
import { startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { eventually } from "../tests/fake_apiserver/testing.ts";
import { TEST_NAMESPACE } from "../tests/controller/testing.ts";
import { createLogger, type Logger } from "../api/log.ts";
import { boundedShutdown, EXIT_SHUTDOWN_TIMEOUT, waitForSignal } from "./signals.ts";
import { createLeaderElector } from "../cluster/lease.ts";
import * as k8s from "@kubernetes/client-node";
import type { FakeApiServer } from "../tests/fake_apiserver/mod.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const LEASE = "ferrolb-controller";

function holderOf(server: FakeApiServer): string | undefined {
  const lease = server.objects.get("leases.coordination.k8s.io", TEST_NAMESPACE, LEASE) as {
    spec?: { holderIdentity?: string };
  } | undefined;
  return lease?.spec?.holderIdentity;
}

function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

Deno.test("a second SIGTERM during the stop is ignored; the Lease is still released", async () => {
  // In this process, so the second signal surely lands inside the stop: the stop's first step
  // waits for a gate the test opens only after the second signal was handled.
  const server = await startFakeApiServer();
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  const elector = createLeaderElector(kc, {
    namespace: TEST_NAMESPACE,
    name: LEASE,
    identity: "pod-a",
  });
  const { logger, lines } = recordingLogger();
  const signal = waitForSignal({ logger });
  try {
    await elector.start();
    await eventually("the elector holds the Lease", () => holderOf(server) === "pod-a");
    Deno.kill(Deno.pid, "SIGTERM");
    assert.equal(await signal.promise, "SIGTERM");
    const gate = Promise.withResolvers<void>();
    const stopping = boundedShutdown(signal, [
      ["withdraw routes", () => gate.promise],
      ["release the Lease", () => elector.stop()],
    ], { logger, deadlineMs: 120_000, exit: () => assert.fail("deadline") });
    // Without a listener this second signal would end the test process itself.
    Deno.kill(Deno.pid, "SIGTERM");
    await eventually("the second signal handled", () => signal.repeats() === 1);
    gate.resolve();
    await stopping;
    assert.equal(holderOf(server), "", "the Lease is released");
    assert.ok(
      lines.some((l) => l.msg === "already stopping; signal ignored until the shutdown completes"),
    );
  } finally {
    signal.cancel();
    await elector.stop();
    await server.close();
  }
});

Deno.test("ferrolb controller: SIGTERM twice releases the Lease and exits 0", async () => {
  const server = await startFakeApiServer();
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      CONFIG,
      "--allow-net",
      "--allow-read",
      "--allow-env",
      MAIN,
      "controller",
      "--kubeconfig",
      server.kubeconfigPath,
      "--admin-addr",
      `127.0.0.1:${port}`,
      "--namespace",
      TEST_NAMESPACE,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let logs = "";
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) logs += chunk;
  })();
  try {
    // Its own view, not only the server's: a Lease stored whose answer the process has not
    // read yet is not leadership it knows about.
    await eventually(
      "the controller holds the Lease and knows it",
      () => !!holderOf(server) && /became leader/.test(logs),
      { boundMs: 60_000 },
    );
    child.kill("SIGTERM");
    await eventually("the stop has begun", () => /stopping controller/.test(logs), {
      boundMs: 60_000,
    });
    // Usually inside the stop; if the stop was already over, the outcome must be the same.
    try {
      child.kill("SIGTERM");
    } catch { /* already exited */ }
    const status = await child.status;
    await reading;
    assert.equal(status.signal, null, `killed by ${status.signal}:\n${logs}`);
    assert.equal(status.code, 0, logs);
    assert.equal(holderOf(server), "", `the Lease is still held:\n${logs}`);
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* exited */ }
    await child.status;
    await server.close();
  }
});

Deno.test("a shutdown step that hangs ends the process at the deadline, naming the step", async () => {
  const { logger, lines } = recordingLogger();
  const signal = waitForSignal({ logger });
  const exited = Promise.withResolvers<number>();
  const ran: string[] = [];
  const shutdown = boundedShutdown(signal, [
    ["withdraw routes", () => ran.push("withdraw")],
    ["release the Lease", () => new Promise(() => {})],
  ], { logger, deadlineMs: 50, exit: exited.resolve });
  assert.equal(await exited.promise, EXIT_SHUTDOWN_TIMEOUT);
  assert.deepEqual(ran, ["withdraw"]);
  const line = lines.find((l) => l.msg === "shutdown did not finish in time; exiting");
  assert.equal(line?.step, "release the Lease");
  signal.cancel();
  void shutdown;
});

Deno.test("a failing step is logged and the later steps still run", async () => {
  const { logger, lines } = recordingLogger();
  const signal = waitForSignal({ logger });
  const ran: string[] = [];
  await boundedShutdown(signal, [
    ["withdraw routes", () => {
      throw new Error("socket gone");
    }],
    ["release the Lease", () => ran.push("release")],
  ], { logger, exit: () => assert.fail("no deadline expected") });
  assert.deepEqual(ran, ["release"]);
  assert.equal(lines.find((l) => l.msg === "shutdown step failed")?.step, "withdraw routes");
});

Deno.test("a step that hangs past its share is left behind so the Lease release still runs", async () => {
  const { logger, lines } = recordingLogger();
  const signal = waitForSignal({ logger });
  const ran: string[] = [];
  await boundedShutdown(signal, [
    ["stop the controller", () => new Promise(() => {})],
    ["release the Lease", () => ran.push("release"), 100],
  ], { logger, deadlineMs: 300, exit: () => assert.fail("the release had its reserved time") });
  assert.deepEqual(ran, ["release"]);
  assert.equal(
    lines.find((l) => l.msg === "shutdown step overran its share; going on")?.step,
    "stop the controller",
  );
});
