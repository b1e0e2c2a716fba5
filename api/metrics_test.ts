import assert from "node:assert/strict";
import { createRegistry, defineMetallbMetrics, MetricError } from "./metrics.ts";

/** Parses exposition text into {name{labels}: value} the way a scraper reads it. */
function scrape(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.lastIndexOf(" ");
    out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

Deno.test("render: HELP/TYPE lines, sorted families and series, trailing newline", () => {
  const r = createRegistry();
  const g = r.gauge("zz_gauge", "a gauge", ["peer"]);
  const c = r.counter("aa_total", "a counter");
  g.set({ peer: "b" }, 2);
  g.set({ peer: "a" }, 1.5);
  c.inc();
  c.inc(undefined, 2);
  assert.equal(
    r.render(),
    [
      "# HELP aa_total a counter",
      "# TYPE aa_total counter",
      "aa_total 3",
      "# HELP zz_gauge a gauge",
      "# TYPE zz_gauge gauge",
      'zz_gauge{peer="a"} 1.5',
      'zz_gauge{peer="b"} 2',
      "",
    ].join("\n"),
  );
});

Deno.test("label values escape backslash, quote and newline; help escapes too", () => {
  const r = createRegistry();
  const g = r.gauge("m", "line1\nback\\slash", ["svc"]);
  g.set({ svc: 'a"b\\c\nd' }, 1);
  const text = r.render();
  assert.ok(text.includes("# HELP m line1\\nback\\\\slash\n"));
  assert.ok(text.includes('m{svc="a\\"b\\\\c\\nd"} 1\n'));
  // Exactly three lines: the newline in the value did not break the format.
  assert.equal(text.trimEnd().split("\n").length, 3);
});

Deno.test("bigint values render exactly; increments past 2^53 do not lose precision", () => {
  const r = createRegistry();
  const g = r.gauge("pool_total", "size", ["pool"]);
  g.set({ pool: "v6" }, 1n << 64n);
  const c = r.counter("big_total", "c");
  c.set({}, Number.MAX_SAFE_INTEGER);
  c.inc({}, 2);
  c.inc({}, 1n);
  const s = scrape(r.render());
  assert.equal(s.get('pool_total{pool="v6"}'), "18446744073709551616");
  assert.equal(s.get("big_total"), (BigInt(Number.MAX_SAFE_INTEGER) + 3n).toString());
});

Deno.test("special float values use Prometheus spelling", () => {
  const r = createRegistry();
  const g = r.gauge("x", "x", ["k"]);
  g.set({ k: "nan" }, NaN);
  g.set({ k: "pinf" }, Infinity);
  g.set({ k: "ninf" }, -Infinity);
  const s = scrape(r.render());
  assert.equal(s.get('x{k="nan"}'), "NaN");
  assert.equal(s.get('x{k="pinf"}'), "+Inf");
  assert.equal(s.get('x{k="ninf"}'), "-Inf");
});

Deno.test("remove and reset drop series; unlabelled metrics show 0", () => {
  const r = createRegistry();
  const g = r.gauge("up", "u", ["peer"]);
  const b = r.gauge("flag", "f");
  g.set({ peer: "1" }, 1);
  g.set({ peer: "2" }, 1);
  g.remove({ peer: "1" });
  let s = scrape(r.render());
  assert.equal(s.has('up{peer="1"}'), false);
  assert.equal(s.get('up{peer="2"}'), "1");
  assert.equal(s.get("flag"), "0");
  g.reset();
  b.set({}, 1);
  s = scrape(r.render());
  assert.equal([...s.keys()].filter((k) => k.startsWith("up")).length, 0);
  assert.equal(s.get("flag"), "1");
  assert.equal(g.get({ peer: "2" }), undefined);
});

Deno.test("misuse is reported: duplicate name, bad label, missing label, negative counter", () => {
  const r = createRegistry();
  const c = r.counter("c_total", "c", ["peer"]);
  assert.throws(() => r.gauge("c_total", "again"), MetricError);
  assert.throws(() => r.gauge("bad-name", "x"), MetricError);
  assert.throws(() => r.gauge("ok", "x", ["__reserved"]), MetricError);
  assert.throws(
    () => c.inc({ peer: "a", other: "b" } as { peer: string }),
    /unknown label "other"/,
  );
  assert.throws(() => c.inc({} as { peer: string }), /label "peer"/);
  assert.throws(() => c.inc({ peer: "a" }, -1), /cannot decrease/);
});

Deno.test("MetalLB metric names, types and labels", () => {
  const r = createRegistry();
  const m = defineMetallbMetrics(r);
  m.addressesTotal.set({ pool: "p" }, 256);
  m.addressesInUse.set({ pool: "p" }, 3);
  m.ipv4AddressesTotal.set({ pool: "p" }, 256);
  m.ipv4AddressesInUse.set({ pool: "p" }, 3);
  m.ipv6AddressesTotal.set({ pool: "p" }, 1n << 64n);
  m.ipv6AddressesInUse.set({ pool: "p" }, 0);
  m.speakerAnnounced.set({ service: "ns/s", protocol: "bgp", node: "n1", ip: "192.0.2.1" }, 1);
  m.bgpSessionUp.set({ peer: "192.0.2.2:179" }, 1);
  m.bgpUpdates.inc({ peer: "192.0.2.2:179" });
  m.bgpAnnouncedPrefixes.set({ peer: "192.0.2.2:179" }, 1);
  m.bgpPendingPrefixes.set({ peer: "192.0.2.2:179" }, 0);
  m.configLoaded.set({}, 1);
  m.k8sUpdates.inc();
  const text = r.render();
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    const t = line.match(/^# TYPE (\S+) (\S+)$/);
    if (t) types.set(t[1], t[2]);
  }
  assert.deepEqual(Object.fromEntries(types), {
    metallb_allocator_addresses_in_use_total: "gauge",
    metallb_allocator_addresses_total: "gauge",
    metallb_allocator_ipv4_addresses_in_use_total: "gauge",
    metallb_allocator_ipv4_addresses_total: "gauge",
    metallb_allocator_ipv6_addresses_in_use_total: "gauge",
    metallb_allocator_ipv6_addresses_total: "gauge",
    metallb_bgp_announced_prefixes_total: "gauge",
    metallb_bgp_pending_prefixes_total: "gauge",
    metallb_bgp_session_up: "gauge",
    metallb_bgp_updates_total: "counter",
    metallb_k8s_client_config_loaded_bool: "gauge",
    metallb_k8s_client_config_stale_bool: "gauge",
    metallb_k8s_client_update_errors_total: "counter",
    metallb_k8s_client_updates_total: "counter",
    metallb_speaker_announced: "gauge",
  });
  const s = scrape(text);
  assert.equal(s.get('metallb_allocator_ipv6_addresses_total{pool="p"}'), "18446744073709551616");
  assert.equal(
    s.get('metallb_speaker_announced{service="ns/s",protocol="bgp",node="n1",ip="192.0.2.1"}'),
    "1",
  );
  assert.equal(s.get('metallb_bgp_session_up{peer="192.0.2.2:179"}'), "1");
  assert.equal(s.get("metallb_k8s_client_config_stale_bool"), "0");
});

Deno.test("series keys keep label values apart, NUL and empty values included", () => {
  const r = createRegistry();
  const g = r.gauge("m", "h", ["a", "b"]);
  g.set({ a: "x\0", b: "y" }, 1);
  g.set({ a: "x", b: "\0y" }, 2);
  g.set({ a: "x", b: "y" }, 3);
  g.set({ a: "", b: "" }, 4);
  g.set({ a: "\0", b: "" }, 5);
  assert.equal(g.get({ a: "x\0", b: "y" }), 1);
  assert.equal(g.get({ a: "x", b: "\0y" }), 2);
  assert.equal(g.get({ a: "x", b: "y" }), 3);
  assert.equal(g.get({ a: "", b: "" }), 4);
  assert.equal(g.get({ a: "\0", b: "" }), 5);
  assert.deepEqual([...scrape(r.render())], [
    ['m{a="",b=""}', "4"],
    ['m{a="\0",b=""}', "5"],
    ['m{a="x",b="\0y"}', "2"],
    ['m{a="x",b="y"}', "3"],
    ['m{a="x\0",b="y"}', "1"],
  ]);
  g.inc({ a: "x", b: "y" }, 2);
  g.remove({ a: "x\0", b: "y" });
  assert.equal(g.get({ a: "x", b: "y" }), 5);
  assert.equal(g.get({ a: "x\0", b: "y" }), undefined);
  const one = r.gauge("one", "h", ["a"]);
  one.set({ a: "" }, 7);
  assert.equal(scrape(r.render()).get('one{a=""}'), "7");
});

Deno.test("an attached source's series render and read with the family's own", () => {
  const r = createRegistry();
  const g = r.gauge("m", "h", ["svc", "ip"]);
  g.set({ svc: "b", ip: "1" }, 2);
  const held = new Map([["a", ["10.0.0.1", "10.0.0.2"]], ["c", ["10.0.0.3"]]]);
  g.attach({
    forEach(row) {
      for (const [svc, ips] of held) for (const ip of ips) row([svc, ip], 1);
    },
    get: ([svc, ip]) => held.get(svc)?.includes(ip) ? 1 : undefined,
  });
  assert.equal(g.get({ svc: "a", ip: "10.0.0.2" }), 1);
  assert.equal(g.get({ svc: "b", ip: "1" }), 2);
  assert.equal(g.get({ svc: "a", ip: "1" }), undefined);
  assert.deepEqual([...scrape(r.render())], [
    ['m{svc="a",ip="10.0.0.1"}', "1"],
    ['m{svc="a",ip="10.0.0.2"}', "1"],
    ['m{svc="b",ip="1"}', "2"],
    ['m{svc="c",ip="10.0.0.3"}', "1"],
  ]);
  held.delete("a");
  assert.equal(g.get({ svc: "a", ip: "10.0.0.2" }), undefined);
  assert.equal(scrape(r.render()).size, 2);
  g.attach(undefined);
  assert.deepEqual([...scrape(r.render()).keys()], ['m{svc="b",ip="1"}']);
});
