/**
 * A real Kubernetes API server for tests, the way controller-runtime's envtest runs one: etcd
 * and kube-apiserver as plain processes on loopback ports (no kubelet, no scheduler), TLS from
 * a throwaway CA, RBAC enforced, service-account tokens mintable through the TokenRequest API,
 * and an audit log of every request. Binaries come from `tests/realkube/build.sh`'s cache;
 * {@linkcode realKubeSkipReason} says why tests cannot run when they are missing.
 */
import * as k8s from "@kubernetes/client-node";
import { forceHttp1, kubeRequest, type KubeRequestOptions } from "../../cluster/kube_config.ts";
import { type AuditEvent, readAuditLog } from "./audit.ts";
import { type ClusterPki, createClusterPki } from "./certs.ts";

export { type AuditEvent, describeAudit, readAuditLog } from "./audit.ts";

/** The Kubernetes version build.sh builds (the cache key). */
export const KUBE_VERSION = "v1.37.2";

/** Where build.sh caches the binaries. */
export function realKubeBinDir(): string {
  const root = Deno.env.get("FERROLB_KUBE_CACHE") ??
    `${Deno.env.get("HOME") ?? "/root"}/.cache/ferrolb`;
  return `${root}/kube-${KUBE_VERSION}/bin`;
}

function executable(path: string): boolean {
  try {
    const st = Deno.statSync(path);
    return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** The etcd to use: the one build.sh built, else Debian's (3.4 serves kube-apiserver too). */
function etcdBinary(): string | undefined {
  return [`${realKubeBinDir()}/etcd`, "/usr/bin/etcd"].find(executable);
}

/** Why the real-server tests cannot run here, or undefined when they can. */
export function realKubeSkipReason(): string | undefined {
  const dir = realKubeBinDir();
  if (!executable(`${dir}/kube-apiserver`)) {
    return `no kube-apiserver ${KUBE_VERSION} in ${dir} (run tests/realkube/build.sh)`;
  }
  if (!etcdBinary()) return `no etcd in ${dir} or /usr/bin (run tests/realkube/build.sh)`;
  if (!executable("/usr/bin/openssl")) return "openssl is not installed";
  return undefined;
}

/** Options for {@linkcode startRealKube}. */
export interface RealKubeOptions {
  /**
   * `all` (default) audits every request (reads too, so a 403 on a list shows); `writes`
   * only create/update/patch/delete, for benchmarks where reads would flood the log.
   */
  audit?: "all" | "writes";
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
}

/** A running etcd + kube-apiserver. */
export interface RealKube {
  /** `https://127.0.0.1:PORT`. */
  url: string;
  caPem: string;
  /** A kubeconfig file for a cluster admin (client certificate in system:masters). */
  adminKubeconfig: string;
  /** The admin's client configuration. */
  kc: k8s.KubeConfig;
  /** The audit log file (JSON lines, one per request at ResponseComplete). */
  auditLog: string;
  /** A scratch directory removed by `stop()`. */
  dir: string;
  /** One API request as the admin; returns parsed JSON, throws `KubeApiError` on non-2xx. */
  request<T = unknown>(
    method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
    path: string,
    options?: KubeRequestOptions,
  ): Promise<T>;
  /** Runs kubectl as the admin; resolves with its exit code and output. */
  kubectl(args: string[], options?: { stdin?: string }): Promise<CommandResult>;
  /**
   * A kubeconfig file authenticating as ServiceAccount `namespace/name` with a token minted
   * through the TokenRequest API (valid for an hour).
   */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<string>;
  /** The audit events so far. */
  audit(): Promise<AuditEvent[]>;
  /** Stops both processes and removes the scratch directory. */
  stop(): Promise<void>;
}

/** What a finished command printed. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A daemon under a small shell guard (see {@linkcode GUARD}); its output goes to a file. */
interface Daemon {
  name: string;
  child: Deno.ChildProcess;
  logFile: string;
}

/**
 * Runs the daemon with its output appended to $LOG (a full pipe would block it), forwards
 * SIGTERM to it, and stops it when the test process is gone (killed, timed out), so a dead
 * run leaves no API server behind. Its pid goes to $LOG.pid for a last-resort SIGKILL.
 */
const GUARD = `"$0" "$@" >>"$LOG" 2>&1 &
pid=$!
echo $pid >"$LOG.pid"
parent=$PPID
trap 'kill -TERM $pid 2>/dev/null' TERM INT
while kill -0 $pid 2>/dev/null; do
  kill -0 $parent 2>/dev/null || kill -TERM $pid 2>/dev/null
  sleep 1 & wait $!
done
wait $pid`;

function spawnDaemon(name: string, bin: string, args: string[], dir: string): Daemon {
  const logFile = `${dir}/${name}.log`;
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", GUARD, bin, ...args],
    env: { LOG: logFile },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  return { name, child, logFile };
}

async function tail(file: string, lines = 30): Promise<string> {
  try {
    return (await Deno.readTextFile(file)).split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

async function stopDaemon(d: Daemon): Promise<void> {
  try {
    d.child.kill("SIGTERM");
  } catch {
    return;
  }
  const killer = setTimeout(() => {
    for (const pid of [readPid(`${d.logFile}.pid`), d.child.pid]) {
      try {
        if (pid && pid > 1) Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
    }
  }, 15_000);
  await d.child.status;
  clearTimeout(killer);
}

function readPid(file: string): number | undefined {
  try {
    return Number(Deno.readTextFileSync(file).trim()) || undefined;
  } catch {
    return undefined;
  }
}

function auditPolicy(mode: "all" | "writes"): string {
  const writes = `  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
`;
  return `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
${mode === "all" ? "  - level: Metadata\n" : `${writes}  - level: None\n`}`;
}

async function startEtcd(dir: string): Promise<{ daemon: Daemon; url: string }> {
  const bin = etcdBinary()!;
  const [client, peer] = [freePort(), freePort()];
  const url = `http://127.0.0.1:${client}`;
  const version = new TextDecoder().decode(
    (await new Deno.Command(bin, { args: ["--version"], stdout: "piped" }).output()).stdout,
  );
  // A test store need not survive a power cut; fsync per write is most of etcd's latency.
  const noFsync = /etcd Version: 3\.[5-9]/.test(version) ? ["--unsafe-no-fsync"] : [];
  const daemon = spawnDaemon("etcd", bin, [
    "--name=realkube",
    `--data-dir=${dir}/etcd`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peer}`,
    `--initial-cluster=realkube=http://127.0.0.1:${peer}`,
    "--log-level=warn",
    "--quota-backend-bytes=4294967296",
    ...noFsync,
  ], dir);
  return { daemon, url };
}

function apiserverArgs(pki: ClusterPki, etcdUrl: string, port: number, dir: string): string[] {
  return [
    `--etcd-servers=${etcdUrl}`,
    "--bind-address=127.0.0.1",
    "--advertise-address=127.0.0.1",
    `--secure-port=${port}`,
    `--cert-dir=${dir}/certs`,
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    "--authorization-mode=RBAC",
    "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    // A /24 has room for 254 Services; the benchmarks create 10,000. Dual-stack, so the
    // dual-stack examples' Services (RequireDualStack) are accepted.
    "--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108",
    // Otherwise it refuses 127.0.0.1 as the address it publishes for the kubernetes Service.
    "--endpoint-reconciler-type=none",
    `--audit-policy-file=${dir}/audit-policy.yaml`,
    `--audit-log-path=${dir}/audit.log`,
    "--audit-log-format=json",
    "--audit-log-mode=blocking",
    "--profiling=false",
    "--v=0",
  ];
}

function adminKubeconfigText(url: string, pki: ClusterPki): string {
  const b64 = (f: string) => btoa(Deno.readTextFileSync(f));
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{
      name: "realkube",
      cluster: { server: url, "certificate-authority-data": b64(pki.caCert) },
    }],
    users: [{
      name: "admin",
      user: {
        "client-certificate-data": b64(pki.adminCert),
        "client-key-data": b64(pki.adminKey),
      },
    }],
    contexts: [{ name: "admin", context: { cluster: "realkube", user: "admin" } }],
    "current-context": "admin",
  });
}

async function waitReady(kc: k8s.KubeConfig, daemons: Daemon[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    for (const d of daemons) {
      const st = await Promise.race([d.child.status, Promise.resolve(undefined)]);
      if (st) throw new Error(`${d.name} exited (${st.code}):\n${await tail(d.logFile)}`);
    }
    try {
      await kubeRequest(kc, "GET", "/readyz", { timeoutMs: 5_000 });
      return;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) {
      const logs = (await Promise.all(daemons.map((d) => tail(d.logFile)))).join("\n---\n");
      throw new Error(`kube-apiserver not ready after ${timeoutMs} ms: ${last}\n${logs}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Tries to start the pair this many times when a picked port was taken meanwhile. */
const PORT_RACE_ATTEMPTS = 4;

/**
 * Starts etcd and kube-apiserver; resolves once `/readyz` answers 200. A free port is picked
 * by binding and closing it, so a process started in between (parallel tests, a busy CI box)
 * may take it first: the daemon then fails with "address already in use" and the pair is
 * started again on new ports.
 */
export async function startRealKube(options: RealKubeOptions = {}): Promise<RealKube> {
  const reason = realKubeSkipReason();
  if (reason) throw new Error(`cannot start a real API server: ${reason}`);
  for (let attempt = 1;; attempt++) {
    try {
      return await startRealKubeOnce(options);
    } catch (err) {
      const raced = String((err as Error).message).includes("address already in use");
      if (!raced || attempt >= PORT_RACE_ATTEMPTS) throw err;
    }
  }
}

async function startRealKubeOnce(options: RealKubeOptions): Promise<RealKube> {
  const dir = await Deno.makeTempDir({ prefix: "ferrolb-realkube-" });
  const daemons: Daemon[] = [];
  const stop = async () => {
    for (const d of [...daemons].reverse()) await stopDaemon(d);
    daemons.length = 0;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    const pki = await createClusterPki(dir);
    await Deno.writeTextFile(`${dir}/audit-policy.yaml`, auditPolicy(options.audit ?? "all"));
    await Deno.writeTextFile(`${dir}/audit.log`, "");
    const etcd = await startEtcd(dir);
    daemons.push(etcd.daemon);
    const port = freePort();
    daemons.push(
      spawnDaemon("kube-apiserver", `${realKubeBinDir()}/kube-apiserver`, [
        ...apiserverArgs(pki, etcd.url, port, dir),
        ...(options.apiserverArgs ?? []),
      ], dir),
    );
    const url = `https://127.0.0.1:${port}`;
    const adminKubeconfig = `${dir}/admin.kubeconfig`;
    await Deno.writeTextFile(adminKubeconfig, adminKubeconfigText(url, pki));
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(adminKubeconfig);
    // HTTP/2 under Deno aborts the whole process when the server sends GOAWAY (on stop).
    forceHttp1(kc);
    await waitReady(kc, daemons, 120_000);
    return realKube({ url, dir, pki, kc, adminKubeconfig, stop });
  } catch (err) {
    await stop();
    throw err;
  }
}

function realKube(parts: {
  url: string;
  dir: string;
  pki: ClusterPki;
  kc: k8s.KubeConfig;
  adminKubeconfig: string;
  stop: () => Promise<void>;
}): RealKube {
  const { url, dir, pki, kc, adminKubeconfig } = parts;
  const caPem = Deno.readTextFileSync(pki.caCert);
  const request: RealKube["request"] = (method, path, options) =>
    kubeRequest(kc, method, path, options);
  return {
    url,
    caPem,
    adminKubeconfig,
    kc,
    dir,
    auditLog: `${dir}/audit.log`,
    request,
    kubectl: (args, options) => kubectl(adminKubeconfig, args, options),
    async serviceAccountKubeconfig(namespace, name) {
      const path = `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`;
      const tr = await request<{ status: { token: string } }>("POST", path, {
        body: {
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenRequest",
          spec: { expirationSeconds: 3600 },
        },
      });
      const file = `${dir}/${namespace}.${name}.kubeconfig`;
      await Deno.writeTextFile(
        file,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{
            name: "realkube",
            cluster: { server: url, "certificate-authority-data": btoa(caPem) },
          }],
          users: [{ name, user: { token: tr.status.token } }],
          contexts: [{ name, context: { cluster: "realkube", user: name, namespace } }],
          "current-context": name,
        }),
      );
      return file;
    },
    audit: () => readAuditLog(`${dir}/audit.log`),
    stop: parts.stop,
  };
}

/** The kubectl binary: build.sh's, else the one on PATH. */
export function kubectlBinary(): string {
  const built = `${realKubeBinDir()}/kubectl`;
  return executable(built) ? built : "kubectl";
}

async function kubectl(
  kubeconfig: string,
  args: string[],
  options: { stdin?: string } = {},
): Promise<CommandResult> {
  const child = new Deno.Command(kubectlBinary(), {
    args: [`--kubeconfig=${kubeconfig}`, ...args],
    stdin: options.stdin !== undefined ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(options.stdin));
    await w.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/**
 * The install manifest users apply (FERROLB_REALKUBE_MANIFEST names another file, to try a
 * manifest under development).
 */
export const INSTALL_MANIFEST = Deno.env.get("FERROLB_REALKUBE_MANIFEST") ??
  new URL("../../manifests/ferrolb.yaml", import.meta.url).pathname;

/**
 * `kubectl apply -f manifests/ferrolb.yaml`, then waits until every CRD is Established, so
 * objects of its kinds can be created. Throws with kubectl's output when the apply fails.
 */
export async function installFerrolb(kube: RealKube): Promise<string[]> {
  const r = await kube.kubectl(["apply", "-f", INSTALL_MANIFEST]);
  if (r.code !== 0) throw new Error(`kubectl apply ${INSTALL_MANIFEST} failed:\n${r.stderr}`);
  const crds = (k8s.loadAllYaml(Deno.readTextFileSync(INSTALL_MANIFEST)) as Loose[])
    .filter((d) => d?.kind === "CustomResourceDefinition")
    .map((d) => String(d.metadata.name));
  const deadline = Date.now() + 60_000;
  for (const name of crds) {
    for (;;) {
      const crd = await kube.request<Loose>(
        "GET",
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
      );
      const c = (crd.status?.conditions ?? []).find((c: Loose) => c.type === "Established");
      if (c?.status === "True") break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return crds;
}

// deno-lint-ignore no-explicit-any
type Loose = any;

/**
 * The collection path for objects of `apiVersion`/`kind` in `namespace`, found through the
 * server's discovery (so CRD kinds and built-in kinds alike).
 */
export async function collectionFor(
  kube: RealKube,
  obj: { apiVersion: string; kind: string; namespace?: string },
): Promise<{ path: string; namespaced: boolean }> {
  const base = obj.apiVersion.includes("/") ? `/apis/${obj.apiVersion}` : `/api/${obj.apiVersion}`;
  const list = await kube.request<{ resources: Loose[] }>("GET", base);
  const r = list.resources.find((r) => r.kind === obj.kind && !String(r.name).includes("/"));
  if (!r) throw new Error(`the server has no ${obj.kind} in ${obj.apiVersion}`);
  const ns = obj.namespace ?? "default";
  return {
    path: r.namespaced ? `${base}/namespaces/${ns}/${r.name}` : `${base}/${r.name}`,
    namespaced: r.namespaced,
  };
}
