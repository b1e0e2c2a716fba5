/**
 * The roles that run on a directory of manifests never load Deno's Node layer: each `node:`
 * module costs every process megabytes of heap and resident memory (issue 13's 10,000-Service
 * bound). What `main.ts` and `ferrolb all` load before any dynamic import must hold no `node:`
 * module; the Kubernetes client, loaded dynamically for a cluster, may.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

interface GraphModule {
  specifier: string;
  dependencies?: { code?: { specifier?: string }; isDynamic?: boolean }[];
}

/** Every module `entry` loads through static imports (no dynamic ones, no type-only ones). */
async function staticClosure(entry: string): Promise<Set<string>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", `${ROOT}/deno.json`, `${ROOT}/${entry}`],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.ok(out.success, `deno info failed: ${dec.decode(out.stderr)}`);
  const modules = new Map<string, GraphModule>();
  for (const m of (JSON.parse(dec.decode(out.stdout)) as { modules: GraphModule[] }).modules) {
    modules.set(m.specifier, m);
  }
  const seen = new Set<string>();
  const todo = [`file://${ROOT}/${entry}`];
  while (todo.length) {
    const s = todo.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const d of modules.get(s)?.dependencies ?? []) {
      if (!d.isDynamic && d.code?.specifier) todo.push(d.code.specifier);
    }
  }
  return seen;
}

const nodeModules = (set: Set<string>) => [...set].filter((s) => s.startsWith("node:")).sort();

Deno.test("file mode loads no node: module; the Kubernetes path does, behind its dynamic import", async () => {
  for (const entry of ["main.ts", "cmd/all.ts", "cmd/file_mode.ts"]) {
    const closure = await staticClosure(entry);
    assert.ok(closure.size > 20, `${entry}: ${closure.size} modules`);
    assert.deepEqual(nodeModules(closure), [], entry);
  }
  // The check sees node: imports where they are: the client's module confines process.env.
  assert.ok(nodeModules(await staticClosure("cluster/kube_config.ts")).includes("node:process"));
});
