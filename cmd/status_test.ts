import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { createRegistry } from "../api/metrics.ts";
import { startAdminServer } from "./admin.ts";
import { parseCommandLine } from "./args.ts";
import {
  EXIT_DEGRADED,
  EXIT_OK,
  EXIT_UNREACHABLE,
  formatStatus,
  formatUptime,
  runStatus,
  type StatusDocument,
} from "./status.ts";

const DOC: StatusDocument = {
  role: "all",
  node: "node-a",
  config: {
    valid: false,
    errors: ['IPAddressPool "a": spec.addresses[0]: overlaps pool "b"'],
    warnings: ["BGPPeer p1: disableMP is deprecated"],
  },
  sessions: [
    {
      peer: "192.0.2.1:179",
      name: "tor",
      state: "Established",
      uptimeSeconds: 3723,
      prefixesSent: 2,
      prefixesReceived: 0,
      peerAsn: 65001,
      gracefulRestart: { enabled: true, negotiated: true, notification: true },
    },
    {
      peer: "192.0.2.0:179",
      state: "Active",
      prefixesSent: 0,
      prefixesReceived: 0,
      lastError: "connection refused",
    },
  ],
  pools: [{
    name: "dual",
    ipv4: { used: 1, total: 256 },
    ipv6: { used: "1", total: "18446744073709551616" },
  }],
  services: [
    {
      namespace: "ns",
      name: "web",
      ips: ["192.0.2.10", "2001:db8::10"],
      pool: "dual",
      peers: ["192.0.2.1:179"],
    },
    { namespace: "ns", name: "pending", ips: [], peers: [], pending: "no available IPs" },
  ],
};

function section(text: string, title: string): string[] {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.startsWith(title));
  assert.ok(start >= 0, `section ${title} missing`);
  const end = lines.findIndex((l, i) => i > start && l === "");
  return lines.slice(start, end < 0 ? undefined : end);
}

Deno.test("formatUptime", () => {
  assert.equal(formatUptime(42), "42s");
  assert.equal(formatUptime(3723), "1h2m3s");
  assert.equal(formatUptime(90061), "1d1h1m");
});

Deno.test("formatStatus shows config errors, sessions, huge pool totals and services", () => {
  const text = formatStatus(DOC);
  assert.match(text, /^ferrolb all on node node-a\n/);
  const config = section(text, "Config:");
  assert.equal(config[0], "Config: INVALID");
  assert.ok(config.some((l) => l.includes('error: IPAddressPool "a"') && l.includes("overlaps")));
  assert.ok(config.some((l) => l.includes("warning: BGPPeer p1")));

  const sessions = section(text, "Sessions");
  assert.equal(sessions.length, 4);
  assert.match(
    sessions[1],
    /PEER\s+STATE\s+PEER AS\s+UPTIME\s+SENT\s+RECEIVED\s+GRACEFUL RESTART\s+LAST ERROR/,
  );
  // Sorted by peer, columns aligned.
  assert.match(
    sessions[2],
    /^\s+192\.0\.2\.0:179\s+Active\s+-\s+-\s+0\s+0\s+-\s+connection refused$/,
  );
  assert.match(
    sessions[3],
    /^\s+192\.0\.2\.1:179 \(tor\)\s+Established\s+65001\s+1h2m3s\s+2\s+0\s+on \(N\)$/,
  );
  assert.equal(sessions[2].indexOf("Active"), sessions[3].indexOf("Established"));

  const pools = section(text, "Pools");
  assert.match(pools[2], /dual\s+1\/256\s+1\/18446744073709551616/);

  const services = section(text, "Services");
  assert.match(services[2], /ns\/pending\s+<pending: no available IPs>\s+-\s+-/);
  assert.match(services[3], /ns\/web\s+192\.0\.2\.10,2001:db8::10\s+dual\s+192\.0\.2\.1:179/);
});

Deno.test("formatStatus with a valid config and nothing running says so", () => {
  const text = formatStatus({
    role: "controller",
    config: { valid: true, errors: [], warnings: [] },
    sessions: [],
    pools: [],
    services: [],
  });
  assert.match(text, /^ferrolb controller\n\nConfig: valid\n/);
  assert.match(text, /Sessions \(0\):\n {2}none\n/);
  assert.match(text, /Services \(0\):\n {2}none\n$/);
});

const HEALTHY: StatusDocument = {
  role: "speaker",
  node: "node-a",
  config: { valid: true, errors: [], warnings: [] },
  sessions: [{
    peer: "192.0.2.1:179",
    name: "tor",
    state: "Established",
    prefixesSent: 1,
    prefixesReceived: 0,
  }],
  pools: [],
  services: [],
};

/** Serves `doc` on /status at a free loopback port for the duration of `fn`. */
async function withInstance(
  doc: StatusDocument,
  fn: (addr: string) => Promise<void>,
): Promise<void> {
  const srv = startAdminServer("127.0.0.1:0", {
    registry: createRegistry(),
    health: () => true,
    ready: () => true,
    status: () => doc,
    logger: silentLogger,
  });
  try {
    await fn(srv.addr);
  } finally {
    await srv.close();
  }
}

Deno.test("runStatus: healthy instance prints its status and exits 0 (--addr, :PORT)", async () => {
  await withInstance(HEALTHY, async (addr) => {
    let out = "";
    const code = await runStatus(parseCommandLine(["status", "--addr", addr]), {
      stdout: (t) => out += t,
      stderr: (t) => assert.fail(t),
    });
    assert.equal(code, EXIT_OK);
    assert.equal(out, formatStatus(HEALTHY));
    // The admin flag's listen form `:PORT` (all interfaces) is asked on loopback.
    const port = addr.split(":")[1];
    assert.equal(
      await runStatus(parseCommandLine(["status", "--addr", `:${port}`]), { stdout: () => {} }),
      EXIT_OK,
    );
  });
});

Deno.test("runStatus: invalid config or a session not Established exits 1 and says which", async () => {
  await withInstance(DOC, async (addr) => {
    let out = "";
    let err = "";
    const code = await runStatus(parseCommandLine(["status", "--admin-addr", addr]), {
      stdout: (t) => out += t,
      stderr: (t) => err += t,
    });
    assert.equal(code, EXIT_DEGRADED);
    assert.equal(out, formatStatus(DOC));
    assert.equal(
      err,
      "ferrolb status: not healthy: configuration invalid; session 192.0.2.0:179 is Active\n",
    );
  });
  const down = { ...HEALTHY, sessions: [{ ...HEALTHY.sessions[0], state: "Connect" }] };
  await withInstance(down, async (addr) => {
    let err = "";
    const code = await runStatus(parseCommandLine(["status", "--addr", addr]), {
      stdout: () => {},
      stderr: (t) => err += t,
    });
    assert.equal(code, EXIT_DEGRADED);
    assert.equal(err, "ferrolb status: not healthy: session tor is Connect\n");
  });
});

Deno.test("runStatus --json prints the document as JSON, same exit codes", async () => {
  await withInstance(DOC, async (addr) => {
    let out = "";
    const code = await runStatus(parseCommandLine(["status", "--addr", addr, "--json"]), {
      stdout: (t) => out += t,
      stderr: () => {},
    });
    assert.equal(code, EXIT_DEGRADED);
    const parsed = JSON.parse(out);
    assert.equal(parsed.role, "all");
    assert.equal(parsed.config.valid, false);
    assert.deepEqual(parsed.sessions.map((s: { state: string }) => s.state), [
      "Established",
      "Active",
    ]);
  });
});

Deno.test("runStatus: connection refused names the address and --addr, exit 3", async () => {
  // A port that was just free: nothing listens there.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const addr = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  let err = "";
  const code = await runStatus(parseCommandLine(["status", "--addr", addr]), {
    stdout: (t) => assert.fail(t),
    stderr: (t) => err += t,
  });
  assert.equal(code, EXIT_UNREACHABLE);
  assert.equal(
    err,
    `ferrolb status: connection refused at ${addr}: is ferrolb running? (--addr)\n`,
  );
});

Deno.test("runStatus: an instance that never answers times out with exit 3", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const addr = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const c of l) held.push(c);
  })();
  try {
    let err = "";
    const code = await runStatus(parseCommandLine(["status", "--addr", addr]), {
      timeoutMs: 200,
      stderr: (t) => err += t,
    });
    assert.equal(code, EXIT_UNREACHABLE);
    assert.equal(err, `ferrolb status: no answer from ${addr} within 200 ms\n`);
  } finally {
    l.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
  }
});

Deno.test("runStatus: a non-status answer is reported, not printed, exit 3", async () => {
  const srv = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    () => new Response("<html>hello</html>"),
  );
  try {
    let err = "";
    const code = await runStatus(
      parseCommandLine(["status", "--addr", `127.0.0.1:${srv.addr.port}`]),
      { stdout: (t) => assert.fail(t), stderr: (t) => err += t },
    );
    assert.equal(code, EXIT_UNREACHABLE);
    assert.match(err, /did not answer with a status document/);
  } finally {
    await srv.shutdown();
  }
});

Deno.test("formatStatus: a Service with an address but no peer shows why; unsupported per peer", () => {
  const text = formatStatus({
    ...HEALTHY,
    sessions: [{ ...HEALTHY.sessions[0], unsupported: ["BFD"] }],
    services: [{
      namespace: "ns",
      name: "v6",
      ips: ["2001:db8::1"],
      peers: [],
      notAnnounced: "no IPv6 session: every peer of this node is IPv4-only",
    }],
  });
  assert.match(text, /\n {2}tor: unsupported: BFD\n/);
  assert.match(
    text,
    /ns\/v6\s+2001:db8::1\s+-\s+- \(no IPv6 session: every peer of this node is IPv4-only\)/,
  );
});

Deno.test("all: the speaker's reason for not announcing reaches the merged status", async () => {
  const { mergeStatus } = await import("./all.ts");
  const doc = mergeStatus({
    node: "n1",
    controller: {
      ...HEALTHY,
      role: "controller",
      sessions: [],
      services: [{ namespace: "ns", name: "v6", ips: ["2001:db8::1"], pool: "p", peers: [] }],
    },
    speaker: {
      sessions: HEALTHY.sessions,
      services: [{
        namespace: "ns",
        name: "v6",
        ips: ["2001:db8::1"],
        peers: [],
        pending: "no IPv6 next hop",
      }],
    },
    speakerConfig: { valid: true, errors: [], warnings: [] },
    fileErrors: [],
    fileIndex: new Map(),
  });
  assert.equal(doc.services[0].notAnnounced, "no IPv6 next hop");
  assert.match(formatStatus(doc), /ns\/v6\s+2001:db8::1\s+p\s+- \(no IPv6 next hop\)/);
});
