/**
 * Reads an `strace -f` log for the write attempts of one program: every syscall that would
 * create, change or remove a file, made by the process that exec'd the program or any of its
 * threads. Used to show that the image's program writes nothing outside its volume.
 */

/** One syscall that would write to the file system. */
export interface WriteAttempt {
  tid: string;
  syscall: string;
  path: string;
  /** True when the kernel refused it (the line ends in `= -1 E…`). */
  failed: boolean;
}

/** strace's `-e trace=` classes that {@linkcode writeAttempts} needs. */
export const STRACE_CLASSES = "%file,%desc,clone,clone3,fork,vfork";

const WRITE_CALLS =
  /^(mkdir|mkdirat|rename|renameat2?|unlink|unlinkat|rmdir|symlink|symlinkat|link|linkat|truncate|chmod|fchmodat|chown|fchownat|utimensat|mknod|mknodat)\(/;
const OPEN = /^(open|openat|openat2|creat)\(/;

/** The write attempts in `log` by the process that exec'd `exe` and its threads. */
export function writeAttempts(log: string, exe: string): WriteAttempt[] {
  const lines = log.split("\n").map((l) => l.match(/^(\d+)\s+(.*)$/)).filter((m) => m !== null);
  const root = lines.find(([, , call]) => call.startsWith(`execve("${exe}"`))?.[1];
  if (root === undefined) throw new Error(`no execve of ${exe} in the strace log`);
  const children = new Map<string, string[]>();
  for (const [, tid, call] of lines) {
    const m = call.match(/^(?:<\.\.\. )?(?:clone3?|fork|vfork)\b.*= (\d+)$/);
    if (m) children.set(tid, [...(children.get(tid) ?? []), m[1]]);
  }
  const family = new Set([root]);
  for (const tid of family) for (const c of children.get(tid) ?? []) family.add(c);
  const attempts: WriteAttempt[] = [];
  // A call interrupted by another thread's line ends in "<unfinished ...>"; its result comes
  // on that thread's next "<... name resumed>" line.
  const pending = new Map<string, WriteAttempt>();
  for (const [, tid, call] of lines) {
    if (!family.has(tid)) continue;
    if (call.startsWith("<... ")) {
      const attempt = pending.get(tid);
      if (attempt) attempt.failed = /= -1 E[A-Z]+/.test(call);
      pending.delete(tid);
      continue;
    }
    const path = call.match(/"([^"]*)"/)?.[1];
    if (path === undefined) continue;
    const writes = WRITE_CALLS.test(call) ||
      (OPEN.test(call) && /O_(WRONLY|RDWR|CREAT|TRUNC|APPEND)/.test(call));
    if (!writes || path.startsWith("/dev/")) continue;
    const attempt = {
      tid,
      syscall: call.slice(0, call.indexOf("(")),
      path,
      failed: /= -1 E[A-Z]+/.test(call),
    };
    attempts.push(attempt);
    if (call.endsWith("<unfinished ...>")) pending.set(tid, attempt);
  }
  return attempts;
}
