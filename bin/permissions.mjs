// @ts-check
/**
 * Which Deno permissions one `ferrolb` command line needs, and which kubeconfig it uses.
 * Plain JavaScript without dependencies so the Node launcher (`bin/ferrolb.mjs`) and the
 * TypeScript program (`cmd/args.ts`) share one answer; nothing here touches the file system
 * or the environment itself: the callers pass those in.
 */

import { splitArgv } from "./argv.mjs";
import { LIBC_CANDIDATES } from "../bgp/libc_paths.mjs";
import { ENV_VARS } from "../cluster/env_vars.mjs";

// One list each, kept where the program uses them; re-exported for the launcher and tests.
export { ENV_VARS, LIBC_CANDIDATES };

/**
 * V8 flags every run of the program gets (launcher, `deno task compile`, the image): a young
 * generation of at most 2 x 4 MB instead of 2 x 16 MB, and an old generation allowed to grow
 * 1.5x past what the last full GC kept instead of up to 4x during the start. Together they
 * cut peak resident memory at 10,000 Services ~220 -> ~150 MB and at 100,000 ~725 -> ~510 MB,
 * for a slower cold start (still within the issue's 3 s / 15 s). `--no-opt` leaves out V8's top
 * tier (TurboFan; Maglev still optimizes hot code): its code, its compile zones and the
 * deoptimization data cost ~5 MiB at 10,000 Services and ~25-30 MiB at 100,000 x 4 peers, for a
 * 100,000-Service cold start ~0.9 s slower (4.9 s, against 15 s).
 * `--no-concurrent-recompilation` has Maglev compile on the main thread, between tasks, instead
 * of on V8's worker threads: their compile zones and glibc arenas (one per thread) held ~5 MiB
 * at the 10,000-Service peak (~98 -> ~92 MiB), for a cold start of 100,000 ~0.5 s slower.
 * Issue 13.
 */
export const V8_FLAGS =
  "--max-semi-space-size=4,--heap-growing-percent=50,--no-opt,--no-concurrent-recompilation";

/** The in-cluster service account directory (token, CA, namespace). */
export const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Roles that talk to the Kubernetes API unless `--config-dir` is given. */
const CLUSTER_ROLES = new Set(["controller", "speaker", "all"]);
/**
 * Roles given `--allow-ffi` to libc: BGP sessions with TCP MD5 or a source address, and the
 * open/maximum file descriptor metrics (cmd/fd_count.ts) of every long-running role, as in the
 * image, whose baked flags give every role the same libc path.
 */
const FFI_ROLES = new Set(["controller", "speaker", "all", "demo"]);

/**
 * @typedef {{ type: string }} FlagType
 * @typedef {{ flags: Record<string, FlagType> }} FlagTable
 * @typedef {{ role?: string, flags: Record<string, string | boolean>, positionals: string[] }} Scan
 */

/**
 * Splits argv like the program does (bin/argv.mjs, the same grammar), without judging it:
 * unknown flags are skipped so a mistake still reaches the program, which explains it.
 * @param {string[]} argv
 * @param {FlagTable} table
 * @returns {Scan}
 */
export function scanArgs(argv, table) {
  const { values, positionals } = splitArgv(argv, { ...table.flags, role: { type: "string" } }, {
    lenient: true,
  });
  const role = typeof values.role === "string" ? values.role : positionals.shift();
  return { role, flags: values, positionals };
}

/**
 * Joins a path onto a base unless it is absolute (POSIX paths).
 * @param {string} base
 * @param {string} path
 */
function absolute(base, path) {
  // No base: the caller is the program itself, whose relative paths already mean the cwd.
  if (base === "") return path;
  if (path.startsWith("/")) return normalize(path);
  return normalize(`${base.replace(/\/+$/, "")}/${path}`);
}

/**
 * Removes `.`/`..` segments and doubled slashes.
 * @param {string} path
 */
function normalize(path) {
  const out = [];
  for (const seg of path.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") out.pop();
    else out.push(seg);
  }
  return "/" + out.join("/");
}

/**
 * The kubeconfig a cluster role uses, as controller-runtime orders it: `--kubeconfig`, then
 * `KUBECONFIG` (the first existing entry of a colon-separated list), then nothing when running
 * in a cluster (the service account), then `$HOME/.kube/config` when it exists.
 * @param {{ flag?: string, env: (name: string) => string | undefined, cwd: string,
 *   exists: (path: string) => boolean }} options
 * @returns {string | undefined} an absolute path, or undefined for in-cluster (or none)
 */
export function resolveKubeconfig(options) {
  const { flag, env, cwd, exists } = options;
  if (flag) return absolute(cwd, flag);
  const list = env("KUBECONFIG");
  if (list) {
    const entries = list.split(":").filter((p) => p !== "").map((p) => absolute(cwd, p));
    return entries.find(exists) ?? entries[0];
  }
  if (env("KUBERNETES_SERVICE_HOST")) return undefined;
  const home = env("HOME");
  if (home) {
    const path = absolute(cwd, `${home}/.kube/config`);
    if (exists(path)) return path;
  }
  return undefined;
}

/**
 * Files a kubeconfig points at (CA, client certificate and key, token file), so the program
 * may read them too; paths are relative to the kubeconfig's directory, as kubectl reads them.
 * A text scan, block or flow style, so the launcher needs no YAML parser.
 * @param {string} kubeconfigPath absolute
 * @param {string} text the kubeconfig's content
 * @returns {string[]}
 */
export function kubeconfigFiles(kubeconfigPath, text) {
  const dir = kubeconfigPath.replace(/\/[^/]*$/, "") || "/";
  const out = [];
  const re =
    /(?:^|[\s{,])(certificate-authority|client-certificate|client-key|tokenFile|token-file)\s*:\s*["']?([^"'\s#,{}]+)/gm;
  for (const m of text.matchAll(re)) out.push(absolute(dir, m[2]));
  return out;
}

/**
 * `:7472` or `0.0.0.0:7472` is reached on loopback; status dials exactly this.
 * @param {string} addr
 */
export function dialableAddr(addr) {
  if (addr.startsWith(":")) return `127.0.0.1${addr}`;
  if (addr.startsWith("0.0.0.0:")) return `127.0.0.1${addr.slice(7)}`;
  if (addr.startsWith("[::]:")) return `[::1]${addr.slice(4)}`;
  return addr;
}

/**
 * The `deno run` permission flags for one command line: read and write only what it names,
 * plus what the role needs. Never `-A`.
 * @param {Scan} scan
 * @param {{ root: string, cwd: string, tmpdir: string, env: (name: string) => string | undefined,
 *   exists: (path: string) => boolean, readText: (path: string) => string | undefined }} ctx
 * @returns {string[]}
 */
export function permissionFlags(scan, ctx) {
  const { role, flags, positionals } = scan;
  const read = [ctx.root];
  const write = [];
  /** @param {string} name */
  const str = (name) => (typeof flags[name] === "string" ? String(flags[name]) : undefined);
  const configDir = str("config-dir");
  const stateDir = str("state-dir");
  if (role === "validate") { for (const p of positionals) read.push(absolute(ctx.cwd, p)); }
  if (role === "demo") {
    read.push(absolute(ctx.cwd, positionals[0] ?? `${ctx.root}/examples/quickstart`));
    // Without --state-dir the demo keeps a throwaway state in the temp directory.
    if (!stateDir) {
      read.push(ctx.tmpdir);
      write.push(ctx.tmpdir);
    }
  }
  if (role === "all" && configDir) {
    read.push(absolute(ctx.cwd, configDir));
    const state = absolute(ctx.cwd, stateDir ?? ".ferrolb-state");
    read.push(state);
    write.push(state);
  } else if (stateDir && (role === "demo" || role === "all")) {
    read.push(absolute(ctx.cwd, stateDir));
    write.push(absolute(ctx.cwd, stateDir));
  }
  if (role !== undefined && CLUSTER_ROLES.has(role) && !(role === "all" && configDir)) {
    read.push(SERVICE_ACCOUNT_DIR);
    const kc = resolveKubeconfig({
      flag: str("kubeconfig"),
      env: ctx.env,
      cwd: ctx.cwd,
      exists: ctx.exists,
    });
    if (kc) {
      read.push(kc);
      const text = ctx.readText(kc);
      if (text !== undefined) read.push(...kubeconfigFiles(kc, text));
    }
  }
  const out = [`--allow-read=${unique(read).join(",")}`];
  if (write.length > 0) out.push(`--allow-write=${unique(write).join(",")}`);
  out.push(`--allow-env=${ENV_VARS.join(",")}`);
  if (role === "status") {
    out.push(`--allow-net=${dialableAddr(str("addr") ?? str("admin-addr") ?? "127.0.0.1:7472")}`);
  } else if (role !== "validate") {
    out.push("--allow-net");
  }
  if (role !== undefined && FFI_ROLES.has(role)) {
    const libc = LIBC_CANDIDATES.find(ctx.exists);
    if (libc) out.push(`--allow-ffi=${libc}`);
  }
  return out;
}

/** @param {string[]} list */
function unique(list) {
  return [...new Set(list)];
}
