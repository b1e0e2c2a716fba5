/**
 * A connected non-blocking socket driven through libc, as a {@linkcode Conn}. read/write run
 * on the JS thread so errno is readable; waiting for readiness is a poll() on Deno's
 * blocking-thread pool, in bounded slices, which close() wakes with shutdown().
 */
import { EAGAIN, EINTR, fail, type Libc, readErrno, SHUT_RDWR } from "./libc_ffi.ts";
import type { Conn, NetAddr } from "./transport.ts";

/** poll() event: readable. */
export const POLLIN = 0x1;
/** poll() event: writable (also: a non-blocking connect finished). */
export const POLLOUT = 0x4;
/** Upper bound of one poll() on a worker thread; close() wakes it sooner via shutdown(). */
const POLL_SLICE_MS = 2_000;

/** A socket: the libc that drives it and its descriptor. */
export interface Socket {
  lib: Libc;
  fd: number;
}

/** Options of {@linkcode pollUntil}. */
export interface PollOptions {
  /** POLLIN or POLLOUT. */
  events: number;
  /** Give up after this long; negative waits until `stop`. */
  timeoutMs: number;
  /** Checked between slices: true ends the wait (false returned). */
  stop: () => boolean;
}

/**
 * Polls the socket for `events` on a worker thread until ready (true), `timeoutMs` passes
 * (false) or `stop()` says so (false). Slices keep every worker call bounded.
 */
export async function pollUntil(socket: Socket, options: PollOptions): Promise<boolean> {
  const { timeoutMs, stop } = options;
  const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
  const pfd = new Uint8Array(8);
  const dv = new DataView(pfd.buffer);
  while (!stop()) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    dv.setInt32(0, socket.fd, true);
    dv.setInt16(4, options.events, true);
    dv.setInt16(6, 0, true);
    // A -1 (EINTR; errno is unreadable from this thread) just polls again.
    const n = await socket.lib.poll(pfd, 1n, Math.ceil(Math.min(left, POLL_SLICE_MS)));
    // POLLERR/POLLHUP count as ready: the following syscall reports the error or EOF.
    if (n > 0 && dv.getInt16(6, true) !== 0) return true;
  }
  return false;
}

/** A connected socket driven through libc; satisfies {@linkcode Conn}. */
export class FfiConn implements Conn {
  /** Our end, as getsockname() reported it. */
  readonly localAddr: NetAddr;
  /** The peer. */
  readonly remoteAddr: NetAddr;
  #socket: Socket;
  #closed = false;
  #inflight = 0;
  #released = false;

  /** Takes ownership of the connected `socket`. */
  constructor(socket: Socket, addrs: { local: NetAddr; remote: NetAddr }) {
    this.#socket = socket;
    this.localAddr = addrs.local;
    this.remoteAddr = addrs.remote;
  }

  get #context(): string {
    const { hostname, port } = this.remoteAddr;
    return `connection to ${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
  }

  /** Reads into `buf`; null at EOF or once closed. */
  async read(buf: Uint8Array): Promise<number | null> {
    if (buf.length === 0) return 0;
    const { lib, fd } = this.#socket;
    this.#inflight++;
    try {
      while (!this.#closed) {
        const n = Number(lib.read(fd, buf, BigInt(buf.length)));
        if (n > 0) return n;
        if (n === 0) return null;
        const errno = readErrno(lib);
        if (errno === EINTR) continue;
        if (errno !== EAGAIN) throw fail(lib, { context: this.#context, syscall: "read", errno });
        await pollUntil(this.#socket, { events: POLLIN, timeoutMs: -1, stop: () => this.#closed });
      }
      return null;
    } finally {
      this.#settle();
    }
  }

  /** Writes some of `bytes`, waiting until the socket takes at least one. */
  async write(bytes: Uint8Array): Promise<number> {
    if (bytes.length === 0) return 0;
    const { lib, fd } = this.#socket;
    this.#inflight++;
    try {
      while (!this.#closed) {
        const n = Number(lib.write(fd, bytes, BigInt(bytes.length)));
        if (n >= 0) return n;
        const errno = readErrno(lib);
        if (errno === EINTR) continue;
        if (errno !== EAGAIN) throw fail(lib, { context: this.#context, syscall: "write", errno });
        await pollUntil(this.#socket, { events: POLLOUT, timeoutMs: -1, stop: () => this.#closed });
      }
      throw new Deno.errors.BadResource(`${this.#context}: write on a closed connection`);
    } finally {
      this.#settle();
    }
  }

  /** Ends the connection; the descriptor is released once no read or write is in flight. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    // shutdown wakes any poll() in flight on a worker thread; close(fd) alone would not, and
    // closing while it runs would let a new socket reuse the number under it.
    this.#socket.lib.shutdown(this.#socket.fd, SHUT_RDWR);
    this.#settle(0);
  }

  #settle(done = 1): void {
    this.#inflight -= done;
    if (this.#closed && this.#inflight === 0 && !this.#released) {
      this.#released = true;
      this.#socket.lib.close(this.#socket.fd);
    }
  }
}
