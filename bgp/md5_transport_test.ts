import assert from "node:assert/strict";
import {
  encodeMd5sig,
  encodeSockaddr,
  ffiAvailable,
  ffiConnector,
  loadedLibcPath,
  md5Available,
  md5Connector,
  SocketError,
  TCP_MD5SIG_SIZE,
} from "./md5_transport.ts";
import { ipv4ToBytes, ipv6ToBytes } from "./prefix.ts";
import { writeAll } from "./transport.ts";

const avail = md5Available();
if (!avail.ok) console.log(`skipping TCP MD5 socket tests: ${avail.reason}`);
const ignore = !avail.ok;

// The listening side of an MD5 connection, through FFI too: Deno.listen cannot set a key.
const LISTENER_SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  listen: { parameters: ["i32", "i32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
} as const;

type ListenerLib = Deno.DynamicLibrary<typeof LISTENER_SYMBOLS>["symbols"];
let listenerLib: ListenerLib | undefined;

function lib(): ListenerLib {
  listenerLib ??= Deno.dlopen(loadedLibcPath()!, LISTENER_SYMBOLS).symbols;
  return listenerLib;
}

/** An accepted server-side socket: blocking-free helpers over its fd. */
interface Accepted {
  read(max: number): Promise<Uint8Array | null>;
  write(bytes: Uint8Array): void;
  close(): void;
}

/** A TCP listener on loopback `host` that requires MD5 `key` from it (none: plain TCP). */
interface Md5Listener {
  port: number;
  accept(): Promise<Accepted>;
  close(): void;
}

async function waitReadable(fd: number, timeoutMs: number): Promise<boolean> {
  const pfd = new Uint8Array(8);
  const dv = new DataView(pfd.buffer);
  dv.setInt32(0, fd, true);
  dv.setInt16(4, 1, true); // POLLIN
  return (await lib().poll(pfd, 1n, timeoutMs)) > 0;
}

function md5Listen(key?: string, host = "127.0.0.1"): Md5Listener {
  const l = lib();
  const v6 = host.includes(":");
  const addr = v6 ? ipv6ToBytes(host) : ipv4ToBytes(host);
  const fd = l.socket(v6 ? 10 : 2, 1 | 0o4000, 0); // AF_INET(6), SOCK_STREAM|SOCK_NONBLOCK
  assert.ok(fd >= 0, "listener socket()");
  if (key !== undefined) {
    // The peer dials from the same loopback address it dials to.
    const sig = encodeMd5sig(addr, 0, new TextEncoder().encode(key));
    assert.equal(l.setsockopt(fd, 6, 14, sig, sig.length), 0, "listener TCP_MD5SIG");
  }
  const sa = encodeSockaddr(addr, 0);
  assert.equal(l.bind(fd, sa, sa.length), 0, "listener bind");
  assert.equal(l.listen(fd, 8), 0, "listener listen");
  const name = new Uint8Array(28);
  l.getsockname(fd, name, new Uint8Array(new Uint32Array([28]).buffer));
  const port = new DataView(name.buffer).getUint16(2, false);
  return {
    port,
    async accept() {
      assert.ok(await waitReadable(fd, 10_000), "no connection to accept");
      const c = l.accept4(fd, null, null, 0o4000);
      assert.ok(c >= 0, "accept4");
      return {
        async read(max) {
          if (!(await waitReadable(c, 10_000))) throw new Error("nothing to read");
          const buf = new Uint8Array(max);
          const n = Number(l.read(c, buf, BigInt(max)));
          return n > 0 ? buf.subarray(0, n) : null;
        },
        write(bytes) {
          assert.equal(Number(l.write(c, bytes, BigInt(bytes.length))), bytes.length);
        },
        close: () => void l.close(c),
      };
    },
    close: () => void l.close(fd),
  };
}

const enc = new TextEncoder();
const dec = new TextDecoder();

async function readString(conn: { read(b: Uint8Array): Promise<number | null> }, len: number) {
  const buf = new Uint8Array(len);
  let off = 0;
  while (off < len) {
    const n = await conn.read(buf.subarray(off));
    if (n === null) break;
    off += n;
  }
  return dec.decode(buf.subarray(0, off));
}

Deno.test("tcp_md5sig layout matches linux/tcp.h: 216 bytes, keylen at 130, key at 136", () => {
  const sig = encodeMd5sig(ipv4ToBytes("192.0.2.2"), 0, enc.encode("secret"));
  assert.equal(sig.length, TCP_MD5SIG_SIZE);
  assert.deepEqual([...sig.subarray(0, 8)], [2, 0, 0, 0, 192, 0, 2, 2]);
  assert.equal(new DataView(sig.buffer).getUint16(130, true), 6);
  assert.equal(dec.decode(sig.subarray(136, 142)), "secret");
  assert.ok(sig.subarray(142).every((b) => b === 0));
  assert.throws(() => md5Connector("x".repeat(81)), /81 bytes.*at most 80/);
});

/** Runs `code` in a fresh `deno run` with exactly `flags`; returns its JSON output line. */
async function runWith(flags: string[], code: string): Promise<Record<string, unknown>> {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(script, code);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-check", ...flags, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, dec.decode(out.stderr));
    return JSON.parse(dec.decode(out.stdout));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const MODULE = JSON.stringify(import.meta.resolve("./md5_transport.ts"));

Deno.test("md5Available without --allow-ffi says which flag is missing", async () => {
  const r = await runWith(
    [],
    `import { md5Available } from ${MODULE}; console.log(JSON.stringify(md5Available()));`,
  );
  assert.equal(r.ok, false);
  assert.match(String(r.reason), /--allow-ffi=\/\S*libc\.so\.6/);
});

Deno.test({
  name: "with --allow-ffi scoped to libc's path: available, a signed connection works",
  ignore,
  async fn() {
    const l = md5Listen("scoped");
    try {
      const accepting = l.accept();
      const code = `import { md5Available, md5Connector, loadedLibcPath } from ${MODULE};
        const c = await md5Connector("scoped")("127.0.0.1", ${l.port});
        await c.write(new TextEncoder().encode("hi"));
        c.close();
        const e = await md5Connector("k", { sourceAddress: "192.0.2.99" })("127.0.0.1", 1)
          .then(() => "", (x) => x.message);
        console.log(JSON.stringify({ ...md5Available(), path: loadedLibcPath(), e }));`;
      const running = runWith([`--allow-ffi=${loadedLibcPath()}`], code);
      const server = await accepting;
      assert.equal(dec.decode((await server.read(10))!), "hi");
      server.close();
      const r = await running;
      assert.equal(r.ok, true);
      assert.equal(r.path, loadedLibcPath());
      assert.match(String(r.e), /bind: EADDRNOTAVAIL \(Cannot assign requested address\)/);
    } finally {
      l.close();
    }
  },
});

Deno.test({
  name: "a signed connect to a plain TCP listener never establishes",
  ignore,
  async fn() {
    const plain = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    let accepted = false;
    const accepting = plain.accept().then((c) => {
      accepted = true;
      c.close();
    }, () => {});
    try {
      const connect = md5Connector("secret", { connectTimeoutMs: 1_500 });
      const e = await connect("127.0.0.1", (plain.addr as Deno.NetAddr).port)
        .then((c) => c.close(), (x: unknown) => x);
      assert.ok(e instanceof SocketError, `want SocketError, got ${e}`);
      assert.equal(e.code, "ETIMEDOUT");
      assert.equal(accepted, false, "the plain listener accepted a signed connection");
      // Control: the same listener takes an unsigned connection.
      const c = await Deno.connect({
        hostname: "127.0.0.1",
        port: (plain.addr as Deno.NetAddr).port,
      });
      c.close();
      await accepting;
      assert.equal(accepted, true);
    } finally {
      plain.close();
      await accepting;
    }
  },
});

Deno.test({
  name: "matching keys on both ends: connects, data round trip, local address reported",
  ignore,
  async fn() {
    const l = md5Listen("secret");
    try {
      const accepting = l.accept();
      const conn = await md5Connector("secret", { connectTimeoutMs: 5_000 })("127.0.0.1", l.port);
      const server = await accepting;
      try {
        assert.deepEqual(conn.remoteAddr, { hostname: "127.0.0.1", port: l.port });
        const local = conn.localAddr as Deno.NetAddr;
        assert.equal(local.hostname, "127.0.0.1");
        assert.ok(local.port > 0 && local.port !== l.port);
        await writeAll(conn, enc.encode("OPEN from client"));
        assert.equal(dec.decode((await server.read(100))!), "OPEN from client");
        // A large write exercises partial writes and the poll-for-POLLOUT path.
        const big = new Uint8Array(4 << 20).map((_, i) => i & 0xff);
        const sending = writeAll(conn, big);
        let got = 0;
        let ok = true;
        while (got < big.length) {
          const chunk = await server.read(65536);
          if (!chunk) break;
          for (let i = 0; i < chunk.length; i++) ok &&= chunk[i] === ((got + i) & 0xff);
          got += chunk.length;
        }
        await sending;
        assert.equal(got, big.length);
        assert.ok(ok, "bytes arrived altered");
        server.write(enc.encode("KEEPALIVE from server"));
        assert.equal(await readString(conn, 21), "KEEPALIVE from server");
      } finally {
        conn.close();
        server.close();
      }
    } finally {
      l.close();
    }
  },
});

Deno.test({
  name: "a wrong key never establishes against an MD5 listener",
  ignore,
  async fn() {
    const l = md5Listen("secret");
    try {
      const e = await md5Connector("Secret", { connectTimeoutMs: 1_500 })("127.0.0.1", l.port)
        .then((c) => c.close(), (x: unknown) => x);
      assert.ok(e instanceof SocketError, `want SocketError, got ${e}`);
      assert.equal(e.syscall, "connect");
      assert.equal(e.code, "ETIMEDOUT");
      assert.match(e.message, /127\.0\.0\.1:\d+/);
    } finally {
      l.close();
    }
  },
});

Deno.test({
  name: "read after the peer closes returns null; close() wakes a pending read",
  ignore,
  async fn() {
    const l = md5Listen("k");
    try {
      const accepting = l.accept();
      const a = await md5Connector("k")("127.0.0.1", l.port);
      const server = await accepting;
      server.write(enc.encode("bye"));
      server.close();
      assert.equal(await readString(a, 3), "bye");
      assert.equal(await a.read(new Uint8Array(10)), null);
      a.close();

      const accepting2 = l.accept();
      const b = await md5Connector("k")("127.0.0.1", l.port);
      const server2 = await accepting2;
      try {
        const pending = b.read(new Uint8Array(10));
        await new Promise((r) => setTimeout(r, 100));
        b.close();
        assert.equal(await pending, null);
        // The peer sees our FIN: close really closed the socket.
        assert.equal(await server2.read(10), null);
        await assert.rejects(b.write(enc.encode("x")));
      } finally {
        server2.close();
      }
    } finally {
      l.close();
    }
  },
});

Deno.test({
  name: "socket errors carry the syscall and errno text",
  ignore,
  async fn() {
    // 192.0.2.99 is on no local interface: bind fails before any packet is sent.
    const e = await md5Connector("k", { sourceAddress: "192.0.2.99" })("127.0.0.1", 179)
      .then(() => undefined, (x: unknown) => x);
    assert.ok(e instanceof SocketError, `want SocketError, got ${e}`);
    assert.equal(e.syscall, "bind");
    assert.equal(e.code, "EADDRNOTAVAIL");
    assert.match(e.message, /connect 127\.0\.0\.1:179: bind: EADDRNOTAVAIL \(Cannot assign/);
  },
});

Deno.test({
  name: "IPv6: matching keys on ::1 connect and carry data; reported addresses are IPv6",
  ignore,
  async fn() {
    const l = md5Listen("v6key", "::1");
    try {
      const accepting = l.accept();
      const conn = await md5Connector("v6key", { connectTimeoutMs: 5_000 })("::1", l.port);
      const server = await accepting;
      try {
        assert.equal((conn.localAddr as Deno.NetAddr).hostname, "::1");
        assert.deepEqual(conn.remoteAddr, { hostname: "::1", port: l.port });
        await writeAll(conn, enc.encode("v6"));
        assert.equal(dec.decode((await server.read(10))!), "v6");
      } finally {
        conn.close();
        server.close();
      }
      const e = await md5Connector("other", { connectTimeoutMs: 1_500 })("::1", l.port)
        .then((c) => c.close(), (x: unknown) => x);
      assert.ok(e instanceof SocketError, `want SocketError, got ${e}`);
    } finally {
      l.close();
    }
  },
});

const ffi = ffiAvailable();
if (!ffi.ok) console.log(`skipping FFI source-address tests: ${ffi.reason}`);

Deno.test({
  name: "without a password: binds sourceAddress 127.0.0.2; the server sees it as remote",
  ignore: !ffi.ok,
  async fn() {
    const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (server.addr as Deno.NetAddr).port;
    try {
      const accepting = server.accept();
      const conn = await ffiConnector({ sourceAddress: "127.0.0.2", connectTimeoutMs: 5_000 })(
        "127.0.0.1",
        port,
      );
      const peer = await accepting;
      try {
        const remote = peer.remoteAddr as Deno.NetAddr;
        assert.equal(remote.hostname, "127.0.0.2");
        const local = conn.localAddr as Deno.NetAddr;
        assert.equal(local.hostname, "127.0.0.2");
        assert.equal(local.port, remote.port);
        await writeAll(conn, new TextEncoder().encode("plain"));
        const buf = new Uint8Array(16);
        const n = await peer.read(buf);
        assert.equal(dec.decode(buf.subarray(0, n ?? 0)), "plain");
      } finally {
        conn.close();
        peer.close();
      }
    } finally {
      server.close();
    }
  },
});

Deno.test({
  name: "without a password and without a source: an ordinary connection from 127.0.0.1",
  ignore: !ffi.ok,
  async fn() {
    const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    try {
      const accepting = server.accept();
      const conn = await ffiConnector()("127.0.0.1", (server.addr as Deno.NetAddr).port);
      const peer = await accepting;
      assert.equal((peer.remoteAddr as Deno.NetAddr).hostname, "127.0.0.1");
      conn.close();
      peer.close();
    } finally {
      server.close();
    }
  },
});

Deno.test("ffiConnector refuses a password over 80 bytes before any socket exists", () => {
  assert.throws(() => ffiConnector({ password: "x".repeat(81) }), /81 bytes.*at most 80/);
  ffiConnector({ password: "x".repeat(80) });
});
