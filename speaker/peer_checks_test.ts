import assert from "node:assert/strict";
import { buildConfig, type PeerConfig } from "../api/config.ts";
import { parseNode } from "../api/objects.ts";
import { NEXT_HOP_V6_ANNOTATION, nextHopV6For, peerProblems } from "./peer_checks.ts";
import { nodeObject, peerObject, TEST_NS } from "../tests/speaker/testing.ts";

function peer(
  spec: Record<string, unknown>,
  extra: ReturnType<typeof peerObject>[] = [],
): PeerConfig {
  const r = buildConfig([peerObject("p", { myASN: 64500, peerASN: 64501, ...spec }), ...extra], {
    namespace: TEST_NS,
  });
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config.peers[0];
}

function node(addresses: { type: string; address: string }[]) {
  const r = parseNode(nodeObject("n1", { internalIP: "10.0.0.11", addresses }));
  if (!r.ok) throw new Error("node");
  return r.value;
}

const dual = { peerAddress: "10.0.0.1", dualStackAddressFamily: true };

Deno.test("IPv6 next hop: the node's first global IPv6 address, InternalIP before ExternalIP", () => {
  const n = node([
    { type: "ExternalIP", address: "2001:db8:e::1" },
    { type: "InternalIP", address: "fe80::1" },
    { type: "InternalIP", address: "::ffff:10.0.0.11" },
    { type: "InternalIP", address: "2001:db8:a::1" },
  ]);
  assert.deepEqual(nextHopV6For(peer(dual), n, { nodeName: "n1" }), {
    ok: true,
    address: "2001:db8:a::1",
  });
  const external = node([{ type: "ExternalIP", address: "2001:db8:e::1" }]);
  assert.deepEqual(nextHopV6For(peer(dual), external, { nodeName: "n1" }), {
    ok: true,
    address: "2001:db8:e::1",
  });
});

Deno.test("IPv6 next hop: the annotation wins, and a bad one is a reason, not a guess", () => {
  const n = node([{ type: "InternalIP", address: "2001:db8:a::1" }]);
  assert.deepEqual(nextHopV6For(peer(dual), n, { nodeName: "n1", annotation: "2001:db8::77" }), {
    ok: true,
    address: "2001:db8::77",
  });
  for (const bad of ["fe80::7", "10.0.0.7", "::ffff:10.0.0.7", "nonsense"]) {
    const r = nextHopV6For(peer(dual), n, { nodeName: "n1", annotation: bad });
    assert.equal(r.ok, false, bad);
    assert.match((r as { reason: string }).reason, new RegExp(NEXT_HOP_V6_ANNOTATION));
  }
});

Deno.test("IPv6 next hop: none needed without IPv6 on an IPv4 session; a reason without one", () => {
  const bare = node([{ type: "InternalIP", address: "fe80::1" }]);
  assert.deepEqual(nextHopV6For(peer({ peerAddress: "10.0.0.1" }), bare, { nodeName: "n1" }), {
    ok: true,
  });
  assert.deepEqual(nextHopV6For(peer({ peerAddress: "fd00::1" }), bare, { nodeName: "n1" }), {
    ok: true,
  });
  const r = nextHopV6For(peer(dual), bare, { nodeName: "n1" });
  assert.equal(r.ok, false);
  assert.match((r as { reason: string }).reason, /node n1 has no global IPv6 address/);
});

Deno.test("a BFD profile is unsupported, not an error: the peer runs", () => {
  const bfd = {
    apiVersion: "metallb.io/v1beta1",
    kind: "BFDProfile",
    metadata: { name: "fast", namespace: TEST_NS },
    spec: {},
  };
  const probs = peerProblems(peer({ peerAddress: "10.0.0.1", bfdProfile: "fast" }, [bfd]));
  assert.deepEqual(probs.errors, []);
  assert.deepEqual(probs.unsupported, ["BFD"]);
});
