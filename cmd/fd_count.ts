/**
 * Open and maximum file descriptors through libc, for `process_open_fds` and `process_max_fds`
 * when Deno keeps /proc/self closed (it opens it only under `--allow-all`). The roles that
 * already hold `--allow-ffi` to libc (for TCP MD5) get the figures; the others leave them out.
 */
import { openGrantedLibc } from "./libc_open.ts";

/** Descriptor figures read on demand. */
export interface FdCounter {
  /** Open descriptors below the counted range (see {@linkcode MAX_COUNTED}). */
  open(): number;
  /** The soft RLIMIT_NOFILE; undefined when unlimited. */
  max(): number | undefined;
}

/** Highest descriptor count scanned: one poll(2) over this many entries costs about 1 ms. */
export const MAX_COUNTED = 65_536;
const RLIMIT_NOFILE = 7;
const POLLNVAL = 0x20;
const SYMBOLS = {
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
  getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

/** A libc-backed counter, or undefined without `--allow-ffi` to libc. */
export function libcFdCounter(): FdCounter | undefined {
  const lib = openGrantedLibc(SYMBOLS);
  if (!lib) return undefined;
  const limit = new Uint8Array(16);
  const limitView = new DataView(limit.buffer);
  const max = (): number | undefined => {
    if (lib.symbols.getrlimit(RLIMIT_NOFILE, limit) !== 0) return undefined;
    const soft = limitView.getBigUint64(0, true);
    return soft >= 2n ** 63n ? undefined : Number(soft);
  };
  let fds = new Uint8Array(0);
  return {
    max,
    open() {
      const n = Math.min(max() ?? MAX_COUNTED, MAX_COUNTED);
      if (fds.length !== n * 8) {
        // struct pollfd { int fd; short events; short revents; }: events 0 asks for nothing,
        // so poll(2) only flags descriptors that are not open (POLLNVAL).
        fds = new Uint8Array(n * 8);
        const v = new DataView(fds.buffer);
        for (let fd = 0; fd < n; fd++) v.setInt32(fd * 8, fd, true);
      }
      if (lib.symbols.poll(fds, BigInt(n), 0) < 0) throw new Error("poll(2) failed");
      let open = 0;
      for (let fd = 0; fd < n; fd++) if ((fds[fd * 8 + 6] & POLLNVAL) === 0) open++;
      return open;
    },
  };
}
