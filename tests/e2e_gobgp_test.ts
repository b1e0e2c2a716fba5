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
      let sessionsSeen = 0;
      let wasUp = false;
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
        // GoBGP's JSON has no stable session id; count ups seen between calls instead.
        async session() {
          const up = (await neighbor())?.established ?? false;
          if (up && !wasUp) sessionsSeen++;
          wasUp = up;
          return up ? `session ${sessionsSeen}` : undefined;
        },
        async checkStopped() {
          const n = await g.waitFor(async () => {
            const n = await neighbor();
            return n && !n.established ? n : undefined;
          }, { what: "gobgpd to see the session end" });
          assert.equal(n.established, false);
          assert.ok(
            /Cease|administrative|NOTIFICATION/i.test(await g.logTail(200)),
            "gobgpd logged the NOTIFICATION",
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
