/**
 * Builds the offline image (Containerfile.offline) with buildah: stages a build context of
 * only the files the program needs (tools/image_files.ts), then `buildah bud` FROM scratch.
 * The image is labelled with a hash of everything staged; when an image of that name already
 * carries the same hash, nothing is built (tests and repeated runs reuse it).
 *
 *   deno task image [--name NAME]
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { listImageFiles } from "./image_files.ts";

/** The repository root, without a trailing slash. */
export const REPO_ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
/** Where the program sits inside the image. */
export const APP_DIR = "/app";
/** buildah's storage driver: vfs works without overlay or fuse (containers, CI runners). */
export const STORAGE_DRIVER = "vfs";
const INPUTS_LABEL = "org.ferrolb.inputs";
/** The cap on the image's size (bytes): the deno binary alone is ~95 MB. */
export const MAX_IMAGE_BYTES = 150_000_000;

/** Options of {@linkcode buildOfflineImage}. */
export interface BuildOptions {
  /** Image name (default `localhost/ferrolb:<package.json version>`). */
  name?: string;
  /** Rebuild even when an image with the same inputs exists. */
  force?: boolean;
}

/** What {@linkcode buildOfflineImage} built (or found). */
export interface BuiltImage {
  name: string;
  id: string;
  /** Sum of the staged files' sizes: what the image holds. */
  bytes: number;
  /** buildah's size column, e.g. "120 MB". */
  size: string;
  /** True when an image with identical inputs existed and was reused. */
  cached: boolean;
  /** Files staged, by kind. */
  counts: { program: number; npm: number; libraries: number };
  /** Import specifiers inside npm packages that resolve to nothing (optional dependencies). */
  unresolved: string[];
  /** Wall-clock seconds this call took. */
  seconds: number;
}

/** Runs `buildah --storage-driver vfs <args>`; throws with its stderr on failure. */
export async function buildah(args: string[]): Promise<string> {
  const out = await new Deno.Command("buildah", {
    args: ["--storage-driver", STORAGE_DRIVER, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `buildah ${args.join(" ")}: exit ${out.code}: ${dec.decode(out.stderr).trim()}`,
    );
  }
  return dec.decode(out.stdout);
}

/** The default image name: `localhost/ferrolb:<version>`. */
export function defaultImageName(): string {
  const pkg = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/package.json`));
  return `localhost/ferrolb:${pkg.version}`;
}

/** One file of the image: where it comes from on this host and where it goes. */
interface Entry {
  src: string;
  dest: string;
}

/** Every file of the image, each with its place in the image, sorted by place. */
async function imageEntries(
  deno: string,
): Promise<{ entries: Entry[]; files: Pick<BuiltImage, "counts" | "unresolved"> }> {
  const listed = await listImageFiles(REPO_ROOT, { deno, extraRoots: compileIncludes() });
  const inApp = (p: string) => ({ src: p, dest: `${APP_DIR}${p.slice(REPO_ROOT.length)}` });
  const entries: Entry[] = [
    { src: deno, dest: "/deno" },
    ...listed.libraries.map((p) => ({ src: p, dest: p })),
    ...listed.program.map(inApp),
    ...listed.npm.map(inApp),
  ].sort((a, b) => a.dest.localeCompare(b.dest));
  const ffi = ffiPath();
  if (!entries.some((e) => e.dest === ffi)) {
    throw new Error(
      `Containerfile.offline allows FFI on ${ffi}, but ldd names no such library ` +
        `(${listed.libraries.join(", ")})`,
    );
  }
  const files = {
    counts: {
      program: listed.program.length,
      npm: listed.npm.length,
      libraries: listed.libraries.length,
    },
    unresolved: listed.unresolved,
  };
  return { entries, files };
}

/**
 * The modules `deno task compile` embeds with `--include` (Workers' modules): the offline
 * image ships them too, so both recipes run the same code.
 */
export function compileIncludes(): string[] {
  const tasks = JSON.parse(Deno.readTextFileSync(`${REPO_ROOT}/deno.json`)).tasks;
  const words = String(tasks?.compile ?? "").split(/\s+/);
  return words.flatMap((w, i) =>
    w === "--include" ? [words[i + 1]] : w.startsWith("--include=") ? [w.slice(10)] : []
  );
}

/** The `--allow-ffi=` path of Containerfile.offline's entrypoint. */
function ffiPath(): string {
  const text = Deno.readTextFileSync(`${REPO_ROOT}/Containerfile.offline`);
  const m = text.match(/"--allow-ffi=([^"]+)"/);
  if (!m) throw new Error("Containerfile.offline: the ENTRYPOINT has no --allow-ffi= flag");
  return m[1];
}

/** sha256 over the Containerfile and each file's place, mode bits and content. */
async function inputsHash(entries: Entry[]): Promise<{ hash: string; bytes: number }> {
  const h = createHash("sha256");
  h.update(await Deno.readFile(`${REPO_ROOT}/Containerfile.offline`));
  let bytes = 0;
  for (const e of entries) {
    const data = await Deno.readFile(e.src);
    const mode = (Deno.statSync(e.src).mode ?? 0) & 0o111 ? "x" : "-";
    h.update(`\0${e.dest}\0${mode}\0${data.length}\0`);
    h.update(data);
    bytes += data.length;
  }
  return { hash: h.digest("hex"), bytes };
}

/** The inputs label and id of image `name`, or undefined when there is none. */
async function existingImage(name: string): Promise<{ hash?: string; id: string } | undefined> {
  let json: string;
  try {
    json = await buildah(["inspect", "--type", "image", name]);
  } catch {
    return undefined;
  }
  const info = JSON.parse(json);
  return { hash: info?.OCIv1?.config?.Labels?.[INPUTS_LABEL], id: info.FromImageID };
}

async function stage(entries: Entry[], dir: string): Promise<void> {
  await Deno.copyFile(`${REPO_ROOT}/Containerfile.offline`, `${dir}/Containerfile`);
  for (const e of entries) {
    const dest = `${dir}/rootfs${e.dest}`;
    await Deno.mkdir(dest.slice(0, dest.lastIndexOf("/")), { recursive: true });
    // copyFile follows symlinks: libc.so.6 may be a link on the host, a file in the image.
    await Deno.copyFile(e.src, dest);
    const executable = ((await Deno.stat(e.src)).mode ?? 0) & 0o111;
    await Deno.chmod(dest, executable ? 0o755 : 0o644);
  }
}

/** buildah's size column for image `name` ("120 MB"). */
async function imageSize(name: string): Promise<string> {
  const list = JSON.parse(await buildah(["images", "--json", name])) as { size: string }[];
  return list[0]?.size ?? "unknown";
}

/**
 * Builds the offline image (or reuses one built from identical inputs) and returns its name,
 * id and size. Needs `buildah` and the repository's `npm ci` (node_modules/deno/deno).
 */
export async function buildOfflineImage(options: BuildOptions = {}): Promise<BuiltImage> {
  const started = performance.now();
  const name = options.name ?? defaultImageName();
  const deno = `${REPO_ROOT}/node_modules/deno/deno`;
  const { entries, files } = await imageEntries(deno);
  const { hash, bytes } = await inputsHash(entries);
  const old = await existingImage(name);
  const done = (id: string, cached: boolean, size: string): BuiltImage => ({
    ...files,
    name,
    id,
    bytes,
    size,
    cached,
    seconds: (performance.now() - started) / 1000,
  });
  if (old && old.hash === hash && !options.force) {
    return done(old.id, true, await imageSize(name));
  }
  const dir = await Deno.makeTempDir({ prefix: "ferrolb-image-" });
  try {
    await stage(entries, dir);
    await buildah([
      "bud",
      "--quiet",
      "--layers=false",
      "--label",
      `${INPUTS_LABEL}=${hash}`,
      "-t",
      name,
      "-f",
      `${dir}/Containerfile`,
      dir,
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  const built = await existingImage(name);
  if (!built || built.hash !== hash) throw new Error(`buildah built no image named ${name}`);
  // The previous build lost its name; drop it unless a container still uses it.
  if (old && old.id !== built.id) await buildah(["rmi", old.id]).catch(() => {});
  return done(built.id, false, await imageSize(name));
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { name: { type: "string" }, force: { type: "boolean" } },
  });
  try {
    const img = await buildOfflineImage({ name: values.name, force: values.force });
    const mb = (img.bytes / 1e6).toFixed(1);
    console.log(
      `${img.name} ${img.size} (${mb} MB in ${img.counts.program} program files, ` +
        `${img.counts.npm} node_modules files, deno, ${img.counts.libraries} libraries) ` +
        `${img.cached ? "reused: inputs unchanged" : "built"} in ${img.seconds.toFixed(1)} s`,
    );
    if (img.bytes > MAX_IMAGE_BYTES) {
      console.error(`image holds ${mb} MB, more than ${MAX_IMAGE_BYTES / 1e6} MB`);
      Deno.exit(1);
    }
  } catch (err) {
    console.error(`ferrolb image: ${err instanceof Error ? err.message : err}`);
    Deno.exit(1);
  }
}
