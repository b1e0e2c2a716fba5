/**
 * Interop: ferrolb's speaker, run as its own process inside one network namespace,
 * announces to a real gobgpd in another over a veth pair. Needs root, `ip netns` and
 * gobgpd; skipped, saying why, elsewhere.
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
import { SpeakerProcess } from "./speaker/process.ts";
import {
  advObject,
  nodeObject,
  passwordSecretObject,
  peerObject,
  poolObject,
  serviceObject,
  sliceObject,
} from "./speaker/testing.ts";

async function gobgpdAvailable(): Promise<string | undefined> {
  try {
    const o = await new Deno.Command("gobgpd", {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return o.success ? undefined : "gobgpd --version failed";
  } catch {
    return "gobgpd not installed (apt-get install gobgpd)";
  }
}

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  return await gobgpdAvailable();
}

const reason = await skipReason();
if (reason) console.log(`skipping speaker GoBGP interop tests: ${reason}`);

/** Link-bandwidth communities as GoBGP decodes them (type 0x40, subtype 0x04). */
function linkBandwidth(e: RibEntry): { asn: number; bandwidth: number }[] {
  const ext = e.attrs.find((a) => a.type === 16)?.value as
    | { type: number; subtype: number; asn: number; bandwidth: number }[]
    | undefined;
  return (ext ?? []).filter((c) => c.type === 0x40 && c.subtype === 4).map((c) => ({
    asn: c.asn,
    bandwidth: c.bandwidth,
  }));
}

async function ribOf(g: Gobgpd): Promise<Map<string, RibEntry>> {
  return new Map((await g.rib("ipv4")).map((e) => [e.prefix, e]));
}

Deno.test({
  name: "speaker announces to gobgpd over a veth: eBGP, iBGP, link bandwidth, withdraw, restart",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await cleanupStaleNetns();
    const pair: NetnsPair = await createNetnsPair();
    let gobgp: Gobgpd | undefined;
    const speaker = new SpeakerProcess(pair.a.name, "n1", ["--weighted-ecmp"]);
    try {
      assert.deepEqual(await speaker.next(), { ready: true });
      gobgp = await startGobgpd({
        netns: pair.b.name,
        asn: 64501,
        routerId: pair.b.addr4,
        neighbors: [{ address: pair.a.addr4, asn: 64500, passive: true }],
      });
      for (
        const o of [
          poolObject("pool-a", ["198.51.100.0/24"]),
          nodeObject("n1", { internalIP: pair.a.addr4 }),
          advObject("all", { communities: ["64500:100", "large:64500:1:2"] }),
          serviceObject("web", { ips: ["198.51.100.10"], pool: "pool-a" }),
          sliceObject("web", [{ node: "n1" }]),
          serviceObject("api", { ips: ["198.51.100.11"], pool: "pool-a", etp: "Local" }),
          sliceObject("api", [{ node: "n1" }]),
          peerObject("gobgp", { myASN: 64500, peerASN: 64501, peerAddress: pair.b.addr4 }),
        ]
      ) await speaker.put(o);
      const g = gobgp;

      await t.step("eBGP establishes and routes arrive as sent", async () => {
        await g.waitEstablished(pair.a.addr4, { timeoutMs: 20_000 });
        const rib = await g.waitFor(async (x) => {
          const r = await ribOf(x);
          return r.size === 2 ? r : undefined;
        }, { what: "two routes at gobgpd", timeoutMs: 20_000 });
        for (const p of ["198.51.100.10/32", "198.51.100.11/32"]) {
          const e = rib.get(p)!;
          assert.ok(e, p);
          assert.equal(e.nextHop, pair.a.addr4);
          assert.deepEqual(e.asPath, [64500]);
          assert.deepEqual(e.communities, ["64500:100"]);
          assert.deepEqual(e.largeCommunities, ["64500:1:2"]);
          assert.equal(e.localPref, undefined);
        }
        assert.deepEqual(linkBandwidth(rib.get("198.51.100.11/32")!), [{
          asn: 64500,
          bandwidth: 125_000_000,
        }]);
        assert.deepEqual(rib.get("198.51.100.10/32")!.extendedCommunities, []);
      });

      await t.step("weighted ECMP: link bandwidth follows the local endpoints", async () => {
        await speaker.put(sliceObject("api", [{ node: "n1" }, { node: "n1" }, { node: "n2" }]));
        const e = await g.waitFor(async (x) => {
          const r = (await ribOf(x)).get("198.51.100.11/32");
          return r && linkBandwidth(r)[0]?.bandwidth === 250_000_000 ? r : undefined;
        }, { what: "link bandwidth of 2 endpoints" });
        assert.deepEqual(linkBandwidth(e), [{ asn: 64500, bandwidth: 250_000_000 }]);
      });

      await t.step("an endpoint leaving the node withdraws the Local Service", async () => {
        await speaker.put(sliceObject("api", [{ node: "n2" }]));
        const rib = await g.waitFor(async (x) => {
          const r = await ribOf(x);
          return r.size === 1 ? r : undefined;
        }, { what: "api withdrawn" });
        assert.ok(rib.has("198.51.100.10/32"));
        const [n] = await g.neighbors();
        assert.equal(n.established, true, "withdrawal did not reset the session");
      });

      await t.step("killing and restarting gobgpd re-establishes and re-announces", async () => {
        await g.kill("SIGKILL");
        await g.restart();
        await g.waitEstablished(pair.a.addr4, { timeoutMs: 30_000 });
        const rib = await g.waitFor(async (x) => {
          const r = await ribOf(x);
          return r.size === 1 ? r : undefined;
        }, { what: "routes back after restart", timeoutMs: 20_000 });
        assert.deepEqual(rib.get("198.51.100.10/32")?.communities, ["64500:100"]);
      });

      await t.step("iBGP carries LOCAL_PREF and an empty AS path", async () => {
        await g.stop();
        gobgp = await startGobgpd({
          netns: pair.b.name,
          asn: 64500,
          routerId: pair.b.addr4,
          neighbors: [{ address: pair.a.addr4, asn: 64500, passive: true }],
        });
        const ib = gobgp;
        await speaker.put(advObject("all", { communities: ["64500:100"], localPref: 250 }));
        await speaker.put(
          peerObject("gobgp", { myASN: 64500, peerASN: 64500, peerAddress: pair.b.addr4 }),
        );
        await ib.waitEstablished(pair.a.addr4, { timeoutMs: 30_000 });
        const e = await ib.waitFor(async (x) => (await ribOf(x)).get("198.51.100.10/32"), {
          what: "route over iBGP",
          timeoutMs: 20_000,
        });
        assert.equal(e.localPref, 250);
        assert.deepEqual(e.asPath, []);
        assert.equal(e.nextHop, pair.a.addr4);
        await speaker.put(sliceObject("api", [{ node: "n1" }]));
        await speaker.remove("EndpointSlice", "default/web-abc");
        const rib = await ib.waitFor(async (x) => {
          const r = await ribOf(x);
          return r.size === 1 && r.has("198.51.100.11/32") ? r : undefined;
        }, { what: "web withdrawn, api announced" });
        assert.equal(rib.get("198.51.100.11/32")?.localPref, 250);
      });
    } catch (err) {
      console.error(`speaker stderr tail:\n${speaker.stderr.slice(-4000)}`);
      if (gobgp) console.error(`gobgpd log tail:\n${await gobgp.logTail(40)}`);
      throw err;
    } finally {
      await speaker.stop();
      await gobgp?.stop();
      await pair.close();
    }
  },
});

Deno.test({
  name: "two speakers on two nodes: gobgpd sees both next hops, ETP Local follows the pods",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await cleanupStaleNetns();
    // Two veth pairs; the second pair's far end joins the first pair's far end, so one gobgpd
    // reaches node n1 at 192.0.2.1 and node n2 at 192.0.2.5.
    const p1: NetnsPair = await createNetnsPair();
    const p2: NetnsPair = await createNetnsPair({
      addr4: ["192.0.2.5", "192.0.2.6"],
      addr6: ["2001:db8:1::1", "2001:db8:1::2"],
    });
    const speakers: SpeakerProcess[] = [];
    let gobgp: Gobgpd | undefined;
    try {
      await runIp(["-n", p2.b.name, "link", "set", p2.b.ifname, "netns", p1.b.name]);
      await runIp(["-n", p1.b.name, "addr", "add", "192.0.2.6/30", "dev", p2.b.ifname]);
      await runIp(["-n", p1.b.name, "link", "set", p2.b.ifname, "up"]);
      gobgp = await startGobgpd({
        netns: p1.b.name,
        asn: 64501,
        routerId: p1.b.addr4,
        neighbors: [
          { address: p1.a.addr4, asn: 64500, passive: true },
          { address: p2.a.addr4, asn: 64500, passive: true },
        ],
      });
      const nodes = [
        { ns: p1.a.name, name: "n1", addr: p1.a.addr4, gw: p1.b.addr4 },
        { ns: p2.a.name, name: "n2", addr: p2.a.addr4, gw: "192.0.2.6" },
      ];
      for (const n of nodes) {
        const sp = new SpeakerProcess(n.ns, n.name);
        speakers.push(sp);
        assert.deepEqual(await sp.next(), { ready: true });
        for (
          const o of [
            poolObject("pool-a", ["198.51.100.0/24"]),
            nodeObject("n1", { internalIP: p1.a.addr4 }),
            nodeObject("n2", { internalIP: p2.a.addr4 }),
            advObject("all"),
            serviceObject("web", { ips: ["198.51.100.10"], pool: "pool-a" }),
            sliceObject("web", [{ node: "n1" }]),
            serviceObject("api", { ips: ["198.51.100.11"], pool: "pool-a", etp: "Local" }),
            sliceObject("api", [{ node: "n1" }]),
            peerObject(`gobgp-${n.name}`, {
              myASN: 64500,
              peerASN: 64501,
              peerAddress: n.gw,
              nodeSelectors: [{ matchLabels: { "kubernetes.io/hostname": n.name } }],
            }),
          ]
        ) await sp.put(o);
      }
      const g = gobgp;
      const paths = async (prefix: string) =>
        (await g.rib("ipv4")).filter((e) => e.prefix === prefix).map((e) => e.nextHop).sort();

      await g.waitFor(async () => {
        const web = await paths("198.51.100.10/32");
        return web.length === 2 && (await paths("198.51.100.11/32")).length > 0;
      }, { what: "web from both nodes, api from n1", timeoutMs: 20_000 });
      assert.deepEqual(await paths("198.51.100.10/32"), ["192.0.2.1", "192.0.2.5"]);
      assert.deepEqual(await paths("198.51.100.11/32"), ["192.0.2.1"], "Local: only n1");

      for (const sp of speakers) await sp.put(sliceObject("api", [{ node: "n2" }]));
      await g.waitFor(async () => {
        const api = await paths("198.51.100.11/32");
        return api.length === 1 && api[0] === "192.0.2.5";
      }, { what: "api moved to n2" });
      assert.deepEqual(await paths("198.51.100.10/32"), ["192.0.2.1", "192.0.2.5"]);
    } catch (err) {
      for (const sp of speakers) console.error(`speaker stderr tail:\n${sp.stderr.slice(-3000)}`);
      if (gobgp) console.error(`gobgpd log tail:\n${await gobgp.logTail(40)}`);
      throw err;
    } finally {
      for (const sp of speakers) await sp.stop();
      await gobgp?.stop();
      await p2.close();
      await p1.close();
    }
  },
});

async function runIp(args: string[]): Promise<void> {
  const o = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!o.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(o.stderr).trim()}`);
  }
}

/** Prefix → RFC 4724 stale flag of the IPv4 paths gobgpd holds from `neighbor`. */
async function staleFlags(g: Gobgpd, neighbor: string): Promise<Map<string, boolean>> {
  const out = await g.cli(["global", "rib", "-a", "ipv4"], { json: true });
  const json = JSON.parse(out.trim() || "{}") as Record<string, Record<string, unknown>[]>;
  const m = new Map<string, boolean>();
  for (const [prefix, paths] of Object.entries(json)) {
    for (const p of paths) if (p["neighbor-ip"] === neighbor) m.set(prefix, p.stale === true);
  }
  return m;
}

Deno.test({
  name: "speaker graceful restart at gobgpd: SIGTERM leaves routes stale, restart refreshes " +
    "them, a removed BGPPeer drops them at once",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await cleanupStaleNetns();
    const pair: NetnsPair = await createNetnsPair();
    let gobgp: Gobgpd | undefined;
    const procs: SpeakerProcess[] = [];
    const PREFIXES = ["198.51.100.10/32", "198.51.100.11/32"];
    const objects = [
      poolObject("pool-a", ["198.51.100.0/24"]),
      nodeObject("n1", { internalIP: pair.a.addr4 }),
      advObject("all", { communities: ["64500:100"] }),
      serviceObject("web", { ips: ["198.51.100.10"], pool: "pool-a" }),
      sliceObject("web", [{ node: "n1" }]),
      serviceObject("api", { ips: ["198.51.100.11"], pool: "pool-a" }),
      sliceObject("api", [{ node: "n1" }]),
      // dynamicASN: the peer's AS (64501) is learnt from its OPEN.
      peerObject("gobgp", {
        myASN: 64500,
        dynamicASN: "external",
        peerAddress: pair.b.addr4,
        enableGracefulRestart: true,
      }),
    ];
    /** A speaker process started, like after a restart, on a cache already holding `objects`. */
    const startSpeaker = async () => {
      const sp = new SpeakerProcess(pair.a.name, "n1", ["--defer-start"]);
      procs.push(sp);
      assert.deepEqual(await sp.next(), { ready: true });
      for (const o of objects) await sp.put(o);
      await sp.send({ start: true });
      return sp;
    };
    const a = pair.a.addr4;
    const routesWith = (g: Gobgpd, stale: boolean, what: string) =>
      g.waitFor(async (x) => {
        const m = await staleFlags(x, a);
        return m.size === PREFIXES.length && PREFIXES.every((p) => m.get(p) === stale)
          ? m
          : undefined;
      }, { what, timeoutMs: 30_000 });
    try {
      gobgp = await startGobgpd({
        netns: pair.b.name,
        asn: 64501,
        routerId: pair.b.addr4,
        neighbors: [{
          address: a,
          asn: 64500,
          passive: true,
          families: ["ipv4"],
          gracefulRestart: { restartTime: 120, notification: true },
        }],
      });
      const g = gobgp;
      const first = await startSpeaker();

      await t.step(
        "graceful restart negotiated with the dynamic peer AS; routes fresh",
        async () => {
          await g.waitEstablished(a, { timeoutMs: 30_000 });
          await routesWith(g, false, "fresh routes from the first speaker");
          const [st] = await first.sessions();
          assert.equal(st.state, "Established");
          assert.equal(st.peerAsn, 64501);
          assert.deepEqual(st.gracefulRestart, {
            enabled: true,
            negotiated: true,
            notification: true,
          });
          assert.deepEqual((await ribOf(g)).get(PREFIXES[0])?.asPath, [64500], "eBGP path");
        },
      );

      await t.step("SIGTERM: gobgpd keeps the routes, marked stale", async () => {
        assert.equal((await first.terminate()).code, 0);
        await g.waitFor(async (x) => {
          const n = (await x.neighbors()).find((y) => y.address === a);
          return n && !n.established ? n : undefined;
        }, { what: "gobgpd sees the speaker down" });
        await routesWith(g, true, "routes kept as stale while the speaker is down");
      });

      const second = await startSpeaker();
      await t.step("the restarted speaker re-announces: routes fresh again", async () => {
        await g.waitEstablished(a, { timeoutMs: 30_000 });
        await routesWith(g, false, "routes fresh after the restart's End-of-RIB");
        const rib = await ribOf(g);
        assert.deepEqual(rib.get(PREFIXES[1])?.communities, ["64500:100"]);
      });

      await t.step("removing the BGPPeer hard-resets: gobgpd drops the routes", async () => {
        await second.remove("BGPPeer", "metallb-system/gobgp");
        // restartTime is 120 s: only a hard reset empties the RIB within this wait.
        await g.waitFor(async (x) => (await staleFlags(x, a)).size === 0 ? true : undefined, {
          what: "routes gone after the BGPPeer was removed",
          timeoutMs: 15_000,
        });
        assert.deepEqual(await second.sessions(), []);
      });
    } catch (err) {
      for (const sp of procs) console.error(`speaker stderr tail:\n${sp.stderr.slice(-3000)}`);
      if (gobgp) console.error(`gobgpd log tail:\n${await gobgp.logTail(60)}`);
      throw err;
    } finally {
      for (const sp of procs) await sp.stop();
      await gobgp?.stop();
      await pair.close();
    }
  },
});

Deno.test({
  name: "speaker BGP password at gobgpd: passwordSecret signs the session; a wrong one never " +
    "establishes; sourceAddress is the source and the next hop",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await cleanupStaleNetns();
    const pair: NetnsPair = await createNetnsPair();
    let gobgp: Gobgpd | undefined;
    const speaker = new SpeakerProcess(pair.a.name, "n1");
    const a = pair.a.addr4;
    // A second address of node n1, reachable from gobgpd's namespace, for sourceAddress.
    const SOURCE = "198.18.0.1";
    const peer = (spec: Record<string, unknown>) =>
      peerObject("gobgp", {
        myASN: 64500,
        peerASN: 64501,
        peerAddress: pair.b.addr4,
        passwordSecret: { name: "bgp-auth" },
        connectTime: "2s",
        ...spec,
      });
    try {
      assert.deepEqual(await speaker.next(), { ready: true });
      gobgp = await startGobgpd({
        netns: pair.b.name,
        asn: 64501,
        routerId: pair.b.addr4,
        neighbors: [
          { address: a, asn: 64500, passive: true, authPassword: "s3cret-Pw" },
          { address: SOURCE, asn: 64500, passive: true, authPassword: "s3cret-Pw" },
        ],
      });
      const g = gobgp;
      for (
        const o of [
          poolObject("pool-a", ["198.51.100.0/24"]),
          nodeObject("n1", { internalIP: a }),
          advObject("all"),
          serviceObject("web", { ips: ["198.51.100.10"], pool: "pool-a" }),
          sliceObject("web", [{ node: "n1" }]),
          passwordSecretObject("bgp-auth", "s3cret-Pw"),
          peer({}),
        ]
      ) await speaker.put(o);

      await t.step("the right password in the Secret: established, route arrives", async () => {
        await g.waitEstablished(a, { timeoutMs: 30_000 });
        const e = await g.waitFor(async (x) => (await ribOf(x)).get("198.51.100.10/32"), {
          what: "route over the signed session",
          timeoutMs: 20_000,
        });
        assert.equal(e.nextHop, a);
        const [st] = await speaker.sessions();
        assert.equal(st.state, "Established");
      });

      await t.step("a wrong password in the Secret: the session never comes back", async () => {
        await speaker.put(passwordSecretObject("bgp-auth", "wrong-Pw"));
        await g.waitFor(async (x) => (await ribOf(x)).size === 0 ? true : undefined, {
          what: "route gone once the signed session was replaced",
          timeoutMs: 20_000,
        });
        // The replacement session's first connect times out: gobgpd dropped its signed SYNs.
        const lastError = await g.waitFor(async () => {
          const [st] = await speaker.sessions();
          assert.notEqual(st.state, "Established", "established with the wrong password");
          return st.lastError ? String(st.lastError) : undefined;
        }, { what: "a connect error with the wrong password", timeoutMs: 30_000 });
        // The connector's ETIMEDOUT (with its TCP MD5 hint) or, on a loaded machine, the
        // session's own connect timeout: either way a connect that got no answer.
        assert.match(lastError, /^connect failed: /);
        if (/ETIMEDOUT/.test(lastError)) assert.match(lastError, /TCP MD5/);
        const n = (await g.neighbors()).find((x) => x.address === a)!;
        assert.equal(n.established, false);
      });

      await t.step("sourceAddress: gobgpd sees the session from it, next hop too", async () => {
        await runIp(["-n", pair.a.name, "addr", "add", `${SOURCE}/32`, "dev", pair.a.ifname]);
        await runIp(["-n", pair.b.name, "route", "add", `${SOURCE}/32`, "via", a]);
        await speaker.put(passwordSecretObject("bgp-auth", "s3cret-Pw"));
        await speaker.put(peer({ sourceAddress: SOURCE }));
        await g.waitEstablished(SOURCE, { timeoutMs: 30_000 });
        const e = await g.waitFor(async (x) => (await ribOf(x)).get("198.51.100.10/32"), {
          what: "route from the source address",
          timeoutMs: 20_000,
        });
        assert.equal(e.nextHop, SOURCE);
        assert.equal((await g.neighbors()).find((x) => x.address === a)?.established, false);
      });
    } catch (err) {
      console.error(`speaker stderr tail:\n${speaker.stderr.slice(-4000)}`);
      if (gobgp) console.error(`gobgpd log tail:\n${await gobgp.logTail(40)}`);
      throw err;
    } finally {
      await speaker.stop();
      await gobgp?.stop();
      await pair.close();
    }
  },
});
