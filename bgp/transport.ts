/**
 * Byte transport for BGP sessions: the injectable connection shape (compatible with
 * `Deno.Conn`), the real TCP connector and listener, and an in-memory socket pair so the
 * FSM is tested without a network.
 */

/** A network address as the session layer sees it (a subset of `Deno.NetAddr`). */
export interface NetAddr {
  hostname: string;
  port: number;
}

/** A connected byte stream; `Deno.Conn` satisfies it. */
export interface Conn {
  /** Reads into `buf`; resolves to the byte count, or null at end of stream. */
  read(buf: Uint8Array): Promise<number | null>;
  /** Writes some of `bytes`; resolves to how many were written. */
  write(bytes: Uint8Array): Promise<number>;
  /** Closes both directions. */
  close(): void;
  /** Our end of the connection. */
  readonly localAddr: Deno.Addr | NetAddr;
  /** The peer's end. */
  readonly remoteAddr: Deno.Addr | NetAddr;
}

/** Opens a connection to `addr`:`port`. */
export type Connector = (addr: string, port: number) => Promise<Conn>;

/** The address text and port of a connection end; unix/vsock ends have none. */
export function netAddrOf(addr: Deno.Addr | NetAddr): NetAddr {
  if ("hostname" in addr && "port" in addr) return { hostname: addr.hostname, port: addr.port };
  return { hostname: "", port: 0 };
}

/** "ip:port", with brackets around IPv6 addresses. */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

/** Splits "ip:port" or "[v6]:port"; throws TypeError naming the text when malformed. */
export function parseHostPort(text: string): NetAddr {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !(port >= 0 && port <= 65535)) {
    throw new TypeError(`invalid address "${text}": want HOST:PORT or [IPv6]:PORT`);
  }
  return { hostname: m[1], port };
}

/** The real TCP connector (`Deno.connect`); Deno cannot choose the source address. */
export const tcpConnector: Connector = async (addr, port) => {
  const conn = await Deno.connect({ hostname: addr, port, transport: "tcp" });
  try {
    conn.setNoDelay(true);
  } catch {
    // Nagle only delays small KEEPALIVEs; failing to disable it is harmless.
  }
  return conn;
};

/** Writes all of `bytes`, looping over partial writes. */
export async function writeAll(conn: Conn, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) {
    const n = await conn.write(off === 0 ? bytes : bytes.subarray(off));
    if (n <= 0) throw new Error("connection write made no progress");
    off += n;
  }
}

/** Options for {@linkcode memoryPipe}. */
export interface MemoryPipeOptions {
  /** Address of end `a` (end `b` sees it as its remote). */
  a?: NetAddr;
  /** Address of end `b`. */
  b?: NetAddr;
}

/** One end of an in-memory pipe, with test hooks. */
export interface MemoryConn extends Conn {
  /** Whether this end was closed (by either side). */
  readonly closed: boolean;
  /** Every chunk written from this end, in order; tests decode them. */
  readonly written: Uint8Array[];
}

/** A connected pair of in-memory streams: what `a` writes, `b` reads, and back. */
export function memoryPipe(options: MemoryPipeOptions = {}): [MemoryConn, MemoryConn] {
  const addrA = options.a ?? { hostname: "192.0.2.1", port: 40000 };
  const addrB = options.b ?? { hostname: "192.0.2.2", port: 179 };
  const ea = makeEnd(addrA, addrB);
  const eb = makeEnd(addrB, addrA);
  ea.peer = eb;
  eb.peer = ea;
  return [ea.conn, eb.conn];
}

interface PipeEnd {
  conn: MemoryConn;
  peer?: PipeEnd;
  inbox: Uint8Array[];
  waiter?: () => void;
  closed: boolean;
}

function makeEnd(local: NetAddr, remote: NetAddr): PipeEnd {
  const written: Uint8Array[] = [];
  const end: PipeEnd = { inbox: [], closed: false, conn: undefined as unknown as MemoryConn };
  const wake = (e: PipeEnd) => {
    const w = e.waiter;
    e.waiter = undefined;
    w?.();
  };
  end.conn = {
    localAddr: { ...local },
    remoteAddr: { ...remote },
    written,
    get closed() {
      return end.closed;
    },
    async read(buf: Uint8Array): Promise<number | null> {
      while (end.inbox.length === 0) {
        if (end.closed) return null;
        await new Promise<void>((resolve) => (end.waiter = resolve));
      }
      const chunk = end.inbox[0];
      const n = Math.min(buf.length, chunk.length);
      buf.set(chunk.subarray(0, n));
      if (n === chunk.length) end.inbox.shift();
      else end.inbox[0] = chunk.subarray(n);
      return n;
    },
    write(bytes: Uint8Array): Promise<number> {
      if (end.closed || !end.peer || end.peer.closed) {
        return Promise.reject(new Deno.errors.BrokenPipe("memory pipe closed"));
      }
      const copy = bytes.slice();
      written.push(copy);
      end.peer.inbox.push(copy);
      wake(end.peer);
      return Promise.resolve(bytes.length);
    },
    close(): void {
      for (const e of [end, end.peer]) {
        if (!e || e.closed) continue;
        e.closed = true;
        wake(e);
      }
    },
  };
  return end;
}
