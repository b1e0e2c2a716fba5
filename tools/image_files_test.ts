import assert from "node:assert/strict";
import { listImageFiles } from "./image_files.ts";

/** Writes `files` (path -> content) under a new temp directory and returns it. */
async function fixture(files: Record<string, string>): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "ferrolb-image-files-" });
  for (const [path, text] of Object.entries(files)) {
    await Deno.mkdir(`${root}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true })
      .catch(() => {});
    await Deno.writeTextFile(`${root}/${path}`, text);
  }
  return root;
}

const pkg = (o: Record<string, unknown>) => JSON.stringify({ version: "1.0.0", ...o });

Deno.test("image files: only what the program can load, through exports, imports and requires", async () => {
  const root = await fixture({
    "deno.json": `{ "nodeModulesDir": "manual" }`,
    "package.json": pkg({ name: "fake", dependencies: { a: "1.0.0" } }),
    "main.ts":
      `import { a } from "a";\nimport { local } from "./lib/local.ts";\nconsole.log(a, local);\n`,
    "lib/local.ts": "export const local = 1;\n",
    "lib/unused.ts": "export const unused = 1;\n",
    "node_modules/a/package.json": pkg({
      name: "a",
      type: "module",
      exports: {
        ".": { types: "./index.d.ts", import: "./esm/index.js", require: "./cjs/index.js" },
        "./sub/*": "./lib/*.js",
      },
      imports: { "#internal": { node: "./lib/internal.js", browser: "./lib/browser.js" } },
    }),
    "node_modules/a/index.d.ts": "export type A = number;\n",
    "node_modules/a/esm/index.js": [
      `import fs from "node:fs";`,
      `import path from "path";`,
      `import { b } from "b";`,
      `import { x } from "a/sub/x";`,
      `import { i } from "#internal";`,
      `/** @type {import("../types/t.d.ts").T} */`,
      `export const a = [b, x, i, fs, path, await import("./lazy.js")];`,
    ].join("\n"),
    "node_modules/a/types/t.d.ts": "export type T = number;\n",
    "node_modules/a/cjs/index.js": `module.exports = require("../esm/index.js");\n`,
    "node_modules/a/esm/lazy.js": "export const lazy = 1;\n",
    "node_modules/a/lib/x.js": "export const x = 1;\n",
    "node_modules/a/lib/y.js": "export const y = 1;\n",
    "node_modules/a/lib/internal.js": `import "c";\nexport const i = 1;\n`,
    "node_modules/a/lib/browser.js": "export const br = 1;\n",
    // `a` depends on c@2 (nested); the top-level c@1 is someone else's.
    "node_modules/a/node_modules/c/package.json": pkg({ name: "c", main: "nested.js" }),
    "node_modules/a/node_modules/c/nested.js": "module.exports = 2;\n",
    "node_modules/c/package.json": pkg({ name: "c", main: "top.js" }),
    "node_modules/c/top.js": "module.exports = 1;\n",
    "node_modules/b/package.json": pkg({ name: "b", main: "main" }),
    "node_modules/b/main.js": [
      `const d = require("./data.json");`,
      `const dir = require("./dir");`,
      `try { require("optional-missing"); } catch {}`,
      `module.exports = { b: [d, dir] };`,
    ].join("\n"),
    "node_modules/b/data.json": `{"k": 1}`,
    "node_modules/b/dir/index.js": "module.exports = 3;\n",
    "node_modules/unused/package.json": pkg({ name: "unused" }),
    "node_modules/unused/index.js": "module.exports = 0;\n",
  });
  try {
    const files = await listImageFiles(root, { deno: Deno.execPath() });
    const rel = (paths: string[]) => paths.map((p) => p.slice(root.length + 1)).sort();
    assert.deepEqual(rel(files.program), ["deno.json", "lib/local.ts", "main.ts", "package.json"]);
    assert.deepEqual(
      rel(files.npm),
      [
        // Deno resolved `a` for main.ts to its ESM entry; nothing requires it as CommonJS.
        "a/esm/index.js",
        "a/esm/lazy.js",
        "a/lib/internal.js",
        "a/lib/x.js",
        "a/node_modules/c/nested.js",
        "a/node_modules/c/package.json",
        "a/package.json",
        "b/data.json",
        "b/dir/index.js",
        "b/main.js",
        "b/package.json",
      ].map((p) => `node_modules/${p}`),
    );
    assert.ok(
      files.unresolved.some((u) => u.startsWith("optional-missing ")),
      files.unresolved.join(),
    );
    assert.ok(files.libraries.some((l) => /\/libc\.so\.6$/.test(l)), files.libraries.join());
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
