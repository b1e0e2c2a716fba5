import assert from "node:assert/strict";
import { startFakeApiServer } from "../tests/fake_apiserver/mod.ts";
import { eventually } from "../tests/fake_apiserver/testing.ts";
import { TEST_NAMESPACE } from "../controller/testing.ts";
import { createLogger, type Logger } from "../api/log.ts";
import { boundedShutdown, EXIT_SHUTDOWN_TIMEOUT, waitForSignal } from "./signals.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const CONFIG = new URL("../deno.json", import.meta.url).pathname;
const LEASE = "ferrolb-controller";

function recordingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const logger = createLogger({ level: "debug", write: (line) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

Deno.test("a second SIGTERM during the stop is ignored; the Lease is still released", async () => {
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
  const holder = () =>
    (server.objects.get("leases.coordination.k8s.io", TEST_NAMESPACE, LEASE) as {
      spec?: { holderIdentity?: string };
    } | undefined)?.spec?.holderIdentity;
  try {
    await eventually("the controller holds the Lease", () => !!holder(), { boundMs: 60_000 });
    // Slow answers make the stop (release: GET then PUT of the Lease) take seconds, so the
    // second signal surely lands inside it; the test waits for that, not for a duration.
    server.faults.delayMs = 1500;
    const before = server.requestLog.length;
    child.kill("SIGTERM");
    await eventually("the stop has begun", () => /stopping controller/.test(logs), {
      boundMs: 60_000,
    });
    await eventually(
      "a Lease request of the stop is in flight",
      () => server.requestLog.slice(before).some((e) => e.resource === "leases"),
      { boundMs: 60_000 },
    );
    child.kill("SIGTERM");
    const status = await child.status;
    await reading;
    assert.equal(status.signal, null, `killed by ${status.signal}:\n${logs}`);
    assert.equal(status.code, 0, logs);
    assert.equal(holder(), "", `the Lease is still held:\n${logs}`);
    assert.match(logs, /already stopping; signal ignored/);
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
