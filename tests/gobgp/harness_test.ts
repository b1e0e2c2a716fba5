import assert from "node:assert/strict";
import {
  cleanupStaleNetns,
  createNetnsPair,
  type Gobgpd,
  hostPrefix,
  netnsAvailable,
  type NetnsPair,
  startGobgpd,
} from "./mod.ts";

async function gobgpdAvailable(): Promise<{ ok: boolean; reason?: string }> {
  for (const bin of ["gobgpd", "gobgp"]) {
    try {
      const o = await new Deno.Command(bin, {
        args: [bin === "gobgpd" ? "--version" : "--help"],
        stdout: "null",
        stderr: "null",
      })
        .output();
      if (!o.success && bin === "gobgpd") return { ok: false, reason: `gobgpd --version failed` };
    } catch {
      return { ok: false, reason: `${bin} not installed (apt-get install gobgpd)` };
    }
  }
  return { ok: true };
}

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  const g = await gobgpdAvailable();
  if (!g.ok) return g.reason;
  return undefined;
}

const reason = await skipReason();
if (reason) console.log(`skipping GoBGP harness tests: ${reason}`);

Deno.test({
  name: "gobgp harness: two gobgpd in two namespaces exchange, withdraw and re-establish",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await cleanupStaleNetns();
    const pair: NetnsPair = await createNetnsPair();
    const started: Gobgpd[] = [];
    try {
      const a = await startGobgpd({
        netns: pair.a.name,
        asn: 65001,
        routerId: pair.a.addr4,
        neighbors: [{ address: pair.b.addr4, asn: 65002, families: ["ipv4", "ipv6"] }],
      });
      started.push(a);
      const b = await startGobgpd({
        netns: pair.b.name,
        asn: 65002,
        routerId: pair.b.addr4,
        neighbors: [{ address: pair.a.addr4, asn: 65001, families: ["ipv4", "ipv6"] }],
      });
      started.push(b);
      await a.waitEstablished(pair.b.addr4);
      await b.waitEstablished(pair.a.addr4);

      await t.step("routes carry communities, large communities and MED", async () => {
        await a.addRoutes(["10.10.1.0/24", "10.10.2.0/24"], {
          nextHop: pair.a.addr4,
          communities: ["65001:100", "65001:200"],
          largeCommunities: ["65001:1:2"],
          routeTargets: ["65001:10"],
          med: 10,
        });
        await a.addRoutes(["2001:db8:100::/64"], {
          nextHop: pair.a.addr6,
          communities: ["65001:300"],
        });
        const v4 = await b.waitFor(async (g) => {
          const rib = await g.rib("ipv4");
          return rib.length === 2 ? rib : undefined;
        }, { what: "two IPv4 routes at b" });
        for (const e of v4) {
          assert.ok(e.prefix === "10.10.1.0/24" || e.prefix === "10.10.2.0/24", e.prefix);
          assert.equal(e.nextHop, pair.a.addr4);
          assert.deepEqual(e.asPath, [65001]);
          assert.deepEqual(e.communities, ["65001:100", "65001:200"]);
          assert.deepEqual(e.largeCommunities, ["65001:1:2"]);
          assert.deepEqual(e.extendedCommunities, ["rt:65001:10"]);
          assert.equal(e.med, 10);
          assert.equal(e.neighbor, pair.a.addr4);
          assert.equal(e.best, true);
        }
        const v6 = await b.waitFor(async (g) => {
          const rib = await g.rib("ipv6");
          return rib.length === 1 ? rib : undefined;
        }, { what: "one IPv6 route at b" });
        assert.equal(v6[0].prefix, "2001:db8:100::/64");
        assert.equal(v6[0].nextHop, pair.a.addr6);
        assert.deepEqual(v6[0].communities, ["65001:300"]);
      });

      await t.step("withdraw removes the route at the peer", async () => {
        await a.deleteRoutes(["10.10.1.0/24"]);
        const rib = await b.waitFor(async (g) => {
          const r = await g.rib("ipv4");
          return r.length === 1 ? r : undefined;
        }, { what: "10.10.1.0/24 withdrawn at b" });
        assert.equal(rib[0].prefix, "10.10.2.0/24");
      });

      await t.step("bulk load reaches the peer and its accepted count", async () => {
        const prefixes = Array.from({ length: 2000 }, (_, i) => hostPrefix(i, "10.20.0.0"));
        await a.addRoutesBulk(prefixes, { nextHop: pair.a.addr4, communities: ["65001:7"] });
        assert.equal(await a.ribCount("ipv4"), 2001);
        await b.waitFor(async (g) => (await g.ribCount("ipv4")) === 2001, {
          what: "2001 IPv4 routes at b",
        });
        const [n] = await b.neighbors();
        assert.equal(n.address, pair.a.addr4);
        assert.equal(n.established, true);
        assert.equal(n.families.ipv4?.accepted, 2001);
        const one = (await b.rib("ipv4")).find((e) => e.prefix === "10.20.7.207/32");
        assert.deepEqual(one?.communities, ["65001:7"]);
        assert.equal(one?.nextHop, pair.a.addr4);
      });

      await t.step("killing a drops the session and its routes at b", async () => {
        await a.kill("SIGKILL");
        await b.waitFor(async (g) => {
          const [n] = await g.neighbors();
          return !n.established && (await g.ribCount("ipv4")) === 0;
        }, { what: "b to drop a's session and routes" });
      });

      await t.step("a Deno process inside namespace a reads b's OPEN", async () => {
        const probe = new URL("./open_probe.ts", import.meta.url).pathname;
        // After a reset b sits in Idle (refusing connections) until its idle hold time ends.
        await b.waitFor(async (g) => (await g.neighbors())[0].state === "active", {
          what: "b's neighbor back to active",
        });
        const out = await new Deno.Command("ip", {
          args: [
            "netns",
            "exec",
            pair.a.name,
            Deno.execPath(),
            "run",
            "--allow-net",
            probe,
            pair.b.addr4,
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
        const open = JSON.parse(new TextDecoder().decode(out.stdout));
        assert.equal(open.type, 1);
        assert.equal(open.version, 4);
        assert.equal(open.asn, 65002);
        assert.equal(open.bgpId, pair.b.addr4);
        assert.equal(open.from, pair.a.addr4);
      });

      await t.step("restart re-establishes the session", async () => {
        await a.restart();
        await a.waitEstablished(pair.b.addr4, { timeoutMs: 20_000 });
        await b.waitEstablished(pair.a.addr4, { timeoutMs: 20_000 });
        await a.addRoutes(["10.10.3.0/24"], { nextHop: pair.a.addr4 });
        const rib = await b.waitFor(async (g) => {
          const r = await g.rib("ipv4");
          return r.length === 1 ? r : undefined;
        }, { what: "10.10.3.0/24 at b after restart" });
        assert.equal(rib[0].prefix, "10.10.3.0/24");
      });
    } finally {
      for (const g of started) await g.stop();
      await pair.close();
    }
  },
});

Deno.test({
  name: "gobgp harness: namespaces are gone after close",
  ignore: reason !== undefined,
  async fn() {
    const pair = await createNetnsPair();
    await pair.close();
    const o = await new Deno.Command("ip", { args: ["netns", "list"], stdout: "piped" }).output();
    const list = new TextDecoder().decode(o.stdout);
    assert.ok(!list.includes(pair.a.name) && !list.includes(pair.b.name), list);
  },
});
