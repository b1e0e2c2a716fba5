/**
 * Runs inside the network namespace of a `ferrolb all` under test (its admin server listens on
 * that namespace's loopback) and prints one JSON line per probe: how long /healthz took to
 * answer, the worst event-loop lag of the last window from /metrics, and /status's
 * configuration verdict. `deno run --allow-net hostile_probe.ts ADDR`
 */
const addr = Deno.args[0];
const LAG = /^ferrolb_event_loop_lag_max_seconds\{window="(\d+)s"\} ([\d.e+-]+)$/m;

async function get(path: string): Promise<{ ms: number; status: number; body: string }> {
  const t0 = performance.now();
  try {
    const r = await fetch(`http://${addr}${path}`, { signal: AbortSignal.timeout(120_000) });
    const body = await r.text();
    return { ms: performance.now() - t0, status: r.status, body };
  } catch (err) {
    return { ms: performance.now() - t0, status: 0, body: String(err) };
  }
}

for (let i = 0;; i++) {
  const h = await get("/healthz");
  const line: Record<string, unknown> = {
    t: Date.now(),
    healthzMs: Math.round(h.ms),
    ok: h.status,
  };
  if (i % 3 === 0) {
    const m = await get("/metrics");
    const lag = m.body.match(LAG);
    if (lag) line.lagWindowS = Number(lag[2]);
    const s = await get("/status");
    if (s.status === 200) {
      const doc = JSON.parse(s.body);
      line.valid = doc.config?.valid;
      line.errors = doc.config?.errors ?? [];
    }
  }
  console.log(JSON.stringify(line));
  await new Promise((r) => setTimeout(r, 100));
}
