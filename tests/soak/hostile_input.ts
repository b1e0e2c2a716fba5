/**
 * soak_hostile_input: hostile files dropped into the config directory of a running
 * `ferrolb all` that announces to a real GoBGP in another network namespace (hold time 9 s,
 * so a starved process would lose the session within one case): alias bombs, deep nesting,
 * a recursive alias, binary garbage, a file over the size limit, a 100,000-document file with
 * an error at its end, and a file rewritten many times while it is being read. Each must show
 * up in /status as an error naming the file, the last good configuration must stay announced,
 * and the configuration must be valid again once the file is gone.
 *
 * Figures: worst /healthz answer time and worst event-loop lag (`ferrolb_event_loop_lag_max_
 * seconds`, 10 s window) while the inputs are parsed, GoBGP session drops (must be 0), and
 * the time to report each input and to recover after it is removed.
 */
import {
  cleanupStaleNetns,
  createNetnsPair,
  type Gobgpd,
  netnsAvailable,
  type NetnsPair,
  startGobgpd,
} from "../gobgp/mod.ts";
import {
  advertisementYaml,
  peerYaml,
  poolYaml,
  REPO_ROOT,
  serviceYaml,
  taskPermissionFlags,
  writeAtomically,
} from "../e2e_helpers.ts";
import { aliasBomb, binaryGarbage, deepNesting, serviceAliasBomb } from "./hostile_files.ts";
import { figure, pollUntil, Rng, skipped, type Soak, type SoakContext } from "./types.ts";

const OUR_ASN = 64512;
const GOBGP_ASN = 65001;
const POOL = "hostile-pool";
const SERVICES = ["alpha", "beta"];

/** One hostile input: the file it lands in and how it is written. */
interface HostileCase {
  name: string;
  file: string;
  /** Writes the hostile content (atomically unless the case is about torn reads). */
  write(path: string, g: Rng): Promise<void>;
  /** What the reported error must say besides the file name. */
  expect: RegExp;
}

/** 100,000 small documents (an ignored kind, so only parsing costs) and a broken last one. */
function hugeBrokenText(): string {
  const parts: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    parts.push(
      `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-${i}\n  namespace: default\n` +
        `data:\n  key: value-${i}\n  other: "${"x".repeat(100)}"\n`,
    );
  }
  parts.push("apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n");
  return parts.join("---\n");
}

const CASES: HostileCase[] = [
  {
    name: "alias bomb (9 levels, 432 bytes)",
    file: "bomb.yaml",
    write: (p) => writeAtomically(p, aliasBomb(9)),
    expect: /alias expansion reaches .* \(limit/,
  },
  {
    name: "alias bomb in a Service's spec.ports",
    file: "svc-bomb.yaml",
    write: (p) => writeAtomically(p, serviceAliasBomb(8)),
    expect: /alias expansion reaches .* \(limit/,
  },
  {
    name: "nesting 100,000 deep",
    file: "deep.yaml",
    write: (p) => writeAtomically(p, deepNesting(100_000)),
    expect: /nesting exceeded maxDepth/,
  },
  {
    name: "recursive alias",
    file: "self.yaml",
    write: (p) =>
      writeAtomically(p, "apiVersion: v1\nkind: Service\nmetadata: &m {name: x, me: *m}\n"),
    expect: /nesting through aliases|alias/,
  },
  {
    name: "binary garbage (64 KiB)",
    file: "garbage.yaml",
    write: (p, g) => Deno.writeFile(p, binaryGarbage(64 * 1024, 1 + g.int(1000))),
    expect: /line \d+|not a Kubernetes object|document/,
  },
  {
    name: "file over the size limit (70 MiB)",
    file: "huge.yaml",
    write: async (p) => {
      const line = new TextEncoder().encode(`# ${"x".repeat(1021)}\n`);
      using f = await Deno.open(p, { write: true, create: true, truncate: true });
      for (let i = 0; i < 70 * 1024; i++) await f.write(line);
    },
    expect: /bytes \(limit [\d,]+ bytes\)/,
  },
  {
    name: "100,000 documents, the last one broken (22 MB)",
    file: "many.yaml",
    write: (p) => writeAtomically(p, hugeBrokenText()),
    expect: /line \d+/,
  },
];

/** Lines of a child process's stdout or stderr as they come. */
function collectLines(stream: ReadableStream<Uint8Array>, into: string[]): Promise<void> {
  return (async () => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        into.push(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
  })();
}

/**
 * The `ferrolb` task's flags, plus read access to the program's own directory, as the
 * launcher (bin/permissions.mjs) grants it: the parser worker loads its code from there.
 */
function programFlags(): string[] {
  return taskPermissionFlags().map((f) => f.startsWith("--allow-read=") ? `${f},${REPO_ROOT}` : f);
}

interface ProbeLine {
  t: number;
  healthzMs: number;
  ok: number;
  lagWindowS?: number;
  valid?: boolean;
  errors?: string[];
}

/** The soak. */
export const soak: Soak = {
  name: "soak_hostile_input",
  async *run(ctx: SoakContext) {
    const ns = await netnsAvailable();
    if (!ns.ok) {
      yield skipped("soak_hostile_input", "inputs", ns.reason ?? "no network namespaces");
      return;
    }
    const rounds = ctx.short ? 1 : 3;
    const g = new Rng(ctx.seed ^ 0x4057);
    await cleanupStaleNetns();
    const pair: NetnsPair = await createNetnsPair();
    const root = await Deno.makeTempDir({ prefix: "ferrolb-soak-hostile-" });
    const dir = `${root}/config`;
    await Deno.mkdir(dir);
    let gobgpd: Gobgpd | undefined;
    let ferrolb: Deno.ChildProcess | undefined;
    let probe: Deno.ChildProcess | undefined;
    const logs: string[] = [];
    const probes: string[] = [];
    const broken: string[] = [];
    const perCase: Record<string, unknown>[] = [];
    try {
      gobgpd = await startGobgpd({
        netns: pair.b.name,
        asn: GOBGP_ASN,
        routerId: pair.b.addr4,
        neighbors: [{ address: pair.a.addr4, asn: OUR_ASN, passive: true, holdTime: 9 }],
      });
      const gb = gobgpd;
      await Deno.writeTextFile(`${dir}/pool.yaml`, poolYaml(POOL, ["198.51.100.0/24"]));
      await Deno.writeTextFile(
        `${dir}/peer.yaml`,
        peerYaml("router", { myASN: OUR_ASN, peerASN: GOBGP_ASN, peerAddress: pair.b.addr4 }),
      );
      await Deno.writeTextFile(`${dir}/adv.yaml`, advertisementYaml("adv", [POOL]));
      for (const s of SERVICES) await Deno.writeTextFile(`${dir}/${s}.yaml`, serviceYaml(s));
      ferrolb = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          pair.a.name,
          Deno.execPath(),
          "run",
          "--config",
          `${REPO_ROOT}/deno.json`,
          ...programFlags(),
          `${REPO_ROOT}/main.ts`,
          "all",
          "--config-dir",
          dir,
          "--state-dir",
          `${root}/state`,
          "--node-name",
          "hostile-node",
          "--admin-addr",
          "127.0.0.1:0",
        ],
        cwd: root,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const logsDone = collectLines(ferrolb.stderr, logs);
      const tail = () => logs.slice(-15).join("\n");
      const listening = await pollUntil(
        () => logs.map(parseJson).find((l) => l?.msg === "admin server listening"),
        { timeoutMs: 60_000 },
      );
      if (!listening) throw new Error(`ferrolb did not start:\n${tail()}`);
      probe = new Deno.Command("ip", {
        args: [
          "netns",
          "exec",
          pair.a.name,
          Deno.execPath(),
          "run",
          "--no-config",
          "--allow-net",
          new URL("./hostile_probe.ts", import.meta.url).pathname,
          String(listening.addr),
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const probeDone = collectLines(probe.stdout, probes);
      const samples = (from: number) =>
        probes.slice(from).map((l) => parseJson(l) as ProbeLine | undefined).filter((x) => !!x);
      const lastStatus = () => samples(0).reverse().find((s) => s.valid !== undefined);
      const routes = async () => (await gb.rib("ipv4")).length;
      const up = await gb.waitFor(async (x) => {
        const n = (await x.neighbors())[0];
        return n?.established && (await routes()) === SERVICES.length ? n : undefined;
      }, { what: "the session up with every Service announced", timeoutMs: 120_000 });
      ctx.log("hostile input: session up", { prefixes: up.accepted });
      const baseline = samples(0);
      const baseHealthz = Math.max(0, ...baseline.map((s) => s.healthzMs));

      const cases = [...CASES, tornCase()];
      for (let round = 0; round < rounds; round++) {
        for (const c of round === 0 ? cases : shuffle(cases, g)) {
          const from = probes.length;
          const path = `${dir}/${c.file}`;
          const t0 = Date.now();
          await c.write(path, g);
          const name = c.file;
          const reported = await pollUntil(() => {
            const s = lastStatus();
            return s && s.valid === false &&
              s.errors?.some((e) => e.includes(name) && c.expect.test(e));
          }, { timeoutMs: 180_000, intervalMs: 50 });
          const reportMs = Date.now() - t0;
          if (!reported) {
            broken.push(`${c.name}: no error naming ${name} in /status after 180 s`);
          }
          if ((await routes()) !== SERVICES.length) {
            broken.push(`${c.name}: the last good routes are not all at GoBGP`);
          }
          const t1 = Date.now();
          await Deno.remove(path);
          const recovered = await pollUntil(() => {
            const s = lastStatus();
            return s && s.t > t1 && s.valid === true && (s.errors ?? []).length === 0;
          }, { timeoutMs: 120_000, intervalMs: 50 });
          const recoveryMs = Date.now() - t1;
          if (!recovered) broken.push(`${c.name}: not valid again 120 s after its removal`);
          const during = samples(from);
          const row = {
            case: c.name,
            round,
            report_ms: reportMs,
            recovery_ms: recoveryMs,
            worst_healthz_ms: Math.max(0, ...during.map((s) => s.healthzMs)),
            worst_lag_s: Math.max(0, ...during.map((s) => s.lagWindowS ?? 0)),
          };
          perCase.push(row);
          ctx.log("hostile input case", row);
        }
      }
      const n = (await gb.neighbors())[0];
      if (!n?.established) broken.push("the GoBGP session is down at the end");
      const drops = (await gb.logTail(5000)).split("\n").filter((l) =>
        parseJson(l)?.msg === "Peer Down"
      ).length;
      if (drops > 0) broken.push(`GoBGP saw the session drop ${drops} time(s)`);
      if (logs.some((l) => /parsing manifests on the main thread/.test(l))) {
        broken.push("the parser worker could not start: parsing ran on the main thread");
      }
      const crashed = logs.find((l) => /RangeError|Uncaught/.test(l));
      if (crashed) broken.push(`ferrolb logged a crash: ${crashed.slice(0, 200)}`);
      const worstHealthz = Math.max(0, ...perCase.map((r) => r.worst_healthz_ms as number));
      const worstLag = Math.max(0, ...perCase.map((r) => r.worst_lag_s as number));
      const stop = Date.now();
      ferrolb.kill("SIGTERM");
      const st = await ferrolb.status;
      ferrolb = undefined;
      await logsDone;
      if (st.code !== 0) broken.push(`SIGTERM did not end ferrolb cleanly (exit ${st.code})`);
      probe.kill("SIGKILL");
      await probe.status;
      probe = undefined;
      await probeDone.catch(() => {});
      yield figure("soak_hostile_input_worst_lag", worstLag, "s", {
        broken,
        extra: {
          worst_healthz_ms: worstHealthz,
          baseline_healthz_ms: baseHealthz,
          session_drops: drops,
          inputs: perCase.length,
          worst_report_ms: Math.max(0, ...perCase.map((r) => r.report_ms as number)),
          worst_recovery_ms: Math.max(0, ...perCase.map((r) => r.recovery_ms as number)),
          stop_ms: Date.now() - stop,
          cases: perCase,
        },
      });
    } finally {
      for (const p of [probe, ferrolb]) {
        try {
          p?.kill("SIGKILL");
          await p?.status;
        } catch { /* exited */ }
      }
      await gobgpd?.stop();
      await pair.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
  },
};

/** A file rewritten many times, not atomically, while the file source reads it. */
function tornCase(): HostileCase {
  return {
    name: "file rewritten 60 times while being read",
    file: "torn.yaml",
    async write(path, g) {
      // Valid but of a kind ferrolb ignores, so a torn read that parses changes no route.
      const big = Array.from(
        { length: 2000 },
        (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: torn-${i}}\ndata: {k: v}\n`,
      ).join("---\n");
      const texts = [aliasBomb(9), big, new TextDecoder().decode(binaryGarbage(4096)), big];
      for (let i = 0; i < 60; i++) {
        // Truncate-and-write, as editors and `cp` do: readers may see a torn file.
        await Deno.writeTextFile(path, g.pick(texts));
        await new Promise((r) => setTimeout(r, g.int(40)));
      }
      // It ends broken, so the case waits for an error naming it like the others.
      await Deno.writeTextFile(path, aliasBomb(9));
    },
    expect: /alias expansion reaches/,
  };
}

function parseJson(line: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

function shuffle<T>(items: T[], g: Rng): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = g.int(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}
