import assert from "node:assert/strict";
import { checkFiles, DEFAULT_INSTALL, generateFiles } from "./generate.ts";

const MANIFESTS = new URL("./", import.meta.url);

Deno.test("committed manifests are exactly what `deno task manifests` generates", async () => {
  const diffs = await checkFiles(MANIFESTS);
  assert.deepEqual(diffs, [], "run `deno task manifests` and commit the result");
});

Deno.test("checkFiles names the file and first differing line of a stale copy", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const files = generateFiles();
    const lines = files["ferrolb.yaml"].split("\n");
    const at = lines.findIndex((l) => l.includes("replicas: 2"));
    lines[at] = lines[at].replace("replicas: 2", "replicas: 1");
    await Deno.writeTextFile(`${dir}/ferrolb.yaml`, lines.join("\n"));
    const diffs = await checkFiles(new URL(`file://${dir}/`));
    assert.deepEqual(diffs.map((d) => [d.file, d.line]), [
      ["ferrolb.yaml", at + 1],
      ["kustomization.yaml", 0],
    ]);
    assert.match(diffs[0].expected, /replicas: 2/);
    assert.match(diffs[0].actual, /replicas: 1/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("generate.ts --check exits 1 on a stale manifest and 0 on the committed one", async () => {
  const run = async (cwdFile: string) => {
    const cmd = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", cwdFile, "--check"],
      stdout: "piped",
      stderr: "piped",
    });
    return await cmd.output();
  };
  const ok = await run(new URL("./generate.ts", import.meta.url).pathname);
  assert.equal(ok.code, 0, new TextDecoder().decode(ok.stderr));
  // A copy of the generator beside a stale manifest: same code, different files.
  const dir = await Deno.makeTempDir({ dir: new URL("../", import.meta.url).pathname });
  try {
    for (const f of ["generate.ts", "crds.ts", "cel_rules.ts", "install.ts", "yaml.ts"]) {
      await Deno.copyFile(new URL(f, import.meta.url), `${dir}/${f}`);
    }
    await Deno.writeTextFile(`${dir}/ferrolb.yaml`, "stale\n");
    const stale = await run(`${dir}/generate.ts`);
    assert.equal(stale.code, 1);
    assert.match(new TextDecoder().decode(stale.stderr), /ferrolb\.yaml:1: differs/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the namespace option reaches every namespaced object and binding subject", () => {
  const text = generateFiles({ ...DEFAULT_INSTALL, namespace: "lb" })["ferrolb.yaml"];
  assert.doesNotMatch(text, /metallb-system/);
  assert.match(text, /namespace: lb\n/);
});
