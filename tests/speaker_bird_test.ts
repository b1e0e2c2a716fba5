/**
 * Interop with BIRD 2: an IPv6 Service announced on an IPv4 session (dualStackAddressFamily)
 * is accepted with a usable next hop, the node's global IPv6 address. BIRD rejected the
 * IPv4-mapped next hop (::ffff:a.b.c.d) sent before as a mismatched address family. Needs
 * root, `ip netns` and bird; skipped, saying why, elsewhere.
 */
import assert from "node:assert/strict";
import {
  cleanupStaleNetns,
  createNetnsPair,
  netnsAvailable,
  type NetnsPair,
  runInNetns,
  spawnInNetns,
  waitFor,
} from "./gobgp/mod.ts";
import { SpeakerProcess } from "./speaker/process.ts";
import {
  advObject,
  nodeObject,
  peerObject,
  poolObject,
  serviceObject,
  sliceObject,
} from "./speaker/testing.ts";

async function birdAvailable(): Promise<string | undefined> {
  try {
    const o = await new Deno.Command("bird", { args: ["--version"], stderr: "null" }).output();
    return o.success ? undefined : "bird --version failed";
  } catch {
    return "bird not installed (apt-get install bird2)";
  }
}

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  return ns.ok ? await birdAvailable() : ns.reason;
}

const reason = await skipReason();
if (reason) console.log(`skipping speaker BIRD interop tests: ${reason}`);

function birdConfig(pair: NetnsPair): string {
  return `
router id ${pair.b.addr4};
log stderr all;
protocol device {}
protocol bgp ferrolb {
  local ${pair.b.addr4} as 64501;
  neighbor ${pair.a.addr4} as 64500;
  passive on;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; };
}
`;
}

/** BIRD running in namespace `ns`, and a way to ask it through birdc. */
async function startBird(pair: NetnsPair) {
  const dir = await Deno.makeTempDir({ prefix: "ferrolb-bird-" });
  await Deno.writeTextFile(`${dir}/bird.conf`, birdConfig(pair));
  const socket = `${dir}/bird.ctl`;
  const child = spawnInNetns(pair.b.name, "bird", {
    args: ["-f", "-c", `${dir}/bird.conf`, "-s", socket],
    stdout: "null",
    stderr: "piped",
  });
  let log = "";
  (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log += chunk;
  })();
  const birdc = async (...cmd: string[]) =>
    (await runInNetns(pair.b.name, "birdc", { args: ["-s", socket, ...cmd] })).stdout;
  return {
    birdc,
    log: () => log,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      await child.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name: "BIRD accepts an IPv6 route over an IPv4 session with the node's IPv6 next hop",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await cleanupStaleNetns();
    const pair = await createNetnsPair();
    const speaker = new SpeakerProcess(pair.a.name, "n1");
    const bird = await startBird(pair);
    try {
      assert.deepEqual(await speaker.next(), { ready: true });
      const objects = [
        poolObject("pool4", ["198.51.100.0/28"]),
        poolObject("pool6", ["2001:db8:5::/120"]),
        advObject("all"),
        nodeObject("n1", {
          internalIP: pair.a.addr4,
          addresses: [{ type: "InternalIP", address: pair.a.addr6 }],
        }),
        serviceObject("web4", { ips: ["198.51.100.7"], pool: "pool4" }),
        sliceObject("web4", [{ node: "n1" }]),
        serviceObject("web6", { ips: ["2001:db8:5::9"], pool: "pool6" }),
        sliceObject("web6", [{ node: "n1" }]),
        peerObject("bird", {
          myASN: 64500,
          peerASN: 64501,
          peerAddress: pair.b.addr4,
          dualStackAddressFamily: true,
        }),
      ];
      for (const o of objects) await speaker.put(o);
      const route6 = await waitFor(async () => {
        const out = await bird.birdc("show", "route", "table", "master6", "all");
        return out.includes("2001:db8:5::9/128") ? out : undefined;
      }, { what: "the IPv6 route in BIRD's table", timeoutMs: 30_000 });
      assert.ok(route6.includes(`via ${pair.a.addr6} `), route6);
      assert.ok(route6.includes(`BGP.next_hop: ${pair.a.addr6}\n`), route6);
      const route4 = await bird.birdc("show", "route", "table", "master4", "all");
      assert.match(route4, /198\.51\.100\.7\/32/);
      assert.doesNotMatch(bird.log(), /[Mm]ismatched address family|Invalid NEXT_HOP/);
      const peersOf = async (name: string) =>
        (await speaker.status()).services.find((s) => s.name === name)!.peers as string[];
      const label = `${pair.b.addr4}:179`;
      await waitFor(async () => (await peersOf("web6")).length === 1 ? true : undefined, {
        what: "status lists BIRD for web6",
      });
      assert.deepEqual(await peersOf("web6"), [label]);

      // The status follows what the peer holds: BIRD's session down, then back.
      await bird.birdc("disable", "ferrolb");
      await waitFor(async () => (await peersOf("web4")).length === 0 ? true : undefined, {
        what: "status drops BIRD while its session is down",
      });
      assert.deepEqual(await peersOf("web6"), []);
      await bird.birdc("enable", "ferrolb");
      await waitFor(async () => {
        const v4 = await bird.birdc("show", "route", "table", "master4");
        return v4.includes("198.51.100.7/32") && (await peersOf("web4")).length === 1
          ? true
          : undefined;
      }, { what: "BIRD holds the route again and status says so", timeoutMs: 60_000 });
      assert.deepEqual(await peersOf("web4"), [label]);

      // Without an IPv6 address on the node there is no usable next hop: the IPv6 route is
      // not sent at all (BIRD holds none), and the status says why.
      await speaker.put(nodeObject("n1", { internalIP: pair.a.addr4 }));
      await waitFor(async () => {
        const v6 = await bird.birdc("show", "route", "table", "master6");
        const v4 = await bird.birdc("show", "route", "table", "master4");
        return !v6.includes("2001:db8:5::9/128") && v4.includes("198.51.100.7/32")
          ? true
          : undefined;
      }, { what: "IPv6 route gone from BIRD, IPv4 route there", timeoutMs: 30_000 });
      const after = (await speaker.status()).services.find((s) => s.name === "web6")!;
      assert.deepEqual(after.peers, []);
      assert.match(String(after.notAnnounced), /no IPv6 next hop/);
    } finally {
      await speaker.stop();
      await bird.stop();
      await pair.close();
    }
  },
});
