/**
 * soak_state_crash: the standalone `ferrolb all` killed with SIGKILL at random points while it
 * writes its state directory (Service files are added and removed to make it write), 200
 * times. After each kill it must start again from its state, and every assignment that was
 * on disk must come back with the same IP; no IP may be held by two Services.
 */
import {
  adminGet,
  type FerrolbProcess,
  fetchStatus,
  poolYaml,
  serviceYaml,
  spawnFerrolb,
  writeAtomically,
} from "../e2e_helpers.ts";
import { figure, pollUntil, Rng, type Soak, type SoakContext } from "./types.ts";

const POOL_CIDR = "10.200.0.0/22";
const MAX_SERVICES = 60;

/** `namespace/name` → IPs, from the state generation ferrolb would load. */
async function readState(dir: string): Promise<{ services: Map<string, string[]>; torn: number }> {
  let best: { gen: number; services: Record<string, { ingress: string[] }> } | undefined;
  let torn = 0;
  for (const f of ["state.json", "state.json.prev"]) {
    let text: string;
    try {
      text = await Deno.readTextFile(`${dir}/${f}`);
    } catch {
      continue;
    }
    try {
      const env = JSON.parse(text);
      if (!best || env.generation > best.gen) {
        best = { gen: env.generation, services: env.data.services };
      }
    } catch {
      torn++;
    }
  }
  return {
    services: new Map(Object.entries(best?.services ?? {}).map(([k, v]) => [k, v.ingress])),
    torn,
  };
}

/** The soak. */
export const soak: Soak = {
  name: "soak_state_crash",
  async *run(ctx: SoakContext) {
    const kills = ctx.short ? 12 : 200;
    const g = new Rng(ctx.seed ^ 0xc4a5);
    const root = await Deno.makeTempDir({ prefix: "ferrolb-soak-state-" });
    const configDir = `${root}/config`;
    const stateDir = `${root}/state`;
    await Deno.mkdir(configDir);
    await Deno.writeTextFile(`${configDir}/pool.yaml`, poolYaml("soak-pool", [POOL_CIDR]));
    const live = new Set<string>();
    let nextId = 0;
    const addService = async () => {
      const name = `svc-${nextId++}`;
      await writeAtomically(`${configDir}/${name}.yaml`, serviceYaml(name));
      live.add(name);
    };
    for (let i = 0; i < 10; i++) await addService();
    const argv = [
      "all",
      "--config-dir",
      configDir,
      "--state-dir",
      stateDir,
      "--node-name",
      "soak-node",
      "--admin-addr",
      "127.0.0.1:0",
    ];
    const broken: string[] = [];
    const lost: string[] = [];
    const doubles: string[] = [];
    const loadFailures: string[] = [];
    const readyS: number[] = [];
    let tornFiles = 0;
    let committed = new Map<string, string[]>();
    let done = 0;
    let proc: FerrolbProcess | undefined;
    try {
      for (let cycle = 0; cycle <= kills; cycle++) {
        const t0 = performance.now();
        proc = spawnFerrolb(argv, { cwd: root });
        const p = proc;
        let addr: string;
        try {
          addr = await p.adminAddr();
          await pollUntil(async () => (await adminGet(addr, "/readyz")).status === 200, {
            timeoutMs: 30_000,
          }) ?? (() => {
            throw new Error("/readyz not 200 within 30 s");
          })();
        } catch (err) {
          loadFailures.push(
            `start ${cycle}: ${(err as Error).message.split("\n")[0]}; ${p.tail(8)}`,
          );
          await p.stop("SIGKILL");
          if (loadFailures.length >= 3) break;
          continue;
        }
        // Every configured Service gets an address, and the ones on disk keep theirs.
        const doc = await pollUntil(async () => {
          const d = await fetchStatus(addr);
          const mine = d.services.filter((s) => live.has(s.name) && s.ips.length > 0);
          return mine.length === live.size ? d : undefined;
        }, { timeoutMs: 30_000, intervalMs: 50 });
        readyS.push((performance.now() - t0) / 1000);
        const now = await fetchStatus(addr);
        const ipsOf = new Map(now.services.map((s) => [`${s.namespace}/${s.name}`, s.ips]));
        if (!doc) {
          const pending = [...live].filter((n) => !(ipsOf.get(`default/${n}`)?.length));
          broken.push(`cycle ${cycle}: ${pending.length} Services without an address after 30 s`);
        }
        for (const [key, ips] of committed) {
          if (!live.has(key.split("/")[1])) continue;
          const got = ipsOf.get(key) ?? [];
          if (got.join(",") !== ips.join(",")) {
            lost.push(`cycle ${cycle}: ${key} had ${ips} on disk, has ${got.join(",") || "none"}`);
          }
        }
        const owner = new Map<string, string>();
        for (const [key, ips] of ipsOf) {
          for (const ip of ips) {
            if (owner.has(ip)) {
              doubles.push(`cycle ${cycle}: ${ip} held by ${owner.get(ip)} and ${key}`);
            }
            owner.set(ip, key);
          }
        }
        if (cycle === kills) {
          await p.stop("SIGTERM");
          break;
        }
        // Edits that make it write, then a kill somewhere in the middle of the writing.
        for (let i = 1 + g.int(4); i > 0; i--) await addService();
        const removable = [...live];
        for (let i = live.size > MAX_SERVICES ? 6 : g.int(3); i > 0 && live.size > 5; i--) {
          const name = removable.splice(g.int(removable.length), 1)[0];
          if (!live.delete(name)) continue;
          await Deno.remove(`${configDir}/${name}.yaml`).catch(() => {});
        }
        await new Promise((r) => setTimeout(r, g.int(600)));
        const before = await readState(stateDir);
        await p.stop("SIGKILL");
        const after = await readState(stateDir);
        tornFiles += before.torn + after.torn;
        committed = new Map([...before.services, ...after.services]);
        for (const [key, ips] of before.services) {
          const later = after.services.get(key);
          if (later && later.join(",") !== ips.join(",") && live.has(key.split("/")[1])) {
            lost.push(`cycle ${cycle}: ${key} moved from ${ips} to ${later} on disk while kept`);
          }
        }
        done++;
        if (done % 20 === 0) ctx.log("state crash progress", { kills: done, services: live.size });
      }
    } finally {
      await proc?.stop("SIGKILL");
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
    if (done < kills) broken.push(`only ${done} of ${kills} kills were made`);
    if (loadFailures.length) {
      broken.push(`state did not load: ${loadFailures.slice(0, 3).join(" | ")}`);
    }
    if (lost.length) {
      broken.push(`${lost.length} assignment(s) lost: ${lost.slice(0, 3).join("; ")}`);
    }
    if (doubles.length) {
      broken.push(`${doubles.length} double allocation(s): ${doubles.slice(0, 3).join("; ")}`);
    }
    readyS.sort((a, b) => a - b);
    yield figure("soak_state_crash", done, "kills", {
      broken,
      extra: {
        lost_assignments: lost.length,
        double_allocations: doubles.length,
        load_failures: loadFailures.length,
        torn_state_files_seen: tornFiles,
        services_at_end: live.size,
        restart_ready_median_s: Math.round((readyS[Math.floor(readyS.length / 2)] ?? 0) * 100) /
          100,
      },
    });
  },
};
