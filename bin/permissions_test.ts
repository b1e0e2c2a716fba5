import assert from "node:assert/strict";
import {
  ENV_VARS,
  kubeconfigFiles,
  LIBC_CANDIDATES,
  permissionFlags,
  resolveKubeconfig,
  scanArgs,
  V8_FLAGS,
} from "./permissions.mjs";
import spec from "../cmd/flags.json" with { type: "json" };

const ROOT = "/opt/ferrolb";
const LIBC = "/lib/x86_64-linux-gnu/libc.so.6";

function perms(
  argv: string[],
  files: Record<string, string> = {},
  vars: Record<string, string> = {},
): Record<string, string | true> {
  const flags = permissionFlags(scanArgs(argv, spec), {
    root: ROOT,
    cwd: "/home/u/work",
    tmpdir: "/tmp",
    env: (n: string) => vars[n],
    exists: (p: string) => p in files || p === LIBC,
    readText: (p: string) => files[p],
  });
  assert.ok(!flags.some((f: string) => f === "-A" || f === "--allow-all"), flags.join(" "));
  const out: Record<string, string | true> = {};
  for (const f of flags) {
    const [k, v] = f.split("=");
    out[k] = v ?? true;
  }
  return out;
}

Deno.test("validate reads the project and the named paths only: no write, net or ffi", () => {
  const p = perms(["validate", "cfg", "/srv/lb/extra.yaml"]);
  assert.deepEqual(p, {
    "--allow-read": `${ROOT},/home/u/work/cfg,/srv/lb/extra.yaml`,
    "--allow-env": ENV_VARS.join(","),
  });
});

Deno.test("status may dial only the address it asks", () => {
  assert.equal(perms(["status", "--addr", ":7473"])["--allow-net"], "127.0.0.1:7473");
  assert.equal(perms(["status"])["--allow-net"], "127.0.0.1:7472");
  assert.equal(perms(["status"])["--allow-write"], undefined);
});

Deno.test("all on a directory: read the config dir, write only the state dir; ffi to libc", () => {
  const p = perms([
    "--log-level",
    "debug",
    "all",
    "--config-dir=../cfg",
    "--state-dir",
    "/var/lib/lb",
  ]);
  assert.equal(p["--allow-read"], `${ROOT},/home/u/cfg,/var/lib/lb`);
  assert.equal(p["--allow-write"], "/var/lib/lb");
  assert.equal(p["--allow-net"], true);
  assert.equal(p["--allow-ffi"], LIBC);
  // The default state dir is in the working directory.
  assert.equal(
    perms(["all", "--config-dir", "cfg"])["--allow-write"],
    "/home/u/work/.ferrolb-state",
  );
});

Deno.test("cluster roles read the kubeconfig and the files it names, nothing to write", () => {
  const kc = "/home/u/.kube/config";
  const files = {
    [kc]: "clusters:\n- cluster:\n    certificate-authority: ca.crt\n" +
      'users:\n- user: {client-certificate: /pki/me.crt, client-key: "../keys/me.key"}\n',
  };
  const p = perms(["controller"], files, { HOME: "/home/u" });
  assert.equal(
    p["--allow-read"],
    `${ROOT},/var/run/secrets/kubernetes.io/serviceaccount,${kc},/home/u/.kube/ca.crt,/pki/me.crt,/home/u/keys/me.key`,
  );
  assert.equal(p["--allow-write"], undefined);
  assert.equal(p["--allow-ffi"], LIBC, "file descriptors are counted through libc");
  const s = perms(["speaker", "--kubeconfig", "k.yaml"], {}, { HOME: "/home/u" });
  assert.match(String(s["--allow-read"]), /,\/home\/u\/work\/k\.yaml$/);
  assert.equal(s["--allow-ffi"], LIBC);
});

Deno.test("kubeconfig order: flag, KUBECONFIG (first existing), in-cluster, ~/.kube/config", () => {
  const exists = (p: string) => p === "/b" || p === "/h/.kube/config";
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  const r = (flag: string | undefined, vars: Record<string, string>) =>
    resolveKubeconfig({ flag, env: env(vars), cwd: "/w", exists });
  assert.equal(r("k", { KUBECONFIG: "/b" }), "/w/k");
  assert.equal(r(undefined, { KUBECONFIG: "/a:/b", HOME: "/h" }), "/b");
  assert.equal(r(undefined, { KUBERNETES_SERVICE_HOST: "10.0.0.1", HOME: "/h" }), undefined);
  assert.equal(r(undefined, { HOME: "/h" }), "/h/.kube/config");
  assert.equal(r(undefined, { HOME: "/nobody" }), undefined);
  assert.deepEqual(kubeconfigFiles("/k/config", "certificate-authority: /abs/ca\n"), ["/abs/ca"]);
});

Deno.test("the binary's baked flags name the same variables and libc as the launcher", async () => {
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url))).tasks;
  const compile: string = tasks.compile;
  assert.deepEqual(/--allow-env=(\S+)/.exec(compile)?.[1].split(","), [...ENV_VARS]);
  assert.equal(/--allow-ffi=(\S+)/.exec(compile)?.[1], LIBC_CANDIDATES[0]);
  assert.equal(/--v8-flags=(\S+)/.exec(compile)?.[1], V8_FLAGS);
  const image = await Deno.readTextFile(new URL("../Containerfile.offline", import.meta.url));
  assert.ok(
    image.includes(`"--v8-flags=${V8_FLAGS}"`),
    "Containerfile.offline runs without V8_FLAGS",
  );
});
