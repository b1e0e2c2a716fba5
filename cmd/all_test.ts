import assert from "node:assert/strict";
import { attributeToFile, mergeStatus } from "./all.ts";
import { createFileSource } from "../cluster/file_source.ts";
import { createLogger } from "../api/log.ts";
import type { StatusDocument } from "./status.ts";

Deno.test("config problems name the file that defines the object", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/pools.yaml`,
      "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata:\n  name: p\n" +
        "spec:\n  addresses: [10.0.0.0/33]\n",
    );
    await Deno.writeTextFile(`${dir}/broken.yaml`, "kind: [\n");
    const files = createFileSource(dir, {
      logger: createLogger({ level: "error", write: () => {} }),
      defaults: { installNamespace: "lb" },
    });
    await files.start();
    await files.close();
    const index = { get: (o: string) => files.fileOf(o) };
    assert.equal(index.get("IPAddressPool lb/p"), `${dir}/pools.yaml`);
    assert.equal(
      attributeToFile("IPAddressPool lb/p: spec.addresses[0]: bad", index),
      `${dir}/pools.yaml: IPAddressPool lb/p: spec.addresses[0]: bad`,
    );
    assert.equal(attributeToFile("BGPPeer lb/q: x: y", index), "BGPPeer lb/q: x: y");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mergeStatus: controller's addresses, speaker's sessions and peers, every problem", () => {
  const controller: StatusDocument = {
    role: "controller",
    config: { valid: true, errors: [], warnings: ["L2Advertisement lb/l2: not supported"] },
    sessions: [],
    pools: [{ name: "p", ipv4: { used: 1, total: 16 } }],
    services: [
      { namespace: "default", name: "web", ips: ["10.0.0.1"], pool: "p", peers: [] },
      { namespace: "default", name: "db", ips: [], peers: [], pending: "no pool" },
    ],
  };
  const doc = mergeStatus({
    node: "n1",
    controller,
    speaker: {
      sessions: [{
        peer: "10.1.1.1:179",
        state: "Established",
        prefixesSent: 1,
        prefixesReceived: 0,
      }],
      services: [{ namespace: "default", name: "web", ips: ["10.0.0.1"], peers: ["10.1.1.1:179"] }],
    },
    speakerConfig: { valid: true, errors: [], warnings: [] },
    fileErrors: [{ file: "/d/x.yaml", reason: "line 2, column 1: bad indentation" }],
    fileIndex: new Map([["L2Advertisement lb/l2", "/d/l2.yaml"]]),
  });
  assert.equal(doc.role, "all");
  assert.equal(doc.node, "n1");
  assert.equal(doc.config.valid, false);
  assert.deepEqual(doc.config.errors, ["/d/x.yaml: line 2, column 1: bad indentation"]);
  assert.deepEqual(doc.config.warnings, ["/d/l2.yaml: L2Advertisement lb/l2: not supported"]);
  assert.deepEqual(doc.services.map((s) => [s.name, s.ips, s.pool, s.peers, s.pending]), [
    ["web", ["10.0.0.1"], "p", ["10.1.1.1:179"], undefined],
    ["db", [], undefined, [], "no pool"],
  ]);
  assert.equal(doc.sessions[0].state, "Established");
  assert.deepEqual(doc.pools, controller.pools);
});
