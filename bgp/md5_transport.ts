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
 * wakes it when the connection is closed. The pieces: `libc_ffi.ts` (bindings, errno),
 * `sockaddr.ts` (struct encoding), `ffi_conn.ts` (the connection); this file dials.
 */
import type { Conn, Connector, NetAddr } from "./transport.ts";
import {
  EINPROGRESS,
  fail,
  IPPROTO_TCP,
  type Libc,
  type LibcOptions,
  openLibc,
  openMd5,
  readErrno,
  SO_ERROR,
  SOCK_FLAGS,
  SOCK_STREAM,
  SocketError,
  SOL_SOCKET,
  TCP_MD5SIG,
  TCP_NODELAY,
  zoneIndex,
} from "./libc_ffi.ts";
import {
  decodeSockaddr,
  encodeMd5sig,
  encodeSockaddr,
  type IpAddr,
  MD5_MAX_KEY_LEN,
  parseIp,
} from "./sockaddr.ts";
import { FfiConn, POLLOUT, pollUntil } from "./ffi_conn.ts";

export { LIBC_CANDIDATES } from "./libc_paths.mjs";
export { type LibcOptions, SocketError } from "./libc_ffi.ts";
export {
  decodeSockaddr,
  encodeMd5sig,
  encodeSockaddr,
  MD5_MAX_KEY_LEN,
  TCP_MD5SIG_SIZE,
} from "./sockaddr.ts";

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
  return (hostname, port) => ffiConnect({ hostname, port }, { ...rest, key });
}

type DialOptions = Md5ConnectorOptions & { key?: Uint8Array };

/** A socket being dialed: what every step needs to act and to name its failure. */
interface Dialing {
  lib: Libc;
  fd: number;
  /** "connect host:port", the prefix of every error. */
  context: string;
  peer: IpAddr;
}

async function ffiConnect(target: NetAddr, options: DialOptions): Promise<Conn> {
  const lib = libcFor(options);
  const { hostname: host, port } = target;
  const context = `connect ${host.includes(":") ? `[${host}]` : host}:${port}`;
  const peer = parseIp(host, (zone) => zoneIndex(lib, zone));
  const fd = lib.socket(peer.family, SOCK_STREAM | SOCK_FLAGS, 0);
  if (fd < 0) throw fail(lib, { context, syscall: "socket" });
  const d: Dialing = { lib, fd, context, peer };
  try {
    configureSocket(d, options);
    await connectSocket(d, { ...options, port });
    const remote = { hostname: host.split("%")[0], port };
    return new FfiConn({ lib, fd }, { local: localAddress(d), remote });
  } catch (err) {
    lib.close(fd);
    throw err;
  }
}

/** libc, with the kernel's TCP MD5 support when a key is to be set; else the reason thrown. */
function libcFor(options: DialOptions): Libc {
  const l = options.key ? openMd5(options) : openLibc(options);
  if (l.lib) return l.lib;
  if (options.key) throw new Md5UnavailableError(l.reason ?? "unknown");
  throw new FfiUnavailableError(l.reason ?? "unknown");
}

/** Everything that must precede connect(): no Nagle, the MD5 key, the source address. */
function configureSocket(d: Dialing, options: DialOptions): void {
  const { lib, fd, context, peer } = d;
  const one = new Uint8Array(new Int32Array([1]).buffer);
  // Nagle only delays small KEEPALIVEs; failing to disable it is harmless.
  lib.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, one, 4);
  if (options.key) {
    const sig = encodeMd5sig(peer.bytes, peer.scopeId, options.key);
    if (lib.setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, sig, sig.length) !== 0) {
      throw fail(lib, { context, syscall: "setsockopt(TCP_MD5SIG)" });
    }
  }
  if (!options.sourceAddress) return;
  const src = parseIp(options.sourceAddress, (zone) => zoneIndex(lib, zone));
  if (src.family !== peer.family) {
    throw new TypeError(`${context}: source ${options.sourceAddress} is another family`);
  }
  const sa = encodeSockaddr(src.bytes, 0, src.scopeId);
  if (lib.bind(fd, sa, sa.length) !== 0) throw fail(lib, { context, syscall: "bind" });
}

/** Starts the non-blocking connect and, when it is in progress, waits for its outcome. */
async function connectSocket(d: Dialing, options: DialOptions & { port: number }): Promise<void> {
  const { lib, fd, context, peer } = d;
  const sa = encodeSockaddr(peer.bytes, options.port, peer.scopeId);
  if (lib.connect(fd, sa, sa.length) === 0) return;
  const errno = readErrno(lib);
  if (errno !== EINPROGRESS) throw fail(lib, { context, syscall: "connect", errno });
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  const ready = await pollUntil(d, { events: POLLOUT, timeoutMs, stop: () => false });
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
  checkSoError(d);
}

/** A writable socket after a non-blocking connect may still have failed: SO_ERROR says. */
function checkSoError(d: Dialing): void {
  const { lib, fd, context } = d;
  const err = new Uint8Array(4);
  const len = new Uint8Array(new Uint32Array([4]).buffer);
  if (lib.getsockopt(fd, SOL_SOCKET, SO_ERROR, err, len) !== 0) {
    throw fail(lib, { context, syscall: "getsockopt(SO_ERROR)" });
  }
  const soError = new DataView(err.buffer).getInt32(0, true);
  if (soError !== 0) throw fail(lib, { context, syscall: "connect", errno: soError });
}

/** Our end of the connection, as the kernel chose it. */
function localAddress(d: Dialing): NetAddr {
  const { lib, fd, context } = d;
  const local = new Uint8Array(128);
  const localLen = new Uint8Array(new Uint32Array([128]).buffer);
  if (lib.getsockname(fd, local, localLen) !== 0) {
    throw fail(lib, { context, syscall: "getsockname" });
  }
  return decodeSockaddr(local);
}
