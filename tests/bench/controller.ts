/**
 * Controller benchmarks through the fake API server and the real client: time to give
 * 10,000 new Services their addresses, create-to-status latency (against the server's own
 * GET round trip measured in the same run), and a restart over 10,000 assigned Services.
 */
import * as k8s from "@kubernetes/client-node";
import { silentLogger } from "../../api/log.ts";
import { kubeRequest } from "../../cluster/kube_config.ts";
import { createKubeSource, type KubeSource } from "../../cluster/kube_source.ts";
import { createKubeWriter } from "../../cluster/kube_writer.ts";
import { type BenchResult, type BenchSuite, result } from "./types.ts";
import { type FakeApiServer, startFakeApiServer } from "../fake_apiserver/mod.ts";
import { Controller } from "../../controller/controller.ts";
import { poolObject, serviceObject, TEST_NAMESPACE } from "../controller/testing.ts";

const NAMES = [
  "controller_assign_10k",
  "controller_latency_p99",
  "controller_restart_ready",
  "controller_restart_writes",
];
const COUNT = 10_000;
const LATENCY_SAMPLES = 200;
const WRITE_VERBS = new Set(["create", "update", "patch", "delete"]);

interface Running {
  controller: Controller;
  source: KubeSource;
  stop(): Promise<void>;
}

function kubeConfig(server: FakeApiServer): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(server.kubeconfigPath);
  return kc;
}

async function startController(server: FakeApiServer): Promise<Running> {
  const kc = kubeConfig(server);
  const source = createKubeSource(kc, { namespace: TEST_NAMESPACE, logger: silentLogger });
  const writer = createKubeWriter(kc, { namespace: TEST_NAMESPACE, logger: silentLogger });
  const controller = new Controller(source, writer, {
    namespace: TEST_NAMESPACE,
    logger: silentLogger,
  });
  await controller.start();
  return {
    controller,
    source,
    async stop() {
      await controller.stop();
      await source.close();
    },
  };
}

/** Follows the request log for successful Service status writes, incrementally. */
function statusWatcher(server: FakeApiServer) {
  let seen = server.requestLog.length;
  const withStatus = new Set<string>();
  return {
    poll(): Set<string> {
      const log = server.requestLog;
      for (; seen < log.length; seen++) {
        const r = log[seen];
        if (
          r.resource === "services" && r.subresource === "status" && WRITE_VERBS.has(r.verb) &&
          r.status < 300
        ) withStatus.add(`${r.namespace}/${r.name}`);
      }
      return withStatus;
    },
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(what: string, cond: () => boolean, boundMs: number): Promise<void> {
  const until = performance.now() + boundMs;
  while (!cond()) {
    if (performance.now() > until) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(1);
  }
}

async function* run(filter: (name: string) => boolean): AsyncIterable<BenchResult> {
  const server = await startFakeApiServer({ historyLimit: 100_000 });
  try {
    server.objects.put("ipaddresspools.metallb.io", poolObject("bench", ["10.64.0.0/14"]) as never);
    let running = await startController(server);

    // Latency first, on a quiet controller, against the server's own GET round trip.
    if (filter("controller_latency_p99")) {
      const kc = kubeConfig(server);
      server.objects.put("services", serviceObject("default", "probe") as never);
      const gets: number[] = [];
      for (let i = 0; i < LATENCY_SAMPLES; i++) {
        const t = performance.now();
        await kubeRequest(kc, "GET", "/api/v1/namespaces/default/services/probe");
        gets.push(performance.now() - t);
      }
      const watcher = statusWatcher(server);
      const lat: number[] = [];
      for (let i = 0; i < LATENCY_SAMPLES; i++) {
        const key = `latency/l${i}`;
        const t = performance.now();
        server.objects.put("services", serviceObject("latency", `l${i}`) as never);
        await waitFor(key, () => watcher.poll().has(key), 30_000);
        lat.push(performance.now() - t);
      }
      const p99 = percentile(lat, 99);
      const base = percentile(gets, 99);
      yield result("controller_latency_p99", round(p99), "ms", {
        baseline: round(base),
        extra: { p50: round(percentile(lat, 50)), samples: LATENCY_SAMPLES },
      });
    }

    const watcher = statusWatcher(server);
    const markAssign = server.requestLog.length;
    const t0 = performance.now();
    for (let i = 0; i < COUNT; i++) {
      server.objects.put(
        "services",
        serviceObject(`ns${i % 50}`, `svc${i}`, {
          created: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
        }) as never,
      );
    }
    await waitFor("10,000 statuses", () => watcher.poll().size >= COUNT, 600_000);
    const assignSeconds = (performance.now() - t0) / 1000;
    if (filter("controller_assign_10k")) {
      const requests = server.requestLog.slice(markAssign).filter((r) =>
        WRITE_VERBS.has(r.verb)
      ).length;
      // Reference: the same number of write requests sent straight through the client at the
      // controller's concurrency, i.e. what the API path alone costs for this work.
      const perRequest = await writeCost(server);
      yield result("controller_assign_10k", round(assignSeconds), "s", {
        baseline: round(perRequest * requests),
        extra: { services: COUNT, writeRequests: requests, passes: running.controller.passes() },
      });
    }

    if (filter("controller_restart_ready") || filter("controller_restart_writes")) {
      // Let the first controller finish annotations, Events and pool status, then restart.
      await running.controller.idle();
      await waitFor("pool status", () => {
        const p = server.objects.get("ipaddresspools.metallb.io", TEST_NAMESPACE, "bench");
        const used = (p?.status as { assignedIPv4?: number } | undefined)?.assignedIPv4;
        return used === COUNT + (filter("controller_latency_p99") ? LATENCY_SAMPLES + 1 : 0);
      }, 120_000);
      await running.stop();
      const mark = server.requestLog.length;
      const t1 = performance.now();
      running = await startController(server);
      const readySeconds = (performance.now() - t1) / 1000;
      await running.controller.idle();
      const writes = server.requestLog.slice(mark).filter((r) => WRITE_VERBS.has(r.verb)).length;
      if (filter("controller_restart_ready")) {
        yield result("controller_restart_ready", round(readySeconds), "s", {
          extra: { services: COUNT },
        });
      }
      if (filter("controller_restart_writes")) {
        yield result("controller_restart_writes", writes, "requests", {
          extra: { expected: 0 },
        });
      }
    }
    await running.stop();
  } finally {
    await server.close();
  }
}

/** Seconds per status merge-patch, sent 64 at a time, measured over 3,000 requests. */
async function writeCost(server: FakeApiServer): Promise<number> {
  const kc = kubeConfig(server);
  const n = 3000;
  server.objects.put(
    "services",
    serviceObject("baseline", "target", { spec: { type: "ClusterIP" } }) as never,
  );
  let next = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < n) {
      next++;
      await kubeRequest(kc, "PATCH", "/api/v1/namespaces/baseline/services/target/status", {
        body: { status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] } } },
        contentType: "application/merge-patch+json",
      });
    }
  }));
  return (performance.now() - t) / 1000 / n;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** The controller's benchmarks (see the module comment). */
export const suite: BenchSuite = { names: NAMES, run };

if (import.meta.main) {
  for await (const r of run(() => true)) console.log(JSON.stringify(r));
}
