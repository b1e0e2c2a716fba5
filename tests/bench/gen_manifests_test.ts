import assert from "node:assert/strict";
import { runFerrolb } from "../e2e_helpers.ts";
import { writeManifestDir } from "./gen_manifests.ts";

Deno.test("generated bench manifests are valid MetalLB input for ferrolb validate", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "flb-gen-" });
  try {
    const files = await writeManifestDir(`${cwd}/config`, {
      services: 25,
      peers: [{ address: "192.0.2.2", asn: 65002 }, { address: "192.0.2.3", asn: 65002 }],
      myAsn: 65001,
      routerId: "192.0.2.1",
      servicesPerFile: 10,
    });
    assert.deepEqual(files.map((f) => f.slice(cwd.length + "/config/".length)), [
      "pool.yaml",
      "peers.yaml",
      "advertisement.yaml",
      "services-000.yaml",
      "services-001.yaml",
      "services-002.yaml",
    ]);
    const services = (await Promise.all(files.map((f) => Deno.readTextFile(f))))
      .join("\n").match(/^kind: Service$/gm)?.length;
    assert.equal(services, 25);
    const r = await runFerrolb(["validate", "config"], { cwd });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
