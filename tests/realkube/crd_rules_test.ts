/**
 * Every CRD rule case on a real kube-apiserver (which evaluates the CEL rules and the OpenAPI
 * schema, as a cluster does): each `tests/testdata/crd_cases/<case>.accept.yaml` is created,
 * each `<case>.reject.yaml` is refused with 422 Invalid. Table-driven over whatever fixtures
 * exist; at least one of each kind must. Objects are created with dryRun=All so cases do not
 * see each other. Skipped, saying why, when build.sh has not cached the binaries.
 */
import assert from "node:assert/strict";
import { loadAllYaml } from "@kubernetes/client-node";
import { KubeApiError } from "../../cluster/kube_config.ts";
import { collectionFor, installFerrolb, realKubeSkipReason, startRealKube } from "./mod.ts";

const CASES = new URL("../testdata/crd_cases/", import.meta.url).pathname;
const INSTALL_NAMESPACE = "metallb-system";
const reason = realKubeSkipReason();
if (reason) console.log(`skipping the CRD rule cases on a real API server: ${reason}`);

// deno-lint-ignore no-explicit-any
type Loose = any;

interface Case {
  file: string;
  expect: "accept" | "reject";
}

function cases(): Case[] {
  let entries: Deno.DirEntry[] = [];
  try {
    entries = [...Deno.readDirSync(CASES)];
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return entries
    .map((e) => /^(.+)\.(accept|reject)\.ya?ml$/.exec(e.name))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ file: m[0], expect: m[2] as Case["expect"] }))
    .sort((a, b) => a.file < b.file ? -1 : 1);
}

function parseOne(file: string): Loose {
  const docs = (loadAllYaml(Deno.readTextFileSync(`${CASES}${file}`)) as Loose[]).filter(Boolean);
  assert.equal(docs.length, 1, `${file}: a case file holds exactly one object`);
  return docs[0];
}

/** Creates `obj` (dry run); resolves with the HTTP status and reason the server answered. */
async function tryCreate(
  kube: Awaited<ReturnType<typeof startRealKube>>,
  obj: Loose,
): Promise<{ status: number; reason: string; message: string }> {
  const namespace = obj.metadata?.namespace ?? INSTALL_NAMESPACE;
  const { path, namespaced } = await collectionFor(kube, {
    apiVersion: obj.apiVersion,
    kind: obj.kind,
    namespace,
  });
  const body = namespaced ? { ...obj, metadata: { ...obj.metadata, namespace } } : obj;
  try {
    await kube.request("POST", path, { body, query: { dryRun: "All" } });
    return { status: 201, reason: "Created", message: "" };
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    return { status: err.status, reason: err.reason, message: err.message };
  }
}

const all = cases();

Deno.test({
  name:
    "real API server: every CRD rule case (tests/testdata/crd_cases) is accepted or rejected as named",
  ignore: reason !== undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const accepts = all.filter((c) => c.expect === "accept").length;
    const rejects = all.length - accepts;
    assert.ok(accepts >= 1, `no *.accept.yaml case in ${CASES}`);
    assert.ok(rejects >= 1, `no *.reject.yaml case in ${CASES}`);
    const kube = await startRealKube();
    try {
      await installFerrolb(kube);
      const wrong: string[] = [];
      for (const c of all) {
        await t.step(`${c.file}`, async () => {
          const got = await tryCreate(kube, parseOne(c.file));
          if (c.expect === "accept") {
            if (got.status !== 201) wrong.push(`${c.file}: refused: ${got.message}`);
            assert.equal(got.status, 201, `${c.file} should be accepted: ${got.message}`);
          } else {
            const ok = got.status === 422 && got.reason === "Invalid";
            if (!ok) wrong.push(`${c.file}: answered ${got.status} ${got.reason}`);
            assert.ok(ok, `${c.file} should be 422 Invalid, got ${got.status} ${got.reason}`);
          }
        });
      }
      assert.deepEqual(wrong, [], `${wrong.length} of ${all.length} cases wrong`);
    } finally {
      await kube.stop();
    }
  },
});
