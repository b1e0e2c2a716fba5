/**
 * The end-to-end script of e2e_test.ts with GoBGP as the router: `ferrolb all` (the binary)
 * runs in one network namespace, gobgpd in another, joined by a veth pair, because GoBGP
 * drops routes whose next hop is in 127/8. Skipped, saying why, without root, `ip netns` or
 * gobgpd.
 */
import assert from "node:assert/strict";
import {
  cleanupStaleNetns,
  createNetnsPair,
  type Gobgpd,
  netnsAvailable,
  type NetnsPair,
  startGobgpd,
} from "./gobgp/mod.ts";
import { fileModeScenario, SCENARIO_ASN, type ScenarioRouter } from "./e2e_helpers.ts";

const GOBGP_ASN = 65001;

async function gobgpdAvailable(): Promise<string | undefined> {
  for (const [bin, arg] of [["gobgpd", "--version"], ["gobgp", "--help"]]) {
    try {
      await new Deno.Command(bin, { args: [arg], stdout: "null", stderr: "null" }).output();
    } catch {
      return `${bin} not installed (apt-get install gobgpd)`;
    }
  }
  return undefined;
}

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  return await gobgpdAvailable();
}

const reason = await skipReason();
if (reason) console.log(`skipping the GoBGP end-to-end test: ${reason}`);

Deno.test({
  name: "e2e: ferrolb all on a directory announces to GoBGP, follows edits, survives restart",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await cleanupStaleNetns();
    const pair: NetnsPair = await createNetnsPair();
    let gobgpd: Gobgpd | undefined;
    try {
      // a: ferrolb (192.0.2.1); b: gobgpd (192.0.2.2), waiting for ferrolb to dial.
      gobgpd = await startGobgpd({
        netns: pair.b.name,
        asn: GOBGP_ASN,
        routerId: pair.b.addr4,
        neighbors: [{ address: pair.a.addr4, asn: SCENARIO_ASN, passive: true }],
      });
      const g = gobgpd;
      const neighbor = async () => (await g.neighbors()).find((n) => n.address === pair.a.addr4);
      const router: ScenarioRouter = {
        peer: { peerAddress: pair.b.addr4, peerASN: GOBGP_ASN },
        label: `${pair.b.addr4}:179`,
        nextHop: pair.a.addr4,
        async routes() {
          return (await g.rib("ipv4")).map((e) => ({
            prefix: e.prefix,
            nextHop: e.nextHop,
            asPath: e.asPath,
            communities: e.communities,
          }));
        },
        // Each session starts with one OPEN and has its own start time.
        async session() {
          const raw = JSON.parse(await g.cli(["neighbor", pair.a.addr4], { json: true }));
          if (raw.state?.session_state !== 6) return undefined;
          return `${raw.state.messages?.received?.open}@${raw.timers?.state?.uptime?.seconds}`;
        },
        async checkStopped() {
          await g.waitFor(async () => (await neighbor())?.established === false, {
            what: "gobgpd to see the session end",
          });
          // gobgpd may show the state before its log line is written: wait for the line.
          const peerDowns = async () =>
            (await g.logTail(500)).split("\n").flatMap((l) => {
              try {
                const o = JSON.parse(l);
                return o.msg === "Peer Down" && o.Key === pair.a.addr4 ? [String(o.Reason)] : [];
              } catch {
                return [];
              }
            });
          let downs: string[] = [];
          await g.waitFor(async () => {
            downs = await peerDowns();
            return /notification-received code 6\(cease\)/.test(downs.at(-1) ?? "");
          }, { what: "gobgpd to log Peer Down", timeoutMs: 30_000 }).catch(() => {});
          // A Cease NOTIFICATION, not a dropped connection.
          assert.match(
            downs.at(-1) ?? "",
            /notification-received code 6\(cease\)/,
            downs.join("\n"),
          );
        },
      };
      await fileModeScenario(t, router, { netns: pair.a.name });
    } finally {
      await gobgpd?.stop();
      await pair.close();
    }
  },
});
