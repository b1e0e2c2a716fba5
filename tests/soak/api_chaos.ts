/**
 * soak_api_chaos: the `ferrolb controller` binary (a subprocess, so it can be SIGKILLed)
 * against the fake API server with 10,000 Services while watches drop, requests fail with
 * 500, writes with 409, watches with 410, the server restarts, and the controller is killed
 * and restarted at random. Counts double allocations (one IP in two Services' status; no
 * Service here has a sharing key) and lost assignments (a Service that had an IP and lost or
 * changed it while nobody touched it), then the time to converge once the chaos stops.
 */
import { type FerrolbProcess, spawnFerrolb } from "../e2e_helpers.ts";
import { type FakeApiServer, startFakeApiServer } from "../fake_apiserver/mod.ts";
import { poolObject, serviceObject, TEST_NAMESPACE } from "../controller/testing.ts";
import { figure, Rng, type Soak, type SoakContext } from "./types.ts";

type Stored = Parameters<FakeApiServer["objects"]["put"]>[1];

function ingressOf(obj: Stored): string[] {
  const st = (obj as { status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }).status;
  return (st?.loadBalancer?.ingress ?? []).map((e) => e.ip ?? "").filter(Boolean);
}

/** Watches every Service's status from the store and keeps the books. */
class Auditor {
  first = new Map<string, string>();
  deleted = new Set<string>();
  lost = new Map<string, string>();
  doubles = new Map<string, string>();

  constructor(readonly server: FakeApiServer) {}

  /** One look at the store; returns how many live Services have exactly one IP. */
  scan(): { assigned: number; total: number; doublesNow: number } {
    const owner = new Map<string, string>();
    let assigned = 0;
    let doublesNow = 0;
    const list = this.server.objects.list("services");
    for (const s of list) {
      const key = `${s.metadata.namespace}/${s.metadata.name}`;
      const ips = ingressOf(s);
      if (ips.length === 1) assigned++;
      const had = this.first.get(key);
      if (had === undefined && ips.length > 0) this.first.set(key, ips[0]);
      if (had !== undefined && (ips.length === 0 || ips[0] !== had) && !this.lost.has(key)) {
        this.lost.set(key, `${key} had ${had}, now ${ips.join(",") || "none"}`);
      }
      for (const ip of ips) {
        const other = owner.get(ip);
        if (other !== undefined) {
          doublesNow++;
          const pair = [other, key].sort().join(" & ");
          if (!this.doubles.has(pair)) this.doubles.set(pair, `${ip} held by ${pair}`);
        }
        owner.set(ip, key);
      }
    }
    return { assigned, total: list.length, doublesNow };
  }
}

/** The soak. */
export const soak: Soak = {
  name: "soak_api_chaos",
  async *run(ctx: SoakContext) {
    const count = ctx.short ? 1_000 : 10_000;
    const chaosMs = ctx.short ? 40_000 : 180_000;
    const convergeBoundMs = ctx.short ? 120_000 : 300_000;
    const g = new Rng(ctx.seed ^ 0xa91);
    const server = await startFakeApiServer({ historyLimit: 200_000 });
    const root = await Deno.makeTempDir({ prefix: "ferrolb-soak-api-" });
    await Deno.writeTextFile(`${root}/kubeconfig`, server.kubeConfigYaml);
    const argv = [
      "controller",
      "--kubeconfig",
      "kubeconfig",
      "--namespace",
      TEST_NAMESPACE,
      "--admin-addr",
      "127.0.0.1:0",
      "--log-level",
      "warn",
    ];
    const unexpectedExits: string[] = [];
    let proc: FerrolbProcess | undefined;
    let killing = false;
    const startProc = () => {
      const p = spawnFerrolb(argv, { cwd: root });
      p.exited.then((st) => {
        if (!killing || proc !== p) {
          unexpectedExits.push(`controller exited by itself (code ${st.code}): ${p.tail(5)}`);
        }
      });
      proc = p;
    };
    const stopProc = async (signal: Deno.Signal) => {
      const p = proc;
      if (!p) return undefined;
      killing = true;
      const st = await p.stop(signal);
      killing = false;
      proc = undefined;
      return st;
    };
    const auditor = new Auditor(server);
    const faults: Record<string, number> = {};
    const bump = (k: string) => (faults[k] = (faults[k] ?? 0) + 1);
    let created = 0;
    let deletedCount = 0;
    let kills = 0;
    let convergeS: number | null = null;
    let cleanExit: number | null = null;
    const putService = (i: number) => {
      server.objects.put(
        "services",
        serviceObject(`ns${i % 50}`, `svc${i}`, {
          created: new Date(Date.UTC(2026, 0, 1) + i * 1000).toISOString(),
        }) as never,
      );
      created++;
    };
    try {
      server.objects.put(
        "ipaddresspools.metallb.io",
        poolObject("soak", ["10.64.0.0/16"]) as never,
      );
      for (let i = 0; i < count / 2; i++) putService(i);
      startProc();
      const t0 = Date.now();
      let nextKill = t0 + 5_000 + g.int(15_000);
      while (Date.now() - t0 < chaosMs) {
        await new Promise((r) => setTimeout(r, 200 + g.int(800)));
        // The rest of the Services arrive during the chaos, and some go away.
        for (let i = 0; i < Math.ceil(count / 2 / (chaosMs / 2000)) && created < count; i++) {
          putService(created);
        }
        if (g.chance(0.2) && created > 10) {
          const i = g.int(created);
          const key = `ns${i % 50}/svc${i}`;
          if (!auditor.deleted.has(key)) {
            auditor.deleted.add(key);
            server.objects.delete("services", `ns${i % 50}`, `svc${i}`);
            deletedCount++;
          }
        }
        switch (g.int(8)) {
          case 0:
            server.faults.dropWatches();
            bump("drop_watches");
            break;
          case 1:
            server.faults.failNext(1 + g.int(20));
            bump("fail_500");
            break;
          case 2:
            server.faults.failFraction(g.pick([0, 0, 0.05, 0.2]), g.int(1000));
            bump("fail_fraction");
            break;
          case 3:
            server.faults.conflictNextWrites(1 + g.int(10));
            bump("conflict_409");
            break;
          case 4:
            server.faults.goneNextWatch(g.pick(["event", "http"] as const));
            bump("gone_410");
            break;
          case 5:
            if (g.chance(0.3)) {
              await server.faults.restart({ abrupt: g.chance(0.5) });
              bump("server_restart");
            }
            break;
          case 6:
            if (g.chance(0.3)) server.objects.compact();
            break;
        }
        if (Date.now() >= nextKill) {
          await stopProc("SIGKILL");
          kills++;
          await new Promise((r) => setTimeout(r, g.int(2000)));
          startProc();
          nextKill = Date.now() + 5_000 + g.int(20_000);
        }
        auditor.scan();
      }
      while (created < count) putService(created);
      server.faults.reset();
      server.faults.failFraction(0);
      if (!proc) startProc();
      ctx.log("chaos over", { kills, faults, created, deleted: deletedCount });
      const t1 = Date.now();
      for (;;) {
        const s = auditor.scan();
        if (s.assigned === s.total && s.doublesNow === 0) {
          convergeS = (Date.now() - t1) / 1000;
          break;
        }
        if (Date.now() - t1 > convergeBoundMs) {
          ctx.log("did not converge", s);
          break;
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      // Quiet afterwards: nothing may move once converged.
      await new Promise((r) => setTimeout(r, 3000));
      auditor.scan();
      const st = await stopProc("SIGTERM");
      cleanExit = st?.code ?? null;
    } finally {
      await stopProc("SIGKILL");
      await server.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
    const broken: string[] = [];
    if (auditor.doubles.size) {
      broken.push(
        `${auditor.doubles.size} double allocation(s): ${
          [...auditor.doubles.values()].slice(0, 3).join("; ")
        }`,
      );
    }
    if (auditor.lost.size) {
      broken.push(
        `${auditor.lost.size} lost assignment(s): ${
          [...auditor.lost.values()].slice(0, 3).join("; ")
        }`,
      );
    }
    if (convergeS === null) {
      broken.push(`did not converge within ${convergeBoundMs / 1000} s after the chaos`);
    }
    if (unexpectedExits.length) {
      broken.push(
        `controller exited on its own ${unexpectedExits.length} time(s): ${unexpectedExits[0]}`,
      );
    }
    if (cleanExit !== 0) {
      broken.push(`SIGTERM did not end the controller cleanly (exit ${cleanExit})`);
    }
    yield figure("soak_api_chaos", convergeS, "s", {
      broken,
      extra: {
        double_allocations: auditor.doubles.size,
        lost_assignments: auditor.lost.size,
        services: count,
        deleted: deletedCount,
        controller_kills: kills,
        faults,
        chaos_s: chaosMs / 1000,
      },
    });
  },
};
