/**
 * Dependencies point down (issue 19): every import of every non-test source file, as Deno's
 * module graph resolves it (static, dynamic and type-only imports), must follow the layer
 * rules below. Known violations being fixed are listed with their issue, and the list may
 * only shrink: an entry that no longer occurs fails too, so whoever fixes one removes it.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");

/**
 * What each top-level folder (or root file) may import besides itself: a folder name, a file
 * path, or `folder:type` for type-only imports. `tests/` is importable only by tests.
 */
const ALLOWED: Record<string, string[]> = {
  // The shared pure address module (address text read and printed once): imports nothing.
  addr: [],
  // Pure: no Kubernetes, no logging framework of ours; only the shared address module.
  bgp: ["addr"],
  ipam: ["addr"],
  api: ["addr", "ipam", "bgp"],
  cluster: ["addr", "api", "ipam", "bgp:type"],
  controller: ["addr", "api", "ipam", "bgp", "cluster/types.ts"],
  speaker: ["addr", "api", "ipam", "bgp", "cluster/types.ts"],
  cmd: ["addr", "api", "ipam", "bgp", "cluster", "controller", "speaker", "bin", "package.json"],
  "main.ts": [
    "addr",
    "api",
    "ipam",
    "bgp",
    "cluster",
    "controller",
    "speaker",
    "cmd",
    "package.json",
  ],
  manifests: ["api", "package.json"],
  // The npx launcher: plain JavaScript shared with cmd/args.ts, and the plain-JavaScript
  // lists it shares with the rooms that own them.
  bin: ["bgp/libc_paths.mjs", "cluster/env_vars.mjs"],
  tools: [],
};

/** Violations known today, each with the issue that removes it. Only ever delete lines. */
const KNOWN_VIOLATIONS: string[] = [];

/** Source files under ROOT that are not tests: what ships and what tools run. */
function sourceFiles(dir = ROOT): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    // Dot files are editors' and helpers' scratch files, not the project's.
    if (e.name.startsWith(".") || e.name === "node_modules") continue;
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) {
      if (path !== `${ROOT}/tests`) out.push(...sourceFiles(path));
    } else if (
      /\.(ts|mts|mjs|js)$/.test(e.name) && !/_test\.ts$/.test(e.name) &&
      // testdata/ holds a test's fixtures and child programs: test code beside the test.
      !path.includes("/testdata/")
    ) {
      out.push(path);
    }
  }
  return out;
}

/** The layer of a repository-relative path: its top folder, or the file itself at the root. */
function layerOf(rel: string): string {
  return rel.includes("/") ? rel.slice(0, rel.indexOf("/")) : rel;
}

/** One import between two of our files. */
interface Edge {
  from: string;
  to: string;
  typeOnly: boolean;
}

/** Every import between our files, from Deno's module graph of all `files` at once. */
async function importEdges(files: string[]): Promise<Edge[]> {
  const root = await Deno.makeTempFile({ prefix: "ferrolb-layering-", suffix: ".ts" });
  try {
    await Deno.writeTextFile(root, files.map((f) => `import "file://${f}";\n`).join(""));
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", `${ROOT}/deno.json`, root],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.ok(out.success, `deno info failed: ${dec.decode(out.stderr)}`);
    const info = JSON.parse(dec.decode(out.stdout)) as {
      modules: {
        specifier: string;
        dependencies?: { code?: { specifier?: string }; type?: { specifier?: string } }[];
      }[];
    };
    const ours = (s?: string) =>
      s?.startsWith(`file://${ROOT}/`) && !s.includes("/node_modules/")
        ? decodeURIComponent(s.slice(`file://${ROOT}/`.length))
        : undefined;
    const edges: Edge[] = [];
    for (const m of info.modules) {
      const from = ours(m.specifier);
      if (!from) continue;
      for (const d of m.dependencies ?? []) {
        const to = ours(d.code?.specifier ?? d.type?.specifier);
        if (to) edges.push({ from, to, typeOnly: !d.code?.specifier });
      }
    }
    return edges;
  } finally {
    await Deno.remove(root);
  }
}

function allowed(edge: Edge): boolean {
  const [from, to] = [layerOf(edge.from), layerOf(edge.to)];
  if (from === to) return true;
  const rules = ALLOWED[from];
  if (!rules) throw new Error(`no layer rule for ${from}/ (${edge.from}): add one to ALLOWED`);
  return rules.some((r) => r === to || r === edge.to || (r === `${to}:type` && edge.typeOnly));
}

Deno.test("layering: imports point down, tests/ is imported only by tests", async () => {
  const files = sourceFiles();
  const edges = await importEdges(files);
  // The graph must cover the tree, or the check would pass by seeing nothing.
  const seen = new Set(edges.map((e) => e.from));
  assert.ok(seen.has("main.ts") && seen.has("cmd/args.ts") && seen.has("api/config.ts"));
  assert.ok(edges.length > files.length, `${edges.length} imports in ${files.length} files`);

  const found = [...new Set(edges.filter((e) => !allowed(e)).map((e) => `${e.from} -> ${e.to}`))]
    .sort();
  const unexpected = found.filter((v) => !KNOWN_VIOLATIONS.includes(v));
  const fixed = KNOWN_VIOLATIONS.filter((v) => !found.includes(v));
  assert.deepEqual(unexpected, [], `imports that point up:\n${unexpected.join("\n")}`);
  assert.deepEqual(
    fixed,
    [],
    `fixed, so delete from KNOWN_VIOLATIONS in tests/layering_test.ts:\n${fixed.join("\n")}`,
  );
});

Deno.test("layering: the rules see an upward import", () => {
  const up = (from: string, to: string, typeOnly = false) => !allowed({ from, to, typeOnly });
  assert.ok(up("api/config.ts", "cluster/types.ts"));
  assert.ok(up("bgp/session.ts", "api/log.ts"));
  assert.ok(up("ipam/pool.ts", "bgp/prefix.ts"));
  assert.ok(up("addr/ip.ts", "bgp/prefix.ts"));
  assert.ok(!up("bgp/prefix.ts", "addr/ip.ts"));
  assert.ok(!up("ipam/addr.ts", "addr/ip.ts"));
  assert.ok(up("controller/controller.ts", "cmd/status.ts"));
  assert.ok(up("controller/controller.ts", "cluster/kube_writer.ts"));
  assert.ok(up("speaker/speaker.ts", "controller/controller.ts"));
  assert.ok(up("cmd/all.ts", "tests/e2e_helpers.ts"));
  assert.ok(up("cluster/kube_source.ts", "bgp/session.ts"));
  assert.ok(!up("cluster/kube_source.ts", "bgp/types.ts", true));
  assert.ok(!up("speaker/speaker.ts", "cluster/types.ts"));
  assert.ok(!up("cmd/all.ts", "cluster/file_source.ts"));
  assert.throws(() => allowed({ from: "newdir/x.ts", to: "api/log.ts", typeOnly: false }));
});
