/**
 * The file source's memory of each manifest file: the objects of its last good parse, keyed
 * by the digest of the text they came from, and the reason it fails now, if it does. A file
 * is parsed only when its text changed since the last parse, good or bad.
 */
import { readTextBounded, resolveLimits } from "./safe_yaml.ts";
import { createManifestParser, type ManifestParser } from "./manifest_parser.ts";
import { type NamespaceDefaults, parseManifests } from "./manifest_text.ts";
import { asManifestService } from "./manifest_service.ts";
import type { Logger } from "../api/log.ts";
import { type KubeObject, objectKey } from "./types.ts";

/** What is kept of one file. */
export interface FileState {
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

/** What tells a file apart from its last read without reading it; undefined when gone. */
async function statStamp(file: string): Promise<string | undefined> {
  try {
    const st = await Deno.stat(file);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtime?.getTime()}:${st.ctime?.getTime()}`;
  } catch {
    return undefined;
  }
}

/** Every manifest file's last good objects and current error; parses with a deadline. */
export class ManifestFiles {
  readonly #log: Logger;
  readonly #defaults: NamespaceDefaults | undefined;
  readonly #files = new Map<string, FileState>();
  readonly #errors = new Map<string, string>();
  /** Digest of the last text of each file that failed to parse: parsed once, not every poll. */
  readonly #rejected = new Map<string, string>();
  /** `Kind ns/name` → file, built when first asked after a change. */
  #owners: Map<string, Map<string, string>> | undefined;
  #failedLoads = 0;
  #toldInline = false;
  // Parsing runs under a deadline, in a worker or (small texts) in short main-thread slices,
  // so a huge or hostile file cannot starve the health endpoint, BGP keepalives or signals.
  #parser: ManifestParser;
  #parsed = false;
  /** Stat of each file when it was last read to a settled outcome (objects or refusal). */
  readonly #stamps = new Map<string, string>();
  /** Files with objects that were last read empty, once: the emptying is not yet taken. */
  readonly #emptied = new Set<string>();
  /** Whether {@linkcode files} changed since {@linkcode takeChanged}. */
  #changed = false;

  constructor(log: Logger, defaults: NamespaceDefaults | undefined) {
    this.#log = log;
    this.#defaults = defaults;
    this.#parser = this.#newParser();
  }

  /** The files and their objects, in the order they were first seen. */
  get files(): ReadonlyMap<string, FileState> {
    return this.#files;
  }

  /** File → why it cannot be read or parsed now. */
  get errors(): ReadonlyMap<string, string> {
    return this.#errors;
  }

  /** Each time a file failed with a new reason. */
  get failedLoads(): number {
    return this.#failedLoads;
  }

  /** Forgets files that are no longer listed. */
  forgetMissing(listed: readonly string[]): void {
    const seen = new Set(listed);
    for (const f of [...this.#files.keys()]) {
      if (seen.has(f)) continue;
      this.#files.delete(f);
      this.#changed = true;
    }
    for (const f of [...this.#stamps.keys()]) if (!seen.has(f)) this.#stamps.delete(f);
    for (const f of [...this.#errors.keys()]) if (!seen.has(f)) this.#errors.delete(f);
    for (const f of [...this.#rejected.keys()]) if (!seen.has(f)) this.#rejected.delete(f);
    for (const f of [...this.#emptied]) if (!seen.has(f)) this.#emptied.delete(f);
  }

  /** True once after {@linkcode files} changed (a parse took effect, a file went away). */
  takeChanged(): boolean {
    const changed = this.#changed;
    this.#changed = false;
    return changed;
  }

  /**
   * Reads `file` and parses it when its text is new. `statOnly`: not read at all when its
   * stat is the same as at its last settled read (a poll: 26 MB of text at 100,000 Services).
   */
  async load(file: string, options: { statOnly?: boolean } = {}): Promise<void> {
    const stamp = await statStamp(file);
    if (options.statOnly && stamp !== undefined && this.#stamps.get(file) === stamp) return;
    this.#stamps.delete(file);
    const digest = await this.#load(file);
    // A read error or a transient parse failure is tried again at the next poll.
    const settled = digest !== undefined &&
      (this.#files.get(file)?.digest === digest || this.#rejected.get(file) === digest);
    if (settled && stamp !== undefined) this.#stamps.set(file, stamp);
  }

  /** {@linkcode load}'s read and parse; the digest of the text read, if one was. */
  async #load(file: string): Promise<string | undefined> {
    const text = await this.#read(file);
    if (text === undefined) return undefined;
    const prev = this.#files.get(file);
    if (this.#emptyNotYetTaken(file, { text, prev })) return undefined;
    const digest = await digestOf(text);
    if (prev && prev.digest === digest) {
      // Back to the last good text after a broken edit: its objects are already in force,
      // only the parse error must go.
      this.#parsesAgain(file);
      this.#rejected.delete(file);
      return digest;
    }
    // The same broken text again (every poll): its error stands, parsing it again would only
    // burn a core (a broken 20 MB file takes seconds each time).
    if (this.#rejected.get(file) === digest && this.#errors.has(file)) return digest;
    await this.#parse(file, { text, digest });
    return digest;
  }

  /**
   * Whether an empty read of a file that holds objects waits for the next scan. Writing a
   * file in place (`>`, `writeFile`) empties it first and fills it a moment later; taking
   * that moment's read would delete its Services and release their addresses, which another
   * Service could then take. An emptied file is taken when it reads empty twice in a row.
   */
  #emptyNotYetTaken(file: string, read: { text: string; prev: FileState | undefined }): boolean {
    const empty = read.text.trim() === "";
    if (!empty || !read.prev?.objects.length || this.#emptied.has(file)) {
      this.#emptied.delete(file);
      return false;
    }
    this.#emptied.add(file);
    this.#log.info("manifest file read empty; taken if it is still empty at the next scan", {
      file,
    });
    return true;
  }

  /** After a scan that parsed: a fresh worker for the next one, unless `closing`. */
  scanned(closing: boolean): void {
    if (!this.#parsed || closing) return;
    // The worker's heap holds everything it parsed; a new one starts at the next change.
    this.#parser.close();
    this.#parser = this.#newParser();
    this.#parsed = false;
  }

  /** Drops the index of {@linkcode fileOf}; it is built again when next asked. */
  forgetOwners(): void {
    this.#owners = undefined;
  }

  /** The file defining `Kind namespace/name`, from the objects in force. */
  fileOf(object: string): string | undefined {
    // Indexed per kind as asked (problems name configuration objects): not 100,000
    // Services' worth of keys kept for the name of one pool's file.
    const kind = object.slice(0, object.indexOf(" "));
    this.#owners ??= new Map();
    let byKey = this.#owners.get(kind);
    if (!byKey) {
      this.#owners.set(kind, byKey = new Map());
      for (const [file, state] of this.#files) {
        for (const o of state.objects) {
          if (o.kind === kind) byKey.set(`${o.kind} ${objectKey(o.metadata)}`, file);
        }
      }
    }
    return byKey.get(object);
  }

  /** Ends a parse in progress now instead of at its deadline. */
  close(): void {
    this.#parser.close();
  }

  #newParser(): ManifestParser {
    return createManifestParser({
      inline: parseManifests,
      keep: asManifestService,
      onInline: (reason) => {
        if (!this.#toldInline) this.#log.warn("parsing manifests on the main thread", { reason });
        this.#toldInline = true;
      },
    });
  }

  /** The file's text, or undefined when it is gone or cannot be read (an error is kept). */
  async #read(file: string): Promise<string | undefined> {
    try {
      return await readTextBounded(file, resolveLimits(this.#defaults?.limits));
    } catch (e) {
      // Deleted between listing and reading: the next scan settles it.
      if (e instanceof Deno.errors.NotFound) return undefined;
      const reason = `cannot read: ${e instanceof Error ? e.message : e}`;
      if (this.#errors.get(file) !== reason) this.#failedLoads++;
      this.#errors.set(file, reason);
      return undefined;
    }
  }

  async #parse(file: string, got: { text: string; digest: string }): Promise<void> {
    const { digest } = got;
    const prev = this.#files.get(file);
    this.#parsed = true;
    const r = await this.#parser.parse(got.text, { ...this.#defaults, slimServices: true });
    if (r.ok) {
      this.#rejected.delete(file);
      // Services arrive kept as manifest Services (the parser's `keep`).
      this.#files.set(file, { digest, objects: r.objects });
      this.#changed = true;
      this.#parsesAgain(file);
      return;
    }
    if (this.#errors.get(file) !== r.reason) {
      this.#failedLoads++;
      this.#log.error("manifest file does not parse; keeping its last good objects", {
        file,
        reason: r.reason,
      });
    }
    this.#errors.set(file, r.reason);
    // A deadline or a lost worker says nothing about the text: try it again next scan.
    if (!("transient" in r)) this.#rejected.set(file, digest);
    // Keep the text of the last good version so an unchanged broken file is re-parsed
    // only when it changes again.
    if (prev) this.#files.set(file, { digest: prev.digest, objects: prev.objects });
  }

  #parsesAgain(file: string): void {
    if (this.#errors.delete(file)) this.#log.info("manifest file parses again", { file });
  }
}
