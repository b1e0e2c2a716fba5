/**
 * The install manifest on a real kube-apiserver: `kubectl apply` succeeds, every CRD becomes
 * Established, and MetalLB-shaped objects (the examples and the seed fixtures) are accepted as
 * users would apply them. Skipped, saying why, when build.sh has not cached the binaries.
 */
import assert from "node:assert/strict";
import { loadAllYaml } from "@kubernetes/client-node";
import { pollUntil } from "../e2e_helpers.ts";
import { realKubeSkipReason, startRealKube } from "./mod.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const reason = realKubeSkipReason();
if (reason) console.log(`skipping the real API server tests: ${reason}`);

// deno-lint-ignore no-explicit-any
type Loose = any;

/** The YAML files users would apply: the examples, the seed fixtures and MetalLB docs objects. */
function metallbShapedFiles(): string[] {
  const dirs = [
    "examples/quickstart",
    "examples/dualstack",
    "tests/testdata/config/seed",
    "tests/testdata/metallb_docs",
  ];
  const files: string[] = [];
  for (const d of dirs) {
    for (const e of Deno.readDirSync(`${ROOT}${d}`)) {
      if (e.isFile && /\.ya?ml$/.test(e.name)) files.push(`${ROOT}${d}/${e.name}`);
    }
  }
  return files.sort();
}

Deno.test({
  name:
    "real API server: the install manifest applies, its CRDs are Established, MetalLB objects are accepted",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const kube = await startRealKube();
    try {
      const manifest = `${ROOT}manifests/ferrolb.yaml`;
      await t.step("kubectl apply -f manifests/ferrolb.yaml succeeds", async () => {
        const r = await kube.kubectl(["apply", "-f", manifest]);
        assert.equal(r.code, 0, `kubectl apply failed:\n${r.stderr}\n${r.stdout}`);
      });

      const crdNames = (loadAllYaml(Deno.readTextFileSync(manifest)) as Loose[])
        .filter((d) => d?.kind === "CustomResourceDefinition")
        .map((d) => String(d.metadata.name));
      await t.step(`all ${crdNames.length} CRDs are Established`, async () => {
        assert.ok(crdNames.length >= 8, `only ${crdNames.length} CRDs in the manifest`);
        await pollUntil(async () => {
          const notYet: string[] = [];
          for (const name of crdNames) {
            const crd = await kube.request<Loose>(
              "GET",
              `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`,
            );
            const c = (crd.status?.conditions ?? []).find((c: Loose) => c.type === "Established");
            if (c?.status !== "True") notYet.push(name);
          }
          if (notYet.length > 0) throw new Error(`not Established: ${notYet.join(", ")}`);
          return true;
        }, { timeoutMs: 60_000, what: "every CRD Established" });
      });

      const files = metallbShapedFiles();
      await t.step(`the MetalLB-shaped objects of ${files.length} files are accepted`, async () => {
        assert.ok(files.length >= 5, `only ${files.length} example files`);
        for (const file of files) {
          const r = await kube.kubectl(["apply", "-f", file]);
          assert.equal(r.code, 0, `${file.slice(ROOT.length)} was refused:\n${r.stderr}`);
          // What was stored reads back: every object of the file exists under its name.
          for (const doc of loadAllYaml(Deno.readTextFileSync(file)) as Loose[]) {
            if (!doc?.kind) continue;
            const got = await kube.kubectl([
              "get",
              `${doc.kind}.${String(doc.apiVersion).split("/").slice(0, -1).join("/") || ""}`
                .replace(/\.$/, ""),
              doc.metadata.name,
              ...(doc.metadata.namespace ? ["-n", doc.metadata.namespace] : []),
              "-o",
              "name",
            ]);
            assert.equal(got.code, 0, `${doc.kind} ${doc.metadata.name}: ${got.stderr}`);
          }
        }
      });

      await t.step(
        "a v1beta1 BGPPeer (older MetalLB docs) is accepted and reads back as v1beta2",
        async () => {
          await kube.request(
            "POST",
            "/apis/metallb.io/v1beta1/namespaces/metallb-system/bgppeers",
            {
              body: {
                apiVersion: "metallb.io/v1beta1",
                kind: "BGPPeer",
                metadata: { name: "old-style", namespace: "metallb-system" },
                spec: { myASN: 64500, peerASN: 64501, peerAddress: "10.0.0.1" },
              },
            },
          );
          const peer = await kube.request<Loose>(
            "GET",
            "/apis/metallb.io/v1beta2/namespaces/metallb-system/bgppeers/old-style",
          );
          assert.equal(peer.apiVersion, "metallb.io/v1beta2");
          assert.equal(peer.spec.peerAddress, "10.0.0.1");
        },
      );
    } finally {
      await kube.stop();
    }
  },
});
