/**
 * An ObjectSource backed by a directory of Kubernetes manifests (YAML or JSON), so the same
 * controller and speaker run without a cluster. Edits are picked up live; a file that stops
 * parsing keeps contributing its last good objects and is reported.
 */
import { readTextBounded, resolveLimits } from "./safe_yaml.ts";
import { createManifestParser } from "./manifest_parser.ts";
import { type NamespaceDefaults, parseManifests } from "./manifest_text.ts";
import type { Logger } from "../api/log.ts";
import { mistypedKindError } from "../api/config.ts";
import {
  type KubeObject,
  objectKey,
  type ObjectSource,
  READ_KINDS,
  type ReadKind,
  type Snapshot,
} from "./types.ts";

export {
  type ManifestResult,
  type NamespaceDefaults,
  parseManifestObjects,
  parseManifests,
} from "./manifest_text.ts";

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/** A problem with one file. */
export interface FileError {
  file: string;
  reason: string;
}

/** Lists manifest files under `dir` (recursive, sorted, dot-entries skipped). */
export async function listManifestFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  async function walk(d: string): Promise<void> {
    const entries: Deno.DirEntry[] = [];
    for await (const e of Deno.readDir(d)) entries.push(e);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith(".")) continue;
      const p = `${d}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.isFile && MANIFEST_EXT.test(e.name)) out.push(p);
    }
  }
  await walk(dir.replace(/\/+$/, "") || "/");
  return out;
}

/** Options for {@linkcode createFileSource}. */
export interface FileSourceOptions {
  logger: Logger;
  /** Rescan interval in ms, also the fallback when file watching is unavailable. Default 2000. */
  pollMs?: number;
  /** Delay after a file event before rescanning, to coalesce editor writes. Default 50. */
  debounceMs?: number;
  defaults?: NamespaceDefaults;
}

/** An ObjectSource over a directory, with per-file parse errors. */
export interface FileSource extends ObjectSource {
  /** Files that currently fail to parse (their last good objects stay in the snapshot). */
  fileErrors(): FileError[];
  /** Failed loads so far: each time a file fails with a new reason (update_errors_total). */
  failedLoads(): number;
  /** Rescans now; resolves when the snapshot reflects the directory. */
  refresh(): Promise<void>;
  /**
   * The file defining the object `Kind namespace/name` (how problems name objects), from
   * the parse the snapshot came from: nothing is read or parsed again.
   */
  fileOf(object: string): string | undefined;
}

interface FileState {
  /** SHA-256 of the text the objects came from; the text (18 MB at 100k Services) is not kept. */
  digest: string;
  objects: KubeObject[];
}

/** Hex SHA-256 of a file's text: what tells an unchanged file from an edited one. */
async function digestOf(text: string): Promise<string> {
  const bytes = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  let hex = "";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex;
}

const READ_KIND_SET: ReadonlySet<string> = new Set(READ_KINDS);

/** Creates a {@linkcode FileSource} over every `*.yaml`/`*.yml`/`*.json` under `dir`. */
export function createFileSource(dir: string, options: FileSourceOptions): FileSource {
  const log = options.logger.child({ component: "file-source", dir });
  const pollMs = options.pollMs ?? 2000;
  const debounceMs = options.debounceMs ?? 50;
  const files = new Map<string, FileState>();
  const errors = new Map<string, string>();
  let kindErrors = new Map<string, string>();
  const listeners = new Set<(changed: ReadonlySet<ReadKind>) => void>();
  let current: Snapshot = { revision: 0, objects: new Map() };
  let scanning: Promise<void> = Promise.resolve();
  let watcher: Deno.FsWatcher | undefined;
  let watchLoop: Promise<void> | undefined;
  let pollTimer: ReturnType<typeof setInterval> | undefined;
  let debounceTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  /** `Kind ns/name` → file, built when first asked after a change. */
  let owners: Map<string, Map<string, string>> | undefined;
  let failedLoads = 0;
  // Parsing runs in a worker with a deadline, so a huge or hostile file cannot starve the
  // health endpoint, BGP keepalives or signal handlers.
  /** Digest of the last text of each file that failed to parse: parsed once, not every poll. */
  const rejected = new Map<string, string>();
  let toldInline = false;
  const newParser = () =>
    createManifestParser({
      inline: parseManifests,
      onInline: (reason) => {
        if (!toldInline) log.warn("parsing manifests on the main thread", { reason });
        toldInline = true;
      },
    });
  let parser = newParser();
  let parsed = false;

  async function scan(): Promise<void> {
    let list: string[];
    try {
      list = await listManifestFiles(dir);
    } catch (e) {
      log.error("cannot list manifest directory", { error: e });
      return;
    }
    const seen = new Set(list);
    for (const f of [...files.keys()]) if (!seen.has(f)) files.delete(f);
    for (const f of [...errors.keys()]) if (!seen.has(f)) errors.delete(f);
    for (const f of [...rejected.keys()]) if (!seen.has(f)) rejected.delete(f);
    for (const file of list) {
      let text: string;
      try {
        text = await readTextBounded(file, resolveLimits(options.defaults?.limits));
      } catch (e) {
        // Deleted between listing and reading: the next scan settles it.
        if (e instanceof Deno.errors.NotFound) continue;
        const reason = `cannot read: ${e instanceof Error ? e.message : e}`;
        if (errors.get(file) !== reason) failedLoads++;
        errors.set(file, reason);
        continue;
      }
      const digest = await digestOf(text);
      const prev = files.get(file);
      if (prev && prev.digest === digest) {
        // Back to the last good text after a broken edit: its objects are already in force,
        // only the parse error must go.
        if (errors.delete(file)) log.info("manifest file parses again", { file });
        rejected.delete(file);
        continue;
      }
      // The same broken text again (every poll): its error stands, parsing it again would only
      // burn a core (a broken 20 MB file takes seconds each time).
      if (rejected.get(file) === digest && errors.has(file)) continue;
      parsed = true;
      const r = await parser.parse(text, { ...options.defaults, slimServices: true });
      if (r.ok) {
        rejected.delete(file);
        files.set(file, { digest, objects: r.objects });
        if (errors.delete(file)) log.info("manifest file parses again", { file });
      } else {
        if (errors.get(file) !== r.reason) {
          failedLoads++;
          log.error("manifest file does not parse; keeping its last good objects", {
            file,
            reason: r.reason,
          });
        }
        errors.set(file, r.reason);
        // A deadline or a lost worker says nothing about the text: try it again next scan.
        if (!("transient" in r)) rejected.set(file, digest);
        // Keep the text of the last good version so an unchanged broken file is re-parsed
        // only when it changes again.
        if (prev) files.set(file, { digest: prev.digest, objects: prev.objects });
      }
    }
    if (parsed && !closed) {
      // The worker's heap holds everything it parsed; a new one starts at the next change.
      parser.close();
      parser = newParser();
      parsed = false;
    }
    await publish();
  }

  /** Unknown kinds with a did-you-mean, logged once per change, listed with the file errors. */
  function reportMistyped(now: Map<string, string>): void {
    for (const [file, reason] of now) {
      if (kindErrors.get(file) !== reason) log.error("unknown kind in manifest", { file, reason });
    }
    kindErrors = now;
  }

  async function publish(): Promise<void> {
    // Objects may move between files without changing: the index is rebuilt on any scan.
    owners = undefined;
    const next = new Map<ReadKind, ReadonlyMap<string, KubeObject>>();
    const slice = slicer();
    const mistyped = new Map<string, string>();
    for (const [file, state] of files) {
      for (const obj of state.objects) {
        const y = slice();
        if (y) await y;
        if (!READ_KIND_SET.has(obj.kind)) {
          // A typo (`IPAdressPool`) would otherwise vanish silently: say so, as validate does.
          const e = mistypedKindError(obj, obj.metadata?.namespace ?? "");
          if (e) {
            const line = `${e.kind} ${
              e.namespace ? `${e.namespace}/` : ""
            }${e.name}: ${e.field}: ${e.reason}`;
            mistyped.set(file, mistyped.has(file) ? `${mistyped.get(file)}; ${line}` : line);
          }
          continue;
        }
        const kind = obj.kind as ReadKind;
        let byKey = next.get(kind) as Map<string, KubeObject> | undefined;
        if (!byKey) next.set(kind, byKey = new Map());
        byKey.set(heldKey(obj.metadata), obj);
      }
    }
    reportMistyped(mistyped);
    const changed = new Set<ReadKind>();
    for (const kind of READ_KINDS) {
      const a = current.objects.get(kind);
      const b = next.get(kind);
      if (!sameObjects(a, b)) changed.add(kind);
      // An unchanged kind keeps its map, so readers that compare maps see no change.
      else if (a) next.set(kind, a);
      else next.delete(kind);
    }
    if (changed.size === 0) return;
    // Strings that came from the parser worker are one copy per object ("v1", "default",
    // "LoadBalancer", a name repeated as a selector): one copy each for the whole publish,
    // and so are short lists of flat records (ports).
    const shared = newShared();
    for (const kind of changed) {
      for (const o of next.get(kind)?.values() ?? []) {
        const y = slice();
        if (y) await y;
        freezeShared(o, shared);
      }
    }
    current = { revision: current.revision + 1, objects: next };
    log.debug("manifests changed", { revision: current.revision, kinds: [...changed] });
    for (const l of listeners) {
      try {
        l(changed);
      } catch (e) {
        log.error("subscriber failed", { error: e });
      }
    }
  }

  function refresh(): Promise<void> {
    scanning = scanning.then(() => closed ? undefined : scan());
    return scanning;
  }

  function schedule(): void {
    if (debounceTimer !== undefined) clearTimeout(debounceTimer);
    debounceTimer = setTimeout(() => {
      debounceTimer = undefined;
      refresh();
    }, debounceMs);
  }

  async function watch(): Promise<void> {
    try {
      watcher = Deno.watchFs(dir, { recursive: true });
    } catch (e) {
      log.warn("file watching unavailable; polling only", { error: e, pollMs });
      return;
    }
    try {
      for await (const _event of watcher) {
        if (closed) break;
        schedule();
      }
    } catch (e) {
      if (!closed) log.warn("file watching stopped; polling only", { error: e });
    }
  }

  return {
    async start() {
      await refresh();
      if (closed) return;
      watchLoop = watch();
      pollTimer = setInterval(() => refresh(), pollMs);
    },
    snapshot: () => current,
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    failedLoads: () => failedLoads,
    fileErrors: () =>
      [...errors, ...kindErrors].map(([file, reason]) => ({ file, reason })).sort((a, b) =>
        a.file < b.file ? -1 : 1
      ),
    refresh,
    fileOf(object) {
      // Indexed per kind as asked (problems name configuration objects): not 100,000
      // Services' worth of keys kept for the name of one pool's file.
      const kind = object.slice(0, object.indexOf(" "));
      owners ??= new Map();
      let byKey = owners.get(kind);
      if (!byKey) {
        owners.set(kind, byKey = new Map());
        for (const [file, state] of files) {
          for (const o of state.objects) {
            if (o.kind === kind) byKey.set(`${o.kind} ${objectKey(o.metadata)}`, file);
          }
        }
      }
      return byKey.get(object);
    },
    async close() {
      closed = true;
      if (pollTimer !== undefined) clearInterval(pollTimer);
      if (debounceTimer !== undefined) clearTimeout(debounceTimer);
      try {
        watcher?.close();
      } catch {
        // already closed
      }
      // A parse in progress ends now instead of at its deadline.
      parser.close();
      await watchLoop;
      await scanning;
    },
  };
}

/**
 * {@linkcode objectKey} as one flat string: a template literal makes a rope of two strings
 * (64 bytes for `default/svc-000001`), a join one string (40 bytes). For keys kept per object.
 */
function heldKey(meta: { namespace?: string; name: string }): string {
  return meta.namespace ? [meta.namespace, meta.name].join("/") : meta.name;
}

/** Returns a function that yields to the event loop once every ~20 ms of work. */
function slicer(): () => Promise<void> | undefined {
  let start = performance.now();
  let n = 0;
  return () => {
    // Reading the clock every call would cost more than the work between two calls.
    if (++n % 256 !== 0 || performance.now() - start < 20) return undefined;
    return new Promise<void>((r) => setTimeout(r, 0)).then(() => {
      start = performance.now();
    });
  };
}

function sameObjects(
  a: ReadonlyMap<string, KubeObject> | undefined,
  b: ReadonlyMap<string, KubeObject> | undefined,
): boolean {
  const sa = a?.size ?? 0;
  if (sa !== (b?.size ?? 0)) return false;
  if (sa === 0) return true;
  for (const [k, v] of a!) {
    const w = b!.get(k);
    if (!w || (w !== v && JSON.stringify(w) !== JSON.stringify(v))) return false;
  }
  return true;
}

/** Longest string shared by {@linkcode freezeShared}: names and values, not certificates. */
const SHARED_STRING_MAX = 128;
/** Longest JSON of a list shared by {@linkcode freezeShared} (a Service's ports, families). */
const SHARED_LIST_MAX = 256;
/** Distinct lists shared per publish: beyond it lists stay unshared, memory stays bounded. */
const SHARED_LISTS = 10_000;

/** What {@linkcode freezeShared} shares within one publish. */
interface Shared {
  strings: Map<string, string>;
  lists: Map<string, unknown>;
}

function newShared(): Shared {
  return { strings: new Map(), lists: new Map() };
}

/**
 * Deep-freezes `value`, first replacing each short string in it by the equal one in
 * `shared` (the first seen), so equal strings of many objects are held once; a short list
 * of flat records or strings (100,000 Services' `ports: [{protocol: TCP, port: 80}]`) is
 * replaced by the equal frozen list seen first. Returns what to hold instead of `value`.
 */
function freezeShared(value: unknown, shared: Shared): unknown {
  if (value === null || typeof value !== "object" || Object.isFrozen(value)) return value;
  const record = value as Record<string, unknown>;
  let flat = true;
  for (const k in record) {
    if (!Object.hasOwn(record, k)) continue;
    const v = record[k];
    if (typeof v === "string") {
      if (v.length > SHARED_STRING_MAX) continue;
      // Equal strings compare equal whatever their copy: assigning is what shares one.
      const same = shared.strings.get(v);
      if (same === undefined) shared.strings.set(v, v);
      else record[k] = same;
    } else if (v !== null && typeof v === "object") {
      const w = freezeShared(v, shared);
      if (w !== v) record[k] = w;
      if (!Array.isArray(value) || Array.isArray(w) || !flatRecord(w)) flat = false;
    }
  }
  Object.freeze(value);
  if (!flat || !Array.isArray(value)) return value;
  const key = JSON.stringify(value);
  if (key.length > SHARED_LIST_MAX) return value;
  const hit = shared.lists.get(key);
  if (hit !== undefined) return hit;
  if (shared.lists.size < SHARED_LISTS) shared.lists.set(key, value);
  return value;
}

/** A record whose values are all strings, numbers, booleans or null. */
function flatRecord(v: unknown): boolean {
  if (v === null || typeof v !== "object") return false;
  for (const x of Object.values(v)) if (x !== null && typeof x === "object") return false;
  return true;
}
