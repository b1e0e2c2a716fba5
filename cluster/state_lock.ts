/**
 * One ferrolb per state directory. Two processes sharing one would each hand out addresses
 * from their own copy of the state and overwrite each other's saves, so the second refuses
 * to start, naming the first. The lock is an advisory `flock` on a file in the directory:
 * the kernel drops it when its holder exits or dies, so a crash never leaves a stale lock.
 */

/** File name of the lock inside the state directory. */
export const LOCK_FILE = "ferrolb.lock";

/** Who holds a state directory, as written into the lock file. */
export interface LockHolder {
  pid: number;
  /** The holder's admin address, where `ferrolb status` reaches it. */
  adminAddr?: string;
  startedAt?: string;
}

/** A held lock; `release` lets the next instance in. */
export interface StateLock {
  readonly path: string;
  /** Rewrites the holder's admin address (known only once the server is bound). */
  setAdminAddr(adminAddr: string): void;
  release(): void;
}

/** The directory is held by another running instance (named in the message). */
export class StateLockError extends Error {
  override name = "StateLockError";
  /** The holder as its lock file names it, when readable. */
  readonly holder?: LockHolder;
  constructor(message: string, holder?: LockHolder) {
    super(message);
    if (holder) this.holder = holder;
  }
}

/** Options for {@linkcode acquireStateLock}. */
export interface StateLockOptions {
  /** This instance's admin address, written for whoever is refused next. */
  adminAddr?: string;
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const doc = JSON.parse(Deno.readTextFileSync(path));
    if (typeof doc?.pid !== "number") return undefined;
    return {
      pid: doc.pid,
      ...(typeof doc.adminAddr === "string" ? { adminAddr: doc.adminAddr } : {}),
      ...(typeof doc.startedAt === "string" ? { startedAt: doc.startedAt } : {}),
    };
  } catch {
    // Being written right now, or not ours: the refusal says so without a name.
    return undefined;
  }
}

function describe(holder: LockHolder | undefined): string {
  if (!holder) return "another ferrolb (its lock file does not say which)";
  const admin = holder.adminAddr ? `, admin ${holder.adminAddr}` : "";
  const since = holder.startedAt ? `, since ${holder.startedAt}` : "";
  return `ferrolb pid ${holder.pid}${admin}${since}`;
}

/**
 * Takes the lock of state directory `dir` (which must exist) without waiting; throws a
 * {@linkcode StateLockError} naming the holder when another process has it.
 */
export function acquireStateLock(dir: string, options: StateLockOptions = {}): StateLock {
  const path = `${dir}/${LOCK_FILE}`;
  const file = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
  let locked = false;
  try {
    locked = file.tryLockSync(true);
  } catch (err) {
    file.close();
    throw err;
  }
  if (!locked) {
    file.close();
    const holder = readHolder(path);
    throw new StateLockError(
      `${dir} is in use by ${describe(holder)}; stop it first or choose another --state-dir`,
      holder,
    );
  }
  const me: LockHolder = {
    pid: Deno.pid,
    ...(options.adminAddr ? { adminAddr: options.adminAddr } : {}),
    startedAt: new Date().toISOString(),
  };
  const writeHolder = () => {
    const bytes = new TextEncoder().encode(JSON.stringify(me) + "\n");
    file.truncateSync(0);
    file.seekSync(0, Deno.SeekMode.Start);
    for (let off = 0; off < bytes.length;) off += file.writeSync(bytes.subarray(off));
  };
  writeHolder();
  let released = false;
  return {
    path,
    setAdminAddr(adminAddr) {
      if (released) return;
      me.adminAddr = adminAddr;
      writeHolder();
    },
    release() {
      if (released) return;
      released = true;
      try {
        file.unlockSync();
      } finally {
        file.close();
      }
    },
  };
}
