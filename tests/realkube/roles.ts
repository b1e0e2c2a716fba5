/**
 * The controller and speaker as the install manifest runs them: `main.ts` with the container
 * args of its Deployment / DaemonSet, the compiled binary's permission flags, and a
 * kubeconfig holding a ServiceAccount token, in a cleared environment like a pod's.
 */
import { loadAllYaml } from "@kubernetes/client-node";
import { INSTALL_MANIFEST } from "./mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

// deno-lint-ignore no-explicit-any
type Loose = any;

/** The manifest's documents, as applied. */
export function installDocuments(): Loose[] {
  return (loadAllYaml(Deno.readTextFileSync(INSTALL_MANIFEST)) as Loose[]).filter(Boolean);
}

/** The ServiceAccount a workload of the manifest runs as, and its namespace. */
export function serviceAccountOf(
  kind: "Deployment" | "DaemonSet",
): { namespace: string; name: string } {
  const doc = installDocuments().find((d) => d.kind === kind);
  if (!doc) throw new Error(`the install manifest has no ${kind}`);
  return { namespace: doc.metadata.namespace, name: doc.spec.template.spec.serviceAccountName };
}

function containerArgs(kind: "Deployment" | "DaemonSet"): string[] {
  const doc = installDocuments().find((d) => d.kind === kind);
  if (!doc) throw new Error(`the install manifest has no ${kind}`);
  return [...doc.spec.template.spec.containers[0].args];
}

/** The permission flags `deno task compile` bakes into the binary, plus reading `extraRead`. */
function binaryPermissions(extraRead: string): string[] {
  const denoJson = JSON.parse(Deno.readTextFileSync(`${ROOT}deno.json`));
  const flags = String(denoJson.tasks.compile).split(/\s+/).filter((w) => w.startsWith("--allow"));
  if (flags.includes("--allow-all")) throw new Error("the compile task grants everything");
  return flags.map((f) => f.startsWith("--allow-read=") ? `${f},${extraRead}` : f);
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** A running role. */
export interface RoleProcess {
  /** `http://127.0.0.1:PORT` of its admin server. */
  admin: string;
  /** Everything it printed so far. */
  logs(): string;
  /** GET on the admin server: status and body ("" and 0 when it does not answer). */
  get(path: string): Promise<{ status: number; body: string }>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number>;
  /** SIGKILL, if still running. */
  kill(): Promise<void>;
}

/** Starts `kind`'s container command with `kubeconfig` and the pod environment `env`. */
export function startRole(
  kind: "Deployment" | "DaemonSet",
  kubeconfig: string,
  env: Record<string, string>,
): RoleProcess {
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
    args: ["run", ...binaryPermissions(dir), "main.ts", ...args],
    cwd: ROOT,
    clearEnv: true,
    env: { ...passThrough, ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) text += chunk;
  };
  const drained = Promise.all([drain(child.stdout), drain(child.stderr)]);
  let exited = false;
  const admin = `http://127.0.0.1:${port}`;
  return {
    admin,
    logs: () => text,
    async get(path) {
      try {
        const res = await fetch(`${admin}${path}`);
        return { status: res.status, body: await res.text() };
      } catch {
        return { status: 0, body: "" };
      }
    },
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
