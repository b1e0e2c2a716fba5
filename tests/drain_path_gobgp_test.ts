/**
 * Interop with a real gobgpd over a veth pair (root, `ip netns`, gobgpd; skipped elsewhere,
 * saying why): ferrolb's extensions on unchanged MetalLB objects. AS-path prepend and MED from
 * BGPAdvertisement annotations arrive as set; a draining node (cordon, SIGTERM) re-announces
 * with GRACEFUL_SHUTDOWN (65535:0) before it withdraws, and the gap is measured from GoBGP's
 * own update stream (`gobgp monitor global rib`).
 */
import assert from "node:assert/strict";
import {
  cleanupStaleNetns,
  createNetnsPair,
  type Gobgpd,
  netnsAvailable,
  type NetnsPair,
  type RibEntry,
  startGobgpd,
} from "./gobgp/mod.ts";
import { spawnInNetns } from "./gobgp/netns.ts";
import { readLines, SpeakerProcess } from "./speaker/process.ts";
import {
  advObject,
  nodeObject,
  peerObject,
  poolObject,
  serviceObject,
  sliceObject,
} from "./speaker/testing.ts";

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  try {
    const o = await new Deno.Command("gobgpd", { args: ["--version"], stdout: "null" }).output();
    return o.success ? undefined : "gobgpd --version failed";
  } catch {
    return "gobgpd not installed";
  }
}
const reason = await skipReason();
if (reason) console.log(`skipping drain/path-control GoBGP tests: ${reason}`);

const GRACE_MS = 3000;

/** One UPDATE as GoBGP's monitor stream showed it, stamped on arrival. */
interface Seen {
  at: number;
  prefix: string;
  withdrawal: boolean;
  communities: string[];
}

/** `gobgp monitor global rib -j` in gobgpd's namespace: every path change, as it happens. */
class RibMonitor {
  #child: Deno.ChildProcess;
  seen: Seen[] = [];

  constructor(g: Gobgpd) {
    this.#child = spawnInNetns(g.netns!, "gobgp", {
      args: ["-u", "127.0.0.1", "-p", String(g.grpcPort), "-j", "monitor", "global", "rib"],
      stdout: "piped",
      stderr: "null",
    });
    const stdout = this.#child.stdout;
    (async () => {
      for await (const line of readLines(stdout)) {
        const at = performance.now();
        let paths: Record<string, unknown>[];
        try {
          const j = JSON.parse(line);
          paths = Array.isArray(j) ? j : [j];
        } catch {
          continue;
        }
        for (const p of paths) {
          const attrs = (p.attrs ?? []) as { type: number; communities?: number[] }[];
          const comm = attrs.find((a) => a.type === 8)?.communities ?? [];
          this.seen.push({
            at,
            prefix: String((p.nlri as { prefix?: string })?.prefix ?? p.prefix),
            withdrawal: p.withdrawal === true,
            communities: comm.map((v) => `${v >>> 16}:${v & 0xffff}`),
          });
        }
      }
    })();
  }

  since(i: number): Seen[] {
    return this.seen.slice(i);
  }

  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // gone
    }
    await this.#child.status;
  }
}

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>) {
  const until = Date.now() + 30_000;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function route(g: Gobgpd, prefix: string): Promise<RibEntry | undefined> {
  return (await g.rib("ipv4")).find((e) => e.prefix === prefix);
}

/** From the monitor: when 65535:0 first arrived and when the withdraw came, per prefix. */
function drainTimeline(events: Seen[], prefix: string) {
  const mine = events.filter((e) => e.prefix === prefix);
  const marked = mine.find((e) => !e.withdrawal && e.communities.includes("65535:0"));
  const withdrawn = mine.find((e) => e.withdrawal);
  return { marked, withdrawn };
}

const WEB = "198.51.100.10/32";

Deno.test({
  name: "gobgpd: prepend and MED arrive as set; drain sends 65535:0 before the withdraw",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await cleanupStaleNetns();
    const pair: NetnsPair = await createNetnsPair();
    let gobgp: Gobgpd | undefined;
    let monitor: RibMonitor | undefined;
    const speaker = new SpeakerProcess(pair.a.name, "n1", [`--graceful-shutdown-ms=${GRACE_MS}`]);
    try {
      assert.deepEqual(await speaker.next(), { ready: true });
      gobgp = await startGobgpd({
        netns: pair.b.name,
        asn: 64501,
        routerId: pair.b.addr4,
        neighbors: [{ address: pair.a.addr4, asn: 64500, passive: true }],
      });
      const g = gobgp;
      monitor = new RibMonitor(g);
      const mon = monitor;
      const backup = (annotations: Record<string, string>) => {
        const o = advObject("backup", { communities: ["64500:100"] });
        o.metadata.annotations = annotations;
        return o;
      };
      for (
        const o of [
          poolObject("pool-a", ["198.51.100.0/24"]),
          nodeObject("n1", { internalIP: pair.a.addr4 }),
          backup({ "ferrolb.io/as-path-prepend": "3", "ferrolb.io/med": "200" }),
          serviceObject("web", { ips: ["198.51.100.10"], pool: "pool-a" }),
          sliceObject("web", [{ node: "n1" }]),
          peerObject("gobgp", { myASN: 64500, peerASN: 64501, peerAddress: pair.b.addr4 }),
        ]
      ) await speaker.put(o);

      await t.step("prepend and MED arrive at the peer as set, and show in status", async () => {
        await g.waitEstablished(pair.a.addr4, { timeoutMs: 30_000 });
        const e = await waitFor("route at gobgpd", () => route(g, WEB));
        assert.deepEqual(e.asPath, [64500, 64500, 64500, 64500]);
        assert.equal(e.med, 200);
        assert.deepEqual(e.communities, ["64500:100"]);
        const st = await speaker.status();
        const svc = (st.services as { name: string; path?: unknown }[]).find((s) =>
          s.name === "web"
        );
        assert.deepEqual(svc?.path, { asPathPrepend: 3, med: 200 });
      });

      await t.step(
        "changing the annotations re-announces; a bad one keeps the last good",
        async () => {
          await speaker.put(backup({ "ferrolb.io/med": "50" }));
          const e = await waitFor("MED 50, no prepend", async () => {
            const r = await route(g, WEB);
            return r?.med === 50 ? r : undefined;
          });
          assert.deepEqual(e.asPath, [64500]);
          const from = mon.seen.length;
          await speaker.put(backup({ "ferrolb.io/as-path-prepend": "11", "ferrolb.io/med": "60" }));
          const { config } = await speaker.send({ status: true }) as {
            config: { valid: boolean; errors: string[] };
          };
          assert.equal(config.valid, false);
          assert.deepEqual(config.errors, [
            `BGPAdvertisement metallb-system/backup: metadata.annotations["ferrolb.io/as-path-prepend"]: ` +
            `11 is outside 1-10 (how many more times to repeat our AS, 1-10)`,
          ]);
          // A new Service after the bad change: its UPDATE follows any the bad config caused on
          // the same session, so once it is at the peer nothing else is on its way.
          await speaker.put(serviceObject("api", { ips: ["198.51.100.11"], pool: "pool-a" }));
          await speaker.put(sliceObject("api", [{ node: "n1" }]));
          const api = await waitFor("api at gobgpd", () => route(g, "198.51.100.11/32"));
          assert.equal(api.med, 50, "the last good config announces new Services");
          assert.deepEqual(mon.since(from).filter((e) => e.prefix === WEB), []);
          const after = await route(g, WEB);
          assert.equal(after?.med, 50);
          assert.deepEqual(after?.asPath, [64500]);
        },
      );

      await t.step(
        "cordon: 65535:0 first, withdraw after the grace period; uncordon: back",
        async () => {
          await speaker.put(backup({ "ferrolb.io/med": "50" }));
          const from = mon.seen.length;
          const cordoned = nodeObject("n1", { internalIP: pair.a.addr4 });
          (cordoned as { spec?: unknown }).spec = { unschedulable: true };
          await speaker.put(cordoned);
          const tl = await waitFor("65535:0 then the withdraw", () => {
            const x = drainTimeline(mon.since(from), WEB);
            return x.marked && x.withdrawn ? x : undefined;
          });
          const gap = tl.withdrawn!.at - tl.marked!.at;
          console.log(
            `cordon drain: 65535:0 -> withdraw gap ${gap.toFixed(0)} ms (grace ${GRACE_MS})`,
          );
          assert.ok(tl.marked!.at < tl.withdrawn!.at, "65535:0 arrived before the withdraw");
          assert.ok(tl.marked!.communities.includes("64500:100"), "own communities kept");
          assert.ok(gap >= GRACE_MS - 100, `gap ${gap} ms shorter than the grace period`);
          const [n] = await g.neighbors();
          assert.equal(n.established, true, "withdrawn in an UPDATE, the session kept");
          await speaker.put(nodeObject("n1", { internalIP: pair.a.addr4 }));
          const back = await waitFor("route back after uncordon", () => route(g, WEB));
          assert.deepEqual(back.communities, ["64500:100"]);
        },
      );

      await t.step(
        "SIGTERM: 65535:0, the grace period, the withdraw; exits within N + 2 s",
        async () => {
          const from = mon.seen.length;
          const r = await speaker.terminate();
          assert.equal(r.code, 0);
          const tl = await waitFor("65535:0 then the withdraw", () => {
            const x = drainTimeline(mon.since(from), WEB);
            return x.marked && x.withdrawn ? x : undefined;
          });
          const gap = tl.withdrawn!.at - tl.marked!.at;
          console.log(
            `SIGTERM drain: 65535:0 -> withdraw gap ${gap.toFixed(0)} ms; exit after ${
              r.ms.toFixed(0)
            } ms (grace ${GRACE_MS})`,
          );
          assert.ok(gap >= GRACE_MS - 100, `gap ${gap} ms shorter than the grace period`);
          assert.ok(r.ms < GRACE_MS + 2000, `SIGTERM took ${r.ms} ms`);
        },
      );
    } catch (err) {
      console.error(`speaker stderr tail:\n${speaker.stderr.slice(-4000)}`);
      if (gobgp) console.error(`gobgpd log tail:\n${await gobgp.logTail(40)}`);
      throw err;
    } finally {
      await speaker.stop();
      await monitor?.stop();
      await gobgp?.stop();
      await pair.close();
    }
  },
});

Deno.test({
  name: "gobgpd with graceful restart: SIGTERM keeps the routes as stale, no drain, no withdraw",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await cleanupStaleNetns();
    const pair: NetnsPair = await createNetnsPair();
    let gobgp: Gobgpd | undefined;
    let monitor: RibMonitor | undefined;
    const speaker = new SpeakerProcess(pair.a.name, "n1", [`--graceful-shutdown-ms=${GRACE_MS}`]);
    try {
      assert.deepEqual(await speaker.next(), { ready: true });
      gobgp = await startGobgpd({
        netns: pair.b.name,
        asn: 64501,
        routerId: pair.b.addr4,
        neighbors: [{
          address: pair.a.addr4,
          asn: 64500,
          passive: true,
          families: ["ipv4"],
          gracefulRestart: { restartTime: 120, notification: true },
        }],
      });
      const g = gobgp;
      monitor = new RibMonitor(g);
      const mon = monitor;
      for (
        const o of [
          poolObject("pool-a", ["198.51.100.0/24"]),
          nodeObject("n1", { internalIP: pair.a.addr4 }),
          advObject("all"),
          serviceObject("web", { ips: ["198.51.100.10"], pool: "pool-a" }),
          sliceObject("web", [{ node: "n1" }]),
          peerObject("gobgp", {
            myASN: 64500,
            peerASN: 64501,
            peerAddress: pair.b.addr4,
            enableGracefulRestart: true,
          }),
        ]
      ) await speaker.put(o);
      await g.waitEstablished(pair.a.addr4, { timeoutMs: 30_000 });
      await waitFor("route at gobgpd", () => route(g, WEB));
      const from = mon.seen.length;
      const r = await speaker.terminate();
      assert.equal(r.code, 0);
      assert.ok(r.ms < GRACE_MS, `no drain wait for a graceful-restart peer (${r.ms} ms)`);
      const stale = await waitFor("the route kept as stale", async () => {
        const out = await g.cli(["global", "rib", "-a", "ipv4"], { json: true });
        const paths = (JSON.parse(out.trim() || "{}") as Record<string, { stale?: boolean }[]>)[
          WEB
        ];
        return paths?.[0]?.stale === true ? true : undefined;
      });
      assert.equal(stale, true);
      const mine = mon.since(from).filter((e) => e.prefix === WEB);
      assert.ok(mine.every((e) => !e.withdrawal), "not withdrawn");
      assert.ok(mine.every((e) => !e.communities.includes("65535:0")), "not marked");
    } catch (err) {
      console.error(`speaker stderr tail:\n${speaker.stderr.slice(-4000)}`);
      if (gobgp) console.error(`gobgpd log tail:\n${await gobgp.logTail(40)}`);
      throw err;
    } finally {
      await speaker.stop();
      await monitor?.stop();
      await gobgp?.stop();
      await pair.close();
    }
  },
});
