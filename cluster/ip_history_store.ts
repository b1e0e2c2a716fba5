/**
 * Where the IP history lives: a file in the state directory (file mode; the ConfigMap of a
 * cluster is in ip_history_configmap.ts, which loads the Kubernetes client), and the keeper
 * that records the controller's passes and saves them in batches, never once per assignment.
 */
import {
  type AddressChange,
  type HistoryEntry,
  type HistoryFile,
  IpHistory,
} from "../api/ip_history.ts";
import { drive, Slice } from "../addr/turn_budget.ts";
import { writeDurably } from "./state_files.ts";
import type { Logger } from "../api/log.ts";

/** ConfigMap (cluster) and file (state dir) name of the history. */
export const HISTORY_NAME = "ferrolb-ip-history";

/** Reads and writes the serialised history. */
export interface HistoryBackend {
  /** The stored history, or undefined when there is none yet. */
  load(): Promise<unknown | undefined>;
  save(file: HistoryFile): Promise<void>;
  /** Where it is kept, for logs. */
  readonly where: string;
}

/** `<stateDir>/ferrolb-ip-history.json`, replaced atomically (write, fsync, rename). */
export function fileHistoryBackend(stateDir: string): HistoryBackend {
  const path = `${stateDir}/${HISTORY_NAME}.json`;
  return {
    where: path,
    async load() {
      try {
        return JSON.parse(await Deno.readTextFile(path));
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return undefined;
        throw new Error(`${path}: ${(err as Error).message}`);
      }
    },
    async save(file) {
      const tmp = `${path}.tmp`;
      // Deno.open's own default mode, as the history file has always had.
      await writeDurably(tmp, historyText(file), { mode: 0o666 });
      await Deno.rename(tmp, path);
    },
  };
}

/**
 * `JSON.stringify(file)` as bytes, in pieces of what one slice makes: the history of
 * 100,000 addresses stringified at once stalled the event loop.
 */
async function* historyText(file: HistoryFile): AsyncGenerator<string> {
  // The other fields as they are, then the entries, so the text parses to the same file.
  const head = JSON.stringify({ ...file, entries: undefined }).slice(0, -1);
  yield `${head}${head.length > 1 ? "," : ""}"entries":[`;
  const slice = new Slice();
  // The history goes on recording (and trimming its array) between two slices.
  const entries = file.entries.slice();
  let piece = "";
  for (let i = 0; i < entries.length; i++) {
    piece += `${i > 0 ? "," : ""}${JSON.stringify(entries[i])}`;
    if (i % 64 === 63 && slice.due()) {
      yield piece;
      piece = "";
      await slice.next();
    }
  }
  yield `${piece}]}`;
}

/** Options of {@linkcode HistoryKeeper}. */
export interface HistoryKeeperOptions {
  logger: Logger;
  /** Longest a change waits before it is saved (default 2000 ms): one write per batch. */
  flushMs?: number;
  /** Bounds (default 10,000 entries, 20 per address). */
  maxEntries?: number;
  maxPerIp?: number;
  now?: () => Date;
}

/** The controller's IP history: recorded from its passes, saved in batches, queried by status. */
export class HistoryKeeper {
  readonly history: IpHistory;
  readonly #backend: HistoryBackend;
  readonly #o: HistoryKeeperOptions;
  #timer?: ReturnType<typeof setTimeout>;
  #saved = 0;
  #saving: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(backend: HistoryBackend, options: HistoryKeeperOptions) {
    this.#backend = backend;
    this.#o = options;
    this.history = new IpHistory({ maxEntries: options.maxEntries, maxPerIp: options.maxPerIp });
  }

  /** Loads the stored history; a history that cannot be read is logged and started afresh. */
  async start(): Promise<void> {
    try {
      const stored = await this.#backend.load();
      if (stored === undefined) return;
      const why = this.history.load(stored);
      if (why) this.#o.logger.warn("ip history not loaded", { where: this.#backend.where, why });
      this.#saved = this.history.revision;
    } catch (err) {
      this.#o.logger.warn("ip history not loaded", { where: this.#backend.where, error: err });
    }
  }

  /** The controller's listener: records a pass and schedules a save. */
  readonly record = (
    changes: readonly AddressChange[],
    options: { pools: ReadonlySet<string> },
  ): void => {
    this.history.record(changes, (this.#o.now ?? (() => new Date()))(), options);
    if (this.#timer === undefined && !this.#closed) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.flush();
      }, this.#o.flushMs ?? 2_000);
    }
  };

  /**
   * Aligns the history with what Services hold once the controller has its first view (see
   * {@linkcode IpHistory.reconcile}); saved when `save` (the leader) and something changed.
   */
  async reconcile(
    holders: Iterable<{ service: string; ips: readonly string[]; pool?: string }>,
    options: { save: boolean },
  ): Promise<void> {
    // In slices: 100,000 Services at a start would stall the event loop for 100s of ms.
    await drive(this.history.reconcileSteps(holders, (this.#o.now ?? (() => new Date()))()));
    if (options.save) await this.flush();
  }

  /** Entries of an address or Service (`namespace/name`), or all. */
  query(what?: string): HistoryEntry[] {
    return this.history.query(what);
  }

  /** Saves now when something changed since the last save; one save at a time. */
  flush(): Promise<void> {
    this.#saving = this.#saving.then(async () => {
      const rev = this.history.revision;
      if (rev === this.#saved) return;
      try {
        await this.#backend.save(this.history.toFile());
        this.#saved = rev;
      } catch (err) {
        this.#o.logger.warn("ip history not saved; will retry", {
          where: this.#backend.where,
          error: err,
        });
        if (!this.#closed && this.#timer === undefined) {
          this.#timer = setTimeout(() => {
            this.#timer = undefined;
            this.flush();
          }, this.#o.flushMs ?? 2_000);
        }
      }
    });
    return this.#saving;
  }

  /** Saves what is pending and stops the timer. */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
  }
}
