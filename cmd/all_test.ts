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

/** Reads `stream` until `pattern` shows up; fails if it ends first. */
async function readUntil(stream: ReadableStream<Uint8Array>, pattern: RegExp): Promise<string> {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  try {
    while (!pattern.test(text)) {
      const { value, done } = await reader.read();
      if (done) assert.fail(`output ended before ${pattern}:\n${text}`);
      text += value;
    }
  } finally {
    reader.releaseLock();
  }
  return text;
}

Deno.test("two `ferrolb all` on one state dir: the second refuses, names the first, touches nothing", async () => {
  const dir = await Deno.makeTempDir();
  const configDir = `${dir}/config`;
  const stateDir = `${dir}/state`;
  await Deno.mkdir(configDir);
  await Deno.writeTextFile(
    `${configDir}/pool.yaml`,
    "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: lb}\n" +
      "spec: {addresses: [10.9.0.0/24]}\n---\napiVersion: v1\nkind: Service\n" +
      "metadata: {name: web}\nspec: {type: LoadBalancer, ports: [{port: 80}]}\n",
  );
  const main = new URL("../main.ts", import.meta.url).pathname;
  const all = (adminAddr: string) =>
    new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        main,
        "all",
        "--config-dir",
        configDir,
        "--state-dir",
        stateDir,
        "--node-name",
        "n1",
        "--namespace",
        "lb",
        "--admin-addr",
        adminAddr,
      ],
      stdout: "null",
      stderr: "piped",
    });
  const first = all("127.0.0.1:0").spawn();
  try {
    const log = await readUntil(first.stderr, /controller and speaker running/);
    const admin = log.match(/"admin":"([^"]+)"/)?.[1];
    assert.ok(admin, log);
    const before = [...Deno.readDirSync(stateDir)].map((e) => e.name).sort();
    const statesBefore = await Deno.readTextFile(`${stateDir}/state.json`);

    const second = await all("127.0.0.1:0").output();
    const err = new TextDecoder().decode(second.stderr);
    assert.equal(second.code, 1, err);
    assert.match(err, new RegExp(`in use by ferrolb pid ${first.pid}, admin ${admin}`));
    assert.deepEqual([...Deno.readDirSync(stateDir)].map((e) => e.name).sort(), before);
    assert.equal(await Deno.readTextFile(`${stateDir}/state.json`), statesBefore);
  } finally {
    first.kill("SIGTERM");
    await first.status;
    await first.stderr.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});
