/**
 * Helpers for the end-to-end tests: run the ferrolb binary (main.ts under exactly the
 * permissions of deno.json's `ferrolb` task) as a subprocess, read its logs and /status, and
 * write the manifests a user would.
 */
import assert from "node:assert/strict";
import type { StatusDocument } from "../cmd/status.ts";

/** The repository root (where deno.json and main.ts are), without a trailing slash. */
export const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * The permission flags baked into the binary and the image (deno.json's `compile` task),
 * read each time so tests cannot drift from what runs in a cluster. (`deno task ferrolb` and
 * `npx ferrolb` compute narrower flags per command line: bin/permissions.mjs, tested in bin/.)
 * Throws when the task grants everything.
 */
export function taskPermissionFlags(): string[] {
  const json = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`));
  const task: string = json.tasks?.compile;
  if (typeof task !== "string") throw new Error("deno.json has no compile task");
  const words = task.split(/\s+/).filter(Boolean);
  const run = words.indexOf("compile");
  const main = words.findIndex((w) => w.endsWith("main.ts"));
  if (run < 0 || main < run) throw new Error(`cannot read the compile task: ${task}`);
  const flags = words.slice(run + 1, main).filter((w) => w.startsWith("--allow-"));
  for (const f of flags) {
    if (f === "-A" || f === "--allow-all") throw new Error(`ferrolb task grants everything: ${f}`);
  }
  return flags;
}

/** The `--v8-flags=` the compile task bakes into the binary (memory tuning), as users get. */
export function taskV8Flags(): string[] {
  const json = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`));
  const task = String(json.tasks?.compile ?? "");
  return task.split(/\s+/).filter((w) => w.startsWith("--v8-flags="));
}

/** The command line that runs `ferrolb <args>` with the binary's baked permissions. */
export function ferrolbCommand(args: string[]): string[] {
  return [
    Deno.execPath(),
    "run",
    // The task runs from the repository; the tests run from a temp directory (so that
    // `--allow-write=.` covers the state directory) and name the config explicitly.
    "--config",
    `${REPO_ROOT}/deno.json`,
    ...taskV8Flags(),
    // Read access to the program's own modules, as the image gives /app and the launcher the
    // repository (the compiled binary embeds them): without it the manifest parser's Worker
    // cannot load and parsing falls back to the main thread, which no user runs.
    ...taskPermissionFlags().map((f) => f.startsWith("--allow-read=") ? `${f},${REPO_ROOT}` : f),
    `${REPO_ROOT}/main.ts`,
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

/** Thrown by a polled function to stop polling at once (the awaited thing cannot happen). */
export class PollAbort extends Error {
  override name = "PollAbort";
}

/**
 * Calls `fn` until it returns a truthy value (or stops throwing) and returns it; fails after
 * the bound with the last value or error, or at once when `fn` throws {@linkcode PollAbort}.
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
      if (err instanceof PollAbort) {
        throw new Error(
          `${options.what ?? "a condition"}: ${err.message}` +
            `${options.context ? `\n${options.context()}` : ""}`,
        );
      }
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
        if (!hit && exitedNow) throw new PollAbort("ferrolb exited");
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

/** A route as the peer router holds it. */
export interface SeenRoute {
  prefix: string;
  nextHop?: string;
  asPath: number[];
  communities: string[];
}

/** The BGP router the scenario peers with (the collector, or GoBGP). */
export interface ScenarioRouter {
  /** BGPPeer spec fields that point at this router. */
  peer: { peerAddress: string; peerASN: number; peerPort?: number };
  /** `ip:port` as /status names the session. */
  label: string;
  /** The next hop ferrolb's routes must carry (its session address). */
  nextHop: string;
  /** Every route the router received from ferrolb. */
  routes(): Promise<SeenRoute[]>;
  /** Identifies the live session (changes when it resets); undefined when it is down. */
  session(): Promise<string | undefined>;
  /** After a clean stop: asserts the session ended as it should (Cease where visible). */
  checkStopped(): Promise<void>;
}

/** Options of {@linkcode fileModeScenario}. */
export interface ScenarioOptions {
  /** Run the binary inside this network namespace. */
  netns?: string;
}

/** ferrolb's AS in the scenario. */
export const SCENARIO_ASN = 64512;
const POOL = "e2e-pool";
const COMMUNITY = "64512:7";

/**
 * The issue's end-to-end script, as test steps: start `ferrolb all` on a temp directory,
 * check the router's routes, add a Service file, delete one, break the pool file two ways,
 * fix it, stop with SIGTERM, restart, and see the same addresses.
 */
export async function fileModeScenario(
  t: Deno.TestContext,
  router: ScenarioRouter,
  options: ScenarioOptions = {},
): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "ferrolb-e2e-" });
  const configDir = `${root}/config`;
  const stateDir = `${root}/state`;
  await Deno.mkdir(configDir);
  const poolFile = `${configDir}/pool.yaml`;
  const goodPool = poolYaml(POOL, ["198.51.100.0/28"]);
  await Deno.writeTextFile(poolFile, goodPool);
  await Deno.writeTextFile(
    `${configDir}/peer.yaml`,
    peerYaml("router", { myASN: SCENARIO_ASN, ...router.peer }),
  );
  await Deno.writeTextFile(
    `${configDir}/advertisement.yaml`,
    advertisementYaml("e2e-adv", [POOL], [COMMUNITY]),
  );
  await Deno.writeTextFile(`${configDir}/alpha.yaml`, serviceYaml("alpha"));

  const argv = [
    "all",
    "--config-dir",
    configDir,
    "--state-dir",
    stateDir,
    "--node-name",
    "e2e-node",
    "--admin-addr",
    "127.0.0.1:0",
  ];
  const run = { cwd: root, netns: options.netns };
  let proc: FerrolbProcess | undefined;
  let addr = "";
  const context = () => `ferrolb stderr tail:\n${proc?.tail() ?? ""}`;
  const status = () => fetchStatus(addr, { netns: options.netns });
  const prefixes = async () => (await router.routes()).map((r) => r.prefix).sort();
  const routeFor = async (ip: string) =>
    (await router.routes()).find((r) => r.prefix === `${ip}/32`);
  const addressOf = (name: string) =>
    pollUntil(async () => serviceIn(await status(), name)?.ips[0], {
      what: `${name} to get an address`,
      context,
    });
  let alphaIP = "";
  let webIP = "";
  // Each step builds on the one before; after a failure the rest would only time out.
  let failed = false;
  const step = async (name: string, fn: () => Promise<void>) => {
    if (failed) return;
    if (!await t.step(name, fn)) failed = true;
  };

  try {
    await step("starts, assigns an address and announces it", async () => {
      proc = spawnFerrolb(argv, run);
      addr = await proc.adminAddr();
      await pollUntil(
        async () => (await adminGet(addr, "/readyz", { netns: options.netns })).status === 200,
        { what: "/readyz", context },
      );
      alphaIP = await addressOf("alpha");
      assert.match(alphaIP, /^198\.51\.100\.([0-9]|1[0-5])$/);
      const route = await pollUntil(() => routeFor(alphaIP), {
        what: `${alphaIP}/32 at the router`,
        context,
      });
      assert.equal(route.nextHop, router.nextHop);
      assert.deepEqual(route.asPath, [SCENARIO_ASN]);
      assert.deepEqual(route.communities, [COMMUNITY]);

      const doc = await pollUntil(async () => {
        const d = await status();
        const s = d.sessions.find((s) => s.peer === router.label);
        return s?.state === "Established" && serviceIn(d, "alpha")?.peers.length ? d : undefined;
      }, { what: "/status to show the session and the announcement", context });
      assert.equal(doc.role, "all");
      assert.equal(doc.node, "e2e-node");
      assert.equal(doc.config.valid, true, doc.config.errors.join("\n"));
      const alpha = serviceIn(doc, "alpha")!;
      assert.deepEqual(alpha.ips, [alphaIP]);
      assert.equal(alpha.pool, POOL);
      assert.deepEqual(alpha.peers, [router.label]);
      assert.deepEqual(doc.pools.find((p) => p.name === POOL)?.ipv4, { used: 1, total: 16 });
      const session = doc.sessions.find((s) => s.peer === router.label)!;
      assert.ok(session.prefixesSent >= 1, JSON.stringify(session));

      const metrics = (await adminGet(addr, "/metrics", { netns: options.netns })).body;
      const label = router.label.replaceAll(".", "\\.");
      assert.match(metrics, new RegExp(`metallb_bgp_session_up\\{peer="${label}"\\} 1`));
      assert.equal((await adminGet(addr, "/healthz", { netns: options.netns })).status, 200);
    });

    await step("a new Service file gets an address and a route", async () => {
      await writeAtomically(`${configDir}/web.yaml`, serviceYaml("web", 443));
      webIP = await addressOf("web");
      assert.notEqual(webIP, alphaIP);
      await pollUntil(() => routeFor(webIP), { what: `${webIP}/32 at the router`, context });
    });

    await step("deleting a Service file withdraws its route", async () => {
      await writeAtomically(`${configDir}/extra.yaml`, serviceYaml("extra", 8080));
      const extraIP = await addressOf("extra");
      await pollUntil(() => routeFor(extraIP), { what: `${extraIP}/32 at the router`, context });
      await Deno.remove(`${configDir}/extra.yaml`);
      await pollUntil(async () => (await routeFor(extraIP)) === undefined, {
        what: `${extraIP}/32 withdrawn`,
        context,
      });
      assert.deepEqual(await prefixes(), [`${alphaIP}/32`, `${webIP}/32`].sort());
      await pollUntil(async () => serviceIn(await status(), "extra") === undefined, {
        what: "extra gone from /status",
        context,
      });
    });

    await step("a pool file that does not parse keeps the last good state", async () => {
      const sessionBefore = await router.session();
      await writeAtomically(poolFile, goodPool + "  autoAssign: [unclosed\n");
      const doc = await pollUntil(async () => {
        const d = await status();
        return d.config.valid ? undefined : d;
      }, { what: "/status to report the broken file", context });
      assert.ok(
        doc.config.errors.some((e) => e.startsWith(`${poolFile}: line `)),
        doc.config.errors.join("\n"),
      );
      assert.deepEqual(serviceIn(doc, "alpha")?.ips, [alphaIP]);
      assert.deepEqual(serviceIn(doc, "web")?.ips, [webIP]);
      assert.deepEqual(await prefixes(), [`${alphaIP}/32`, `${webIP}/32`].sort());
      assert.equal(await router.session(), sessionBefore, "the session was not reset");
    });

    await step("an invalid pool keeps the running one and says why", async () => {
      const sessionBefore = await router.session();
      await writeAtomically(poolFile, poolYaml(POOL, ["198.51.100.0/33"]));
      const want = `${poolFile}: IPAddressPool metallb-system/${POOL}: spec.addresses[0]`;
      const doc = await pollUntil(async () => {
        const d = await status();
        return d.config.errors.some((e) => e.startsWith(want)) ? d : undefined;
      }, { what: `an error starting "${want}"`, context });
      assert.equal(doc.config.valid, false);
      assert.ok(!doc.config.errors.some((e) => e.includes(": line ")), "parse error cleared");
      assert.deepEqual(serviceIn(doc, "alpha")?.ips, [alphaIP]);
      assert.deepEqual(serviceIn(doc, "web")?.ips, [webIP]);
      assert.deepEqual(await prefixes(), [`${alphaIP}/32`, `${webIP}/32`].sort());
      assert.equal(await router.session(), sessionBefore, "the session was not reset");

      // The binary's `status` command, as a person would run it.
      const out = await runFerrolb(["status", "--addr", addr], run);
      // Exit 1: the configuration is invalid, which scripts and probes must see.
      assert.equal(out.code, 1, out.stderr);
      assert.equal(out.stderr, "ferrolb status: not healthy: configuration invalid\n");
      assert.match(out.stdout, /Config: INVALID/);
      assert.ok(out.stdout.includes(`error: ${want}`), out.stdout);
      assert.match(out.stdout, new RegExp(`default/alpha\\s+${alphaIP.replaceAll(".", "\\.")}`));
      assert.match(out.stdout, /Established/);
    });

    await step("fixing the pool recovers without a restart", async () => {
      await writeAtomically(poolFile, goodPool);
      const doc = await pollUntil(async () => {
        const d = await status();
        return d.config.valid ? d : undefined;
      }, { what: "the configuration to be valid again", context });
      assert.deepEqual(doc.config.errors, []);
      assert.deepEqual(serviceIn(doc, "web")?.ips, [webIP]);
    });

    await step("SIGTERM stops cleanly, telling the router", async () => {
      const st = await proc!.stop("SIGTERM");
      assert.equal(st.code, 0, proc!.tail());
      await router.checkStopped();
      await pollUntil(async () => (await prefixes()).length === 0, {
        what: "the router to drop ferrolb's routes",
      });
    });

    await step("after a restart every Service keeps its address", async () => {
      // With alpha gone a lower address is free: only the saved state keeps web's.
      await Deno.remove(`${configDir}/alpha.yaml`);
      proc = spawnFerrolb(argv, run);
      addr = await proc.adminAddr();
      assert.equal(await addressOf("web"), webIP);
      assert.equal(serviceIn(await status(), "alpha"), undefined);
      await pollUntil(async () => (await prefixes()).join() === `${webIP}/32`, {
        what: `only ${webIP}/32 at the router`,
        context,
      });
      const st = await proc.stop("SIGINT");
      assert.equal(st.code, 0, proc.tail());
    });
  } finally {
    if (proc) await proc.stop("SIGKILL").catch(() => {});
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
}
