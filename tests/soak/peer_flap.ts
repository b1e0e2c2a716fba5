/**
 * soak_peer_flap: a real GoBGP peer reset 100 times (SIGKILL and restart, clean restart, TCP
 * reset while our UPDATEs are in flight, hold-timer expiry by a frozen peer) while our
 * session announces 10,000 prefixes. After each reset the full table must be back at GoBGP,
 * our process must still be the same one, and its resident memory must stay flat.
 */
import { type Driver, type DriverEvent, spawnDriver } from "../bgp_driver.ts";
import { cleanupStaleNetns, createNetnsPair } from "../gobgp/netns.ts";
import { type Gobgpd, netnsAvailable, runInNetns, startGobgpd } from "../gobgp/mod.ts";
import { figure, pollUntil, rssBytes, skipped, type Soak, type SoakContext } from "./types.ts";

const OUR_ASN = 64512;
const GOBGP_ASN = 65001;
const PREFIXES = 10_000;
const BASE = "198.18.0.0/32";
const KINDS = ["kill", "restart", "tcp_reset_mid_update", "hold_expiry"] as const;

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  for (const bin of ["gobgpd", "gobgp", "ss"]) {
    try {
      await new Deno.Command(bin, { args: ["--help"], stdout: "null", stderr: "null" }).output();
    } catch {
      return `${bin} not installed`;
    }
  }
  return undefined;
}

async function driverPid(netns: string): Promise<number | null> {
  const r = await runInNetns(undefined, "ip", { args: ["netns", "pids", netns] });
  const pids = r.stdout.split(/\s+/).filter(Boolean).map(Number);
  return pids.length === 1 ? pids[0] : null;
}

/** Whether GoBGP holds the full table from us, with MED `med` on a sample prefix. */
async function fullTable(g: Gobgpd, from: string, med: number): Promise<boolean> {
  const nb = (await bounded(g.neighbors(), 15_000, "gobgp neighbor")).find((n) =>
    n.address === from
  );
  if (!nb?.established || nb.accepted !== PREFIXES) return false;
  if ((await bounded(g.ribCount("ipv4"), 15_000, "gobgp rib summary")) !== PREFIXES) return false;
  const last = `198.18.${(PREFIXES - 1) >> 8}.${(PREFIXES - 1) & 0xff}/32`;
  const out = JSON.parse(
    await bounded(
      g.cli(["global", "rib", "-a", "ipv4", last], { json: true }),
      15_000,
      "gobgp rib",
    ),
  );
  const attrs = (Object.values(out)[0] as { attrs: { type: number; metric?: number }[] }[])?.[0]
    ?.attrs ?? [];
  return (attrs.find((a) => a.type === 4)?.metric ?? 0) === med;
}

/** Rejects when `p` takes longer than `ms`: nothing in the soak may wait forever. */
function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`${what} took over ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Signals gobgpd only: a pid of -1 (not running) would signal every process on the host. */
function signalGobgpd(g: Gobgpd, signal: Deno.Signal): void {
  const pid = g.pid;
  if (!(pid > 1)) throw new Error(`gobgpd is not running (pid ${pid})`);
  Deno.kill(pid, signal);
}

/** One reset of kind `kind`; resolves once the reset has happened (not recovered). */
async function reset(
  kind: typeof KINDS[number],
  lab: { g: Gobgpd; d: Driver; nsA: string; peer: string; med: number },
): Promise<void> {
  const { g, d } = lab;
  const since = d.events.length;
  const lost = () =>
    d.waitEvent((e) => e.event === "error" || (e.event === "state" && e.state !== "Established"), {
      since,
      timeoutMs: 20_000,
      what: `session loss after ${kind}`,
    });
  switch (kind) {
    case "kill":
      await g.kill("SIGKILL");
      await lost();
      await g.restart();
      return;
    case "restart":
      await g.kill("SIGTERM");
      await lost();
      await g.restart();
      return;
    case "tcp_reset_mid_update": {
      // New attributes for all prefixes: ~10,000 routes of UPDATEs start flowing, then RST.
      await d.generate({ count: PREFIXES, base: BASE, attributes: { med: lab.med } });
      await new Promise((r) => setTimeout(r, 5));
      await runInNetns(lab.nsA, "ss", { args: ["-K", "dst", lab.peer, "dport", "=", "179"] });
      await lost();
      return;
    }
    case "hold_expiry":
      await holdExpiry(g, d);
  }
}

/** Our session's current state: its last state event, or undefined before the first. */
function currentState(d: Driver): string | undefined {
  for (let i = d.events.length - 1; i >= 0; i--) {
    if (d.events[i].event === "state") return d.events[i].state;
  }
  return undefined;
}

/**
 * Freezes GoBGP until our hold timer expires. The last cycle's recovery is judged by GoBGP's
 * table, which it can still hold while the session that sent it is being torn down (a Cease
 * or an abort follows). So the peer is frozen only once ours is Established, and a session
 * that ends for another reason while frozen was the last cycle's: thaw, let it come back, and
 * freeze again (at most three times).
 */
async function holdExpiry(g: Gobgpd, d: Driver): Promise<void> {
  for (let attempt = 1;; attempt++) {
    if (currentState(d) !== "Established") {
      await d.waitEvent((e) => e.event === "state" && e.state === "Established", {
        since: d.events.length,
        timeoutMs: 60_000,
        what: "our session Established before freezing the peer",
      });
    }
    const since = d.events.length;
    signalGobgpd(g, "SIGSTOP");
    let ended: DriverEvent;
    try {
      ended = await d.waitEvent((e) => e.event === "error", {
        since,
        timeoutMs: 20_000,
        what: "our hold timer expiring on the frozen peer",
      });
    } finally {
      signalGobgpd(g, "SIGCONT");
    }
    if (/Hold Timer Expired/.test(ended.message ?? "")) return;
    if (attempt === 3) {
      throw new Error(`the session ended for another reason three times: ${ended.message}`);
    }
  }
}

/** The soak. */
export const soak: Soak = {
  name: "soak_peer_flap",
  async *run(ctx: SoakContext) {
    const why = await skipReason();
    if (why) {
      yield skipped("soak_peer_flap", "resets", why);
      yield skipped("soak_peer_flap_rss_growth", "MB", why);
      return;
    }
    const cycles = ctx.short ? 8 : 100;
    await cleanupStaleNetns();
    const pair = await createNetnsPair();
    let g: Gobgpd | undefined;
    let d: Driver | undefined;
    const failures: string[] = [];
    const recoverS: number[] = [];
    const rss: number[] = [];
    let done = 0;
    try {
      g = await startGobgpd({
        netns: pair.b.name,
        asn: GOBGP_ASN,
        routerId: pair.b.addr4,
        neighbors: [{ address: pair.a.addr4, asn: OUR_ASN, passive: true, holdTime: 3 }],
        startTimeoutMs: 20_000,
      });
      d = spawnDriver(pair.a.name, {
        config: {
          localAsn: OUR_ASN,
          peerAsn: GOBGP_ASN,
          peerAddress: pair.b.addr4,
          routerId: pair.a.addr4,
          holdTimeMs: 3_000,
          families: ["ipv4"],
        },
        generate: { count: PREFIXES, base: BASE, attributes: { med: 0 } },
      });
      let med = 0;
      const gg = g;
      if (!(await pollUntil(() => fullTable(gg, pair.a.addr4, med), { timeoutMs: 60_000 }))) {
        throw new Error(`GoBGP never got the first ${PREFIXES} prefixes`);
      }
      const pid = await driverPid(pair.a.name);
      if (pid === null) throw new Error("cannot find our session's process in its namespace");
      for (let i = 0; i < cycles; i++) {
        const kind = KINDS[i % KINDS.length];
        if (kind === "tcp_reset_mid_update") med = i + 1;
        const t0 = performance.now();
        try {
          const lab = { g, d, nsA: pair.a.name, peer: pair.b.addr4, med };
          await bounded(reset(kind, lab), 90_000, `reset ${kind}`);
        } catch (err) {
          failures.push(
            `cycle ${i} (${kind}): ${(err as Error).message.slice(0, 300)}; events: ${
              JSON.stringify(d.events.slice(-4))
            }`,
          );
        }
        const back = await pollUntil(() => fullTable(gg, pair.a.addr4, med), {
          // Reconnect backoff reaches 2 minutes when the peer refuses us for a while.
          timeoutMs: 150_000,
          intervalMs: 200,
        });
        if (!back) {
          const nb = (await bounded(g.neighbors(), 15_000, "gobgp neighbor").catch(() => []))[0];
          failures.push(
            `cycle ${i} (${kind}): full table not back at GoBGP within 150 s (GoBGP: ${
              JSON.stringify(nb)
            }; ours: ${JSON.stringify(d.events.slice(-4))})`,
          );
          if (failures.length > 3) break;
          continue;
        }
        recoverS.push((performance.now() - t0) / 1000);
        const r = await rssBytes(pid);
        if (r === null) {
          failures.push(
            `cycle ${i} (${kind}): our session process ${pid} exited; stderr: ${
              d.stderr().slice(-500)
            }; events: ${JSON.stringify(d.events.slice(-3))}`,
          );
          break;
        }
        rss.push(r);
        done++;
        if ((i + 1) % 10 === 0) {
          ctx.log("peer flap progress", { cycles: i + 1, rssMB: (r ?? 0) / 2 ** 20 });
        }
      }
    } finally {
      await d?.close();
      await g?.stop();
      await pair.close();
    }
    recoverS.sort((a, b) => a - b);
    const broken = [...failures];
    if (done < cycles) broken.push(`only ${done} of ${cycles} resets recovered the full table`);
    yield figure("soak_peer_flap", done, "resets", {
      broken,
      extra: {
        prefixes: PREFIXES,
        recover_median_s: round(recoverS[Math.floor(recoverS.length / 2)] ?? null),
        recover_max_s: round(recoverS.at(-1) ?? null),
        kinds: KINDS,
      },
    });
    // Flat memory: the average of the last quarter against the first quarter after warm-up.
    const q = Math.max(2, Math.floor(rss.length / 4));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const growth = rss.length >= 2 * q
      ? (mean(rss.slice(-q)) - mean(rss.slice(0, q))) / 2 ** 20
      : null;
    const limitMB = 32;
    yield figure("soak_peer_flap_rss_growth", growth === null ? null : round(growth), "MB", {
      broken: growth !== null && growth > limitMB
        ? [`resident memory grew ${growth.toFixed(1)} MB over ${done} resets (limit ${limitMB})`]
        : [],
      extra: {
        rss_first_mb: rss.length ? round(rss[0] / 2 ** 20) : null,
        rss_last_mb: rss.length ? round(rss.at(-1)! / 2 ** 20) : null,
        rss_max_mb: rss.length ? round(Math.max(...rss) / 2 ** 20) : null,
        limit_mb: limitMB,
      },
    });
  },
};

function round(x: number | null): number | null {
  return x === null ? null : Math.round(x * 100) / 100;
}
