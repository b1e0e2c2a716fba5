/**
 * An ObjectSource backed by a directory of Kubernetes manifests (YAML or JSON), so the same
 * controller and speaker run without a cluster. Edits are picked up live; a file that stops
 * parsing keeps contributing its last good objects and is reported.
 *
 * The pieces: `dir_watch.ts` says when to rescan, `manifest_files.ts` keeps each file's
 * objects and error, `snapshot_publisher.ts` turns them into snapshots.
 */
import type { NamespaceDefaults } from "./manifest_text.ts";
import type { Logger } from "../api/log.ts";
import type { ObjectSource, ReadKind, Snapshot } from "./types.ts";
import { DirWatch } from "./dir_watch.ts";
import { ManifestFiles } from "./manifest_files.ts";
import { SnapshotPublisher } from "./snapshot_publisher.ts";

export {
  type ManifestResult,
  type NamespaceDefaults,
  parseManifestObjects,
  parseManifests,
} from "./manifest_text.ts";

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

/**
 * Every how many polls all files are read again whatever their stat says: the stat (inode,
 * size, modification and change times) misses a rewrite only within one millisecond, and
 * only when the watcher missed it too.
 */
const FULL_POLL_EVERY = 15;

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

/** Creates a {@linkcode FileSource} over every `*.yaml`/`*.yml`/`*.json` under `dir`. */
export function createFileSource(dir: string, options: FileSourceOptions): FileSource {
  return new DirFileSource(dir, options);
}

/** Scans run one at a time, in order: a refresh waits for the scan before it. */
class DirFileSource implements FileSource {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #files: ManifestFiles;
  readonly #publisher: SnapshotPublisher;
  readonly #watch: DirWatch;
  #scanning: Promise<void> = Promise.resolve();
  #closed = false;
  #polls = 0;

  constructor(dir: string, options: FileSourceOptions) {
    this.#dir = dir;
    this.#log = options.logger.child({ component: "file-source", dir });
    this.#files = new ManifestFiles(this.#log, options.defaults);
    this.#publisher = new SnapshotPublisher(this.#log);
    this.#watch = new DirWatch(dir, {
      log: this.#log,
      pollMs: options.pollMs ?? 2000,
      debounceMs: options.debounceMs ?? 50,
      rescan: (cause) => void this.#queueScan(cause === "poll"),
    });
    // Callers hand these around detached from the source.
    this.start = this.start.bind(this);
    this.snapshot = this.snapshot.bind(this);
    this.subscribe = this.subscribe.bind(this);
    this.failedLoads = this.failedLoads.bind(this);
    this.fileErrors = this.fileErrors.bind(this);
    this.refresh = this.refresh.bind(this);
    this.fileOf = this.fileOf.bind(this);
    this.close = this.close.bind(this);
  }

  async start(): Promise<void> {
    await this.refresh();
    if (this.#closed) return;
    this.#watch.start();
  }

  snapshot(): Snapshot {
    return this.#publisher.current;
  }

  subscribe(listener: (changed: ReadonlySet<ReadKind>) => void): () => boolean {
    return this.#publisher.subscribe(listener);
  }

  failedLoads(): number {
    return this.#files.failedLoads;
  }

  fileErrors(): FileError[] {
    return [...this.#files.errors, ...this.#publisher.kindErrors]
      .map(([file, reason]) => ({ file, reason }))
      .sort((a, b) => a.file < b.file ? -1 : 1);
  }

  refresh(): Promise<void> {
    return this.#queueScan(false);
  }

  fileOf(object: string): string | undefined {
    return this.#files.fileOf(object);
  }

  async close(): Promise<void> {
    this.#closed = true;
    const watchEnded = this.#watch.stop();
    // A parse in progress ends now instead of at its deadline.
    this.#files.close();
    await watchEnded;
    await this.#scanning;
  }

  /**
   * A scan after the running one. Most polls find every file as it was: they read only the
   * files whose stat changed, except every {@linkcode FULL_POLL_EVERY}th, which reads them all.
   */
  #queueScan(poll: boolean): Promise<void> {
    const statOnly = poll && ++this.#polls % FULL_POLL_EVERY !== 0;
    this.#scanning = this.#scanning.then(() => this.#closed ? undefined : this.#scan(statOnly));
    return this.#scanning;
  }

  async #scan(statOnly: boolean): Promise<void> {
    let list: string[];
    try {
      list = await listManifestFiles(this.#dir);
    } catch (e) {
      this.#log.error("cannot list manifest directory", { error: e });
      return;
    }
    this.#files.forgetMissing(list);
    for (const file of list) await this.#files.load(file, { statOnly });
    this.#files.scanned(this.#closed);
    // Nothing read changed the objects in force: the snapshot stands (gathering 100,000
    // objects to find that out again every poll is garbage and main-thread time).
    if (!this.#files.takeChanged()) return;
    // Objects may move between files without changing: the owner index starts again.
    this.#files.forgetOwners();
    await this.#publisher.publish(this.#files.files);
  }
}
