import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { ManifestFiles } from "./manifest_files.ts";

const POOL = (name: string) =>
  JSON.stringify({
    apiVersion: "metallb.io/v1beta1",
    kind: "IPAddressPool",
    metadata: { name, namespace: "metallb-system" },
    spec: { addresses: ["10.0.0.0/24"] },
  });

/** Runs `fn` counting the opens of `path` (what reading a file's text starts with). */
async function countingOpens<T>(path: string, fn: () => Promise<T>): Promise<[T, number]> {
  const open = Deno.open;
  let opens = 0;
  Deno.open = ((p: string | URL, o?: Deno.OpenOptions) => {
    if (String(p) === path) opens++;
    return open(p, o);
  }) as typeof Deno.open;
  try {
    return [await fn(), opens];
  } finally {
    Deno.open = open;
  }
}

async function withFiles(fn: (files: ManifestFiles, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  const files = new ManifestFiles(silentLogger, undefined);
  try {
    await fn(files, dir);
  } finally {
    files.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ManifestFiles: a stat-only load skips a file whose stat did not change", async () => {
  await withFiles(async (files, dir) => {
    const path = `${dir}/pool.json`;
    await Deno.writeTextFile(path, POOL("a"));
    await files.load(path);
    const [, skipped] = await countingOpens(path, () => files.load(path, { statOnly: true }));
    assert.equal(skipped, 0, "unchanged: not read");
    const [, full] = await countingOpens(path, () => files.load(path));
    assert.equal(full, 1, "without statOnly the text is read (the digest decides)");
  });
});

Deno.test("ManifestFiles: a stat-only load reads a changed file and takes its objects", async () => {
  await withFiles(async (files, dir) => {
    const path = `${dir}/pool.json`;
    await Deno.writeTextFile(path, POOL("a"));
    await files.load(path);
    assert.equal(files.takeChanged(), true);
    await files.load(path, { statOnly: true });
    assert.equal(files.takeChanged(), false, "nothing new");
    await Deno.writeTextFile(path, POOL("renamed"));
    await files.load(path, { statOnly: true });
    assert.equal(files.takeChanged(), true);
    assert.equal(files.files.get(path)?.objects[0].metadata.name, "renamed");
  });
});

Deno.test("ManifestFiles: a file that could not be read is read again at the next poll", async () => {
  await withFiles(async (files, dir) => {
    // A directory with a manifest's name: stat works, reading fails.
    const path = `${dir}/odd.yaml`;
    await Deno.mkdir(path);
    await files.load(path);
    assert.ok(files.errors.has(path));
    const [, opens] = await countingOpens(path, () => files.load(path, { statOnly: true }));
    assert.equal(opens, 1, "not settled: tried again");
  });
});

Deno.test("ManifestFiles: a refused text is not read again until it changes", async () => {
  await withFiles(async (files, dir) => {
    const path = `${dir}/bad.yaml`;
    await Deno.writeTextFile(path, "kind: [unclosed");
    await files.load(path);
    assert.ok(files.errors.has(path));
    const [, opens] = await countingOpens(path, () => files.load(path, { statOnly: true }));
    assert.equal(opens, 0);
    assert.ok(files.errors.has(path), "its error stands");
  });
});

Deno.test("ManifestFiles: takeChanged reports a file gone", async () => {
  await withFiles(async (files, dir) => {
    const path = `${dir}/pool.json`;
    await Deno.writeTextFile(path, POOL("a"));
    await files.load(path);
    files.takeChanged();
    files.forgetMissing([path]);
    assert.equal(files.takeChanged(), false);
    files.forgetMissing([]);
    assert.equal(files.takeChanged(), true);
    assert.equal(files.files.size, 0);
  });
});
