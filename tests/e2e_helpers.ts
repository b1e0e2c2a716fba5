/**
 * Helpers for the end-to-end tests: run the ferrolb binary (main.ts under exactly the
 * permissions of deno.json's `ferrolb` task) as a subprocess, read its logs and /status, and
 * write the manifests a user would.
 */
import type { StatusDocument } from "../cmd/status.ts";

/** The repository root (where deno.json and main.ts are), without a trailing slash. */
export const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * The permission flags of deno.json's `ferrolb` task, read each time so tests cannot drift
 * from what users run. Throws when the task grants everything.
 */
export function taskPermissionFlags(): string[] {
  const json = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`));
  const task: string = json.tasks?.ferrolb;
  if (typeof task !== "string") throw new Error("deno.json has no ferrolb task");
  const words = task.split(/\s+/).filter(Boolean);
  const run = words.indexOf("run");
  const main = words.findIndex((w) => w.endsWith("main.ts"));
  if (run < 0 || main < run) throw new Error(`cannot read the ferrolb task: ${task}`);
  const flags = words.slice(run + 1, main);
  for (const f of flags) {
    if (f === "-A" || f === "--allow-all") throw new Error(`ferrolb task grants everything: ${f}`);
  }
  return flags;
}

/** The command line that runs `ferrolb <args>` as users do (`deno task ferrolb`). */
export function ferrolbCommand(args: string[]): string[] {
  return [
    Deno.execPath(),
    "run",
    // The task runs from the repository; the tests run from a temp directory (so that
    // `--allow-write=.` covers the state directory) and name the config explicitly.
    "--config",
    `${REPO_ROOT}/deno.json`,
    ...taskPermissionFlags(),
    Deno.env.get("FERROLB_E2E_MAIN") ?? `${REPO_ROOT}/main.ts`, // DEV-ONLY
    ...args,
  ];
}

/** Options for {@linkcode spawnFerrolb} and {@linkcode runFerrolb}. */
export interface FerrolbRunOptions {
  /** Working directory: the only place the binary may write. */
  cwd: string;
  /** Network namespace to run in (`ip netns exec`). */
  netns?: string;
}

/** One JSON log line of the binary (or `{msg: text}` for a line that is not JSON). */
export type LogLine = Record<string, unknown> & { msg?: string };

/** A running ferrolb subprocess. */
export interface FerrolbProcess {
  readonly pid: number;
  /** Every stderr line so far. */
  logs(): LogLine[];
  /** Everything written to stdout so far. */
  stdout(): string;
  /** The last `n` stderr lines as text, for failure messages. */
  tail(n?: number): string;
  /** Resolves with the first log line matching `predicate` (also ones already seen). */
  waitForLog(predicate: (l: LogLine) => boolean, options?: PollOptions): Promise<LogLine>;
  /** The admin server's address, from its "admin server listening" log line. */
  adminAddr(): Promise<string>;
  /** Resolves when the process exits. */
  readonly exited: Promise<Deno.CommandStatus>;
  /** Sends `signal` (SIGTERM by default) and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Options of {@linkcode pollUntil}. */
export interface PollOptions {
  /** Overall bound; the test fails after it (default 30 s). */
  timeoutMs?: number;
  intervalMs?: number;
  /** What is awaited, for the failure message. */
  what?: string;
  /** Extra context appended to the failure message (e.g. the process log tail). */
  context?: () => string;
}

/**
 * Calls `fn` until it returns a truthy value (or stops throwing) and returns it; fails after
 * the bound with the last value or error.
 */
export async function pollUntil<T>(
  fn: () => T | Promise<T>,
  options: PollOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const lastText = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${options.what ?? "a condition"}; ` +
          `last: ${lastText}${options.context ? `\n${options.context()}` : ""}`,
      );
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

function spawnCommand(
  argv: string[],
  options: FerrolbRunOptions,
  stdin: "null" | "piped" = "null",
): Deno.ChildProcess {
  const [bin, ...rest] = options.netns ? ["ip", "netns", "exec", options.netns, ...argv] : argv;
  return new Deno.Command(bin, {
    args: rest,
    cwd: options.cwd,
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Starts `ferrolb <args>` as a subprocess; stdout and stderr are collected. */
export function spawnFerrolb(args: string[], options: FerrolbRunOptions): FerrolbProcess {
  const child = spawnCommand(ferrolbCommand(args), options);
  const lines: LogLine[] = [];
  const raw: string[] = [];
  let out = "";
  const readErr = (async () => {
    let buf = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        raw.push(line);
        try {
          lines.push(JSON.parse(line));
        } catch {
          lines.push({ msg: line });
        }
      }
    }
  })();
  const readOut = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) out += chunk;
  })();
  const exited = child.status.then(async (st) => {
    await Promise.all([readErr, readOut]).catch(() => {});
    return st;
  });
  const tail = (n = 40) => raw.slice(-n).join("\n");
  let exitedNow = false;
  exited.then(() => exitedNow = true);

  const proc: FerrolbProcess = {
    pid: child.pid,
    logs: () => [...lines],
    stdout: () => out,
    tail,
    exited,
    waitForLog(predicate, opts = {}) {
      return pollUntil(() => {
        const hit = lines.find(predicate);
        if (!hit && exitedNow) throw new Error("ferrolb exited");
        return hit;
      }, { ...opts, context: () => `ferrolb stderr tail:\n${tail()}` });
    },
    async adminAddr() {
      const l = await proc.waitForLog((l) => l.msg === "admin server listening", {
        what: "the admin server to listen",
      });
      return String(l.addr);
    },
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already exited
      }
      return await exited;
    },
  };
  return proc;
}

/** Runs `ferrolb <args>` to completion. */
export async function runFerrolb(
  args: string[],
  options: FerrolbRunOptions,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const o = await spawnCommand(ferrolbCommand(args), options).output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

/** GETs `path` of the admin server at `addr` (inside `netns` when given). */
export async function adminGet(
  addr: string,
  path: string,
  options: { netns?: string } = {},
): Promise<{ status: number; body: string }> {
  const url = `http://${addr}${path}`;
  if (!options.netns) {
    const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
    return { status: res.status, body: await res.text() };
  }
  // The admin server listens on the namespace's loopback; ask from inside it.
  const script = `const r = await fetch(${JSON.stringify(url)});` +
    `console.log(JSON.stringify({ status: r.status, body: await r.text() }));`;
  const o = await new Deno.Command("ip", {
    args: ["netns", "exec", options.netns, Deno.execPath(), "eval", "--no-config", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!o.success) {
    throw new Error(`fetch in ${options.netns}: ${new TextDecoder().decode(o.stderr)}`);
  }
  return JSON.parse(new TextDecoder().decode(o.stdout));
}

/** The /status document of the instance at `addr`. */
export async function fetchStatus(
  addr: string,
  options: { netns?: string } = {},
): Promise<StatusDocument> {
  const r = await adminGet(addr, "/status", options);
  if (r.status !== 200) throw new Error(`/status answered ${r.status}: ${r.body}`);
  return JSON.parse(r.body);
}

/**
 * Calls `listen(port)` with random ports BGPPeer accepts (`peerPort` is at most 16384, so
 * port 0 will not do) until one is free.
 */
export async function onFreeBgpPort<T>(listen: (port: number) => Promise<T>): Promise<T> {
  for (let attempt = 0;; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * 6_000);
    try {
      return await listen(port);
    } catch (err) {
      if (!(err instanceof Deno.errors.AddrInUse) || attempt > 50) throw err;
    }
  }
}

/** The Service `namespace/name` in a status document. */
export function serviceIn(
  doc: StatusDocument,
  name: string,
  namespace = "default",
): StatusDocument["services"][number] | undefined {
  return doc.services.find((s) => s.name === name && s.namespace === namespace);
}

/** An IPAddressPool manifest. */
export function poolYaml(name: string, addresses: string[]): string {
  return [
    "apiVersion: metallb.io/v1beta1",
    "kind: IPAddressPool",
    "metadata:",
    `  name: ${name}`,
    "  namespace: metallb-system",
    "spec:",
    "  addresses:",
    ...addresses.map((a) => `    - ${a}`),
    "",
  ].join("\n");
}

/** A BGPPeer (v1beta2) manifest. */
export function peerYaml(
  name: string,
  spec: {
    myASN: number;
    peerASN: number;
    peerAddress: string;
    peerPort?: number;
    routerID?: string;
  },
): string {
  return [
    "apiVersion: metallb.io/v1beta2",
    "kind: BGPPeer",
    "metadata:",
    `  name: ${name}`,
    "  namespace: metallb-system",
    "spec:",
    ...Object.entries(spec).map(([k, v]) => `  ${k}: ${typeof v === "string" ? `"${v}"` : v}`),
    "",
  ].join("\n");
}

/** A BGPAdvertisement manifest for `pools`, with optional communities. */
export function advertisementYaml(
  name: string,
  pools: string[],
  communities: string[] = [],
): string {
  return [
    "apiVersion: metallb.io/v1beta1",
    "kind: BGPAdvertisement",
    "metadata:",
    `  name: ${name}`,
    "  namespace: metallb-system",
    "spec:",
    "  ipAddressPools:",
    ...pools.map((p) => `    - ${p}`),
    ...(communities.length ? ["  communities:", ...communities.map((c) => `    - "${c}"`)] : []),
    "",
  ].join("\n");
}

/** A `type: LoadBalancer` Service manifest in `default`. */
export function serviceYaml(name: string, port = 80): string {
  return [
    "apiVersion: v1",
    "kind: Service",
    "metadata:",
    `  name: ${name}`,
    "  namespace: default",
    "spec:",
    "  type: LoadBalancer",
    "  selector:",
    `    app: ${name}`,
    "  ports:",
    "    - protocol: TCP",
    `      port: ${port}`,
    "",
  ].join("\n");
}

/** Writes `text` to `path` atomically (rename), as editors and `kubectl`-style tools do. */
export async function writeAtomically(path: string, text: string): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, text);
  await Deno.rename(tmp, path);
}
