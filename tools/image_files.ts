/**
 * Which files the offline image needs: the program's modules (Deno's module graph of
 * main.ts), the `node_modules` files those modules can load (a static closure over the
 * imports and requires of the npm entry points Deno resolves), and the shared libraries the
 * `deno` binary links (`ldd`). Only those files go into the image: client-node's package is
 * 62 MB, most of it type declarations, source maps and sources that never load.
 */
import { builtinModules } from "node:module";

/** Files to copy into the image, as absolute host paths, by kind. */
export interface ImageFiles {
  /** The program's own modules plus deno.json and package.json (under the repository). */
  program: string[];
  /** Files under the repository's node_modules that the program may load. */
  npm: string[];
  /** Shared libraries of the deno binary and the dynamic loader, as `ldd` names them. */
  libraries: string[];
  /** Import specifiers inside npm packages that resolve to nothing here (optional deps). */
  unresolved: string[];
}

/** Options of {@linkcode listImageFiles}. */
export interface ListOptions {
  /** The deno binary to ask for the module graph and to run `ldd` on. */
  deno: string;
  /**
   * More entry modules, relative to the repository (e.g. a Worker's module, which no import
   * names so Deno's graph of main.ts misses it: what `deno compile --include` embeds).
   */
  extraRoots?: string[];
}

/** Lists every file the offline image of the program at `repoRoot` needs. */
export async function listImageFiles(repoRoot: string, options: ListOptions): Promise<ImageFiles> {
  const roots = ["main.ts", ...(options.extraRoots ?? [])];
  const graphs = await Promise.all(roots.map((r) => moduleGraph(repoRoot, r, options.deno)));
  const graph = [...new Set(graphs.flat())];
  const local = graph.filter((p) => !p.includes("/node_modules/"));
  // Deno resolved the packages' entry points (export maps, conditions) already; the .d.ts
  // files it lists are for type checking only.
  const entries = graph.filter((p) => p.includes("/node_modules/") && !isDeclaration(p));
  // Deno names packages by their real path; a node_modules that is a symlink (a git
  // worktree sharing one install) must still land under the repository's node_modules.
  const nodeModules = `${repoRoot}/node_modules`;
  const realModules = Deno.realPathSync(nodeModules);
  const closure = npmClosure(entries, realModules);
  const inRepo = (p: string) =>
    p.startsWith(`${realModules}/`) ? `${nodeModules}${p.slice(realModules.length)}` : p;
  return {
    program: [...local, `${repoRoot}/deno.json`, `${repoRoot}/package.json`].sort(),
    npm: [...closure.files].map(inRepo).sort(),
    libraries: await linkedLibraries(options.deno),
    unresolved: [...closure.unresolved].sort(),
  };
}

/** Absolute paths of the local files in Deno's module graph of `repoRoot/root`. */
async function moduleGraph(repoRoot: string, root: string, deno: string): Promise<string[]> {
  const out = await new Deno.Command(deno, {
    args: ["info", "--json", "--config", `${repoRoot}/deno.json`, `${repoRoot}/${root}`],
    cwd: repoRoot,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`deno info ${root} failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    modules: { specifier: string; error?: string }[];
  };
  const broken = info.modules.filter((m) => m.error);
  if (broken.length) {
    throw new Error(`deno info ${root}: ${broken.map((m) => `${m.specifier}: ${m.error}`)}`);
  }
  return info.modules
    .map((m) => m.specifier)
    .filter((s) => s.startsWith("file://"))
    .map((s) => decodeURIComponent(new URL(s).pathname));
}

function isDeclaration(path: string): boolean {
  return /\.d\.[cm]?ts$/.test(path);
}

/** The loader and libraries `ldd` lists for `binary` (the vdso has no file). */
async function linkedLibraries(binary: string): Promise<string[]> {
  const out = await new Deno.Command("ldd", { args: [binary], stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) throw new Error(`ldd ${binary}: ${new TextDecoder().decode(out.stderr)}`);
  const paths = [...text.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1]);
  if (!paths.some((p) => p.includes("libc.so"))) {
    throw new Error(`ldd ${binary} lists no libc (is it dynamically linked?):\n${text}`);
  }
  return paths;
}

const BUILTINS = new Set(builtinModules);
// Every condition Deno may pick at run time; taking all of them keeps the set a superset.
const CONDITIONS = ["deno", "node", "import", "require", "module-sync", "default"];
const SPECIFIER_PATTERNS = [
  /\bfrom\s*["']([^"'\s]+)["']/g,
  /\bimport\s*["']([^"'\s]+)["']/g,
  /\bimport\(\s*["']([^"'\s]+)["']\s*\)/g,
  /\brequire\(\s*["']([^"'\s]+)["']\s*\)/g,
];

/**
 * Every file reachable from `entries` through literal import/export/require specifiers,
 * plus the package.json files Deno reads to tell ES modules from CommonJS. Specifiers
 * found in comments or strings may add a file that never loads; that only costs bytes.
 */
function npmClosure(
  entries: string[],
  nodeModules: string,
): { files: Set<string>; unresolved: Set<string> } {
  const files = new Set<string>();
  const unresolved = new Set<string>();
  const queue = [...entries];
  while (queue.length) {
    const file = queue.pop()!;
    if (files.has(file)) continue;
    files.add(file);
    const manifest = nearestPackageJson(file, nodeModules);
    if (manifest) files.add(manifest);
    if (!/\.[cm]?js$/.test(file)) continue;
    const source = Deno.readTextFileSync(file);
    for (const pattern of SPECIFIER_PATTERNS) {
      for (const [, specifier] of source.matchAll(pattern)) {
        if (isBuiltin(specifier)) continue;
        // Type declarations named in JSDoc `import("…")` types never load.
        const targets = resolveSpecifier(specifier, file, nodeModules)
          .filter((t) => !isDeclaration(t));
        if (targets.length === 0) unresolved.add(`${specifier} (from ${file})`);
        queue.push(...targets);
      }
    }
  }
  return { files, unresolved };
}

function isBuiltin(specifier: string): boolean {
  return specifier.startsWith("node:") || BUILTINS.has(specifier.split("/")[0]) ||
    BUILTINS.has(specifier);
}

/** `path` with `.`, `..` and repeated slashes resolved, so one file has one name. */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return `/${out.join("/")}`;
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/")) || "/";
}

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

function readJson(path: string): Record<string, unknown> | undefined {
  try {
    return JSON.parse(Deno.readTextFileSync(path));
  } catch {
    return undefined;
  }
}

function nearestPackageJson(file: string, nodeModules: string): string | undefined {
  for (let dir = dirname(file); dir.startsWith(nodeModules) && dir !== nodeModules;) {
    if (isFile(`${dir}/package.json`)) return `${dir}/package.json`;
    dir = dirname(dir);
  }
  return undefined;
}

/** The files `specifier` written in `from` may load (more than one for conditional exports). */
function resolveSpecifier(specifier: string, from: string, nodeModules: string): string[] {
  if (specifier.startsWith("./") || specifier.startsWith("../") || specifier.startsWith("/")) {
    const path = specifier.startsWith("/")
      ? specifier
      : new URL(specifier, `file://${from}`).pathname;
    return asFileOrDirectory(path);
  }
  if (specifier.startsWith("#")) {
    const manifest = nearestPackageJson(from, nodeModules);
    const imports = manifest ? readJson(manifest)?.imports : undefined;
    if (!manifest || !imports) return [];
    return mapTargets(imports, specifier, dirname(manifest));
  }
  const parts = specifier.split("/");
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
  const subpath = `.${specifier.slice(name.length)}`;
  const pkgDir = findPackage(name, from, nodeModules);
  if (!pkgDir) return [];
  const pkg = readJson(`${pkgDir}/package.json`) ?? {};
  if (pkg.exports !== undefined && pkg.exports !== null) {
    return mapTargets(pkg.exports, subpath, pkgDir);
  }
  if (subpath !== ".") return asFileOrDirectory(`${pkgDir}/${subpath.slice(2)}`);
  const main = typeof pkg.main === "string" ? pkg.main : "index.js";
  return asFileOrDirectory(`${pkgDir}/${main}`);
}

/** Node's lookup: `<dir>/node_modules/<name>` for each directory from `from` up to the root. */
function findPackage(name: string, from: string, nodeModules: string): string | undefined {
  const root = dirname(nodeModules);
  for (let dir = dirname(from); dir.startsWith(root); dir = dirname(dir)) {
    const candidate = `${dir}/node_modules/${name}`;
    if (!dir.endsWith("/node_modules") && isFile(`${candidate}/package.json`)) return candidate;
    if (dir === root) break;
  }
  return undefined;
}

function asFileOrDirectory(target: string): string[] {
  const path = normalize(target);
  for (const candidate of [path, `${path}.js`, `${path}.json`, `${path}.cjs`, `${path}.mjs`]) {
    if (isFile(candidate)) return [candidate];
  }
  const pkg = readJson(`${path}/package.json`);
  if (pkg && typeof pkg.main === "string") {
    const main = asFileOrDirectory(`${path}/${pkg.main}`);
    if (main.length) return main;
  }
  return isFile(`${path}/index.js`) ? [`${path}/index.js`] : [];
}

/** Targets of `subpath` in an exports/imports map, under every condition Deno may use. */
function mapTargets(map: unknown, subpath: string, pkgDir: string): string[] {
  const sugar = typeof map === "string" || Array.isArray(map) ||
    (typeof map === "object" && map !== null &&
      Object.keys(map).every((k) => !k.startsWith(".") && !k.startsWith("#")));
  const table = (sugar ? { ".": map } : map) as Record<string, unknown>;
  let target: unknown = table[subpath];
  let star: string | undefined;
  if (target === undefined) {
    for (const [key, value] of Object.entries(table)) {
      const at = key.indexOf("*");
      if (at < 0) continue;
      const [prefix, suffix] = [key.slice(0, at), key.slice(at + 1)];
      if (subpath.startsWith(prefix) && subpath.endsWith(suffix)) {
        star = subpath.slice(prefix.length, subpath.length - suffix.length);
        target = value;
        break;
      }
    }
  }
  return conditionTargets(target)
    .map((t) => (star === undefined ? t : t.replaceAll("*", star)))
    .map((t) => normalize(`${pkgDir}/${t}`))
    .filter(isFile);
}

function conditionTargets(target: unknown): string[] {
  if (typeof target === "string") return [target];
  if (Array.isArray(target)) return target.flatMap(conditionTargets);
  if (typeof target !== "object" || target === null) return [];
  const conditions = target as Record<string, unknown>;
  return CONDITIONS.filter((c) => c in conditions).flatMap((c) => conditionTargets(conditions[c]));
}
