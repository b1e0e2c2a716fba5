/**
 * The controller's benchmarks on a real kube-apiserver + etcd (tests/realkube), next to what
 * the server itself took: 10,000 new Services get their IPs (baseline: the time the server
 * took to create them, 32 requests in flight), and the create-to-status latency (baseline:
 * the create request itself). The controller runs in this process with its Kubernetes source
 * and writer, under the manifest's controller ServiceAccount. Figures are null, saying why,
 * when build.sh has not cached the binaries.
 */
import * as k8s from "@kubernetes/client-node";
import { silentLogger } from "../../api/log.ts";
import { createKubeSource } from "../../cluster/kube_source.ts";
import { createKubeWriter, type KubeWriter } from "../../cluster/kube_writer.ts";
import { CONTROLLER_READ_KINDS } from "../../cmd/controller.ts";
import { Controller } from "../../controller/controller.ts";
import {
  installFerrolb,
  readAuditLog,
  type RealKube,
  realKubeSkipReason,
  startRealKube,
} from "../realkube/mod.ts";
import { serviceAccountOf } from "../realkube/roles.ts";
import { type BenchResult, type BenchSuite, result } from "./types.ts";

const NAMES = [
  "realkube_controller_latency_p99",
  "realkube_controller_assign_10k",
  "realkube_controller_restart_writes",
];
const COUNT = 10_000;
const NAMESPACES = 50;
const LATENCY_SAMPLES = 200;
const CREATE_CONCURRENCY = 32;

/** Calls `onIngress` when a Service's non-empty ingress write has been answered. */
function timedWriter(inner: KubeWriter, onIngress: (key: string) => void): KubeWriter {
  return {
    ...inner,
    async setServiceIngress(namespace, name, ingress) {
      await inner.setServiceIngress(namespace, name, ingress);
      if (ingress.length > 0) onIngress(`${namespace}/${name}`);
    },
  };
}

function service(namespace: string, name: string): unknown {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace },
    // A cluster has 2,768 NodePorts by default: 10,000 LoadBalancer Services need none.
    spec: {
      type: "LoadBalancer",
      allocateLoadBalancerNodePorts: false,
      ports: [{ port: 80, protocol: "TCP" }],
    },
  };
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

/** The controller with its source and writer, as `ferrolb controller` wires them. */
async function startController(kubeconfig: string, onIngress: (key: string) => void) {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const namespace = serviceAccountOf("Deployment").namespace;
  // The kinds `ferrolb controller` reads: its Role allows no others.
  const source = createKubeSource(kc, {
    namespace,
    logger: silentLogger,
    kinds: CONTROLLER_READ_KINDS,
  });
  const writer = createKubeWriter(kc, { namespace, logger: silentLogger });
  const controller = new Controller(source, timedWriter(writer, onIngress), {
    namespace,
    logger: silentLogger,
  });
  await controller.start();
  return {
    controller,
    writer,
    async stop() {
      await controller.stop();
      await source.close();
    },
  };
}

/** Creates Services `svc0..svc(n-1)` over the bench namespaces, `CREATE_CONCURRENCY` at once. */
async function createServices(kube: RealKube, n: number): Promise<number> {
  let next = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: CREATE_CONCURRENCY }, async () => {
    while (next < n) {
      const i = next++;
      const ns = `bench${i % NAMESPACES}`;
      await kube.request("POST", `/api/v1/namespaces/${ns}/services`, {
        body: service(ns, `svc${i}`),
      });
    }
  }));
  return (performance.now() - t) / 1000;
}

async function waitFor(what: string, cond: () => boolean, boundMs: number): Promise<void> {
  const until = performance.now() + boundMs;
  while (!cond()) {
    if (performance.now() > until) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function setUp(kube: RealKube): Promise<string> {
  await installFerrolb(kube);
  const sa = serviceAccountOf("Deployment");
  await kube.request("POST", `/apis/metallb.io/v1beta1/namespaces/${sa.namespace}/ipaddresspools`, {
    body: {
      apiVersion: "metallb.io/v1beta1",
      kind: "IPAddressPool",
      metadata: { name: "bench" },
      spec: { addresses: ["10.64.0.0/14"] },
    },
  });
  for (const ns of ["latency", ...Array.from({ length: NAMESPACES }, (_, i) => `bench${i}`)]) {
    await kube.request("POST", "/api/v1/namespaces", {
      body: { apiVersion: "v1", kind: "Namespace", metadata: { name: ns } },
    });
  }
  return await kube.serviceAccountKubeconfig(sa.namespace, sa.name);
}

async function* latency(kube: RealKube, done: Map<string, number>): AsyncIterable<BenchResult> {
  const creates: number[] = [];
  const lat: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES; i++) {
    const key = `latency/l${i}`;
    const t = performance.now();
    await kube.request("POST", "/api/v1/namespaces/latency/services", {
      body: service("latency", `l${i}`),
    });
    creates.push(performance.now() - t);
    await waitFor(key, () => done.has(key), 30_000);
    lat.push(done.get(key)! - t);
  }
  yield result("realkube_controller_latency_p99", round(percentile(lat, 99)), "ms", {
    baseline: round(percentile(creates, 99)),
    extra: { p50: round(percentile(lat, 50)), samples: LATENCY_SAMPLES, baselineIs: "create p99" },
  });
}

async function* run(filter: (name: string) => boolean): AsyncIterable<BenchResult> {
  const reason = realKubeSkipReason();
  if (reason) {
    for (const n of NAMES.filter(filter)) yield result(n, null, "", { extra: { skipped: reason } });
    return;
  }
  const kube = await startRealKube({ audit: "writes" });
  try {
    const kubeconfig = await setUp(kube);
    const done = new Map<string, number>();
    let running = await startController(kubeconfig, (k) => done.set(k, performance.now()));
    if (filter("realkube_controller_latency_p99")) yield* latency(kube, done);

    const t0 = performance.now();
    const createSeconds = await createServices(kube, COUNT);
    const isBench = (k: string) => k.startsWith("bench");
    await waitFor("10,000 ingress writes", () => {
      let n = 0;
      for (const k of done.keys()) if (isBench(k)) n++;
      return n >= COUNT;
    }, 900_000);
    const last = Math.max(...[...done].filter(([k]) => isBench(k)).map(([, t]) => t));
    const stats = running.writer.stats();
    if (filter("realkube_controller_assign_10k")) {
      yield result("realkube_controller_assign_10k", round((last - t0) / 1000), "s", {
        baseline: round(createSeconds),
        extra: {
          services: COUNT,
          baselineIs: "server's time to create the Services",
          writeRequests: stats.writesTotal,
          maxInFlight: stats.maxInFlightSeen,
          passes: running.controller.passes(),
        },
      });
    }

    if (filter("realkube_controller_restart_writes")) {
      await running.controller.idle();
      await running.stop();
      const user = `system:serviceaccount:${serviceAccountOf("Deployment").namespace}:controller`;
      const before = (await readAuditLog(kube.auditLog)).length;
      const t1 = performance.now();
      running = await startController(kubeconfig, () => {});
      const readySeconds = (performance.now() - t1) / 1000;
      await running.controller.idle();
      const writes = (await readAuditLog(kube.auditLog)).slice(before)
        .filter((e) => e.user.username === user && e.objectRef?.resource !== "leases").length;
      yield result("realkube_controller_restart_writes", writes, "requests", {
        extra: { expected: 0, services: COUNT, readySeconds: round(readySeconds) },
      });
    }
    await running.stop();
  } finally {
    await kube.stop();
  }
}

/** The controller on a real API server (see the module comment). */
export const suite: BenchSuite = { names: NAMES, run };

if (import.meta.main) {
  for await (const r of run(() => true)) console.log(JSON.stringify(r));
}
