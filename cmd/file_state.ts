/**
 * The directories of `ferrolb all --config-dir`: the config directory checked before anything is
 * made, and `--state-dir` created and locked for this process.
 */
import type { Logger } from "../api/log.ts";
import { openStateStore, type StateStore } from "../cluster/state_store.ts";
import { acquireStateLock, type StateLock, StateLockError } from "../cluster/state_lock.ts";

/** A `--config-dir`, `--state-dir` or state problem that stops file mode from starting. */
export class FileModeError extends Error {
  override name = "FileModeError";
}

/** Checks `--config-dir` before anything is created. */
export async function checkConfigDir(dir: string): Promise<void> {
  try {
    const st = await Deno.stat(dir);
    if (!st.isDirectory) throw new FileModeError(`--config-dir ${dir}: not a directory`);
  } catch (err) {
    if (err instanceof FileModeError) throw err;
    const hint =
      err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied
        ? " (the binary reads only the paths in its --allow-read: run it from a directory " +
          "that holds the manifests, or put them under /etc/ferrolb)"
        : "";
    throw new FileModeError(
      `--config-dir ${dir}: ${(err as Error).message.split("\n")[0]}${hint}`,
    );
  }
}

/** The state directory, locked for this process, and its store. */
export interface OpenedState {
  store: StateStore;
  lock: StateLock;
  /** Undoes what opening made: the lock, and the directory when this call created it. */
  abandon(): void;
}

/** What {@linkcode openState} needs of file mode's options. */
export interface StateDirOptions {
  stateDir: string;
  /** Written into the lock, so a second instance can say which one holds it. */
  adminAddr: string;
  logger: Logger;
}

/** True when `dir` is not a directory yet (so opening creates it). */
function isNew(dir: string): boolean {
  try {
    return !Deno.statSync(dir).isDirectory;
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
    return true;
  }
}

/** Locks `dir` and opens its store; on failure nothing of it stays. */
function lockAndOpen(dir: string, created: boolean, options: StateDirOptions): OpenedState {
  // Before the store looks at the directory: it removes leftovers of unfinished writes,
  // which must not be another running instance's write in progress.
  const lock = acquireStateLock(dir, { adminAddr: options.adminAddr });
  const abandon = () => {
    lock.release();
    if (!created) return;
    try {
      Deno.removeSync(lock.path);
      Deno.removeSync(dir);
    } catch {
      // Not empty after all: something else uses it, so it stays.
    }
  };
  try {
    return { store: openStateStore(dir, { logger: options.logger }), lock, abandon };
  } catch (err) {
    abandon();
    throw err;
  }
}

/** Creates (if needed) and locks `--state-dir`, then loads nothing yet: see the overlay. */
export function openState(options: StateDirOptions): OpenedState {
  const dir = options.stateDir;
  let created = false;
  try {
    created = isNew(dir);
    Deno.mkdirSync(dir, { recursive: true });
    return lockAndOpen(dir, created, options);
  } catch (err) {
    if (created && !(err instanceof StateLockError)) {
      try {
        Deno.removeSync(dir);
      } catch {
        // Partly made or not empty; leave it.
      }
    }
    throw new FileModeError(`--state-dir ${dir}: ${(err as Error).message}`);
  }
}
