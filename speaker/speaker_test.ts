import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { createRegistry, defineMetallbMetrics } from "../api/metrics.ts";
import {
  BgpSession,
  type CollectedRoute,
  type Collector,
  type SessionConfig,
  type StopOptions,
} from "../bgp/mod.ts";
import { ffiAvailable, md5Available } from "../bgp/md5_transport.ts";
import { FakeClock } from "../bgp/timers.ts";
import { createMemorySource, type MemorySource } from "../cluster/memory_source.ts";
import type { EventRecord, KubeObject, ObjectWriter } from "../cluster/types.ts";
import {
  createSpeaker,
  serviceBGPStatusName,
  type SessionFactory,
  type Speaker,
  type SpeakerOptions,
} from "./speaker.ts";
import { eventually } from "../tests/fake_apiserver/testing.ts";
import {
  advObject,
  nodeObject,
  passwordSecretObject,
  peerObject,
  poolObject,
  serviceObject,
  sliceObject,
  startTestCollector,
  TEST_NS,
} from "../tests/speaker/testing.ts";

/**
 * A writer keeping what a cluster would hold after the speaker's writes; with `mirror`,
 * ServiceBGPStatus writes also show up in that source, as an API server reflects them.
 */
class RecordingWriter implements ObjectWriter {
  constructor(readonly mirror?: MemorySource) {}
  bgpStatuses = new Map<string, KubeObject>();
  configStates = new Map<string, unknown>();
  events: EventRecord[] = [];
  bgpStatusWrites = 0;
  /** Per ServiceBGPStatus write: its peers, or null for a delete. */
  bgpStatusHistory: (string[] | null)[] = [];
  setServiceIngress(): Promise<void> {
    return Promise.reject(new Error("the speaker must not write Service status"));
  }
  patchServiceAnnotations(): Promise<void> {
    return Promise.reject(new Error("the speaker must not annotate Services"));
  }
  setPoolStatus(): Promise<void> {
    return Promise.reject(new Error("the speaker must not write pool status"));
  }
  recordEvent(e: EventRecord): Promise<void> {
    this.events.push(e);
    return Promise.resolve();
  }
  setConfigurationState(ns: string, name: string, status: unknown): Promise<void> {
    this.configStates.set(`${ns}/${name}`, status);
    return Promise.resolve();
  }
  setServiceBGPStatus(ns: string, name: string, obj: KubeObject | null): Promise<void> {
    this.bgpStatusWrites++;
    this.bgpStatusHistory.push(obj ? (obj.status as { peers: string[] }).peers : null);
    if (obj) this.bgpStatuses.set(`${ns}/${name}`, structuredClone(obj));
    else this.bgpStatuses.delete(`${ns}/${name}`);
    if (obj) this.mirror?.put(obj);
    else this.mirror?.remove("ServiceBGPStatus", `${ns}/${name}`);
    return Promise.resolve();
  }
}

interface Rig {
  collector: Collector;
  source: MemorySource;
  writer: RecordingWriter;
  speakers: Speaker[];
  close(): Promise<void>;
}

async function rig(
  options: { asn?: number; peerSpec?: Record<string, unknown>; extra?: KubeObject[] } = {},
): Promise<Rig> {
  const collector = await startTestCollector({
    asn: options.asn ?? 64501,
    routerId: "10.255.0.1",
  });
  const source = createMemorySource([
    poolObject("pool-a", ["192.0.2.0/26"]),
    peerObject("router1", {
      myASN: 64500,
      peerASN: options.asn ?? 64501,
      peerAddress: "127.0.0.1",
      peerPort: collector.addr.port,
      ...options.peerSpec,
    }),
    nodeObject("n1", { internalIP: "10.0.0.11" }),
    nodeObject("n2", { internalIP: "10.0.0.12" }),
    ...(options.extra ?? [advObject("all", { communities: ["64500:100"] })]),
  ]);
  const writer = new RecordingWriter();
  const r: Rig = {
    collector,
    source,
    writer,
    speakers: [],
    async close() {
      await Promise.all(r.speakers.map((s) => s.stop()));
      await collector.close();
    },
  };
  return r;
}

async function startOn(r: Rig, nodeName: string, extra: Partial<SpeakerOptions> = {}) {
  const s = createSpeaker(r.source, r.writer, {
    nodeName,
    namespace: TEST_NS,
    logger: silentLogger,
    metricsIntervalMs: 0,
    stopGraceMs: 2000,
    ...extra,
  });
  r.speakers.push(s);
  await s.start();
  return s;
}

function routesOf(c: Collector): Map<string, CollectedRoute> {
  const m = new Map<string, CollectedRoute>();
  for (const p of c.routes()) for (const route of p.routes) m.set(route.prefix, route);
  return m;
}

function livePeers(c: Collector) {
  return c.peers().filter((p) => p.state === "Established");
}

Deno.test("routes reach the peer with AS path, next hop and communities (eBGP)", async () => {
  const r = await rig();
  try {
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n2" }]));
    await startOn(r, "n1");
    await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
    const route = routesOf(r.collector).get("192.0.2.10/32")!;
    assert.deepEqual(route.asPath, [64500]);
    assert.equal(route.nextHop, "127.0.0.1");
    assert.deepEqual(route.communities, ["64500:100"]);
    assert.equal(route.localPref, undefined, "no LOCAL_PREF towards an external peer");
    assert.equal(livePeers(r.collector)[0].routerId, "10.0.0.11", "router ID from InternalIP");
  } finally {
    await r.close();
  }
});

Deno.test("an endpoint change is an UPDATE on the same session, never a reset", async () => {
  const r = await rig();
  try {
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a", etp: "Local" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    const s = await startOn(r, "n1");
    await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
    const before = livePeers(r.collector)[0];
    const sessionBefore = s.status().sessions[0];

    r.source.put(sliceObject("web", [{ node: "n2" }])); // endpoint moved away: withdraw
    await r.collector.waitFor(() => !routesOf(r.collector).has("192.0.2.10/32"));
    r.source.put(sliceObject("web", [{ node: "n1" }, { node: "n2" }])); // back
    await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));

    const after = r.collector.peers();
    assert.equal(after.length, 1, "no second session and no closed one");
    assert.equal(after[0].peer, before.peer);
    assert.equal(after[0].establishedAt, before.establishedAt);
    assert.ok(after[0].updatesReceived > before.updatesReceived);
    assert.equal(s.status().sessions[0].state, "Established");
    assert.equal(sessionBefore.state, "Established");
  } finally {
    await r.close();
  }
});

Deno.test("live edits of communities and localPref reach an iBGP peer", async () => {
  const r = await rig({ asn: 64500, extra: [advObject("a", { localPref: 120 })] });
  try {
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    await startOn(r, "n1");
    await r.collector.waitFor(() => routesOf(r.collector).get("192.0.2.10/32")?.localPref === 120);
    assert.deepEqual(routesOf(r.collector).get("192.0.2.10/32")!.asPath, []);
    const established = livePeers(r.collector)[0].establishedAt;

    r.source.put(advObject("a", { localPref: 300, communities: ["65535:65281", "large:1:2:3"] }));
    await r.collector.waitFor(() => routesOf(r.collector).get("192.0.2.10/32")?.localPref === 300);
    const route = routesOf(r.collector).get("192.0.2.10/32")!;
    assert.deepEqual(route.communities, ["65535:65281"]);
    assert.deepEqual(route.largeCommunities, ["1:2:3"]);
    assert.equal(livePeers(r.collector)[0].establishedAt, established);
  } finally {
    await r.close();
  }
});

Deno.test("two speakers on two nodes both announce an ETP Cluster Service", async () => {
  const r = await rig();
  try {
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n2" }]));
    await startOn(r, "n1");
    await startOn(r, "n2");
    await r.collector.waitFor(() =>
      r.collector.routes().filter((p) => p.routes.some((x) => x.prefix === "192.0.2.10/32"))
        .length === 2
    );
    const ids = r.collector.routes().map((p) => p.routerId).sort();
    assert.deepEqual(ids, ["10.0.0.11", "10.0.0.12"]);
  } finally {
    await r.close();
  }
});

Deno.test("ServiceBGPStatus is created, follows its peers and is deleted", async () => {
  const r = await rig();
  try {
    r.source.put(peerObject("router2", {
      myASN: 64500,
      peerASN: 64501,
      peerAddress: "127.0.0.1",
      peerPort: r.collector.addr.port,
      nodeSelectors: [{ matchLabels: { rack: "a" } }],
    }));
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a", namespace: "shop" }));
    r.source.put(sliceObject("web", [{ node: "n1" }], { namespace: "shop" }));
    const s = await startOn(r, "n1");
    const statuses = () => [...r.writer.bgpStatuses.values()];
    const peersOf = () => (statuses()[0]?.status as { peers?: string[] } | undefined)?.peers;
    await eventually("status written once the peer holds the route", () => statuses().length === 1);
    await s.settled();
    const obj = statuses()[0];
    assert.deepEqual(obj.metadata.labels, {
      "metallb.io/node": "n1",
      "metallb.io/service-name": "web",
      "metallb.io/service-namespace": "shop",
    });
    assert.deepEqual(obj.status, {
      node: "n1",
      serviceName: "web",
      serviceNamespace: "shop",
      peers: ["router1"],
    });
    assert.equal(obj.metadata.namespace, TEST_NS);
    assert.equal(r.writer.events.filter((e) => e.reason === "nodeAssigned").length, 1);

    r.source.put(nodeObject("n1", { internalIP: "10.0.0.11", labels: { rack: "a" } }));
    await eventually("router2 holds it too", () => peersOf()?.length === 2);
    assert.deepEqual(peersOf(), ["router1", "router2"]);
    // Still announced: no second nodeAssigned event.
    assert.equal(r.writer.events.filter((e) => e.reason === "nodeAssigned").length, 1);
    await s.settled();
    const writes = r.writer.bgpStatusWrites;
    r.source.put(serviceObject("other", { ips: ["192.0.2.11"] })); // unrelated change
    await s.settled();
    assert.equal(r.writer.bgpStatusWrites, writes, "no rewrite when nothing changed");

    r.source.put(sliceObject("web", [], { namespace: "shop" }));
    await eventually("status deleted", () => statuses().length === 0);
    const svc = s.status().services.find((x) => x.name === "web")!;
    assert.equal(svc.pending, "no serving endpoint");
    assert.deepEqual(svc.peers, []);
  } finally {
    await r.close();
  }
});

Deno.test("status lists what the peer holds: a session drop and recovery", async () => {
  // A peer that is down holds nothing: the status says so, then follows the peer back.
  const r = await rig();
  try {
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    const s = await startOn(r, "n1");
    const label = `127.0.0.1:${r.collector.addr.port}`;
    const held = () => s.status().services.find((x) => x.name === "web")?.peers ?? [];
    await eventually("announced", () => held().length === 1);
    assert.deepEqual(held(), [label]);
    // "Held" means sent; the collector reads it from its socket a moment later.
    await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
    const since = s.status().services[0].announcedSince;
    assert.ok(since && !Number.isNaN(Date.parse(since)), `announcedSince ${since}`);
    const before = r.writer.bgpStatusHistory.length;

    await r.collector.dropSessions();
    await r.collector.waitFor(() => livePeers(r.collector).length === 1, { timeoutMs: 15_000 });
    await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
    await eventually("held again after recovery", () => held().length === 1);
    await s.settled();
    const after = r.writer.bgpStatusHistory.slice(before);
    assert.deepEqual(after, [null, ["router1"]], "deleted while down, written back when held");
    assert.deepEqual([...r.writer.bgpStatuses.values()].map((o) => o.status), [{
      node: "n1",
      serviceName: "web",
      serviceNamespace: "default",
      peers: ["router1"],
    }]);
  } finally {
    await r.close();
  }
});

Deno.test("metrics report sessions, updates and announced Services", async () => {
  const r = await rig();
  try {
    const registry = createRegistry();
    const metrics = defineMetallbMetrics(registry);
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(serviceObject("api", { ips: ["192.0.2.11"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    r.source.put(sliceObject("api", [{ node: "n1" }]));
    const s = await startOn(r, "n1", { metrics });
    await r.collector.waitFor(() => routesOf(r.collector).size === 2);
    await s.settled();
    s.refreshMetrics();
    const peer = { peer: `127.0.0.1:${r.collector.addr.port}` };
    assert.equal(metrics.bgpSessionUp.get(peer), 1);
    assert.equal(metrics.bgpAnnouncedPrefixes.get(peer), 2);
    // As in MetalLB: the size of the set the session should advertise, sent or not.
    assert.equal(metrics.bgpPendingPrefixes.get(peer), 2);
    const updates = Number(metrics.bgpUpdates.get(peer));
    assert.ok(updates >= 1);
    const announced = { service: "default/web", protocol: "bgp", node: "n1", ip: "192.0.2.10" };
    assert.equal(metrics.speakerAnnounced.get(announced), 1);
    const shown = (text: string) =>
      text.split("\n").filter((l) => l.startsWith("metallb_speaker_"));
    assert.deepEqual(shown(registry.render()), [
      'metallb_speaker_announced{service="default/api",protocol="bgp",node="n1",ip="192.0.2.11"} 1',
      'metallb_speaker_announced{service="default/web",protocol="bgp",node="n1",ip="192.0.2.10"} 1',
    ]);

    r.source.remove("EndpointSlice", "default/web-abc");
    await r.collector.waitFor(() => routesOf(r.collector).size === 1);
    await s.settled();
    s.refreshMetrics();
    assert.equal(metrics.speakerAnnounced.get(announced), undefined);
    assert.equal(shown(registry.render()).length, 1);
    assert.equal(metrics.bgpAnnouncedPrefixes.get(peer), 1);
    assert.ok(Number(metrics.bgpUpdates.get(peer)) > updates);

    await s.stop();
    assert.equal(metrics.bgpSessionUp.get(peer), 0);
  } finally {
    await r.close();
  }
});

Deno.test("metallb_speaker_announced follows a Service whose address changes on the same peers", async () => {
  const r = await rig();
  try {
    const metrics = defineMetallbMetrics(createRegistry());
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    const s = await startOn(r, "n1", { metrics });
    const at = (ip: string) => ({ service: "default/web", protocol: "bgp", node: "n1", ip });
    await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
    await s.settled();
    assert.equal(metrics.speakerAnnounced.get(at("192.0.2.10")), 1);
    r.source.put(serviceObject("web", { ips: ["192.0.2.20"], pool: "pool-a" }));
    await r.collector.waitFor(() => {
      const routes = routesOf(r.collector);
      return routes.has("192.0.2.20/32") && !routes.has("192.0.2.10/32");
    });
    await s.settled();
    s.refreshMetrics();
    assert.equal(metrics.speakerAnnounced.get(at("192.0.2.20")), 1);
    assert.equal(metrics.speakerAnnounced.get(at("192.0.2.10")), undefined);
    await s.stop();
  } finally {
    await r.close();
  }
});

const md5 = md5Available();
const ffi = ffiAvailable();
if (!md5.ok) console.log(`skipping speaker TCP MD5 tests: ${md5.reason}`);
if (!ffi.ok) console.log(`skipping speaker sourceAddress tests: ${ffi.reason}`);

/** Waits (bounded) until `fn` returns a value; rejects naming `what` otherwise. */
async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = fn();
    if (v !== undefined) return v;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test({
  name: "sourceAddress: the peer sees the session from it and it is the routes' next hop",
  ignore: !ffi.ok,
  async fn() {
    const r = await rig({ peerSpec: { sourceAddress: "127.0.0.2" } });
    try {
      r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
      r.source.put(sliceObject("web", [{ node: "n1" }]));
      const s = await startOn(r, "n1");
      await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
      const [live] = livePeers(r.collector);
      assert.match(live.peer, /^127\.0\.0\.2:\d+$/, "session comes from the source address");
      assert.equal(routesOf(r.collector).get("192.0.2.10/32")!.nextHop, "127.0.0.2");
      assert.equal(s.configStatus().valid, true, s.configStatus().errors.join("\n"));

      // A new sourceAddress is a new session, from the new address.
      r.source.put(peerObject("router1", {
        myASN: 64500,
        peerASN: 64501,
        peerAddress: "127.0.0.1",
        peerPort: r.collector.addr.port,
        sourceAddress: "127.0.0.3",
      }));
      await r.collector.waitFor(() =>
        livePeers(r.collector).some((p) => p.peer.startsWith("127.0.0.3:")) &&
        routesOf(r.collector).get("192.0.2.10/32")?.nextHop === "127.0.0.3"
      );
      assert.equal(r.collector.peers().find((p) => p.peer === live.peer)?.state, "Closed");
      await s.settled();
    } finally {
      await r.close();
    }
  },
});

Deno.test({
  name: "sourceAddress of the other IP family is rejected with a clear error",
  async fn() {
    const r = await rig({ peerSpec: { sourceAddress: "::1" } });
    try {
      const created: string[] = [];
      const s = await startOn(r, "n1", {
        sessionFactory: (config, opts) => {
          created.push(config.name!);
          return new BgpSession(config, opts);
        },
      });
      await s.settled();
      assert.deepEqual(created, []);
      assert.match(s.configStatus().errors.join("\n"), /spec\.sourceAddress: ::1 .*families/);
    } finally {
      await r.close();
    }
  },
});

Deno.test({
  name: "a password peer against a listener without the key never establishes; others work",
  ignore: !md5.ok,
  // A signed connect still in flight when the speaker stops ends at its own timeout.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await rig();
    const plain = await startTestCollector({ asn: 64501, routerId: "10.255.0.2" });
    try {
      r.source.put(peerObject("secret", {
        myASN: 64500,
        peerASN: 64501,
        peerAddress: "127.0.0.1",
        peerPort: plain.addr.port,
        password: "hunter2",
        connectTime: "1s",
      }));
      r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
      r.source.put(sliceObject("web", [{ node: "n1" }]));
      const s = await startOn(r, "n1");
      await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
      assert.equal(s.configStatus().valid, true, s.configStatus().errors.join("\n"));
      const failed = await until("the password session's connect error", () => {
        const st = s.status().sessions.find((x) => x.name === "secret");
        return st?.lastError ? st : undefined;
      });
      assert.notEqual(failed.state, "Established");
      // The connect fails without an answer: the connector's ETIMEDOUT (with its TCP MD5 hint)
      // or, on a loaded machine, the session's own connect timeout a second later.
      assert.match(failed.lastError!, /^connect failed: /);
      if (/ETIMEDOUT/.test(failed.lastError!)) assert.match(failed.lastError!, /TCP MD5/);
      assert.deepEqual(plain.peers(), [], "the plain listener never saw a session");
      const ok = s.status().sessions.find((x) => x.name === "router1")!;
      assert.equal(ok.state, "Established");
      assert.equal(livePeers(r.collector).length, 1);
    } finally {
      await r.close();
      await plain.close();
    }
  },
});

Deno.test({
  name: "a password over 80 bytes is rejected; the Secret's content change recreates the session",
  ignore: !md5.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const r = await rig();
    try {
      r.source.put(passwordSecretObject("bgp-auth", "first"));
      r.source.put(peerObject("secret", {
        myASN: 64500,
        peerASN: 64501,
        peerAddress: "127.0.0.5",
        peerPort: r.collector.addr.port,
        passwordSecret: { name: "bgp-auth" },
        connectTime: "1s",
      }));
      const created: string[] = [];
      const s = await startOn(r, "n1", {
        sessionFactory: (config, opts) => {
          created.push(config.name!);
          return new BgpSession(config, opts);
        },
      });
      await s.settled();
      assert.deepEqual(created.sort(), ["router1", "secret"]);
      assert.equal(s.configStatus().valid, true, s.configStatus().errors.join("\n"));

      r.source.put(passwordSecretObject("bgp-auth", "second"));
      await s.settled();
      assert.deepEqual(
        created.filter((n) => n === "secret").length,
        2,
        "new password, new session",
      );
      r.source.put(passwordSecretObject("bgp-auth", "second"));
      await s.settled();
      assert.deepEqual(created.filter((n) => n === "secret").length, 2, "same password, same one");

      r.source.put(passwordSecretObject("bgp-auth", "é".repeat(41)));
      await s.settled();
      const cs = s.configStatus();
      assert.equal(cs.valid, false);
      assert.match(
        cs.errors.join("\n"),
        /BGPPeer metallb-system\/secret: spec\.password: 82 bytes long; .*at most 80 bytes/,
      );
      const rejected = s.status().sessions.find((x) => x.name === "secret")!;
      assert.equal(rejected.state, "Rejected");
      assert.equal(created.filter((n) => n === "secret").length, 2, "no session for it");
      assert.equal(s.status().sessions.find((x) => x.name === "router1")?.name, "router1");
    } finally {
      await r.close();
    }
  },
});

Deno.test("without --allow-ffi a password peer is rejected, naming the missing flag", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/probe.ts`;
    const mod = JSON.stringify(import.meta.resolve("./speaker.ts"));
    await Deno.writeTextFile(
      script,
      `import { peerProblems } from ${mod};
      const base = { name: "p", myASN: 64500, address: "192.0.2.2", port: 179, holdTimeMs: 90000,
        keepaliveTimeMs: 30000, nodeSelectors: [], ebgpMultiHop: false,
        enableGracefulRestart: false, dualStackAddressFamily: false, disableMP: false };
      console.log(JSON.stringify({
        password: peerProblems({ ...base, password: "x" }).errors,
        source: peerProblems({ ...base, sourceAddress: "192.0.2.1" }).errors,
        none: peerProblems(base).errors,
      }));`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-check",
        `--config=${new URL("../deno.json", import.meta.url).pathname}`,
        "--allow-read",
        "--allow-env",
        script,
      ],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    assert.ok(out.success, text.decode(out.stderr));
    const r = JSON.parse(text.decode(out.stdout));
    assert.equal(r.password.length, 1);
    assert.match(r.password[0], /^spec\.password: .*unavailable: .*--allow-ffi=\/\S*libc\.so\.6/);
    assert.equal(r.source.length, 1);
    assert.match(r.source[0], /^spec\.sourceAddress: 192\.0\.2\.1 .*--allow-ffi=/);
    assert.deepEqual(r.none, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an invalid edit keeps the last good config announced; a fix recovers", async () => {
  const r = await rig();
  try {
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    const s = await startOn(r, "n1");
    await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
    r.source.put(advObject("all", { communities: ["not-an-alias"] }));
    await s.settled();
    assert.equal(s.configStatus().valid, false);
    assert.match(s.configStatus().errors.join(), /not-an-alias/);
    assert.equal(
      (r.writer.configStates.get(`${TEST_NS}/speaker-n1`) as { result: string }).result,
      "Invalid",
    );
    assert.deepEqual(routesOf(r.collector).get("192.0.2.10/32")?.communities, ["64500:100"]);
    r.source.put(advObject("all", { communities: ["64500:200"] }));
    await r.collector.waitFor(() =>
      routesOf(r.collector).get("192.0.2.10/32")?.communities[0] === "64500:200"
    );
    await s.settled();
    assert.equal(s.configStatus().valid, true);
    assert.equal(
      (r.writer.configStates.get(`${TEST_NS}/speaker-n1`) as { result: string }).result,
      "Valid",
    );
  } finally {
    await r.close();
  }
});

Deno.test("a change of session parameters recreates only that session", async () => {
  const r = await rig();
  try {
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    const s = await startOn(r, "n1");
    await r.collector.waitFor(() => livePeers(r.collector).length === 1);
    const first = livePeers(r.collector)[0];
    assert.equal(first.holdTimeMs, 90_000);
    r.source.put(peerObject("router1", {
      myASN: 64500,
      peerASN: 64501,
      peerAddress: "127.0.0.1",
      peerPort: r.collector.addr.port,
      holdTime: "30s",
    }));
    await r.collector.waitFor(() =>
      livePeers(r.collector).length === 1 && livePeers(r.collector)[0].holdTimeMs === 30_000 &&
      routesOf(r.collector).has("192.0.2.10/32")
    );
    const closed = r.collector.peers().find((p) => p.peer === first.peer)!;
    assert.equal(closed.state, "Closed");
    assert.equal(closed.lastNotification?.code, 6, "old session ended with Cease");
    await s.settled();
  } finally {
    await r.close();
  }
});

Deno.test("a burst of changes is one recompute; stop() sends Cease", async () => {
  const r = await rig();
  try {
    const s = await startOn(r, "n1");
    await r.collector.waitFor(() => livePeers(r.collector).length === 1);
    await s.settled();
    const before = s.reconciles;
    const updatesBefore = livePeers(r.collector)[0].updatesReceived;
    for (let i = 0; i < 50; i++) {
      r.source.put(serviceObject(`svc${i}`, { ips: [`192.0.2.${i}`], pool: "pool-a" }));
      r.source.put(sliceObject(`svc${i}`, [{ node: "n1" }]));
    }
    await s.settled();
    assert.equal(s.reconciles - before, 1);
    await r.collector.waitFor(() => routesOf(r.collector).size === 50);
    assert.equal(
      livePeers(r.collector)[0].updatesReceived - updatesBefore,
      1,
      "50 new routes with one attribute set: one UPDATE",
    );
    const peer = livePeers(r.collector)[0].peer;
    await s.stop();
    await r.collector.waitFor(() =>
      r.collector.peers().find((p) => p.peer === peer)?.state === "Closed"
    );
    const ended = r.collector.peers().find((p) => p.peer === peer)!;
    assert.equal(ended.lastNotification?.direction, "received");
    assert.equal(ended.lastNotification?.code, 6);
  } finally {
    await r.close();
  }
});

Deno.test("IPv6 over an IPv6 session: the route arrives with our address as next hop", async () => {
  const collector = await startTestCollector({ asn: 64501, routerId: "10.255.0.1", host: "[::1]" });
  const source = createMemorySource([
    poolObject("pool6", ["2001:db8:5::/120"]),
    peerObject("r6", {
      myASN: 64500,
      peerASN: 64501,
      peerAddress: "::1",
      peerPort: collector.addr.port,
    }),
    nodeObject("n1", { internalIP: "10.0.0.11" }),
    advObject("all", { communities: ["64500:6"] }),
    serviceObject("web6", { ips: ["2001:db8:5::9"], pool: "pool6" }),
    sliceObject("web6", [{ node: "n1" }]),
  ]);
  const s = createSpeaker(source, new RecordingWriter(), {
    nodeName: "n1",
    namespace: TEST_NS,
    logger: silentLogger,
    metricsIntervalMs: 0,
  });
  try {
    await s.start();
    await collector.waitFor(() => routesOf(collector).has("2001:db8:5::9/128"));
    const route = routesOf(collector).get("2001:db8:5::9/128")!;
    assert.equal(route.nextHop, "::1");
    assert.deepEqual(route.communities, ["64500:6"]);
    const label = `[::1]:${collector.addr.port}`;
    await eventually("status shows the peer", () => s.status().services[0].peers[0] === label);
  } finally {
    await s.stop();
    await collector.close();
  }
});

Deno.test("peer options: localASN, dynamicASN internal, routerID, ebgpMultiHop", async () => {
  const ibgp = await startTestCollector({ asn: 64500, routerId: "10.255.0.1" });
  const ebgp = await startTestCollector({ asn: 64501, routerId: "10.255.0.2" });
  const source = createMemorySource([
    poolObject("pool-a", ["192.0.2.0/26"]),
    peerObject("internal", {
      myASN: 64500,
      dynamicASN: "internal",
      peerAddress: "127.0.0.1",
      peerPort: ibgp.addr.port,
      routerID: "10.9.9.9",
    }),
    peerObject("local-as", {
      myASN: 64500,
      localASN: 4200000001,
      peerASN: 64501,
      peerAddress: "127.0.0.1",
      peerPort: ebgp.addr.port,
      ebgpMultiHop: true,
    }),
    nodeObject("n1", { internalIP: "10.0.0.11" }),
    advObject("all", { localPref: 150 }),
    serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }),
    sliceObject("web", [{ node: "n1" }]),
  ]);
  const s = createSpeaker(source, new RecordingWriter(), {
    nodeName: "n1",
    namespace: TEST_NS,
    logger: silentLogger,
    metricsIntervalMs: 0,
  });
  try {
    await s.start();
    await ibgp.waitFor(() => routesOf(ibgp).has("192.0.2.10/32"));
    await ebgp.waitFor(() => routesOf(ebgp).has("192.0.2.10/32"));
    const [ip] = livePeers(ibgp);
    assert.equal(ip.asn, 64500, "dynamicASN internal: same AS, iBGP");
    assert.equal(ip.routerId, "10.9.9.9");
    assert.equal(routesOf(ibgp).get("192.0.2.10/32")!.localPref, 150);
    const [ep] = livePeers(ebgp);
    assert.equal(ep.asn, 4200000001, "localASN is the session's AS");
    assert.equal(ep.routerId, "10.0.0.11");
    assert.deepEqual(routesOf(ebgp).get("192.0.2.10/32")!.asPath, [4200000001]);
    const cs = s.configStatus();
    assert.equal(cs.valid, true);
    assert.match(cs.warnings.join("\n"), /local-as: spec.ebgpMultiHop/);
  } finally {
    await s.stop();
    await ibgp.close();
    await ebgp.close();
  }
});

Deno.test("dynamicASN external: the session takes the peer's AS from its OPEN (eBGP)", async () => {
  const r = await rig({ extra: [advObject("all", { localPref: 150 })] });
  try {
    r.source.put(peerObject("router1", {
      myASN: 64500,
      dynamicASN: "external",
      peerAddress: "127.0.0.1",
      peerPort: r.collector.addr.port,
    }));
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    const s = await startOn(r, "n1");
    await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
    await s.settled();
    assert.equal(s.configStatus().valid, true, s.configStatus().errors.join("\n"));
    const route = routesOf(r.collector).get("192.0.2.10/32")!;
    assert.deepEqual(route.asPath, [64500], "eBGP: our AS in the path");
    assert.equal(route.localPref, undefined, "no LOCAL_PREF towards an external peer");
    const [st] = s.status().sessions;
    assert.equal(st.state, "Established");
    assert.equal(st.peerAsn, 64501, "/status shows the AS the peer sent");
    assert.equal(st.gracefulRestart, undefined, "graceful restart neither asked for nor offered");
  } finally {
    await r.close();
  }
});

Deno.test("dynamicASN external refuses a peer in our own AS", async () => {
  const r = await rig({ asn: 64500, extra: [advObject("all")] });
  try {
    r.source.put(peerObject("router1", {
      myASN: 64500,
      dynamicASN: "external",
      peerAddress: "127.0.0.1",
      peerPort: r.collector.addr.port,
    }));
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    const s = await startOn(r, "n1");
    await r.collector.waitFor(() => r.collector.peers().some((p) => p.state === "Closed"));
    assert.equal(routesOf(r.collector).size, 0);
    const ended = r.collector.peers().find((p) => p.state === "Closed")!;
    assert.equal(ended.lastNotification?.code, 2, "OPEN Message Error");
    assert.equal(ended.lastNotification?.subcode, 2, "Bad Peer AS");
    assert.notEqual(s.status().sessions[0].state, "Established");
  } finally {
    await r.close();
  }
});

interface MadeSession {
  config: SessionConfig;
  stops: StopOptions[];
}

/** A factory making real sessions while keeping each one's config and stop() calls. */
function recordingFactory(): { made: MadeSession[]; factory: SessionFactory } {
  const made: MadeSession[] = [];
  return {
    made,
    factory(config, opts) {
      const rec: MadeSession = { config, stops: [] };
      made.push(rec);
      const session = new BgpSession(config, opts);
      return {
        start: () => session.start(),
        setRoutes: (routes) => session.setRoutes(routes),
        stop: (options) => {
          rec.stops.push(options ?? {});
          return session.stop(options);
        },
        stats: () => session.stats(),
        routeState: (key) => session.routeState(key),
        on: (event: "state" | "sent", fn: never) => session.on(event as "state", fn),
      };
    },
  };
}

Deno.test("restart bit on the first sessions; hard reset only when the peer goes away", async () => {
  const other = await startTestCollector({ asn: 64501, routerId: "10.255.0.2" });
  const r = await rig({ peerSpec: { enableGracefulRestart: true } });
  const spec = {
    myASN: 64500,
    peerASN: 64501,
    peerAddress: "127.0.0.1",
    peerPort: r.collector.addr.port,
    enableGracefulRestart: true,
  };
  try {
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    const { made, factory } = recordingFactory();
    const s = await startOn(r, "n1", { sessionFactory: factory });
    await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
    assert.equal(made.length, 1);
    assert.equal(made[0].config.restarting, true, "first sync after start: R bit");
    assert.equal(made[0].config.gracefulRestart, true);
    assert.deepEqual(s.status().sessions[0].gracefulRestart, {
      enabled: true,
      negotiated: false, // the collector offers no graceful restart
      notification: false,
    });

    // Timers only: the same peer keeps our routes until the new session's End-of-RIB.
    r.source.put(peerObject("router1", { ...spec, holdTime: "30s" }));
    await s.settled();
    assert.equal(made.length, 2);
    assert.deepEqual(made[0].stops, [{}], "graceful stop");
    assert.equal(made[1].config.restarting, undefined, "not a process restart");

    // Another port is another peer: the old one must drop our routes.
    r.source.put(peerObject("router1", { ...spec, holdTime: "30s", peerPort: other.addr.port }));
    await s.settled();
    assert.deepEqual(made[1].stops, [{ hardReset: true }]);
    await other.waitFor(() => routesOf(other).has("192.0.2.10/32"));

    // Another AS likewise.
    r.source.put(
      peerObject("router1", {
        ...spec,
        holdTime: "30s",
        peerPort: other.addr.port,
        peerASN: 64502,
      }),
    );
    await s.settled();
    assert.deepEqual(made[2].stops, [{ hardReset: true }]);

    // A new peer later: no R bit. A removed peer: hard reset.
    r.source.put(peerObject("router2", spec));
    await s.settled();
    assert.equal(made.length, 5);
    assert.equal(made[4].config.name, "router2");
    assert.equal(made[4].config.restarting, undefined);
    r.source.remove("BGPPeer", `${TEST_NS}/router1`);
    await s.settled();
    assert.deepEqual(made[3].stops, [{ hardReset: true }]);

    // No longer selecting this node: hard reset.
    r.source.put(peerObject("router2", {
      ...spec,
      nodeSelectors: [{ matchLabels: { rack: "b" } }],
    }));
    await s.settled();
    assert.deepEqual(made[4].stops, [{ hardReset: true }]);
    assert.equal(s.status().sessions.length, 0);

    // Shutdown is graceful.
    r.source.put(peerObject("router2", spec));
    await s.settled();
    await s.stop();
    assert.equal(made.length, 6);
    assert.deepEqual(made[5].stops, [{}]);
    assert.ok(made.every((m) => m.stops.length <= 1), "each session stopped once");
  } finally {
    await r.close();
    await other.close();
  }
});

function statusObject(
  node: string,
  service: string,
  peers: string[],
  options: { namespace?: string; name?: string } = {},
): KubeObject {
  const ns = options.namespace ?? "default";
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceBGPStatus",
    metadata: {
      name: options.name ?? serviceBGPStatusName(ns, service, node),
      namespace: TEST_NS,
      labels: {
        "metallb.io/node": node,
        "metallb.io/service-name": service,
        "metallb.io/service-namespace": ns,
      },
    },
    status: { node, serviceName: service, serviceNamespace: ns, peers },
  };
}

Deno.test("after a restart: stale ServiceBGPStatus deleted, correct ones not rewritten", async () => {
  const r = await rig();
  try {
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(serviceObject("api", { ips: ["192.0.2.11"], pool: "pool-a" }));
    r.source.put(serviceObject("gone", { ips: ["192.0.2.12"], pool: "pool-a" }));
    for (const name of ["web", "api", "gone"]) r.source.put(sliceObject(name, [{ node: "n1" }]));
    // Another node's object is none of this speaker's business.
    const n2 = statusObject("n2", "gone", ["router1"]);
    r.source.put(n2);

    const w1 = new RecordingWriter(r.source);
    const s1 = createSpeaker(r.source, w1, {
      nodeName: "n1",
      namespace: TEST_NS,
      logger: silentLogger,
      metricsIntervalMs: 0,
    });
    await s1.start();
    const ownNames = () =>
      [...r.source.snapshot().objects.get("ServiceBGPStatus")!.values()]
        .filter((o) => o.metadata.labels?.["metallb.io/node"] === "n1")
        .map((o) => o.metadata.labels!["metallb.io/service-name"]).sort();
    await eventually("statuses once the peer holds the routes", () => ownNames().length === 3);
    assert.deepEqual(ownNames(), ["api", "gone", "web"]);
    await s1.stop();

    // While the speaker is down: "gone" is deleted, "api" loses its endpoints.
    r.source.remove("Service", "default/gone");
    r.source.remove("EndpointSlice", "default/gone-abc");
    r.source.put(sliceObject("api", []));

    const w2 = new RecordingWriter(r.source);
    const s3 = createSpeaker(r.source, w2, {
      nodeName: "n1",
      namespace: TEST_NS,
      logger: silentLogger,
      metricsIntervalMs: 0,
    });
    r.speakers.push(s3);
    await s3.start();
    await s3.settled();
    await s3.settled(); // the deletions come back as changes of the kind
    assert.deepEqual(ownNames(), ["web"]);
    assert.equal(w2.bgpStatusWrites, 2, "two deletions, web left alone");
    assert.deepEqual(w2.events, [], "no nodeAssigned again for web");
    assert.ok(
      r.source.snapshot().objects.get("ServiceBGPStatus")!.has(`${TEST_NS}/${n2.metadata.name}`),
      "other node's object untouched",
    );
    await s3.stop();

    // A clean restart writes no ServiceBGPStatus at all.
    const w3 = new RecordingWriter(r.source);
    const s4 = createSpeaker(r.source, w3, {
      nodeName: "n1",
      namespace: TEST_NS,
      logger: silentLogger,
      metricsIntervalMs: 0,
    });
    await s4.start();
    await s4.settled();
    assert.equal(w3.bgpStatusWrites, 0);
    assert.deepEqual(w3.events, []);
    assert.deepEqual(s4.status().services.find((x) => x.name === "web")?.peers.length, 1);
    await s4.stop();
  } finally {
    await r.close();
  }
});

/** A dual-stack (IPv4 session) peer world with one IPv4 and one IPv6 Service. */
async function dualStackRig(node: KubeObject, peerAnnotations?: Record<string, string>) {
  const collector = await startTestCollector({ asn: 64501, routerId: "10.255.0.1" });
  const peer = peerObject("r1", {
    myASN: 64500,
    peerASN: 64501,
    peerAddress: "127.0.0.1",
    peerPort: collector.addr.port,
    dualStackAddressFamily: true,
  });
  if (peerAnnotations) peer.metadata.annotations = peerAnnotations;
  const source = createMemorySource([
    poolObject("pool4", ["192.0.2.0/26"]),
    poolObject("pool6", ["2001:db8:5::/120"]),
    peer,
    node,
    advObject("all"),
    serviceObject("web4", { ips: ["192.0.2.9"], pool: "pool4" }),
    sliceObject("web4", [{ node: "n1" }]),
    serviceObject("web6", { ips: ["2001:db8:5::9"], pool: "pool6" }),
    sliceObject("web6", [{ node: "n1" }]),
  ]);
  const writer = new RecordingWriter();
  const s = createSpeaker(source, writer, {
    nodeName: "n1",
    namespace: TEST_NS,
    logger: silentLogger,
    metricsIntervalMs: 0,
    stopGraceMs: 2000,
  });
  return {
    collector,
    source,
    writer,
    s,
    peer,
    async close() {
      await s.stop();
      await collector.close();
    },
  };
}

Deno.test("IPv6 on an IPv4 session: the node's global IPv6 address is the next hop", async () => {
  const node = nodeObject("n1", {
    internalIP: "10.0.0.11",
    addresses: [
      { type: "InternalIP", address: "fe80::11" },
      { type: "InternalIP", address: "2001:db8:ff::11" },
    ],
  });
  const w = await dualStackRig(node);
  try {
    await w.s.start();
    await w.collector.waitFor(() => routesOf(w.collector).has("2001:db8:5::9/128"));
    assert.equal(routesOf(w.collector).get("2001:db8:5::9/128")!.nextHop, "2001:db8:ff::11");
    assert.equal(routesOf(w.collector).get("192.0.2.9/32")?.nextHop, "127.0.0.1");
  } finally {
    await w.close();
  }
});

Deno.test("no IPv6 next hop: the IPv6 route is not sent, and status, Event, log say why", async () => {
  const w = await dualStackRig(nodeObject("n1", { internalIP: "10.0.0.11" }));
  try {
    await w.s.start();
    await w.collector.waitFor(() => routesOf(w.collector).has("192.0.2.9/32"));
    await w.s.settled();
    assert.ok(!routesOf(w.collector).has("2001:db8:5::9/128"), "no unusable next hop sent");
    const web6 = w.s.status().services.find((x) => x.name === "web6")!;
    assert.deepEqual(web6.peers, []);
    assert.match(web6.notAnnounced ?? "", /no IPv6 next hop.*ferrolb\.io\/next-hop-ipv6/);
    const events = w.writer.events.filter((e) => e.reason === "notAnnounced");
    assert.equal(events.length, 1);
    assert.equal(events[0].type, "Warning");
    assert.equal(events[0].involved.name, "web6");
    assert.match(w.s.configStatus().warnings.join("\n"), /BGPPeer metallb-system\/r1: no IPv6/);

    // The operator names a next hop on the BGPPeer: the route goes out with it.
    w.peer.metadata.annotations = { "ferrolb.io/next-hop-ipv6": "2001:db8:ff::77" };
    w.source.put(structuredClone(w.peer));
    await w.collector.waitFor(() => routesOf(w.collector).has("2001:db8:5::9/128"));
    assert.equal(routesOf(w.collector).get("2001:db8:5::9/128")!.nextHop, "2001:db8:ff::77");
    await eventually(
      "status follows",
      () => w.s.status().services.find((x) => x.name === "web6")!.peers.length === 1,
    );
    assert.equal(w.s.status().services.find((x) => x.name === "web6")!.notAnnounced, undefined);
  } finally {
    await w.close();
  }
});

Deno.test("an IPv6 Service with only IPv4 peers: reason in status instead of '-'", async () => {
  const r = await rig({
    extra: [poolObject("pool6", ["2001:db8:6::/120"]), advObject("all")],
  });
  try {
    r.source.put(serviceObject("v6only", { ips: ["2001:db8:6::1"], pool: "pool6" }));
    r.source.put(sliceObject("v6only", [{ node: "n1" }]));
    const s = await startOn(r, "n1");
    await s.settled();
    const svc = s.status().services.find((x) => x.name === "v6only")!;
    assert.deepEqual(svc.peers, []);
    assert.match(svc.notAnnounced ?? "", /no BGPPeer of this node carries ipv6/);
    assert.equal(r.writer.events.filter((e) => e.reason === "notAnnounced").length, 1);
  } finally {
    await r.close();
  }
});

Deno.test("a BGPPeer with a BFD profile runs without BFD and says so", async () => {
  const r = await rig({
    peerSpec: { bfdProfile: "fast" },
    extra: [
      advObject("all"),
      {
        apiVersion: "metallb.io/v1beta1",
        kind: "BFDProfile",
        metadata: { name: "fast", namespace: TEST_NS },
        spec: {},
      },
    ],
  });
  try {
    r.source.put(serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }));
    r.source.put(sliceObject("web", [{ node: "n1" }]));
    const s = await startOn(r, "n1");
    await r.collector.waitFor(() => routesOf(r.collector).has("192.0.2.10/32"));
    const session = s.status().sessions[0];
    assert.equal(session.state, "Established");
    assert.deepEqual(session.unsupported, ["BFD"]);
    assert.ok(s.configStatus().valid, s.configStatus().errors.join("; "));
  } finally {
    await r.close();
  }
});

/**
 * A speaker for node n1 (not started) on `objects` beside pool-a, the advertisement "all" and
 * BGPPeer router1 that never comes up (nothing listens on its port), with a fake clock.
 */
function speakerWithDeadPeer(objects: KubeObject[]) {
  const clock = new FakeClock();
  const source = createMemorySource([
    poolObject("pool-a", ["192.0.2.0/26"]),
    peerObject("router1", { myASN: 64500, peerASN: 64501, peerAddress: "127.0.0.1", peerPort: 9 }),
    nodeObject("n1", { internalIP: "10.0.0.11" }),
    advObject("all"),
    ...objects,
  ]);
  const writer = new RecordingWriter(source);
  const s = createSpeaker(source, writer, {
    nodeName: "n1",
    namespace: TEST_NS,
    logger: silentLogger,
    metricsIntervalMs: 0,
    clock,
  });
  return { clock, source, writer, s };
}

Deno.test("after a restart, a peer that never comes back stops counting after 120 s", async () => {
  // The status written before the restart says router1 holds web; router1 is gone for good.
  const { clock, source, writer, s } = speakerWithDeadPeer([
    serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }),
    sliceObject("web", [{ node: "n1" }]),
    statusObject("n1", "web", ["router1"]),
  ]);
  try {
    await s.start();
    await s.settled();
    assert.equal(writer.bgpStatusWrites, 0, "the adopted status stands at first");
    assert.deepEqual(s.status().services[0].peers, ["127.0.0.1:9"]);
    clock.advance(120_000);
    await eventually("status deleted", () => writer.bgpStatusHistory.includes(null));
    await s.settled();
    assert.deepEqual(s.status().services[0].peers, []);
    assert.equal(source.snapshot().objects.get("ServiceBGPStatus")?.size ?? 0, 0);
  } finally {
    await s.stop();
  }
});

Deno.test("after a restart, objects of other names are adopted or swept, and deleted by name", async () => {
  // web's object has a name this speaker would not give; api has two objects, one too many.
  const { clock, source, writer, s } = speakerWithDeadPeer([
    serviceObject("web", { ips: ["192.0.2.10"], pool: "pool-a" }),
    sliceObject("web", [{ node: "n1" }]),
    serviceObject("api", { ips: ["192.0.2.11"], pool: "pool-a" }),
    sliceObject("api", [{ node: "n1" }]),
    statusObject("n1", "web", ["router1"], { name: "web-legacy" }),
    statusObject("n1", "api", ["router1"], { name: "api-n1-0123456789" }),
    statusObject("n1", "api", ["router1"]),
  ]);
  const names = () =>
    [...source.snapshot().objects.get("ServiceBGPStatus")?.values() ?? []]
      .map((o) => o.metadata.name).sort();
  try {
    await s.start();
    await s.settled();
    await s.settled(); // the deletion comes back as a change of the kind
    assert.deepEqual(writer.bgpStatusHistory, [null], "only the duplicate goes");
    assert.deepEqual(names(), [serviceBGPStatusName("default", "api", "n1"), "web-legacy"]);
    assert.deepEqual(s.status().services.map((x) => x.peers), [["127.0.0.1:9"], ["127.0.0.1:9"]]);
    clock.advance(120_000);
    await eventually("statuses deleted", () => writer.bgpStatusHistory.length === 3);
    await s.settled();
    assert.deepEqual(names(), []);
  } finally {
    await s.stop();
  }
});
