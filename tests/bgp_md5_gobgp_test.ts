/**
 * BGP passwords on the wire: gobgpd in namespace B requires TCP MD5 (`auth-password`) from
 * our BgpSession in namespace A, which dials through `md5Connector`. The session runs as a
 * subprocess (this same file, run with `deno run`, acts as the driver) with only
 * `--allow-ffi=<libc path>`: the permission the speaker will need.
 */
import assert from "node:assert/strict";
import { BgpSession, parsePrefix, type SessionConfig } from "../bgp/mod.ts";
import { loadedLibcPath, md5Available, md5Connector } from "../bgp/md5_transport.ts";
import {
  cleanupStaleNetns,
  createNetnsPair,
  type Gobgpd,
  netnsAvailable,
  type NetnsPair,
  runInNetns,
  spawnInNetns,
  startGobgpd,
} from "./gobgp/mod.ts";

const OUR_ASN = 64512;
const GOBGP_ASN = 65001;
const ROUTE = "203.0.113.77/32";

/** What the driver half of this file is started with (JSON in its first argument). */
interface DriverArgs {
  config: SessionConfig;
  password: string;
  routes: string[];
}

/** Driver: one BgpSession over md5Connector, its state changes and errors as JSON lines. */
async function driverMain(args: DriverArgs): Promise<void> {
  const out = (e: Record<string, unknown>) => console.log(JSON.stringify({ ...e, t: Date.now() }));
  const session = new BgpSession(args.config, {
    connector: md5Connector(args.password, { connectTimeoutMs: 2_000 }),
  });
  session.on("state", (state) => out({ event: "state", state }));
  session.on("error", (err) => out({ event: "error", message: err.message }));
  session.setRoutes(args.routes.map((p) => ({ prefix: parsePrefix(p), attributes: {} })));
  session.start();
  // Runs until the test kills it.
  await new Promise(() => {});
}

if (import.meta.main) await driverMain(JSON.parse(Deno.args[0]) as DriverArgs);

async function skipReason(): Promise<string | undefined> {
  const md5 = md5Available();
  if (!md5.ok) return md5.reason;
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  for (const bin of ["gobgpd", "gobgp"]) {
    try {
      await new Deno.Command(bin, { args: ["--help"], stdout: "null", stderr: "null" }).output();
    } catch {
      return `${bin} not installed (apt-get install gobgpd)`;
    }
  }
  return undefined;
}

const reason = import.meta.main ? "driver mode" : await skipReason();
if (reason && !import.meta.main) console.log(`skipping BGP MD5 vs GoBGP tests: ${reason}`);

interface DriverEvent {
  event: string;
  state?: string;
  message?: string;
}

/** A running driver: its events so far, a wait on them, and a kill. */
interface Driver {
  events: DriverEvent[];
  waitEvent(pred: (e: DriverEvent) => boolean, what: string, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

function spawnDriver(pair: NetnsPair, password: string): Driver {
  const args: DriverArgs = {
    config: {
      localAsn: OUR_ASN,
      peerAsn: GOBGP_ASN,
      peerAddress: pair.b.addr4,
      routerId: pair.a.addr4,
      holdTimeMs: 30_000,
      connectTimeoutMs: 5_000,
      families: ["ipv4"],
    },
    password,
    routes: [ROUTE],
  };
  const child = spawnInNetns(pair.a.name, Deno.execPath(), {
    args: [
      "run",
      `--allow-ffi=${loadedLibcPath()}`,
      new URL(import.meta.url).pathname,
      JSON.stringify(args),
    ],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  });
  const events: DriverEvent[] = [];
  let stderr = "";
  let exited = false;
  const reading = (async () => {
    let buf = "";
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) events.push(JSON.parse(line));
      }
    }
  })();
  const readingErr = (async () => {
    for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) stderr += c;
  })();
  const status = child.status.then(async () => {
    await Promise.allSettled([reading, readingErr]);
    exited = true;
  });
  return {
    events,
    async waitEvent(pred, what, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (!events.some(pred)) {
        if (exited) throw new Error(`driver exited before ${what}; stderr: ${stderr}`);
        if (Date.now() > deadline) {
          throw new Error(
            `timed out waiting for ${what}; events: ${JSON.stringify(events.slice(-10))}; ` +
              `stderr: ${stderr.slice(-2000)}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async close() {
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
      await status;
    },
  };
}

/** TcpExt counters of namespace `ns` (per-namespace, from /proc/net/netstat). */
async function tcpExt(ns: string): Promise<Record<string, number>> {
  const r = await runInNetns(ns, "cat", { args: ["/proc/net/netstat"] });
  const rows = r.stdout.split("\n").filter((l) => l.startsWith("TcpExt:"));
  const names = rows[0].split(/\s+/).slice(1);
  const values = rows[1].split(/\s+/).slice(1).map(Number);
  return Object.fromEntries(names.map((n, i) => [n, values[i]]));
}

Deno.test({
  name: "GoBGP with auth-password: the right password establishes and the route arrives; " +
    "a wrong one never establishes and the kernel counts MD5 failures",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await cleanupStaleNetns();
    const pair = await createNetnsPair();
    let g: Gobgpd | undefined;
    const drivers: Driver[] = [];
    try {
      g = await startGobgpd({
        netns: pair.b.name,
        asn: GOBGP_ASN,
        routerId: pair.b.addr4,
        neighbors: [{
          address: pair.a.addr4,
          asn: OUR_ASN,
          passive: true,
          authPassword: "secret",
        }],
        startTimeoutMs: 20_000,
      });
      const gobgpd = g;

      await t.step("right password: Established, route in GoBGP's RIB", async () => {
        const d = spawnDriver(pair, "secret");
        drivers.push(d);
        await d.waitEvent((e) => e.state === "Established", "our session Established");
        await gobgpd.waitEstablished(pair.a.addr4);
        const e = await gobgpd.waitFor(async (x) => {
          return (await x.rib("ipv4")).find((r) => r.prefix === ROUTE);
        }, { what: `${ROUTE} in GoBGP's RIB` });
        assert.equal(e.neighbor, pair.a.addr4);
        assert.equal(e.nextHop, pair.a.addr4);
        assert.deepEqual(e.asPath, [OUR_ASN]);
        await d.close();
        await gobgpd.waitFor(async (x) => (await x.ribCount("ipv4")) === 0, {
          what: "route gone after our driver was killed",
          timeoutMs: 40_000,
        });
      });

      await t.step("wrong password: never Established, MD5 failures counted", async () => {
        const before = await tcpExt(pair.b.name);
        const d = spawnDriver(pair, "not-the-secret");
        drivers.push(d);
        // Two failed connects: the kernel in B dropped our SYNs at least twice.
        await d.waitEvent(
          (e) => e.event === "error" && /connect failed/.test(e.message ?? ""),
          "a failed connect",
        );
        const failed = () =>
          d.events.filter((e) => e.event === "error" && /connect failed/.test(e.message ?? ""));
        await d.waitEvent(() => failed().length >= 2, "a second failed connect", 30_000);
        // No answer to our signed SYNs: the connector's ETIMEDOUT, or the session's own connect
        // timeout when a loaded machine lets it fire first; never a refusal or an OPEN error.
        assert.match(failed()[0].message ?? "", /ETIMEDOUT|connect timed out/);
        assert.ok(!d.events.some((e) => e.state === "Established"), "established anyway");
        const nb = (await gobgpd.neighbors()).find((n) => n.address === pair.a.addr4);
        assert.equal(nb?.established, false);
        assert.equal(await gobgpd.ribCount("ipv4"), 0);
        const after = await tcpExt(pair.b.name);
        assert.ok(
          after.TCPMD5Failure > before.TCPMD5Failure,
          `TCPMD5Failure ${before.TCPMD5Failure} -> ${after.TCPMD5Failure} in ${pair.b.name}`,
        );
      });
    } finally {
      for (const d of drivers) await d.close();
      await g?.stop();
      await pair.close();
    }
  },
});
