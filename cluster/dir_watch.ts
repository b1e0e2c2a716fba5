/**
 * When the file source rescans: after a file event (debounced, so an editor's burst of
 * writes makes one scan) and on a fixed interval, the fallback when watching fails.
 */
import type { Logger } from "../api/log.ts";

/** Options for {@linkcode DirWatch}. */
export interface DirWatchOptions {
  log: Logger;
  pollMs: number;
  debounceMs: number;
  /** Asks for a rescan, after an event or by the poll; called from timers only. */
  rescan(cause: "event" | "poll"): void;
}

/** Watches one directory (recursively) and polls it, calling `rescan`. */
export class DirWatch {
  readonly #dir: string;
  readonly #options: DirWatchOptions;
  #watcher: Deno.FsWatcher | undefined;
  #loop: Promise<void> | undefined;
  #pollTimer: ReturnType<typeof setInterval> | undefined;
  #debounceTimer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;

  constructor(dir: string, options: DirWatchOptions) {
    this.#dir = dir;
    this.#options = options;
  }

  /** Starts watching and polling. */
  start(): void {
    this.#loop = this.#watch();
    this.#pollTimer = setInterval(() => this.#options.rescan("poll"), this.#options.pollMs);
  }

  /** Stops timers and the watcher now; the returned promise resolves when its loop ended. */
  stop(): Promise<void> {
    this.#stopped = true;
    if (this.#pollTimer !== undefined) clearInterval(this.#pollTimer);
    if (this.#debounceTimer !== undefined) clearTimeout(this.#debounceTimer);
    try {
      this.#watcher?.close();
    } catch {
      // already closed
    }
    return this.#loop ?? Promise.resolve();
  }

  #schedule(): void {
    if (this.#debounceTimer !== undefined) clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      this.#options.rescan("event");
    }, this.#options.debounceMs);
  }

  async #watch(): Promise<void> {
    const { log, pollMs } = this.#options;
    try {
      this.#watcher = Deno.watchFs(this.#dir, { recursive: true });
    } catch (e) {
      log.warn("file watching unavailable; polling only", { error: e, pollMs });
      return;
    }
    try {
      for await (const _event of this.#watcher) {
        if (this.#stopped) break;
        this.#schedule();
      }
    } catch (e) {
      if (!this.#stopped) log.warn("file watching stopped; polling only", { error: e });
    }
  }
}
