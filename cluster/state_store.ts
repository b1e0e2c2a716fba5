/**
 * File mode's persistence: what a cluster would keep in Service status and annotations.
 * Losing it would move users' addresses on restart, so every save is atomic and durable,
 * and the previous good generation is kept beside the current one so that a corrupt or
 * partial file is never the only copy.
 */
import type { Logger } from "../api/log.ts";
import {
  emptyState,
  type Envelope,
  parseEnvelope,
  serialise,
  type ServiceState,
  type StateData,
} from "./state_format.ts";
import {
  keepPrevious,
  readIfExists,
  readIfExistsAsync,
  removeIfExists,
  syncDir,
  writeDurably,
} from "./state_files.ts";
import { parseEnvelopeInSlices } from "./state_text.ts";

export { emptyState, type ServiceState, type StateData } from "./state_format.ts";

/**
 * What {@linkcode StateStore.save} takes: {@linkcode StateData}, or the same with the
 * Services as a Map (what the overlay keeps), which is serialised in slices.
 */
export type StateToSave = StateData | {
  version: 1;
  services: ReadonlyMap<string, ServiceState>;
  [extra: string]: unknown;
};

/** Options for {@linkcode StateStore.save}. */
export interface SaveOptions {
  /**
   * The caller leaves `data.services` as it is until the save resolves (the overlay's
   * durable states are replaced, never changed): its entries are read as they are written
   * instead of copied at the call (a pair per Service, 100,000s of them, at once).
   */
  unchanged?: boolean;
}

/** Loads and saves {@linkcode StateData} in one directory. */
export interface StateStore {
  /** The newest generation that parses; empty state when none was ever saved. */
  load(): StateData;
  /**
   * Reads and parses the files now, in slices, so that the {@linkcode StateStore.load}
   * that follows does not stall the event loop with one synchronous parse of them all.
   */
  preload?(): Promise<void>;
  /**
   * Resolves once `data` is durably on disk; concurrent saves are applied in call order.
   * The caller may change `data` afterwards, unless it says otherwise (`unchanged`): its
   * entries are taken at the call.
   */
  save(data: StateToSave, options?: SaveOptions): Promise<void>;
  /** The generation number of the last load or save (0 when nothing was saved). */
  generation(): number;
}

/** Options for {@linkcode openStateStore}. */
export interface StateStoreOptions {
  logger: Logger;
  /** File name inside the directory; `state.json` by default. */
  fileName?: string;
}

/** No generation could be read although files exist, or one is from a newer ferrolb. */
export class StateStoreError extends Error {
  override name = "StateStoreError";
}

/** Opens (creating if needed) the state directory `dir`. */
export function openStateStore(dir: string, options: StateStoreOptions): StateStore {
  return new DirStateStore(dir, options);
}

/** A generation found on disk. */
interface Candidate {
  path: string;
  env: Envelope;
}

/** The {@linkcode StateStore} of one directory: `name`, `name.prev` and temporary files. */
class DirStateStore implements StateStore {
  readonly #dir: string;
  readonly #log: Logger;
  readonly #current: string;
  readonly #prev: string;
  readonly #tmpPrefix: string;
  #gen = 0;
  #lastIssued = 0;
  #loaded = false;
  // Rotating a corrupt current file into .prev would destroy the one good copy.
  #currentIsGood = false;
  #queue: Promise<void> = Promise.resolve();
  #tmpSeq = 0;
  /** What {@linkcode DirStateStore.preload} read, used by the next load only. */
  #preloaded: Map<string, Envelope | string | undefined> | undefined;

  constructor(dir: string, options: StateStoreOptions) {
    const name = options.fileName ?? "state.json";
    this.#dir = dir;
    this.#log = options.logger.child({ component: "state-store" });
    this.#current = `${dir}/${name}`;
    this.#prev = `${dir}/${name}.prev`;
    this.#tmpPrefix = `.${name}.tmp-`;
    Deno.mkdirSync(dir, { recursive: true });
    this.#removeLeftovers();
    // Callers hand these around detached from the store.
    this.load = this.load.bind(this);
    this.save = this.save.bind(this);
    this.generation = this.generation.bind(this);
  }

  generation(): number {
    return this.#gen;
  }

  #removeLeftovers(): void {
    for (const entry of Deno.readDirSync(this.#dir)) {
      if (entry.isFile && entry.name.startsWith(this.#tmpPrefix)) {
        this.#log.info("removing unfinished write from an earlier run", { file: entry.name });
        removeIfExists(`${this.#dir}/${entry.name}`);
      }
    }
  }

  load(): StateData {
    const problems: string[] = [];
    const { found, candidates } = this.#readCandidates(problems);
    if (found === 0) {
      this.#log.info("no saved state, starting empty", { dir: this.#dir });
      this.#loadedGeneration(0);
      return emptyState();
    }
    if (candidates.length === 0) {
      throw new StateStoreError(`no readable state in ${this.#dir}: ${problems.join("; ")}`);
    }
    candidates.sort((a, b) => b.env.generation - a.env.generation);
    const best = candidates[0];
    this.#loadedGeneration(best.env.generation);
    this.#log.info("loaded state", {
      file: best.path,
      generation: this.#gen,
      savedAt: best.env.savedAt,
      services: Object.keys(best.env.data.services).length,
    });
    return best.env.data;
  }

  async preload(): Promise<void> {
    const parsed = new Map<string, Envelope | string | undefined>();
    for (const path of [this.#current, this.#prev]) {
      try {
        const text = await readIfExistsAsync(path);
        parsed.set(path, text === undefined ? undefined : await parseEnvelopeInSlices(text));
      } catch {
        // Not preloaded: load() reads it again and reports what goes wrong, as without.
      }
    }
    this.#preloaded = parsed;
  }

  /** A file's envelope (or why not): preloaded once, else read and parsed now. */
  #envelopeOf(path: string): Envelope | string | undefined {
    const pre = this.#preloaded;
    if (pre?.has(path)) {
      const env = pre.get(path);
      pre.delete(path);
      return env;
    }
    const text = readIfExists(path);
    return text === undefined ? undefined : parseEnvelope(text);
  }

  /** The generations that parse, newest file first; `found` counts files that exist. */
  #readCandidates(problems: string[]): { found: number; candidates: Candidate[] } {
    const candidates: Candidate[] = [];
    let found = 0;
    this.#currentIsGood = false;
    for (const path of [this.#current, this.#prev]) {
      const env = this.#envelopeOf(path);
      if (env === undefined) continue;
      found++;
      if (typeof env === "string") {
        if (env.startsWith("unsupported version")) {
          throw new StateStoreError(`${path}: ${env}; written by a newer ferrolb?`);
        }
        problems.push(`${path}: ${env}`);
        this.#log.warn("ignoring unreadable state file", { file: path, reason: env });
        continue;
      }
      if (path === this.#current) this.#currentIsGood = true;
      candidates.push({ path, env });
    }
    return { found, candidates };
  }

  #loadedGeneration(gen: number): void {
    this.#gen = gen;
    this.#lastIssued = Math.max(this.#lastIssued, gen);
    this.#loaded = true;
  }

  save(data: StateToSave, options: SaveOptions = {}): Promise<void> {
    // Generations must grow past what is on disk, else load() would prefer a stale .prev.
    if (!this.#loaded) {
      try {
        this.load();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const generation = ++this.#lastIssued;
    // Taken now, so later changes by the caller cannot leak into this generation; the
    // entries themselves are never mutated by their owners (they are replaced).
    const { services, ...rest } = data;
    const entries = services instanceof Map
      ? (options.unchanged ? services : [...services])
      : Object.entries(services as Record<string, ServiceState>);
    const head = JSON.stringify({ ...rest, version: 1 }).slice(0, -1);
    const savedAt = new Date().toISOString();
    const run = this.#queue.then(async () => {
      await this.#write(serialise({ generation, savedAt, head, entries }), generation);
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #write(text: AsyncIterable<string>, generation: number): Promise<void> {
    const tmp = `${this.#dir}/${this.#tmpPrefix}${Deno.pid}-${++this.#tmpSeq}`;
    try {
      await writeDurably(tmp, text);
      if (this.#currentIsGood) {
        await keepPrevious(this.#current, { prev: this.#prev, scratch: `${tmp}.prev` });
      }
      await Deno.rename(tmp, this.#current);
      await syncDir(this.#dir);
      this.#currentIsGood = true;
      this.#gen = generation;
    } catch (err) {
      removeIfExists(tmp);
      throw new StateStoreError(`saving state in ${this.#dir}: ${(err as Error).message}`);
    }
  }
}
