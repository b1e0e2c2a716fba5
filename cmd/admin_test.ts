import assert from "node:assert/strict";
import { createLogger, silentLogger } from "../api/log.ts";
import { createRegistry, defineMetallbMetrics } from "../api/metrics.ts";
import { type AdminServerOptions, parseHostPort, startAdminServer } from "./admin.ts";

function options(over: Partial<AdminServerOptions> = {}): AdminServerOptions {
  return {
    registry: createRegistry(),
    health: () => true,
    ready: () => true,
    status: () => ({ role: "controller" }),
    logger: silentLogger,
    ...over,
  };
}

Deno.test("parseHostPort accepts HOST:PORT and [v6]:PORT and rejects the rest", () => {
  assert.deepEqual(parseHostPort("127.0.0.1:7472"), { hostname: "127.0.0.1", port: 7472 });
  assert.deepEqual(parseHostPort("[::1]:0"), { hostname: "::1", port: 0 });
  assert.deepEqual(parseHostPort(":7472"), { hostname: "0.0.0.0", port: 7472 });
  assert.throws(() => parseHostPort("127.0.0.1"), /HOST:PORT/);
  assert.throws(() => parseHostPort("::1:80"), /HOST:PORT/);
  assert.throws(() => parseHostPort("h:70000"), /> 65535/);
});

Deno.test("/metrics serves the registry in exposition format 0.0.4", async () => {
  const registry = createRegistry();
  const m = defineMetallbMetrics(registry);
  m.ipv6AddressesTotal.set({ pool: "v6" }, 1n << 64n);
  m.bgpSessionUp.set({ peer: "127.0.0.2:179" }, 1);
  const srv = startAdminServer("127.0.0.1:0", options({ registry }));
  try {
    assert.match(srv.addr, /^127\.0\.0\.1:\d+$/);
    assert.notEqual(srv.addr, "127.0.0.1:0");
    const res = await fetch(`http://${srv.addr}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type")!, /^text\/plain; version=0\.0\.4/);
    const body = await res.text();
    assert.ok(
      body.includes('metallb_allocator_ipv6_addresses_total{pool="v6"} 18446744073709551616'),
    );
    assert.ok(body.includes('metallb_bgp_session_up{peer="127.0.0.2:179"} 1'));
    // Changes are visible on the next scrape.
    m.bgpSessionUp.set({ peer: "127.0.0.2:179" }, 0);
    const again = await (await fetch(`http://${srv.addr}/metrics`)).text();
    assert.ok(again.includes('metallb_bgp_session_up{peer="127.0.0.2:179"} 0'));
  } finally {
    await srv.close();
  }
});

Deno.test("/healthz and /readyz follow the callbacks, with a reason when not ready", async () => {
  let healthy = true;
  let ready: boolean | { ready: boolean; reason?: string } = false;
  const srv = startAdminServer(
    "127.0.0.1:0",
    options({ health: () => healthy, ready: () => ready }),
  );
  const get = async (p: string) => {
    const r = await fetch(`http://${srv.addr}${p}`);
    return [r.status, (await r.text()).trim()] as const;
  };
  try {
    assert.deepEqual(await get("/healthz"), [200, "ok"]);
    assert.equal((await get("/readyz"))[0], 503);
    ready = { ready: false, reason: "caches not synced" };
    assert.deepEqual(await get("/readyz"), [503, "not ready: caches not synced"]);
    ready = true;
    assert.deepEqual(await get("/readyz"), [200, "ok"]);
    healthy = false;
    assert.equal((await get("/healthz"))[0], 503);
  } finally {
    await srv.close();
  }
});

Deno.test("/status is JSON with bigints as strings; errors and unknown paths", async () => {
  const lines: string[] = [];
  let fail = false;
  const srv = startAdminServer(
    "127.0.0.1:0",
    options({
      status: () => {
        if (fail) throw new Error("controller not started");
        return { role: "all", pools: [{ name: "v6", ipv6: { used: 1, total: 1n << 64n } }] };
      },
      logger: createLogger({ write: (l) => lines.push(l) }),
    }),
  );
  try {
    const res = await fetch(`http://${srv.addr}/status`);
    assert.equal(res.headers.get("content-type"), "application/json");
    const doc = await res.json();
    assert.equal(doc.pools[0].ipv6.total, "18446744073709551616");
    fail = true;
    const bad = await fetch(`http://${srv.addr}/status`);
    assert.equal(bad.status, 500);
    assert.match(await bad.text(), /controller not started/);
    assert.ok(lines.some((l) => l.includes("building /status failed")));
    const nf = await fetch(`http://${srv.addr}/nope`);
    assert.equal(nf.status, 404);
    await nf.body?.cancel();
    const post = await fetch(`http://${srv.addr}/metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    await srv.close();
  }
});

Deno.test("close releases the port", async () => {
  const srv = startAdminServer("127.0.0.1:0", options());
  await srv.close();
  await assert.rejects(() => fetch(`http://${srv.addr}/healthz`));
  // The same address can be bound again at once.
  const again = startAdminServer(srv.addr, options());
  await again.close();
});

Deno.test("/metrics of 100,000s of series streams the same text render() gives, in order", async () => {
  const registry = createRegistry();
  const m = defineMetallbMetrics(registry);
  const n = 60_000;
  // Rows given out of order (as a source may after a Service went away): sorted when served.
  m.speakerAnnounced.attach({
    forEach: (row) => {
      for (let i = n - 1; i >= 0; i--) {
        row([`ns/svc-${i}`, "bgp", "n1", `10.0.${i >> 8}.${i & 255}`], 1);
      }
    },
    get: () => undefined,
  });
  const srv = startAdminServer("127.0.0.1:0", options({ registry }));
  try {
    const body = await (await fetch(`http://${srv.addr}/metrics`)).text();
    const want = registry.render();
    const rows = body.split("\n").filter((l) => l.startsWith("metallb_speaker_announced{"));
    assert.equal(rows.length, n);
    assert.equal(
      rows[0],
      'metallb_speaker_announced{service="ns/svc-0",protocol="bgp",node="n1",ip="10.0.0.0"} 1',
    );
    assert.deepEqual(rows, [...rows].sort());
    // The lag gauge and process figures move between two scrapes: compare the rest.
    const steady = (t: string) =>
      t.split("\n").filter((l) => !/^(ferrolb_event_loop|process_)/.test(l));
    assert.deepEqual(steady(body), steady(want));
  } finally {
    await srv.close();
  }
});
