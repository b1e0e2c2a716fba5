/**
 * TCP MD5 signatures (RFC 2385) for BGP passwords, and a chosen source address. `Deno.connect`
 * exposes no socket file descriptor and cannot bind, so this connector does the socket work
 * itself through FFI calls into libc: socket, setsockopt(TCP_MD5SIG) with the key before
 * connect, bind, connect, read/write, close.
 *
 * Linux only. Needs `--allow-ffi=<absolute path of libc.so.6>`; a soname ("libc.so.6") is not
 * matched by a path-scoped `--allow-ffi`, so libc is opened by absolute path.
 *
 * Every socket is non-blocking and every syscall except poll() runs synchronously on the JS
 * thread, so errno (thread-local) is read on the thread that set it; only poll() runs on
 * Deno's blocking-thread pool (`nonblocking: true`), always with a timeout, and shutdown()
 * wakes it when the connection is closed.
 */
import { ipv4ToBytes, ipv6ToBytes } from "./prefix.ts";
import type { Conn, Connector, NetAddr } from "./transport.ts";
import { bytesToIpv4, bytesToIpv6 } from "./prefix.ts";
import { LIBC_CANDIDATES } from "./libc_paths.mjs";

export { LIBC_CANDIDATES };

/** Longest key the kernel accepts (TCP_MD5SIG_MAXKEYLEN in linux/tcp.h). */
export const MD5_MAX_KEY_LEN = 80;
/** sizeof(struct tcp_md5sig): sockaddr_storage 128 + flags 1 + prefixlen 1 + keylen 2 + ifindex 4 + key 80. */
export const TCP_MD5SIG_SIZE = 216;

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_ERROR = 4;
const IPPROTO_TCP = 6;
const TCP_NODELAY = 1;
const TCP_MD5SIG = 14;
const SHUT_RDWR = 2;
const POLLIN = 0x1;
const POLLOUT = 0x4;
const EINTR = 4;
const EAGAIN = 11;
const EINPROGRESS = 115;
/** Upper bound of one poll() on a worker thread; close() wakes it sooner via shutdown(). */
const POLL_SLICE_MS = 2_000;

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

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

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

/** Thrown when TCP MD5 cannot be used here (no FFI permission, no libc, no kernel support). */
export class Md5UnavailableError extends Error {
  /** Why not, as {@linkcode md5Available} reports it. */
  constructor(reason: string) {
    super(`TCP MD5 (BGP password) unavailable: ${reason}`);
    this.name = "Md5UnavailableError";
  }
}

/** Thrown when the FFI connector cannot be used here (no FFI permission, no libc). */
export class FfiUnavailableError extends Error {
  /** Why not, as {@linkcode ffiAvailable} reports it. */
  constructor(reason: string) {
    super(`FFI socket connector (needed for sourceAddress) unavailable: ${reason}`);
    this.name = "FfiUnavailableError";
  }
}

/** Options of {@linkcode md5Available} and {@linkcode md5Connector}. */
export interface LibcOptions {
  /** Absolute path of libc.so.6 (default: the first of {@linkcode LIBC_CANDIDATES} that loads). */
  libcPath?: string;
}

interface Loaded {
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

function openLibc(options: LibcOptions = {}): Loaded {
  const key = options.libcPath ?? "";
  const cached = loaded.get(key);
  if (cached) return cached;
  let result: Loaded;
  if (Deno.build.os !== "linux") {
    result = { reason: `TCP_MD5SIG is Linux-only; this is ${Deno.build.os}` };
  } else {
    const candidates = options.libcPath ? [options.libcPath] : LIBC_CANDIDATES;
    const permitted = candidates.filter(ffiGranted);
    const failures: string[] = [];
    result = {
      reason: `no FFI permission for libc: run with --allow-ffi=${candidates[0]} ` +
        `(the absolute path of libc.so.6 on this system)`,
    };
    for (const path of permitted) {
      try {
        result = { lib: Deno.dlopen(path, SYMBOLS).symbols, path };
        break;
      } catch (err) {
        failures.push(`${path}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (!result.lib && failures.length) {
      result = { reason: `cannot load libc: ${failures.join("; ")}` };
    }
  }
  loaded.set(key, result);
  return result;
}

/** libc loaded and the kernel accepting TCP_MD5SIG (probed once), or why not. */
function openMd5(options: LibcOptions = {}): Loaded {
  const l = openLibc(options);
  if (!l.lib) return l;
  l.md5 ??= probeMd5(l.lib) ?? "";
  return l.md5 ? { reason: l.md5 } : l;
}

/** Why the kernel refuses TCP_MD5SIG on a fresh socket, or undefined when it accepts it. */
function probeMd5(lib: Libc): string | undefined {
  const fd = lib.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
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

/**
 * Whether {@linkcode md5Connector} can work here: Linux, FFI permission for libc, libc loads,
 * and the kernel accepts TCP_MD5SIG. `reason` says what is missing.
 */
export function md5Available(options: LibcOptions = {}): { ok: boolean; reason?: string } {
  const l = openMd5(options);
  return l.lib ? { ok: true } : { ok: false, reason: l.reason };
}

/**
 * Whether {@linkcode ffiConnector} without a password can work here (Linux, FFI permission
 * for libc, libc loads); no kernel MD5 support needed. `reason` says what is missing.
 */
export function ffiAvailable(options: LibcOptions = {}): { ok: boolean; reason?: string } {
  const l = openLibc(options);
  return l.lib ? { ok: true } : { ok: false, reason: l.reason };
}

/** The absolute path of the libc that was loaded, if one was. */
export function loadedLibcPath(options: LibcOptions = {}): string | undefined {
  return openLibc(options).path;
}

const errnoBuf = new Int32Array(1);

/** errno of the calling (JS) thread, right after a failed synchronous call. */
function readErrno(lib: Libc): number {
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

function fail(lib: Libc, context: string, syscall: string, errno = readErrno(lib)): SocketError {
  return new SocketError(context, {
    syscall,
    errno,
    detail: errno ? strerror(lib, errno) : undefined,
  });
}

/** A parsed IP address: family, 4 or 16 bytes, IPv6 zone index. */
interface IpAddr {
  family: typeof AF_INET | typeof AF_INET6;
  bytes: Uint8Array;
  scopeId: number;
}

function parseIp(lib: Libc | undefined, text: string): IpAddr {
  if (!text.includes(":")) return { family: AF_INET, bytes: ipv4ToBytes(text), scopeId: 0 };
  const [addr, zone] = text.split("%", 2);
  let scopeId = 0;
  if (zone !== undefined) {
    scopeId = /^\d+$/.test(zone)
      ? Number(zone)
      : lib?.if_nametoindex(new TextEncoder().encode(zone + "\0")) ?? 0;
    if (!scopeId) throw new TypeError(`invalid IPv6 zone "${zone}" in "${text}"`);
  }
  return { family: AF_INET6, bytes: ipv6ToBytes(addr), scopeId };
}

/**
 * A `struct sockaddr_in` (4-byte `addr`) or `struct sockaddr_in6` (16-byte `addr`) in host
 * byte order for the family, network byte order for port and address.
 */
export function encodeSockaddr(addr: Uint8Array, port: number, scopeId = 0): Uint8Array {
  const v6 = addr.length === 16;
  const out = new Uint8Array(v6 ? 28 : 16);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, v6 ? AF_INET6 : AF_INET, true);
  dv.setUint16(2, port, false);
  if (v6) {
    out.set(addr, 8);
    dv.setUint32(24, scopeId, true);
  } else {
    out.set(addr, 4);
  }
  return out;
}

/** Reads a sockaddr_in/sockaddr_in6 back into address text and port. */
export function decodeSockaddr(buf: Uint8Array): NetAddr {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const family = dv.getUint16(0, true);
  const port = dv.getUint16(2, false);
  if (family === AF_INET) return { hostname: bytesToIpv4(buf, 4), port };
  if (family === AF_INET6) {
    const mapped = buf.subarray(8, 20).every((b, i) => b === (i < 10 ? 0 : 0xff));
    return { hostname: mapped ? bytesToIpv4(buf, 20) : bytesToIpv6(buf, 8), port };
  }
  return { hostname: "", port: 0 };
}

/**
 * A Linux `struct tcp_md5sig` for peer `addr` (4 or 16 bytes) and `key`: the peer address in
 * a sockaddr_storage, then flags, prefixlen, keylen (u16) and ifindex (all zero but keylen),
 * then the key padded to 80 bytes. An empty key deletes the peer's key.
 */
export function encodeMd5sig(addr: Uint8Array, scopeId: number, key: Uint8Array): Uint8Array {
  if (key.length > MD5_MAX_KEY_LEN) {
    throw new RangeError(`TCP MD5 key is ${key.length} bytes; Linux allows ${MD5_MAX_KEY_LEN}`);
  }
  const out = new Uint8Array(TCP_MD5SIG_SIZE);
  out.set(encodeSockaddr(addr, 0, scopeId), 0);
  new DataView(out.buffer).setUint16(130, key.length, true);
  out.set(key, 136);
  return out;
}

/** Options of {@linkcode md5Connector} and {@linkcode ffiConnector}. */
export interface Md5ConnectorOptions extends LibcOptions {
  /**
   * Give up connecting after this long (default 10 s). A peer without the password (or with
   * another) drops our signed SYNs silently, so a wrong password shows up as this timeout.
   */
  connectTimeoutMs?: number;
  /** Bind to this local address before connecting (MetalLB's `sourceAddress`). */
  sourceAddress?: string;
}

/**
 * A connector whose TCP connections carry RFC 2385 MD5 signatures keyed by `password` (its
 * UTF-8 bytes, at most 80). Fails with {@linkcode Md5UnavailableError} when
 * {@linkcode md5Available} is not ok, and with {@linkcode SocketError} for socket errors.
 */
export function md5Connector(password: string, options: Md5ConnectorOptions = {}): Connector {
  return ffiConnector({ ...options, password });
}

/** Options of {@linkcode ffiConnector}. */
export interface FfiConnectorOptions extends Md5ConnectorOptions {
  /** Sign segments with TCP MD5 keyed by this (UTF-8, at most 80 bytes); unset: no MD5. */
  password?: string;
}

/**
 * A libc-driven TCP connector: with `password` like {@linkcode md5Connector}, without it a
 * plain connection that can still bind `sourceAddress`, which `Deno.connect` cannot. Without
 * a password it fails with {@linkcode FfiUnavailableError} only when {@linkcode ffiAvailable}
 * is not ok.
 */
export function ffiConnector(options: FfiConnectorOptions = {}): Connector {
  const { password, ...rest } = options;
  const key = password === undefined ? undefined : new TextEncoder().encode(password);
  if (key && key.length > MD5_MAX_KEY_LEN) {
    throw new RangeError(
      `BGP password is ${key.length} bytes; TCP MD5 on Linux allows at most ${MD5_MAX_KEY_LEN}`,
    );
  }
  return (addr, port) => ffiConnect(addr, port, { ...rest, key });
}

async function ffiConnect(
  host: string,
  port: number,
  options: Md5ConnectorOptions & { key?: Uint8Array },
): Promise<Conn> {
  const l = options.key ? openMd5(options) : openLibc(options);
  if (!l.lib) {
    if (options.key) throw new Md5UnavailableError(l.reason ?? "unknown");
    throw new FfiUnavailableError(l.reason ?? "unknown");
  }
  const lib = l.lib;
  const context = `connect ${host.includes(":") ? `[${host}]` : host}:${port}`;
  const peer = parseIp(lib, host);
  const fd = lib.socket(peer.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw fail(lib, context, "socket");
  try {
    const one = new Uint8Array(new Int32Array([1]).buffer);
    // Nagle only delays small KEEPALIVEs; failing to disable it is harmless.
    lib.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4);
    if (options.key) {
      const sig = encodeMd5sig(peer.bytes, peer.scopeId, options.key);
      if (lib.setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, sig, sig.length) !== 0) {
        throw fail(lib, context, "setsockopt(TCP_MD5SIG)");
      }
    }
    if (options.sourceAddress) {
      const src = parseIp(lib, options.sourceAddress);
      if (src.family !== peer.family) {
        throw new TypeError(`${context}: source ${options.sourceAddress} is another family`);
      }
      const sa = encodeSockaddr(src.bytes, 0, src.scopeId);
      if (lib.bind(fd, sa, sa.length) !== 0) throw fail(lib, context, "bind");
    }
    const sa = encodeSockaddr(peer.bytes, port, peer.scopeId);
    if (lib.connect(fd, sa, sa.length) !== 0) {
      const errno = readErrno(lib);
      if (errno !== EINPROGRESS) throw fail(lib, context, "connect", errno);
      const timeoutMs = options.connectTimeoutMs ?? 10_000;
      const ready = await pollUntil(lib, fd, POLLOUT, timeoutMs, () => false);
      if (!ready) {
        throw new SocketError(context, {
          syscall: "connect",
          errno: 0,
          detail: options.key
            ? `no answer in ${timeoutMs} ms; with TCP MD5 a peer missing the password, ` +
              `or holding another, drops our segments silently`
            : `no answer in ${timeoutMs} ms`,
        });
      }
      const err = new Uint8Array(4);
      const len = new Uint8Array(new Uint32Array([4]).buffer);
      if (lib.getsockopt(fd, SOL_SOCKET, SO_ERROR, err, len) !== 0) {
        throw fail(lib, context, "getsockopt(SO_ERROR)");
      }
      const soError = new DataView(err.buffer).getInt32(0, true);
      if (soError !== 0) throw fail(lib, context, "connect", soError);
    }
    const local = new Uint8Array(128);
    const localLen = new Uint8Array(new Uint32Array([128]).buffer);
    if (lib.getsockname(fd, local, localLen) !== 0) throw fail(lib, context, "getsockname");
    return new FfiConn(lib, fd, decodeSockaddr(local), { hostname: host.split("%")[0], port });
  } catch (err) {
    lib.close(fd);
    throw err;
  }
}

/**
 * Polls `fd` for `events` on a worker thread until ready (true), `timeoutMs` passes (false;
 * negative waits forever) or `stop()` says so (false). Slices keep every worker call bounded.
 */
async function pollUntil(
  lib: Libc,
  fd: number,
  events: number,
  timeoutMs: number,
  stop: () => boolean,
): Promise<boolean> {
  const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
  const pfd = new Uint8Array(8);
  const dv = new DataView(pfd.buffer);
  while (!stop()) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    dv.setInt32(0, fd, true);
    dv.setInt16(4, events, true);
    dv.setInt16(6, 0, true);
    // A -1 (EINTR; errno is unreadable from this thread) just polls again.
    const n = await lib.poll(pfd, 1n, Math.ceil(Math.min(left, POLL_SLICE_MS)));
    // POLLERR/POLLHUP count as ready: the following syscall reports the error or EOF.
    if (n > 0 && dv.getInt16(6, true) !== 0) return true;
  }
  return false;
}

/** A connected socket driven through libc; satisfies {@linkcode Conn}. */
class FfiConn implements Conn {
  readonly localAddr: NetAddr;
  readonly remoteAddr: NetAddr;
  #lib: Libc;
  #fd: number;
  #closed = false;
  #inflight = 0;
  #released = false;

  constructor(lib: Libc, fd: number, local: NetAddr, remote: NetAddr) {
    this.#lib = lib;
    this.#fd = fd;
    this.localAddr = local;
    this.remoteAddr = remote;
  }

  get #context(): string {
    const { hostname, port } = this.remoteAddr;
    return `connection to ${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  }

  async read(buf: Uint8Array): Promise<number | null> {
    if (buf.length === 0) return 0;
    this.#inflight++;
    try {
      while (!this.#closed) {
        const n = Number(this.#lib.read(this.#fd, buf, BigInt(buf.length)));
        if (n > 0) return n;
        if (n === 0) return null;
        const errno = readErrno(this.#lib);
        if (errno === EINTR) continue;
        if (errno !== EAGAIN) throw fail(this.#lib, this.#context, "read", errno);
        await pollUntil(this.#lib, this.#fd, POLLIN, -1, () => this.#closed);
      }
      return null;
    } finally {
      this.#settle();
    }
  }

  async write(bytes: Uint8Array): Promise<number> {
    if (bytes.length === 0) return 0;
    this.#inflight++;
    try {
      while (!this.#closed) {
        const n = Number(this.#lib.write(this.#fd, bytes, BigInt(bytes.length)));
        if (n >= 0) return n;
        const errno = readErrno(this.#lib);
        if (errno === EINTR) continue;
        if (errno !== EAGAIN) throw fail(this.#lib, this.#context, "write", errno);
        await pollUntil(this.#lib, this.#fd, POLLOUT, -1, () => this.#closed);
      }
      throw new Deno.errors.BadResource(`${this.#context}: write on a closed connection`);
    } finally {
      this.#settle();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // shutdown wakes any poll() in flight on a worker thread; close(fd) alone would not, and
    // closing while it runs would let a new socket reuse the number under it.
    this.#lib.shutdown(this.#fd, SHUT_RDWR);
    this.#settle(0);
  }

  #settle(done = 1): void {
    this.#inflight -= done;
    if (this.#closed && this.#inflight === 0 && !this.#released) {
      this.#released = true;
      this.#lib.close(this.#fd);
    }
  }
}
