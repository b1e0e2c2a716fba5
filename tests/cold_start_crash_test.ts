/**
 * Whole-process crash test: `ferrolb all` (the real program, the task's flags) cold-starts
 * on N Services from an empty state dir and is SIGKILLed at a random moment of the start
 * (drawn over the time an uninterrupted cold start takes); after the restart nothing
 * assigned is lost and no address is given to two Services. Each round starts cold again.
 *
 * "Assigned" is what a user could have seen before the kill: the state on disk (file mode's
 * Service status) and the routes the BGP receiver held. An address the receiver held must be
 * on disk too, or a crash would move an address that routers were already sending traffic to.
 *
 * N is FERROLB_CRASH_SERVICES (default 10,000; 2,000 keeps it short on a slow build),
 * rounds FERROLB_CRASH_ROUNDS (default 3);
 * FERROLB_CRASH_SEED makes the moments repeatable. Skipped, saying why, without root,
 * `ip netns` or gobgpd.
 */
import assert from "node:assert/strict";
import { createLogger } from "../api/log.ts";
import { openStateStore } from "../cluster/state_store.ts";
import { cleanupStaleNetns, netnsAvailable } from "./gobgp/mod.ts";
import { type FerrolbProcess, fetchStatus, pollUntil, spawnFerrolb } from "./e2e_helpers.ts";
import {
  type BenchNet,
  createBenchNet,
  receiverCounts,
  waitReceiversIdle,
} from "./bench/e2e_env.ts";
import { writeManifestDir } from "./bench/gen_manifests.ts";

const N = Number(Deno.env.get("FERROLB_CRASH_SERVICES") ?? 10_000);
const ROUNDS = Number(Deno.env.get("FERROLB_CRASH_ROUNDS") ?? 3);
const SEED = Number(Deno.env.get("FERROLB_CRASH_SEED") ?? Date.now() % 1_000_000);
const ADMIN = "127.0.0.1:7472";

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  for (const bin of ["gobgpd", "gobgp"]) {
    try {
      await new Deno.Command(bin, { args: ["--help"], stdout: "null", stderr: "null" }).output();
    } catch {
      return `${bin} not installed`;
    }
  }
  return undefined;
}

const reason = await skipReason();
if (reason) console.log(`skipping the cold-start crash test: ${reason}`);

/** A small seeded generator (mulberry32), so a failing run can be repeated with its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `namespace/name` → addresses, as the state directory holds them. */
type Assignments = Map<string, string[]>;

function loadState(stateDir: string): Assignments {
  const store = openStateStore(stateDir, { logger: createLogger({ level: "error" }) });
  const out: Assignments = new Map();
  for (const [key, s] of Object.entries(store.load().services)) {
    if (s.ingress.length) out.set(key, [...s.ingress].sort());
  }
  return out;
}

/** Fails naming the first address held by two Services. */
function assertNoSharedAddress(a: Assignments, what: string): void {
  const owner = new Map<string, string>();
  for (const [svc, ips] of a) {
    for (const ip of ips) {
      const other = owner.get(ip);
      assert.equal(other, undefined, `${what}: ${ip} is given to ${other} and ${svc}`);
      owner.set(ip, svc);
    }
  }
}

/** Fails naming the first Service of `before` whose addresses `after` does not keep. */
function assertKept(before: Assignments, after: Assignments, what: string): void {
  for (const [svc, ips] of before) {
    assert.deepEqual(after.get(svc), ips, `${what}: ${svc} had ${ips.join(",")}`);
  }
}

/** The /32s the receiver holds from ferrolb. */
async function announced(net: BenchNet): Promise<Set<string>> {
  const rib = await net.receivers[0].gobgpd.rib("ipv4");
  return new Set(rib.map((e) => e.prefix.replace(/\/32$/, "")));
}

/** Waits until the receiver holds a route per Service (bounded for today's slow starts). */
async function waitAll(net: BenchNet, proc: FerrolbProcess): Promise<void> {
  await pollUntil(
    async () => (await receiverCounts(net.receivers[0], net.senderAddress)).accepted >= N,
    {
      timeoutMs: 900_000,
      intervalMs: 200,
      what: `${N} routes at the receiver`,
      context: () => `ferrolb stderr tail:\n${proc.tail(10)}`,
    },
  );
}

Deno.test({
  name: `crash: SIGKILL at a random moment of a ${N}-Service cold start loses nothing, ` +
    "gives nothing twice",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    console.log(`seed ${SEED} (FERROLB_CRASH_SEED), ${N} Services, ${ROUNDS} kills`);
    const rnd = random(SEED);
    await cleanupStaleNetns();
    const net = await createBenchNet();
    const cwd = await Deno.makeTempDir({ prefix: "ferrolb-crash-" });
    const configDir = `${cwd}/config`;
    const stateDir = `${cwd}/state`;
    let proc: FerrolbProcess | undefined;
    const argv = ["all", "--config-dir", configDir, "--state-dir", stateDir, "--node-name", "n1"];
    const spawn = () =>
      spawnFerrolb([...argv, "--admin-addr", ADMIN], { cwd, netns: net.senderNetns });
    try {
      await writeManifestDir(configDir, {
        services: N,
        peers: [{ address: net.receivers[0].address, asn: 65002 }],
        myAsn: 65001,
        routerId: net.senderAddress,
      });
      // An uninterrupted cold start sets the span the random moments are drawn from.
      const t0 = performance.now();
      proc = spawn();
      await waitAll(net, proc);
      const span = performance.now() - t0;
      await proc.stop("SIGTERM");
      console.log(`uninterrupted cold start: ${Math.round(span)} ms to every route`);
      for (let round = 0; round < ROUNDS; round++) {
        await Deno.remove(stateDir, { recursive: true }).catch(() => {});
        await waitReceiversIdle(net.receivers, net.senderAddress);
        proc = spawn();
        const ms = Math.floor(rnd() * span * 1.1);
        await new Promise((r) => setTimeout(r, ms));
        // What the receiver holds now was announced before the kill.
        const seen = await announced(net);
        await proc.stop("SIGKILL");
        const what = `round ${round} (killed ${ms} ms after spawn)`;
        const onDisk = loadState(stateDir);
        console.log(`${what}: ${seen.size} routes at the receiver, ${onDisk.size} on disk`);
        assertNoSharedAddress(onDisk, `${what}, state after the kill`);
        const persisted = new Set([...onDisk.values()].flat());
        for (const ip of seen) {
          assert.ok(persisted.has(ip), `${what}: ${ip} was announced but is not on disk`);
        }
        await waitReceiversIdle(net.receivers, net.senderAddress);
        proc = spawn();
        await waitAll(net, proc);
        const doc = await fetchStatus(ADMIN, { netns: net.senderNetns });
        const shown: Assignments = new Map(
          doc.services.filter((s) => s.ips.length).map((s) => [
            `${s.namespace}/${s.name}`,
            [...s.ips].sort(),
          ]),
        );
        assert.equal(shown.size, N, `${what}: every Service has an address in /status`);
        assertKept(onDisk, shown, `${what}: /status after the restart`);
        assertNoSharedAddress(shown, `${what}: /status after the restart`);
        assert.equal((await announced(net)).size, N, "one route per Service at the receiver");
        const st = await proc.stop("SIGTERM");
        assert.equal(st.code, 0, proc.tail());
        const final = loadState(stateDir);
        assert.equal(final.size, N, `${what}: every Service on disk after a clean stop`);
        assertKept(shown, final, `${what}: state after a clean stop`);
      }
    } finally {
      if (proc) await proc.stop("SIGKILL").catch(() => {});
      await net.close();
      await Deno.remove(cwd, { recursive: true }).catch(() => {});
    }
  },
});
