/**
 * libc through Deno's FFI for the socket work `Deno.connect` cannot do: the symbol table,
 * loading libc by absolute path (a path-scoped `--allow-ffi` does not match a soname), the
 * one-time TCP_MD5SIG probe, and errno read on the JS thread that set it (errno is
 * thread-local, so every call but poll() is synchronous).
 */
import { ipv4ToBytes } from "./prefix.ts";
import { LIBC_CANDIDATES } from "./libc_paths.mjs";
import { AF_INET, encodeMd5sig } from "./sockaddr.ts";

/** SOCK_STREAM. */
export const SOCK_STREAM = 1;
/** SOCK_NONBLOCK | SOCK_CLOEXEC: every socket we open is non-blocking and not inherited. */
export const SOCK_FLAGS = 0o4000 | 0o2000000;
/** SOL_SOCKET. */
export const SOL_SOCKET = 1;
/** SO_ERROR: the outcome of a non-blocking connect. */
export const SO_ERROR = 4;
/** IPPROTO_TCP. */
export const IPPROTO_TCP = 6;
/** TCP_NODELAY. */
export const TCP_NODELAY = 1;
/** TCP_MD5SIG (linux/tcp.h). */
export const TCP_MD5SIG = 14;
/** SHUT_RDWR. */
export const SHUT_RDWR = 2;
/** EINTR. */
export const EINTR = 4;
/** EAGAIN (= EWOULDBLOCK on Linux). */
export const EAGAIN = 11;
/** EINPROGRESS: a non-blocking connect under way. */
export const EINPROGRESS = 115;

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  4: "EINTR",
  9: "EBADF",
  11: "EAGAIN",
  13: "EACCES",
  22: "EINVAL",
  24: "EMFILE",
  32: "EPIPE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  95: "EOPNOTSUPP",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  107: "ENOTCONN",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  113: "EHOSTUNREACH",
  115: "EINPROGRESS",
};

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockopt: { parameters: ["i32", "i32", "i32", "buffer", "buffer"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  connect: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  __errno_location: { parameters: [], result: "pointer" },
  strerror: { parameters: ["i32"], result: "pointer" },
  strlen: { parameters: ["pointer"], result: "usize" },
  // Copies libc memory into our buffers: UnsafePointerView needs unscoped --allow-ffi.
  memcpy: { parameters: ["buffer", "pointer", "usize"], result: "pointer" },
  if_nametoindex: { parameters: ["buffer"], result: "u32" },
} as const;

/** The libc functions we bind. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** A failed socket call, with the syscall and errno that explain it. */
export class SocketError extends Error {
  /** The libc call that failed, e.g. "connect". */
  readonly syscall: string;
  /** errno (0 when the failure has no errno, e.g. a timeout we measured). */
  readonly errno: number;
  /** Symbolic errno such as "ECONNREFUSED", or "ETIMEDOUT" for our own timeouts. */
  readonly code: string;

  /** `context` says what we were doing, e.g. "connect 192.0.2.2:179". */
  constructor(context: string, info: { syscall: string; errno: number; detail?: string }) {
    const code = ERRNO_NAMES[info.errno] ?? (info.errno ? `errno ${info.errno}` : "ETIMEDOUT");
    super(`${context}: ${info.syscall}: ${code}${info.detail ? ` (${info.detail})` : ""}`);
    this.name = "SocketError";
    this.syscall = info.syscall;
    this.errno = info.errno;
    this.code = code;
  }
}

/** Options of `md5Available` and `md5Connector`. */
export interface LibcOptions {
  /** Absolute path of libc.so.6 (default: the first of `LIBC_CANDIDATES` that loads). */
  libcPath?: string;
}

/** libc as loaded (or why not), cached per requested path. */
export interface Loaded {
  lib?: Libc;
  path?: string;
  reason?: string;
  /** Undefined until probed; then "" when the kernel accepts TCP_MD5SIG, else why not. */
  md5?: string;
}

const loaded = new Map<string, Loaded>();

function ffiGranted(path: string): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi", path }).state === "granted";
  } catch {
    return false;
  }
}

/** Tries each permitted candidate path; the reason names the first when none is permitted. */
function loadFirst(candidates: readonly string[]): Loaded {
  const failures: string[] = [];
  for (const path of candidates.filter(ffiGranted)) {
    try {
      return { lib: Deno.dlopen(path, SYMBOLS).symbols, path };
    } catch (err) {
      failures.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (failures.length) return { reason: `cannot load libc: ${failures.join("; ")}` };
  return {
    reason: `no FFI permission for libc: run with --allow-ffi=${candidates[0]} ` +
      `(the absolute path of libc.so.6 on this system)`,
  };
}

/** libc loaded once per path (Linux only), or why not. */
export function openLibc(options: LibcOptions = {}): Loaded {
  const key = options.libcPath ?? "";
  const cached = loaded.get(key);
  if (cached) return cached;
  const result: Loaded = Deno.build.os !== "linux"
    ? { reason: `TCP_MD5SIG is Linux-only; this is ${Deno.build.os}` }
    : loadFirst(options.libcPath ? [options.libcPath] : LIBC_CANDIDATES);
  loaded.set(key, result);
  return result;
}

/** libc loaded and the kernel accepting TCP_MD5SIG (probed once), or why not. */
export function openMd5(options: LibcOptions = {}): Loaded {
  const l = openLibc(options);
  if (!l.lib) return l;
  l.md5 ??= probeMd5(l.lib) ?? "";
  return l.md5 ? { reason: l.md5 } : l;
}

/** Why the kernel refuses TCP_MD5SIG on a fresh socket, or undefined when it accepts it. */
function probeMd5(lib: Libc): string | undefined {
  const fd = lib.socket(AF_INET, SOCK_STREAM | SOCK_FLAGS, 0);
  if (fd < 0) return `socket(AF_INET, SOCK_STREAM) failed: ${errnoText(lib, readErrno(lib))}`;
  try {
    const sig = encodeMd5sig(ipv4ToBytes("127.0.0.1"), 0, new TextEncoder().encode("probe"));
    if (lib.setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, sig, sig.length) !== 0) {
      return `the kernel rejects setsockopt(IPPROTO_TCP, TCP_MD5SIG): ` +
        errnoText(lib, readErrno(lib)) + " (kernel built without CONFIG_TCP_MD5SIG?)";
    }
    return undefined;
  } finally {
    lib.close(fd);
  }
}

const errnoBuf = new Int32Array(1);

/** errno of the calling (JS) thread, right after a failed synchronous call. */
export function readErrno(lib: Libc): number {
  const p = lib.__errno_location();
  if (!p) return 0;
  lib.memcpy(new Uint8Array(errnoBuf.buffer), p, 4n);
  return errnoBuf[0];
}

/** strerror(errno) as a JS string. */
function strerror(lib: Libc, errno: number): string {
  const p = lib.strerror(errno);
  if (!p) return `errno ${errno}`;
  const bytes = new Uint8Array(Math.min(Number(lib.strlen(p)), 256));
  lib.memcpy(bytes, p, BigInt(bytes.length));
  return new TextDecoder().decode(bytes);
}

function errnoText(lib: Libc, errno: number): string {
  return `${ERRNO_NAMES[errno] ?? `errno ${errno}`} (${strerror(lib, errno)})`;
}

/**
 * The SocketError for a failed `syscall`; `errno` defaults to this thread's, so call it
 * right after the failing call.
 */
export function fail(
  lib: Libc,
  call: { context: string; syscall: string; errno?: number },
): SocketError {
  const errno = call.errno ?? readErrno(lib);
  return new SocketError(call.context, {
    syscall: call.syscall,
    errno,
    detail: errno ? strerror(lib, errno) : undefined,
  });
}

/** if_nametoindex(zone): 0 when no such interface. */
export function zoneIndex(lib: Libc, zone: string): number {
  return lib.if_nametoindex(new TextEncoder().encode(zone + "\0"));
}
