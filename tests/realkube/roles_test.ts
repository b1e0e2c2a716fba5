/**
 * The controller and the speaker on a real kube-apiserver, under the install manifest's RBAC,
 * each with a token of the ServiceAccount the manifest gives it (TokenRequest API), run as the
 * Deployment and DaemonSet run them. A user's walk: a Service gets an IP, Events and a
 * ServiceBGPStatus appear, the route reaches a GoBGP router, the controller leads through the
 * Lease, a restart of both writes nothing, deleting the Service removes its status and route.
 * The audit log, which the components cannot influence, shows no 403 and counts the writes.
 * Skipped, saying why, without the binaries (build.sh), root/netns or gobgpd.
 */
import assert from "node:assert/strict";
import { pollUntil } from "../e2e_helpers.ts";
import { cleanupStaleNetns, type Gobgpd, netnsAvailable, startGobgpd } from "../gobgp/mod.ts";
import { WRITE_VERBS } from "./audit.ts";
import {
  type AuditEvent,
  describeAudit,
  installFerrolb,
  type RealKube,
  realKubeSkipReason,
  startRealKube,
} from "./mod.ts";
import { createPeerNetns, type PeerNetns } from "./peer_netns.ts";
import { type RoleProcess, serviceAccountOf, startRole } from "./roles.ts";

const SPEAKER_ASN = 64512;
const ROUTER_ASN = 65001;
const POOL = "203.0.113.0/28";
const BOUND = { timeoutMs: 60_000 };

// deno-lint-ignore no-explicit-any
type Loose = any;

async function skipReason(): Promise<string | undefined> {
  const kube = realKubeSkipReason();
  if (kube) return kube;
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  try {
    await new Deno.Command("gobgpd", { args: ["--version"], stdout: "null", stderr: "null" })
      .output();
  } catch {
    return "gobgpd not installed (apt-get install gobgpd)";
  }
  return undefined;
}

const reason = await skipReason();
if (reason) console.log(`skipping the controller and speaker on a real API server: ${reason}`);

/** The configuration a user applies: one pool, one peer (the GoBGP router), one advertisement. */
async function applyConfig(kube: RealKube, peer: PeerNetns, ns: string): Promise<void> {
  const metallb = (v: string, plural: string) => `/apis/metallb.io/${v}/namespaces/${ns}/${plural}`;
  await kube.request("POST", metallb("v1beta1", "ipaddresspools"), {
    body: {
      apiVersion: "metallb.io/v1beta1",
      kind: "IPAddressPool",
      metadata: { name: "rk-pool" },
      spec: { addresses: [POOL] },
    },
  });
  await kube.request("POST", metallb("v1beta2", "bgppeers"), {
    body: {
      apiVersion: "metallb.io/v1beta2",
      kind: "BGPPeer",
      metadata: { name: "router" },
      spec: { myASN: SPEAKER_ASN, peerASN: ROUTER_ASN, peerAddress: peer.peerAddr },
    },
  });
  await kube.request("POST", metallb("v1beta1", "bgpadvertisements"), {
    body: {
      apiVersion: "metallb.io/v1beta1",
      kind: "BGPAdvertisement",
      metadata: { name: "all" },
      spec: { ipAddressPools: ["rk-pool"] },
    },
  });
}

/** A ready Node `n1` and a LoadBalancer Service `web` with a ready endpoint on it. */
async function applyWorkload(kube: RealKube): Promise<void> {
  const node = await kube.request<Loose>("POST", "/api/v1/nodes", {
    body: {
      apiVersion: "v1",
      kind: "Node",
      metadata: {
        name: "n1",
        labels: { "kubernetes.io/hostname": "n1", "kubernetes.io/os": "linux" },
      },
    },
  });
  await kube.request("PUT", "/api/v1/nodes/n1/status", {
    body: {
      ...node,
      status: {
        conditions: [{
          type: "Ready",
          status: "True",
          reason: "KubeletReady",
          message: "test node",
          lastHeartbeatTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
          lastTransitionTime: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        }],
      },
    },
  });
  await kube.request("POST", "/api/v1/namespaces/default/services", {
    body: {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "web" },
      spec: {
        type: "LoadBalancer",
        selector: { app: "web" },
        ports: [{ port: 80, protocol: "TCP" }],
      },
    },
  });
  await kube.request("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", {
    body: {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: "web-1", labels: { "kubernetes.io/service-name": "web" } },
      addressType: "IPv4",
      endpoints: [{ addresses: ["10.244.0.5"], conditions: { ready: true }, nodeName: "n1" }],
      ports: [{ name: "", port: 80, protocol: "TCP" }],
    },
  });
}

async function ingressOf(kube: RealKube): Promise<string[]> {
  const svc = await kube.request<Loose>("GET", "/api/v1/namespaces/default/services/web");
  return (svc.status?.loadBalancer?.ingress ?? []).map((i: Loose) => i.ip);
}

async function bgpStatuses(kube: RealKube, ns: string): Promise<Loose[]> {
  const list = await kube.request<Loose>(
    "GET",
    `/apis/metallb.io/v1beta1/namespaces/${ns}/servicebgpstatuses`,
  );
  return list.items;
}

function userOf(sa: { namespace: string; name: string }): string {
  return `system:serviceaccount:${sa.namespace}:${sa.name}`;
}

function refused(events: AuditEvent[], users: string[]): string[] {
  return events.filter((e) => users.includes(e.user.username) && e.responseStatus?.code === 403)
    .map(describeAudit);
}

Deno.test({
  name:
    "real API server: controller and speaker under the manifest's ServiceAccounts assign, announce, lead, restart without writes",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    await cleanupStaleNetns();
    const kube = await startRealKube();
    let peer: PeerNetns | undefined;
    let gobgpd: Gobgpd | undefined;
    const roles: RoleProcess[] = [];
    const context = () => roles.map((r) => r.logs().slice(-2500)).join("\n-----\n");
    try {
      await installFerrolb(kube);
      const controllerSa = serviceAccountOf("Deployment");
      const speakerSa = serviceAccountOf("DaemonSet");
      const ns = controllerSa.namespace;
      const users = [userOf(controllerSa), userOf(speakerSa)];
      peer = await createPeerNetns();
      gobgpd = await startGobgpd({
        netns: peer.name,
        asn: ROUTER_ASN,
        routerId: peer.peerAddr,
        neighbors: [{ address: peer.hostAddr, asn: SPEAKER_ASN, passive: true }],
      });
      await applyConfig(kube, peer, ns);
      await applyWorkload(kube);
      const controllerKc = await kube.serviceAccountKubeconfig(ns, controllerSa.name);
      const speakerKc = await kube.serviceAccountKubeconfig(ns, speakerSa.name);
      const env = { FERROLB_NAMESPACE: ns };
      const start = () => {
        roles.push(startRole("Deployment", controllerKc, env));
        roles.push(startRole("DaemonSet", speakerKc, { ...env, NODE_NAME: "n1" }));
        return { controller: roles.at(-2)!, speaker: roles.at(-1)! };
      };
      let { controller, speaker } = start();
      const g = gobgpd;
      const routeTo = async (ip: string) =>
        (await g.rib("ipv4")).find((r) => r.prefix === `${ip}/32` && r.nextHop === peer!.hostAddr);

      let ip = "";
      await t.step("the Service gets an IP from the pool, written by the controller", async () => {
        ip = await pollUntil(async () => (await ingressOf(kube))[0], {
          ...BOUND,
          what: "an ingress IP on default/web",
          context,
        });
        assert.match(ip, /^203\.0\.113\.(\d|1[0-5])$/);
      });

      await t.step("an IPAllocated Event is recorded on the Service", async () => {
        await pollUntil(async () => {
          const events = await kube.request<Loose>(
            "GET",
            "/api/v1/namespaces/default/events",
            { query: { fieldSelector: "involvedObject.name=web" } },
          );
          return events.items.some((e: Loose) => e.reason === "IPAllocated");
        }, { ...BOUND, what: "an IPAllocated Event", context });
      });

      await t.step(
        "the speaker creates a ServiceBGPStatus and the route reaches GoBGP",
        async () => {
          await pollUntil(async () => (await bgpStatuses(kube, ns)).length === 1, {
            ...BOUND,
            what: "one ServiceBGPStatus",
            context,
          });
          await pollUntil(() => routeTo(ip), { ...BOUND, what: `${ip}/32 at GoBGP`, context });
        },
      );

      await t.step("the controller leads through the Lease", async () => {
        const status = JSON.parse((await controller.get("/status")).body || "{}");
        const lease = await pollUntil(async () => {
          const l = await kube.request<Loose>(
            "GET",
            `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/ferrolb-controller`,
          );
          return l.spec?.holderIdentity ? l : undefined;
        }, { ...BOUND, what: "a Lease holder", context });
        assert.equal(lease.spec.holderIdentity, status.leaderElection?.identity);
      });

      await t.step("a restart of both, with the Service assigned, writes nothing", async () => {
        assert.equal(await controller.stop(), 0, controller.logs().slice(-2000));
        assert.equal(await speaker.stop(), 0, speaker.logs().slice(-2000));
        const before = (await kube.audit()).length;
        ({ controller, speaker } = start());
        await g.waitEstablished(peer!.hostAddr, { timeoutMs: 60_000 });
        await pollUntil(() => routeTo(ip), { ...BOUND, what: `${ip}/32 back at GoBGP`, context });
        // Two renewals of the Lease after the restart: the controller has led for a while.
        const after = await pollUntil(async () => {
          const events = (await kube.audit()).slice(before);
          const renewals = events.filter((e) =>
            e.user.username === users[0] && e.objectRef?.resource === "leases" &&
            e.verb === "update" && e.responseStatus?.code === 200
          );
          return renewals.length >= 2 ? events : undefined;
        }, { ...BOUND, what: "two Lease renewals after the restart", context });
        const writes = after.filter((e) =>
          users.includes(e.user.username) && WRITE_VERBS.has(e.verb) &&
          e.objectRef?.resource !== "leases"
        );
        const said = await Promise.all(writes.map(async (e) => {
          if (e.objectRef?.resource !== "events" || !e.objectRef.name) return describeAudit(e);
          const ev = await kube.request<Loose>(
            "GET",
            `/api/v1/namespaces/${e.objectRef.namespace}/events/${e.objectRef.name}`,
          ).catch(() => undefined);
          return `${describeAudit(e)} (${ev?.reason}: ${ev?.message})`;
        }));
        assert.deepEqual(
          said,
          [],
          `writes after the restart; the controller's log:\n${controller.logs().slice(-6000)}`,
        );
        assert.deepEqual(await ingressOf(kube), [ip], "the Service keeps its IP");
      });

      await t.step("a second replica takes the Lease over when the leader stops", async () => {
        const standby = startRole("Deployment", controllerKc, env);
        roles.push(standby);
        const election = async (r: RoleProcess) =>
          JSON.parse((await r.get("/status")).body || "{}").leaderElection;
        await pollUntil(async () => (await election(standby))?.state === "standby", {
          ...BOUND,
          what: "the second replica standing by",
          context,
        });
        assert.equal(await controller.stop(), 0, controller.logs().slice(-2000));
        const identity = await pollUntil(async () => {
          const e = await election(standby);
          return e?.state === "leader" && e.identity;
        }, { ...BOUND, what: "the second replica leading", context });
        const lease = await kube.request<Loose>(
          "GET",
          `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/ferrolb-controller`,
        );
        assert.equal(lease.spec.holderIdentity, identity);
        assert.ok(lease.spec.leaseTransitions >= 1, "the Lease records the transition");
        controller = standby;
      });

      await t.step("deleting the Service removes its ServiceBGPStatus and its route", async () => {
        await kube.request("DELETE", "/api/v1/namespaces/default/services/web");
        await pollUntil(async () => (await bgpStatuses(kube, ns)).length === 0, {
          ...BOUND,
          what: "no ServiceBGPStatus",
          context,
        });
        await pollUntil(async () => !(await routeTo(ip)), {
          ...BOUND,
          what: "route withdrawn",
          context,
        });
      });

      await t.step("no request of either component was refused (audit log)", async () => {
        const events = await kube.audit();
        for (const u of users) {
          const mine = events.filter((e) => e.user.username === u);
          assert.ok(mine.some((e) => WRITE_VERBS.has(e.verb)), `${u} wrote nothing`);
          assert.ok(mine.some((e) => e.verb === "watch"), `${u} watched nothing`);
        }
        assert.deepEqual(refused(events, users), [], "403s in the audit log");
        assert.equal(await controller.stop(), 0, controller.logs().slice(-2000));
        assert.equal(await speaker.stop(), 0, speaker.logs().slice(-2000));
      });
    } finally {
      for (const r of roles) await r.kill();
      await gobgpd?.stop();
      await peer?.close();
      await kube.stop();
    }
  },
});
