import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { createRegistry } from "../api/metrics.ts";
import { startAdminServer } from "./admin.ts";
import { parseCommandLine } from "./args.ts";
import { formatStatus, formatUptime, runStatus, type StatusDocument } from "./status.ts";

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

Deno.test("runStatus prints a live instance's /status (--addr, else --admin-addr)", async () => {
  const srv = startAdminServer("127.0.0.1:0", {
    registry: createRegistry(),
    health: () => true,
    ready: () => true,
    status: () => DOC,
    logger: silentLogger,
  });
  try {
    let out = "";
    const code = await runStatus(parseCommandLine(["status", "--addr", srv.addr]), {
      stdout: (t) => out += t,
      stderr: (t) => assert.fail(t),
    });
    assert.equal(code, 0);
    assert.equal(out, formatStatus(DOC));
    out = "";
    const code2 = await runStatus(parseCommandLine(["status", "--admin-addr", srv.addr]), {
      stdout: (t) => out += t,
    });
    assert.equal(code2, 0);
    assert.ok(out.includes("ns/web"));
    // The admin flag's listen form `:PORT` (all interfaces) is asked on loopback.
    const port = srv.addr.split(":")[1];
    assert.equal(
      await runStatus(parseCommandLine(["status", "--addr", `:${port}`]), { stdout: () => {} }),
      0,
    );
  } finally {
    await srv.close();
  }
});

Deno.test("runStatus: unreachable instance exits 1 with one line", async () => {
  // A port that was just free: nothing listens there.
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const addr = `127.0.0.1:${(l.addr as Deno.NetAddr).port}`;
  l.close();
  let err = "";
  const code = await runStatus(parseCommandLine(["status", "--addr", addr]), {
    stdout: (t) => assert.fail(t),
    stderr: (t) => err += t,
  });
  assert.equal(code, 1);
  assert.ok(err.startsWith(`ferrolb status: cannot reach ${addr}: `));
  assert.equal(err.trimEnd().split("\n").length, 1);
});

Deno.test("runStatus: an instance that never answers times out with exit 1", async () => {
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
    assert.equal(code, 1);
    assert.equal(err, `ferrolb status: cannot reach ${addr}: no answer within 200 ms\n`);
  } finally {
    l.close();
    for (const c of held) c.close();
    await accepting.catch(() => {});
  }
});

Deno.test("runStatus: a non-status answer is reported, not printed", async () => {
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
    assert.equal(code, 1);
    assert.match(err, /did not answer with a status document/);
  } finally {
    await srv.shutdown();
  }
});
