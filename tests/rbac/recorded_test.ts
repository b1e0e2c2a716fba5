/**
 * Least-privilege RBAC, proven on recorded traffic: the real `ferrolb controller` (two
 * replicas) and `ferrolb speaker` run as subprocesses with the compiled binary's permission
 * flags and the command lines of the generated Deployment and DaemonSet, against the fake API
 * server, through the scenarios users go through. The server enforces the committed Roles and
 * ClusterRoles (403 otherwise), so the components must work under exactly them; afterwards
 * every recorded request must be allowed, and every granted verb used by some request.
 *
 * Not replayed: 409 Conflicts on the merge patches of Service status, Service annotations and
 * IPAddressPool status. A real API server never answers a merge patch without a
 * resourceVersion with 409 (it retries internally), so the writer's re-read on conflict there
 * does not happen in a cluster, and RBAC grants no `get` for it.
 */
import assert from "node:assert/strict";
import type { KubeObject } from "../../cluster/types.ts";
import { buildDocuments, DEFAULT_INSTALL } from "../../manifests/generate.ts";
import { type FakeApiServer, startFakeApiServer } from "../fake_apiserver/mod.ts";
import { eventually } from "../fake_apiserver/testing.ts";
import {
  advObject,
  nodeObject,
  peerObject,
  poolObject,
  serviceObject as speakerService,
  sliceObject,
  startTestCollector,
} from "../speaker/testing.ts";
import {
  type ApiCall,
  callsFromRequestLog,
  checkRbac,
  type LoggedRequest,
  type RbacReport,
} from "./mod.ts";

const ROOT = new URL("../../", import.meta.url);
const NS = DEFAULT_INSTALL.namespace;
const BOUND = { boundMs: 30_000 };
const WRITE_VERBS = new Set(["create", "update", "patch", "delete"]);

// deno-lint-ignore no-explicit-any
type Loose = any;
const installDocs = buildDocuments().map((d) => d.value as Loose);
const rbacDocs = installDocs;

function containerArgs(kind: "Deployment" | "DaemonSet"): string[] {
  const doc = installDocs.find((d) => d.kind === kind);
  assert.ok(doc, `the install manifest has no ${kind}`);
  return [...doc.spec.template.spec.containers[0].args];
}

/** The permission flags `deno task compile` bakes into the binary, plus the test's kubeconfigs. */
async function binaryPermissions(extraRead: string): Promise<string[]> {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const flags = String(denoJson.tasks.compile).split(/\s+/).filter((w) => w.startsWith("--allow"));
  assert.ok(flags.some((f) => f.startsWith("--allow-read=")), "compile has no --allow-read");
  assert.ok(!flags.includes("--allow-sys") && !flags.includes("--allow-all"));
  return flags.map((f) => f.startsWith("--allow-read=") ? `${f},${extraRead}` : f);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function httpGet(url: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url);
    return { status: res.status, body: await res.text() };
  } catch {
    return { status: 0, body: "" };
  }
}

interface RoleProcess {
  admin: string;
  logs(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number>;
  kill(): Promise<void>;
}

/**
 * Runs `main.ts` with the manifest's args for `kind` (admin address moved to loopback) and
 * the pod's environment (`env`), as the container would run the binary.
 */
async function startRole(
  kind: "Deployment" | "DaemonSet",
  kubeconfig: string,
  env: Record<string, string>,
): Promise<RoleProcess> {
  const port = freePort();
  const args = [
    ...containerArgs(kind).filter((a) => !a.startsWith("--admin-addr")),
    `--admin-addr=127.0.0.1:${port}`,
    `--kubeconfig=${kubeconfig}`,
  ];
  const passThrough: Record<string, string> = {};
  for (const name of ["HOME", "DENO_DIR", "XDG_CACHE_HOME", "PATH"]) {
    const v = Deno.env.get(name);
    if (v !== undefined) passThrough[name] = v;
  }
  const dir = kubeconfig.slice(0, kubeconfig.lastIndexOf("/"));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...await binaryPermissions(dir), "main.ts", ...args],
    cwd: ROOT.pathname,
    clearEnv: true,
    env: { ...passThrough, FERROLB_NAMESPACE: NS, ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const drain = (stream: ReadableStream<Uint8Array>) =>
    (async () => {
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
    })();
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  return {
    admin: `http://127.0.0.1:${port}`,
    logs: () => text,
    async stop() {
      child.kill("SIGTERM");
      const status = await child.status;
      exited = true;
      await drained;
      return status.code;
    },
    async kill() {
      if (exited) return;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await drained;
      exited = true;
    },
  };
}

function put(server: FakeApiServer, resource: string, obj: KubeObject): void {
  server.objects.put(resource, obj as never);
}

function ingressOf(server: FakeApiServer, ns: string, name: string): string[] {
  const s = server.objects.get("services", ns, name) as KubeObject | undefined;
  const ingress = (s?.status as { loadBalancer?: { ingress?: { ip: string }[] } } | undefined)
    ?.loadBalancer?.ingress ?? [];
  return ingress.map((i) => i.ip);
}

function resultOf(server: FakeApiServer, name: string): string | undefined {
  const cs = server.objects.get("configurationstates.metallb.io", NS, name);
  return (cs?.status as { result?: string } | undefined)?.result;
}

function eventReasons(server: FakeApiServer, ns: string): string[] {
  return server.objects.list("events", ns).map((e) => String(e.reason));
}

function basicAuthSecret(name: string, password: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name, namespace: NS },
    type: "kubernetes.io/basic-auth",
    data: { password: btoa(password) },
  };
}

function controllerService(name: string, annotations: Record<string, string>): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: "default",
      uid: `uid-${name}`,
      creationTimestamp: "2026-01-01T00:00:00Z",
      annotations,
    },
    spec: { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }] },
  };
}

function pool(name: string, addresses: string[], spec: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: NS },
    spec: { addresses, ...spec },
  };
}

/**
 * Makes the fake API server enforce the committed RBAC like a real one: each user named
 * `<serviceAccount>-…` is that service account, and a request its roles do not allow gets 403.
 * So the scenarios also show the components work (sync, become ready) under exactly these
 * roles, not merely that their traffic would have been allowed.
 */
function enforceRbac(
  serviceAccountOf: (user: string) => string,
): (user: string, request: Readonly<LoggedRequest>) => boolean {
  return (user, request) => {
    const calls = callsFromRequestLog([request], `${NS}/${serviceAccountOf(user)}`);
    return calls.length === 0 || checkRbac(calls, rbacDocs).denied.length === 0;
  };
}

/** The distinct requests the server refused with 403, for failure messages. */
function forbidden(server: FakeApiServer): string {
  const seen = server.requestLog.filter((r) => r.status === 403).map((r) =>
    `${r.verb} ${r.group || "core"}/${r.resource}${r.subresource ? `/${r.subresource}` : ""}`
  );
  return [...new Set(seen)].join(", ") || "none";
}

/** `verb group/resource[/subresource]`, for readable messages. */
function callKey(c: ApiCall): string {
  const res = `${c.apiGroup || "core"}/${c.resource}${c.subresource ? `/${c.subresource}` : ""}`;
  return `${c.verb} ${res}`;
}

function describe(report: RbacReport): string {
  return JSON.stringify(
    {
      denied: [...new Set(report.denied.map((d) => `${callKey(d.call)} in ${d.call.namespace}`))],
      unused: report.unused.map((p) => `${p.role}: ${p.verb} ${p.apiGroup}/${p.resource}`),
    },
    null,
    2,
  );
}

/** Only the permissions of `component`'s own roles: the other component's are not its concern. */
function reportFor(component: string, calls: ApiCall[]): RbacReport {
  const report = checkRbac(calls, rbacDocs);
  return {
    denied: report.denied,
    unused: report.unused.filter((p) =>
      p.role === `ClusterRole/ferrolb:${component}` || p.role === `Role/${NS}/${component}`
    ),
  };
}

/**
 * The other side of "nothing unused": with any one verb taken out of `component`'s roles,
 * some recorded call is denied. Shows the check can fail, permission by permission.
 */
function assertEveryVerbNeeded(component: string, calls: ApiCall[]): number {
  let tried = 0;
  installDocs.forEach((doc, d) => {
    if (doc.kind !== "Role" && doc.kind !== "ClusterRole") return;
    if (!String(doc.metadata.name).endsWith(component)) return;
    doc.rules.forEach((rule: Loose, r: number) => {
      for (const verb of rule.verbs as string[]) {
        const mutated = structuredClone(installDocs);
        mutated[d].rules[r].verbs = rule.verbs.filter((v: string) => v !== verb);
        const denied = checkRbac(calls, mutated).denied;
        assert.ok(
          denied.length > 0,
          `${doc.kind} ${doc.metadata.name} rule ${r}: no recorded call needs "${verb}"`,
        );
        tried++;
      }
    });
  });
  return tried;
}

async function statusOf(role: RoleProcess): Promise<Loose> {
  return JSON.parse((await httpGet(`${role.admin}/status`)).body || "{}");
}

Deno.test({
  name:
    "RBAC: two controller replicas (seed, invalid edit, delete, failover) need exactly the controller's roles",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startFakeApiServer({
      users: ["replica-a", "replica-b"],
      authorize: enforceRbac(() => "controller"),
    });
    const replicas: RoleProcess[] = [];
    try {
      // The seed example, plus a peer whose password lives in a Secret: the controller must
      // see that Secret, or it would call the configuration invalid.
      put(
        server,
        "ipaddresspools.metallb.io",
        pool("example-pool", ["172.19.0.0/24"], { autoAssign: false }),
      );
      put(server, "secrets", basicAuthSecret("bgp-pass", "s3cret"));
      put(
        server,
        "bgppeers.metallb.io",
        peerObject("router", {
          myASN: 64500,
          peerASN: 64501,
          peerAddress: "192.0.2.1",
          passwordSecret: { name: "bgp-pass", namespace: NS },
        }),
      );
      put(server, "bgpadvertisements.metallb.io", advObject("all"));
      put(server, "namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "default" },
      });
      const annotated = { "metallb.universe.tf/address-pool": "example-pool" };
      put(server, "services", controllerService("example-service", annotated));

      for (const user of ["replica-a", "replica-b"]) {
        replicas.push(await startRole("Deployment", server.kubeconfigFor(user), {}));
      }
      const [a, b] = replicas;

      // Both replicas are ready (a 2-replica rollout completes); exactly one leads.
      await eventually("both replicas ready", async () => {
        const codes = await Promise.all(
          replicas.map(async (r) => (await httpGet(`${r.admin}/readyz`)).status),
        );
        return codes.every((c) => c === 200);
      }, BOUND).catch((err) => {
        throw new Error(`${err.message}; forbidden: ${forbidden(server)}`);
      });
      await eventually("one leader, one standby", async () => {
        const states = (await Promise.all(replicas.map(statusOf)))
          .map((s) => s.leaderElection?.state).sort();
        return states[0] === "leader" && states[1] === "standby";
      }, BOUND);
      // Over several lease renewals, never two leaders.
      for (let i = 0; i < 10; i++) {
        const states = (await Promise.all(replicas.map(statusOf))).map((s) =>
          s.leaderElection?.state
        );
        assert.notDeepEqual(states, ["leader", "leader"], "two replicas lead at once");
        await new Promise((r) => setTimeout(r, 300));
      }
      const [sa, sb] = await Promise.all(replicas.map(statusOf));
      const [leader, standby] = sa.leaderElection.state === "leader" ? [a, b] : [b, a];
      const [leaderUser, standbyUser] = leader === a
        ? ["replica-a", "replica-b"]
        : ["replica-b", "replica-a"];
      const leaderStatus = leader === a ? sa : sb;
      const standbyStatus = leader === a ? sb : sa;
      assert.notEqual(leaderStatus.leaderElection.identity, standbyStatus.leaderElection.identity);
      const lease = server.objects.get("leases.coordination.k8s.io", NS, "ferrolb-controller");
      assert.equal(
        (lease?.spec as { holderIdentity?: string }).holderIdentity,
        leaderStatus.leaderElection.identity,
      );

      // The seed: address, annotations, Events, pool status, ConfigurationState.
      await eventually(
        "example-service assigned",
        () => ingressOf(server, "default", "example-service")[0] === "172.19.0.0",
        BOUND,
      );
      await eventually("annotations, Events, pool status and ConfigurationState", () => {
        const ann = (server.objects.get("services", "default", "example-service")?.metadata
          .annotations ?? {}) as Record<string, string>;
        const p = server.objects.get("ipaddresspools.metallb.io", NS, "example-pool");
        const reasons = eventReasons(server, "default");
        return ann["metallb.io/ip-allocated-from-pool"] === "example-pool" &&
          reasons.includes("IPAllocated") &&
          (p?.status as { assignedIPv4?: number } | undefined)?.assignedIPv4 === 1 &&
          resultOf(server, "controller") === "Valid";
      }, BOUND);
      // The standby shows the same computed view, without having written anything.
      await eventually(
        "standby sees the assignment",
        async () =>
          (await statusOf(standby)).services?.some((s: Loose) =>
            s.name === "example-service" && s.ips[0] === "172.19.0.0"
          ),
        BOUND,
      );
      assert.equal((await httpGet(`${standby.admin}/readyz`)).status, 200);
      const standbyWrites = server.requestLog.filter((r) =>
        r.user === standbyUser && WRITE_VERBS.has(r.verb) && r.status < 400
      );
      assert.deepEqual(standbyWrites.map((r) => `${r.verb} ${r.path}`), []);
      assert.ok(
        server.requestLog.some((r) =>
          r.user === leaderUser && r.resource === "services" && r.subresource === "status"
        ),
        "the leader wrote the Service status",
      );

      // An invalid edit (overlapping pools) is reported and changes nothing; the fix recovers.
      put(server, "ipaddresspools.metallb.io", pool("overlap", ["172.19.0.128/25"]));
      await eventually(
        "configuration reported invalid",
        () => resultOf(server, "controller") === "Invalid",
        BOUND,
      );
      assert.deepEqual(ingressOf(server, "default", "example-service"), ["172.19.0.0"]);
      put(server, "ipaddresspools.metallb.io", pool("overlap", ["172.20.0.0/30"]));
      await eventually(
        "configuration valid again",
        () => resultOf(server, "controller") === "Valid",
        BOUND,
      );

      // A Service deleted gives its address back; recreated, it is handled afresh and its
      // repeated Warning about the deprecated annotation is counted up, not duplicated.
      server.objects.delete("services", "default", "example-service");
      await eventually("address released", () => {
        const p = server.objects.get("ipaddresspools.metallb.io", NS, "example-pool");
        return (p?.status as { assignedIPv4?: number } | undefined)?.assignedIPv4 === 0;
      }, BOUND);
      put(server, "services", controllerService("example-service", annotated));
      const deprecations = () =>
        server.objects.list("events", "default").filter((e) => e.reason === "DeprecatedAnnotation");
      await eventually("reassigned, Event counted", () => {
        const ev = deprecations()[0];
        return ingressOf(server, "default", "example-service").length === 1 &&
          Number(ev?.count) >= 2;
      }, BOUND).catch((err) => {
        throw new Error(
          `${(err as Error).message}; ingress ${
            JSON.stringify(ingressOf(server, "default", "example-service"))
          }, DeprecatedAnnotation events ${
            JSON.stringify(deprecations().map((e) => ({ name: e.metadata.name, count: e.count })))
          }\n${replicas.map((r) => r.logs().slice(-3000)).join("\n-----\n")}`,
        );
      });

      // Failover: the leader stops, releases the Lease, and the standby takes over and writes.
      assert.equal(await leader.stop(), 0, leader.logs());
      await eventually(
        "standby leads",
        async () => (await statusOf(standby)).leaderElection?.state === "leader",
        BOUND,
      );
      const after = server.objects.get("leases.coordination.k8s.io", NS, "ferrolb-controller");
      assert.equal(
        (after?.spec as { holderIdentity?: string }).holderIdentity,
        standbyStatus.leaderElection.identity,
      );
      put(server, "services", controllerService("second", annotated));
      await eventually(
        "new leader assigns",
        () => ingressOf(server, "default", "second").length === 1,
        BOUND,
      );
      assert.ok(
        server.requestLog.some((r) =>
          r.user === standbyUser && r.resource === "services" && r.subresource === "status"
        ),
      );
      assert.equal(await standby.stop(), 0, standby.logs());

      const calls = callsFromRequestLog(
        server.requestLog.filter((r) => r.user !== undefined),
        `${NS}/controller`,
      );
      const report = reportFor("controller", calls);
      assert.deepEqual(report.denied, [], describe(report));
      assert.deepEqual(report.unused, [], describe(report));
      const verbs = assertEveryVerbNeeded("controller", calls);
      console.log(
        `controller: ${calls.length} calls, ${report.denied.length} denied, ` +
          `${report.unused.length} unused permissions; each of ${verbs} granted verbs needed`,
      );
    } finally {
      for (const r of replicas) await r.kill();
      await server.close();
    }
  },
});

Deno.test({
  name:
    "RBAC: the speaker (announce, password Secret, hand-edited status, withdraw) needs exactly the speaker's roles",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const server = await startFakeApiServer({
      users: ["speaker-n1"],
      authorize: enforceRbac(() => "speaker"),
    });
    const collector = await startTestCollector({ asn: 64501, routerId: "10.255.0.1" });
    const collector3 = await startTestCollector({ asn: 64503, routerId: "10.255.0.3" });
    let speaker: RoleProcess | undefined;
    try {
      put(server, "ipaddresspools.metallb.io", poolObject("pool-a", ["192.0.2.0/26"]));
      put(server, "bgpadvertisements.metallb.io", advObject("all"));
      put(
        server,
        "bgppeers.metallb.io",
        peerObject("router1", {
          myASN: 64500,
          peerASN: 64501,
          peerAddress: "127.0.0.1",
          peerPort: collector.addr.port,
        }),
      );
      // A second peer authenticates with a Secret in the install namespace.
      put(server, "secrets", basicAuthSecret("router2-pass", "s3cret"));
      put(
        server,
        "bgppeers.metallb.io",
        peerObject("router2", {
          myASN: 64500,
          peerASN: 64502,
          peerAddress: "127.0.0.2",
          passwordSecret: { name: "router2-pass", namespace: NS },
        }),
      );
      put(server, "nodes", nodeObject("n1", { internalIP: "10.0.0.11" }));
      put(server, "services", speakerService("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
      put(server, "endpointslices.discovery.k8s.io", sliceObject("web", [{ node: "n1" }]));
      // The DaemonSet's downward API gives the node name as NODE_NAME.
      speaker = await startRole("DaemonSet", server.kubeconfigFor("speaker-n1"), {
        NODE_NAME: "n1",
      });

      const announced = () =>
        collector.routes().some((p) => p.routes.some((r) => r.prefix === "192.0.2.10/32"));
      await collector.waitFor(announced, { timeoutMs: 30_000 }).catch((err) => {
        throw new Error(`${err.message}; forbidden: ${forbidden(server)}`);
      });
      const bgpStatuses = () => server.objects.list("servicebgpstatuses.metallb.io", NS);
      await eventually(
        "ServiceBGPStatus, ConfigurationState and nodeAssigned",
        () =>
          bgpStatuses().length === 1 && resultOf(server, "speaker-n1") !== undefined &&
          eventReasons(server, "default").includes("nodeAssigned"),
        BOUND,
      );
      // The Secret was read: router2 is dialled with its TCP MD5 password (nothing answers
      // there), it is not reported as a missing Secret.
      const status = await statusOf(speaker);
      assert.ok(
        !JSON.stringify(status.config).includes("not found"),
        JSON.stringify(status.config),
      );

      // Someone edits the ServiceBGPStatus by hand; when a peer is added the speaker writes
      // the new peer list and puts the labels back.
      const [st] = bgpStatuses();
      put(server, "servicebgpstatuses.metallb.io", {
        ...st,
        metadata: { ...st.metadata, labels: { "metallb.io/node": "edited" } },
      } as KubeObject);
      put(
        server,
        "bgppeers.metallb.io",
        peerObject("router3", {
          myASN: 64500,
          peerASN: 64503,
          peerAddress: "127.0.0.1",
          peerPort: collector3.addr.port,
        }),
      );
      await eventually(
        "new peer written, hand edit undone",
        () =>
          bgpStatuses()[0]?.metadata.labels?.["metallb.io/node"] === "n1" &&
          ((bgpStatuses()[0]?.status as { peers?: string[] }).peers ?? []).includes("router3"),
        BOUND,
      ).catch(async (err) => {
        throw new Error(
          `${err.message}; objects: ${JSON.stringify(bgpStatuses())}; status: ${
            JSON.stringify((await statusOf(speaker!)).sessions)
          }; logs: ${speaker!.logs().slice(-3000)}`,
        );
      });

      // Endpoints gone: withdrawn, status deleted. Back: announced again, Event counted up.
      put(server, "endpointslices.discovery.k8s.io", sliceObject("web", []));
      await eventually("ServiceBGPStatus deleted", () => bgpStatuses().length === 0, BOUND);
      put(server, "endpointslices.discovery.k8s.io", sliceObject("web", [{ node: "n1" }]));
      await eventually("announced again, Event counted", () => {
        const ev = server.objects.list("events", "default").find((e) =>
          e.reason === "nodeAssigned"
        );
        return bgpStatuses().length === 1 && Number(ev?.count) >= 2;
      }, BOUND);
      assert.equal(await speaker.stop(), 0, speaker.logs());

      const calls = callsFromRequestLog(
        server.requestLog.filter((r) => r.user === "speaker-n1"),
        `${NS}/speaker`,
      );
      const report = reportFor("speaker", calls);
      assert.deepEqual(report.denied, [], describe(report));
      assert.deepEqual(report.unused, [], describe(report));
      const verbs = assertEveryVerbNeeded("speaker", calls);
      console.log(
        `speaker: ${calls.length} calls, ${report.denied.length} denied, ` +
          `${report.unused.length} unused permissions; each of ${verbs} granted verbs needed`,
      );
    } finally {
      await speaker?.kill();
      await collector.close();
      await collector3.close();
      await server.close();
    }
  },
});
