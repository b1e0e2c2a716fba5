/**
 * The offline image (Containerfile.offline, built by tools/image.ts) as users run it: built
 * FROM scratch with buildah, then run through `buildah run --isolation chroot` with its root
 * filesystem bind-mounted read-only: `--version`, `validate` on the quickstart, `all` on a
 * config directory announcing to a BGP collector, and `all` against an API server (which
 * loads the Kubernetes client from the pruned node_modules).
 */
import assert from "node:assert/strict";
import { startCollector } from "../bgp/mod.ts";
import type { KubeObject } from "../cluster/types.ts";
import { buildah, buildOfflineImage, MAX_IMAGE_BYTES, REPO_ROOT } from "../tools/image.ts";
import { listImageFiles } from "../tools/image_files.ts";
import { startFakeApiServer } from "./fake_apiserver/mod.ts";
import { STRACE_CLASSES, writeAttempts } from "./strace_writes.ts";
import {
  advObject,
  nodeObject,
  peerObject,
  poolObject,
  serviceObject,
  sliceObject,
} from "./speaker/testing.ts";
import {
  advertisementYaml,
  fetchStatus,
  onFreeBgpPort,
  peerYaml,
  pollUntil,
  poolYaml,
  serviceIn,
  serviceYaml,
} from "./e2e_helpers.ts";

const WORKDIR = "/var/lib/ferrolb";
const COLLECTOR_ASN = 65001;

async function skipReason(): Promise<string | undefined> {
  try {
    await new Deno.Command("buildah", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
  } catch {
    return "buildah not installed (apt-get install buildah)";
  }
  if (Deno.uid() !== 0) return "needs root (buildah vfs storage, read-only bind mount)";
  try {
    Deno.statSync(`${REPO_ROOT}/node_modules/deno/deno`);
  } catch {
    return "node_modules/deno/deno missing (run npm ci)";
  }
  return undefined;
}

const reason = await skipReason();
if (reason) console.log(`skipping image tests: ${reason}`);
const hasStrace = await new Deno.Command("strace", { args: ["-V"], stdout: "null", stderr: "null" })
  .output().then((o) => o.success, () => false);
if (!reason && !hasStrace) console.log("skipping the image's write trace: strace not installed");

/** The image's config as buildah stores it. */
interface ImageConfig {
  User?: string;
  WorkingDir?: string;
  Entrypoint?: string[];
  Cmd?: string[];
  Env?: string[];
}

async function imageConfig(name: string): Promise<ImageConfig> {
  return JSON.parse(await buildah(["inspect", "--type", "image", name])).OCIv1.config;
}

/** The permission flags of a deno.json task (`deno run|compile <flags> ... main.ts`). */
function taskFlags(task: string): string[] {
  const text = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`)).tasks[task] as string;
  return text.split(/\s+/).filter((w) => w.startsWith("--allow-") || w.startsWith("--v8-flags="));
}

/** A Containerfile instruction's argument (the last one when repeated). */
function instruction(file: string, name: string): string | undefined {
  const lines = Deno.readTextFileSync(`${REPO_ROOT}/${file}`).split("\n");
  return lines.filter((l) => l.startsWith(`${name} `)).at(-1)?.slice(name.length + 1).trim();
}

/** Every path under `root`, relative and with a leading slash. */
function listTree(root: string, dir = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${root}${dir}`)) {
    const path = `${dir}/${e.name}`;
    out.push(path);
    if (e.isDirectory) out.push(...listTree(root, path));
  }
  return out;
}

/** A container of the image with its root mounted read-only, and a volume at WORKDIR. */
interface Box {
  /** Runs `argv` in the container (the image's entrypoint is not applied). */
  command(argv: string[], options?: { user?: string; tracer?: string[] }): Deno.Command;
  /** The image's entrypoint followed by `args`: what `docker run IMAGE args` runs. */
  entry(args: string[]): string[];
  /** Host directory mounted read-write at WORKDIR (the state volume). */
  volume: string;
  /** Host path of the container's root. */
  root: string;
}

async function withContainer(image: string, fn: (box: Box) => Promise<void>): Promise<void> {
  const config = await imageConfig(image);
  const container = (await buildah(["from", "--quiet", image])).trim();
  const volume = await Deno.makeTempDir({ prefix: "ferrolb-image-vol-" });
  let root = "";
  const mounted: string[] = [];
  try {
    root = (await buildah(["mount", container])).trim();
    // buildah run mounts /dev, /proc, /sys, /etc/hosts... over these and writes
    // /run/.containerenv: create them now, in the container's layer, then freeze the root.
    for (const d of ["dev", "proc", "sys", "run", "etc"]) {
      await Deno.mkdir(`${root}/${d}`, { recursive: true });
    }
    for (const f of ["hosts", "resolv.conf", "hostname"]) {
      await Deno.writeTextFile(`${root}/etc/${f}`, "", { append: true });
    }
    await sh("mount", ["--bind", root, root]);
    mounted.unshift(root);
    await sh("mount", ["-o", "remount,bind,ro", root]);
    await sh("mount", ["-t", "tmpfs", "-o", "size=1m", "tmpfs", `${root}/run`]);
    mounted.unshift(`${root}/run`);
    // The image's user owns its state volume, as a pod's fsGroup would arrange.
    await Deno.chown(volume, 65532, 65532);
    const box: Box = {
      volume,
      root,
      entry: (args) => [...config.Entrypoint!, ...args],
      command: (argv, options = {}) =>
        new Deno.Command(options.tracer?.[0] ?? "buildah", {
          args: [
            ...(options.tracer ? [...options.tracer.slice(1), "buildah"] : []),
            "--storage-driver",
            "vfs",
            "run",
            "--isolation",
            "chroot",
            "--network",
            "host",
            "--volume",
            `${volume}:${WORKDIR}`,
            ...(options.user ? ["--user", options.user] : []),
            container,
            "--",
            ...argv,
          ],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }),
    };
    await fn(box);
  } finally {
    for (const m of mounted) await sh("umount", [m]).catch(() => {});
    await buildah(["rm", container]).catch(() => {});
    await Deno.remove(volume, { recursive: true }).catch(() => {});
  }
}

async function sh(cmd: string, args: string[]): Promise<void> {
  const o = await new Deno.Command(cmd, { args, stdout: "null", stderr: "piped" }).output();
  if (!o.success) {
    throw new Error(`${cmd} ${args.join(" ")}: ${new TextDecoder().decode(o.stderr)}`);
  }
}

/** What a finished command printed, and its exit code. */
interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: Deno.Command): Promise<Ran> {
  const o = await cmd.output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}

/**
 * Runs a short command in the container until `printed` holds of its output, at most three times.
 * buildah 1.28's chroot helper exits as soon as the program does, without draining the pipes it
 * relays stdout and stderr through: under load the last lines are lost although the program's
 * write() returned their full length (seen with strace; 1 run in 100 with 4 busy loops on 2
 * cores). A program that never prints what is looked for still fails: every try lacks it.
 */
async function runUntilPrinted(
  make: () => Deno.Command,
  printed: (r: Ran) => boolean,
): Promise<Ran> {
  let r = await run(make());
  for (let i = 1; i < 3 && !printed(r); i++) r = await run(make());
  return r;
}

/** A long-running program in the container: its JSON log lines and a way to stop it. */
interface Running {
  logs(): Record<string, unknown>[];
  tail(): string;
  adminAddr(): Promise<string>;
  /** SIGTERM to the program itself (buildah kills instead of forwarding signals). */
  stop(): Promise<number>;
  kill(): void;
}

function spawnIn(box: Box, args: string[], marker: string): Running {
  const child = box.command(box.entry(args)).spawn();
  const lines: string[] = [];
  const reading = (async () => {
    let buf = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      const parts = buf.split("\n");
      buf = parts.pop()!;
      lines.push(...parts);
    }
  })();
  child.stdout.cancel().catch(() => {});
  const logs = () =>
    lines.flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return [{ msg: l }];
      }
    });
  const tail = () => lines.slice(-30).join("\n");
  return {
    logs,
    tail,
    adminAddr: async () => {
      const l = await pollUntil(() => logs().find((l) => l.msg === "admin server listening"), {
        what: "the admin server to listen",
        context: tail,
      });
      return String(l.addr);
    },
    async stop() {
      // The program runs as a child of buildah's chroot helper; find it by a unique argument.
      const pid = await pollUntil(() => programPid(marker), { what: `pid of ${marker}` });
      Deno.kill(pid, "SIGTERM");
      const st = await child.status;
      await reading.catch(() => {});
      return st.code;
    },
    kill() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
    },
  };
}

/**
 * The pid of the `/deno` process whose command line holds `marker`. Deno reads /proc only
 * with every permission, so procps' pgrep looks.
 */
async function programPid(marker: string): Promise<number | undefined> {
  const o = await new Deno.Command("pgrep", {
    args: ["-f", `^/deno run .* ${marker}( |$)`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const pids = new TextDecoder().decode(o.stdout).split("\n").filter(Boolean).map(Number);
  return pids.length === 1 ? pids[0] : undefined;
}

Deno.test("image: the compile recipe copies every file and folder the program loads", async () => {
  // Containerfile cannot be built here (deno compile downloads denort); check its inputs.
  const copied = new Set(
    Deno.readTextFileSync(`${REPO_ROOT}/Containerfile`).split("\n")
      .filter((l) => l.startsWith("COPY ") && !l.includes("--from="))
      .flatMap((l) => l.split(/\s+/).slice(1, -1)),
  );
  const { program } = await listImageFiles(REPO_ROOT, { deno: Deno.execPath() });
  const tops = new Set(program.map((p) => p.slice(REPO_ROOT.length + 1).split("/")[0]));
  const missing = [...tops].filter((t) => !copied.has(t)).sort();
  assert.deepEqual(missing, [], `Containerfile does not COPY what main.ts loads`);
  assert.ok(tops.has("main.ts") && tops.has("cmd"), [...tops].join());
});

Deno.test({
  name: "image: offline recipe builds FROM scratch under 150 MB and runs with a read-only root",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const img = await buildOfflineImage();
    console.log(
      `image ${img.name}: ${img.size} (${(img.bytes / 1e6).toFixed(1)} MB of files), ` +
        `${img.cached ? "reused" : "built"} in ${img.seconds.toFixed(1)} s`,
    );

    await t.step("holds at most 150 MB: deno, its libraries and the program's files", () => {
      assert.ok(img.bytes <= MAX_IMAGE_BYTES, `${img.bytes} bytes`);
      const [value, unit] = img.size.split(" ");
      const factor = { kB: 1e3, MB: 1e6, GB: 1e9 }[unit] ?? NaN;
      assert.ok(Number(value) * factor <= MAX_IMAGE_BYTES, `buildah says ${img.size}`);
    });

    await t.step(
      "has the compiled recipe's contract: user, directory, flags, arguments",
      async () => {
        const config = await imageConfig(img.name);
        assert.equal(config.User, "65532:65532");
        assert.equal(config.User, instruction("Containerfile", "USER"));
        assert.equal(config.WorkingDir, WORKDIR);
        assert.equal(config.WorkingDir, instruction("Containerfile", "WORKDIR"));
        assert.deepEqual(config.Cmd, JSON.parse(instruction("Containerfile", "CMD")!));
        const entry = config.Entrypoint!;
        assert.deepEqual(
          [entry[0], entry[1], entry[2], entry.at(-1)],
          ["/deno", "run", "--config=/app/deno.json", "/app/main.ts"],
        );
        // The flags `deno task compile` bakes into the binary of the other recipe; the
        // program's own directory is readable too (the binary embeds it instead).
        const compiled = taskFlags("compile").map((f) =>
          f.startsWith("--allow-read=") ? `${f},/app` : f
        );
        assert.deepEqual(entry.slice(3, -1), compiled);
        assert.ok(!entry.includes("-A") && !entry.includes("--allow-all"));
      },
    );

    await withContainer(img.name, async (box) => {
      await t.step("contains no shell and no package files beyond those loaded", () => {
        const tree = listTree(box.root);
        const top = tree.filter((p) => p.split("/").length === 2).sort();
        assert.deepEqual(top, [
          "/app",
          "/deno",
          "/dev",
          "/etc",
          "/lib",
          "/lib64",
          "/proc",
          "/run",
          "/sys",
          "/var",
        ]);
        assert.ok(!tree.some((p) => /\/(sh|bash|busybox|apt|npm|node)$/.test(p)));
        assert.ok(tree.includes("/lib/x86_64-linux-gnu/libc.so.6"));
        const npm = tree.filter((p) => p.startsWith("/app/node_modules/"));
        const unused = npm.filter((p) => /\.(d\.[cm]?ts|map|md|ts)$/.test(p));
        assert.deepEqual(unused, [], "type declarations, maps and docs never load");
        assert.ok(npm.some((p) => p.endsWith("/@kubernetes/client-node/dist/index.js")));
      });

      await t.step("root filesystem is read-only, even for root", async () => {
        const refused = /Read-only file system/;
        const r = await runUntilPrinted(
          () =>
            box.command(["/deno", "eval", `Deno.writeTextFileSync("/probe", "x")`], {
              user: "0:0",
            }),
          (r) => refused.test(r.stderr),
        );
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, refused, r.stderr);
      });

      await t.step("--version", async () => {
        const pkg = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/package.json`));
        const version = new RegExp(`^ferrolb ${pkg.version.replaceAll(".", "\\.")}\\b`);
        const r = await runUntilPrinted(
          () => box.command(box.entry(["--version"])),
          (r) => version.test(r.stdout),
        );
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, version);
      });

      await t.step("validate examples/quickstart", async () => {
        await Deno.mkdir(`${box.volume}/quickstart`);
        for (const e of Deno.readDirSync(`${REPO_ROOT}/examples/quickstart`)) {
          await Deno.copyFile(
            `${REPO_ROOT}/examples/quickstart/${e.name}`,
            `${box.volume}/quickstart/${e.name}`,
          );
        }
        const summary = /^valid: \d+ object/m;
        const r = await runUntilPrinted(
          () => box.command(box.entry(["validate", "quickstart"])),
          (r) => summary.test(r.stdout),
        );
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, summary);
      });

      await t.step({
        name: "tries to write only under DENO_DIR, which fails (strace)",
        ignore: !hasStrace,
        fn: async () => {
          const log = `${await Deno.makeTempDir({ prefix: "ferrolb-image-trace-" })}/log`;
          const tracer = ["strace", "-f", "-qq", "-o", log, "-e", `trace=${STRACE_CLASSES}`];
          const r = await run(box.command(box.entry(["validate", "quickstart"]), { tracer }));
          assert.equal(r.code, 0, r.stderr);
          const attempts = writeAttempts(await Deno.readTextFile(log), "/deno");
          await Deno.remove(log.slice(0, -"/log".length), { recursive: true });
          const denoDir = (await imageConfig(img.name)).Env?.find((e) => e.startsWith("DENO_DIR="))
            ?.slice("DENO_DIR=".length);
          assert.ok(denoDir, "the image sets DENO_DIR");
          // Deno does try to create its cache: the trace sees those attempts, and only those.
          assert.ok(attempts.length > 0, "no write attempt traced at all: is the trace working?");
          const inDenoDir = (p: string) => p === denoDir || p.startsWith(`${denoDir}/`);
          const elsewhere = attempts.filter((a) => !inDenoDir(a.path));
          assert.deepEqual(elsewhere, [], "writes outside DENO_DIR");
          assert.deepEqual(attempts.filter((a) => !a.failed), [], "a write that succeeded");
        },
      });

      await t.step("all on a config dir announces to a BGP peer", async () => {
        await allOnConfigDir(box);
      });

      await t.step("all against an API server assigns and announces", async () => {
        await allAgainstApiServer(box);
      });
    });
  },
});

async function allOnConfigDir(box: Box): Promise<void> {
  const collector = await onFreeBgpPort((port) =>
    startCollector({ listen: `127.0.0.1:${port}`, asn: COLLECTOR_ASN, routerId: "127.0.0.2" })
  );
  const config = `${box.volume}/config`;
  await Deno.mkdir(config);
  await Deno.writeTextFile(`${config}/pool.yaml`, poolYaml("img-pool", ["198.51.100.0/28"]));
  await Deno.writeTextFile(
    `${config}/peer.yaml`,
    peerYaml("router", {
      myASN: 64512,
      peerASN: COLLECTOR_ASN,
      peerAddress: "127.0.0.1",
      peerPort: collector.addr.port,
    }),
  );
  await Deno.writeTextFile(`${config}/adv.yaml`, advertisementYaml("adv", ["img-pool"]));
  await Deno.writeTextFile(`${config}/web.yaml`, serviceYaml("web"));
  const marker = `image-node-${crypto.randomUUID().slice(0, 8)}`;
  const proc = spawnIn(box, [
    "all",
    "--config-dir",
    "config",
    "--state-dir",
    "state",
    "--node-name",
    marker,
    "--admin-addr",
    "127.0.0.1:0",
  ], marker);
  try {
    const addr = await proc.adminAddr();
    const doc = await pollUntil(async () => {
      const d = await fetchStatus(addr);
      return serviceIn(d, "web")?.peers.length ? d : undefined;
    }, { what: "/status to show web announced", context: proc.tail });
    const ip = serviceIn(doc, "web")!.ips[0];
    assert.match(ip, /^198\.51\.100\.([0-9]|1[0-5])$/);
    assert.equal(doc.role, "all");
    assert.equal(doc.node, marker);
    // Manifests parse in the Worker (with its deadline), not on the main thread.
    const inline = proc.logs().find((l) => l.msg === "parsing manifests on the main thread");
    assert.equal(inline, undefined, JSON.stringify(inline));
    const metrics = await (await fetch(`http://${addr}/metrics`)).text();
    assert.match(metrics, /metallb_bgp_session_up\{peer="127\.0\.0\.1:\d+"\} 1/);
    const route = await pollUntil(
      () => collector.routes().flatMap((p) => p.routes).find((r) => r.prefix === `${ip}/32`),
      { what: `${ip}/32 at the collector`, context: proc.tail },
    );
    assert.deepEqual(route.asPath, [64512]);
    assert.equal(await proc.stop(), 0, proc.tail());
    const ended = await pollUntil(() => collector.peers().find((p) => p.closedAt), {
      what: "the collector to see the session end",
    });
    assert.equal(ended.lastNotification?.code, 6, "Cease on SIGTERM");
    // The assignment lives in the volume, the only writable place.
    const state = await Deno.readTextFile(`${box.volume}/state/state.json`);
    assert.ok(state.includes(ip), state);
  } finally {
    proc.kill();
    await collector.close();
  }
}

async function allAgainstApiServer(box: Box): Promise<void> {
  const server = await startFakeApiServer();
  const collector = await onFreeBgpPort((port) =>
    startCollector({ listen: `127.0.0.1:${port}`, asn: COLLECTOR_ASN, routerId: "127.0.0.2" })
  );
  await Deno.copyFile(server.kubeconfigPath, `${box.volume}/kubeconfig`);
  await Deno.chown(`${box.volume}/kubeconfig`, 65532, 65532);
  const put = (resource: string, obj: KubeObject) => server.objects.put(resource, obj as never);
  put("ipaddresspools.metallb.io", poolObject("pool-a", ["192.0.2.0/28"]));
  put("bgpadvertisements.metallb.io", advObject("all"));
  put(
    "bgppeers.metallb.io",
    peerObject("router", {
      myASN: 64512,
      peerASN: COLLECTOR_ASN,
      peerAddress: "127.0.0.1",
      peerPort: collector.addr.port,
    }),
  );
  const marker = `image-node-${crypto.randomUUID().slice(0, 8)}`;
  put("nodes", nodeObject(marker, { internalIP: "10.0.0.11" }));
  put("services", serviceObject("web"));
  put("endpointslices.discovery.k8s.io", sliceObject("web", [{ node: marker }]));
  const proc = spawnIn(
    box,
    ["all", "--kubeconfig", "kubeconfig", "--node-name", marker, "--admin-addr", "127.0.0.1:0"],
    marker,
  );
  try {
    const ip = await pollUntil(() => {
      const svc = server.objects.get("services", "default", "web");
      const status = svc?.status as { loadBalancer?: { ingress?: { ip: string }[] } };
      return status?.loadBalancer?.ingress?.[0]?.ip;
    }, { what: "web's status.loadBalancer.ingress", context: proc.tail });
    assert.match(ip, /^192\.0\.2\.([0-9]|1[0-5])$/);
    await pollUntil(
      () => collector.routes().some((r) => r.routes.some((x) => x.prefix === `${ip}/32`)),
      { what: `${ip}/32 at the collector`, context: proc.tail },
    );
    assert.equal(await proc.stop(), 0, proc.tail());
  } finally {
    proc.kill();
    await collector.close();
    await server.close();
  }
}
