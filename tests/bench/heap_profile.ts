/**
 * Where the program's memory sits: runs the real `main.ts all` on N generated Services with
 * P peers (in-repo collectors on 127.0.0.2…), waits until every collector holds every route,
 * forces a GC through the inspector, reads RSS and the V8 heap, takes a heap snapshot and
 * prints the self size by constructor/type, largest first.
 *
 * `deno run -A tests/bench/heap_profile.ts [N=10000] [P=4] [TOP=40]` (TOP=0: no snapshot)
 * Set HEAP_SNAPSHOT_OUT=path to keep the snapshot for DevTools, HEAP_V8_FLAGS to try V8 flags.
 * HEAP_SMAPS=1 prints RSS per mapping kind after the GC, HEAP_SMAPS_OUT=path keeps that smaps.
 * HEAP_TIMELINE=1 samples VmRSS (and the mapping kinds every ~10 samples) every 20 ms during the
 * start and prints it lined up with the child's log lines, to see which phase makes the peak.
 */
import { type Collector, startCollector } from "../../bgp/collector.ts";
import { writeManifestDir } from "./gen_manifests.ts";
import { REPO_ROOT } from "../e2e_helpers.ts";

const N = Number(Deno.args[0] ?? 10_000);
const P = Number(Deno.args[1] ?? 4);
const TOP = Number(Deno.args[2] ?? 40);
const INSPECT_PORT = 9339 + Math.floor(Math.random() * 500);
const ADMIN_PORT = INSPECT_PORT + 1000;
const TIMELINE = Deno.env.get("HEAP_TIMELINE") !== undefined;

/** Reads VmRSS and VmHWM (bytes) of `pid`. */
async function procMemory(pid: number): Promise<{ rss: number; hwm: number }> {
  const text = await Deno.readTextFile(`/proc/${pid}/status`);
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

/**
 * Resident KiB by mapping kind (binary, malloc heap, anonymous, stacks). Anonymous mappings
 * are told apart by size: V8's heap pages are 256 KiB mappings (without a pointer cage),
 * glibc's thread arenas 64 MiB ones, and what is left is V8's large objects, malloc's
 * mmapped chunks (large buffers) and thread stacks.
 */
async function smapsKinds(pid: number): Promise<Map<string, number>> {
  const text = await Deno.readTextFile(`/proc/${pid}/smaps`);
  const by = new Map<string, number>();
  let name = "";
  for (const line of text.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      name = head[3] || anonKind(parseInt(head[2], 16) - parseInt(head[1], 16));
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) by.set(name, (by.get(name) ?? 0) + Number(rss[1]));
  }
  return by;
}

/** The kind of an anonymous mapping of `bytes`, by its size. */
function anonKind(bytes: number): string {
  if (bytes === 256 * 1024) return "[anon:v8]";
  if (bytes === 64 * 2 ** 20 || bytes === 128 * 2 ** 20) return "[anon:arena]";
  return "[anon]";
}

/** Resident memory by mapping kind, largest first. */
async function smapsSummary(pid: number): Promise<string> {
  const by = await smapsKinds(pid);
  return [...by].sort((a, b) => b[1] - a[1]).slice(0, 8)
    .map(([n, kb]) => `${(kb / 1024).toFixed(1).padStart(7)} MiB  ${n}`).join("\n");
}

/**
 * Waits until /status lists every peer for every Service (the status reporter has recorded
 * them all), then a moment for its write queue to drain: figures comparable between runs.
 */
async function statusSettled(
  pid: number,
  n: number,
  p: number,
): Promise<{ waitS: number; hwm: number }> {
  const t0 = performance.now();
  // Few reads: each renders every Service. First give the writes time (~0.5 s per 10,000).
  await new Promise((r) => setTimeout(r, 1000 + n / 20));
  const { hwm } = await procMemory(pid);
  for (let i = 0; i < 300; i++) {
    try {
      const res = await fetch(`http://127.0.0.1:${ADMIN_PORT}/status`);
      const doc = await res.json();
      const services: { peers?: unknown[] }[] = doc.services ?? [];
      const done = services.filter((s) => (s.peers?.length ?? 0) >= p).length;
      if (done >= n) break;
    } catch {
      // not serving yet
    }
    await new Promise((r) => setTimeout(r, 2000));
  }
  // The last writes of the queue (each resolves at once in file mode).
  await new Promise((r) => setTimeout(r, 1000));
  return { waitS: +((performance.now() - t0) / 1000).toFixed(1), hwm };
}

/** The program's worst event-loop lag since start, from /metrics (null when unreadable). */
async function loopLagSinceStart(): Promise<number | null> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${ADMIN_PORT}/metrics`)).text();
    const m = /^ferrolb_event_loop_lag_max_seconds\{window="since_start"\} (\S+)$/m.exec(text);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Prints V8's heap spaces (used/committed MiB) and external memory of the inspected process. */
async function printSpaces(
  cdp: { call(method: string, params?: unknown): Promise<Record<string, unknown>> },
): Promise<void> {
  const expression = `(async () => {
    const v8 = await import("node:v8");
    const m = (n) => +(n / 2 ** 20).toFixed(1);
    const spaces = v8.getHeapSpaceStatistics().map((s) =>
      s.space_name + " " + m(s.space_used_size) + "/" + m(s.physical_space_size));
    const u = Deno.memoryUsage();
    return JSON.stringify({ spaces, external: m(u.external), rss: m(u.rss) });
  })()`;
  const r = await cdp.call("Runtime.evaluate", { expression, awaitPromise: true });
  console.log((r.result as { value?: string } | undefined)?.value ?? JSON.stringify(r));
}

/** A minimal Chrome DevTools Protocol client over the inspector's WebSocket. */
export async function connectInspector(port: number): Promise<{
  call(method: string, params?: unknown): Promise<Record<string, unknown>>;
  onEvent(fn: (method: string, params: Record<string, unknown>) => void): void;
  close(): void;
}> {
  let list: { webSocketDebuggerUrl: string }[] = [];
  for (let i = 0; i < 200 && !list.length; i++) {
    try {
      list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const ws = new WebSocket(list[0].webSocketDebuggerUrl);
  await new Promise((r, j) => {
    ws.onopen = r;
    ws.onerror = j;
  });
  let id = 0;
  const pending = new Map<number, (v: Record<string, unknown>) => void>();
  const listeners: ((m: string, p: Record<string, unknown>) => void)[] = [];
  ws.onmessage = (e) => {
    const msg = JSON.parse(e.data as string);
    if (msg.id !== undefined) pending.get(msg.id)?.(msg.result ?? msg.error);
    else for (const fn of listeners) fn(msg.method, msg.params);
  };
  return {
    call(method, params) {
      const my = ++id;
      ws.send(JSON.stringify({ id: my, method, params }));
      return new Promise((r) => pending.set(my, r));
    },
    onEvent(fn) {
      listeners.push(fn);
    },
    close() {
      ws.close();
    },
  };
}

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: (string | string[])[];
      edge_fields: string[];
      edge_types: (string | string[])[];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const NAMED_TYPES = new Set(["object", "closure", "native", "hidden", "code", "object shape"]);

/**
 * Self size by a key per node: "type:name", and for plain Objects their first property names
 * (so a KubeObject's metadata and a view differ); internal arrays and strings are keyed by the
 * key and edge of the object that first holds them, so a Map's table says whose Map it is.
 */
function aggregate(snap: Snapshot): { key: string; count: number; bytes: number }[] {
  const m = snap.snapshot.meta;
  const width = m.node_fields.length;
  const typeAt = m.node_fields.indexOf("type");
  const nameAt = m.node_fields.indexOf("name");
  const sizeAt = m.node_fields.indexOf("self_size");
  const edgesAt = m.node_fields.indexOf("edge_count");
  const ewidth = m.edge_fields.length;
  const etypeAt = m.edge_fields.indexOf("type");
  const enameAt = m.edge_fields.indexOf("name_or_index");
  const etoAt = m.edge_fields.indexOf("to_node");
  const types = m.node_types[0] as string[];
  const etypes = m.edge_types[0] as string[];
  const count = snap.nodes.length / width;
  const props: string[][] = Array.from({ length: count }, () => []);
  const parent = new Int32Array(count).fill(-1);
  const parentEdge: string[] = new Array(count);
  for (let n = 0, e = 0; n < count; n++) {
    const edges = snap.nodes[n * width + edgesAt];
    for (let k = 0; k < edges; k++, e += ewidth) {
      const et = etypes[snap.edges[e + etypeAt]];
      const to = snap.edges[e + etoAt] / width;
      const nm = et === "element" || et === "hidden"
        ? `[${et}]`
        : String(snap.strings[snap.edges[e + enameAt]]);
      if (et === "property" && props[n].length < 5) props[n].push(nm);
      if (et === "weak") continue;
      if (parent[to] < 0) {
        parent[to] = n;
        parentEdge[to] = nm;
      }
    }
  }
  const baseKey = (n: number): string => {
    const type = types[snap.nodes[n * width + typeAt]];
    let name = NAMED_TYPES.has(type) ? snap.strings[snap.nodes[n * width + nameAt]] : "";
    if (name.length > 40) name = name.slice(0, 40) + "…";
    if (type === "object" && name === "Object") name += `{${props[n].join(",")}}`;
    return `${type}:${name}`;
  };
  const by = new Map<string, { count: number; bytes: number }>();
  for (let n = 0; n < count; n++) {
    let key = baseKey(n);
    const type = types[snap.nodes[n * width + typeAt]];
    // Containers say little on their own: name the chain of holders up to a named object.
    const container = (k: string) =>
      k.startsWith("array:") || k.startsWith("string:") || k.startsWith("number:") ||
      k.startsWith("hidden:") || k === "object:Array" || k === "object:Map" ||
      k === "object:Set" || k === "object:WeakMap" || k === "object:Uint8Array" ||
      k.startsWith("native:system / PropertyArray");
    if (container(key) || type === "array") {
      let at = n;
      for (let depth = 0; depth < 4; depth++) {
        const p = parent[at];
        if (p < 0) break;
        const pk = baseKey(p);
        key += ` <- ${pk}.${parentEdge[at]}`;
        if (!container(pk)) break;
        at = p;
      }
    }
    const e = by.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += snap.nodes[n * width + sizeAt];
    by.set(key, e);
  }
  return [...by].map(([key, v]) => ({ key, ...v })).sort((a, b) => b.bytes - a.bytes);
}

/**
 * The tail of the profiled command line: V8 flags when given, then `main.ts all` on the
 * scenario in `dir` (see {@linkcode profileScenario}) with its admin server on `adminPort`.
 */
export function scenarioArgs(
  dir: string,
  options: { v8Flags?: string; adminPort: number },
): string[] {
  return [
    ...(options.v8Flags ? [`--v8-flags=${options.v8Flags}`] : []),
    "-A",
    `${REPO_ROOT}/main.ts`,
    "all",
    "--config-dir",
    `${dir}/config`,
    "--state-dir",
    `${dir}/state`,
    "--node-name",
    "n1",
    "--admin-addr",
    `127.0.0.1:${options.adminPort}`,
  ];
}

/**
 * The input both profiles run on: P in-repo collectors on 127.0.0.2… at `port` and a config
 * directory of N Services peering with them in `dir/config`, with an empty `dir/state`.
 */
export async function profileScenario(
  dir: string,
  o: { services: number; peers: number; port: number },
): Promise<Collector[]> {
  const collectors = await Promise.all(
    Array.from({ length: o.peers }, (_, i) =>
      startCollector({
        listen: `127.0.0.${i + 2}:${o.port}`,
        asn: 65002,
        routerId: `10.9.9.${i + 2}`,
      })),
  );
  await writeManifestDir(`${dir}/config`, {
    services: o.services,
    peers: collectors.map((c) => ({ address: c.addr.hostname, port: c.addr.port, asn: 65002 })),
    myAsn: 65001,
    routerId: "10.9.9.1",
  });
  await Deno.mkdir(`${dir}/state`);
  return collectors;
}

/** One line of the start's timeline: a sample or a log line of the child. */
type TimelineEntry = { t: number; line: string };

/**
 * Samples the child's memory every 20 ms until `stop()`: a line when VmRSS moved by 2 MiB or
 * more since the last one printed (with threads, and [anon]/[heap] every 10th sample).
 */
function sampleTimeline(pid: number, t0: number, out: TimelineEntry[]): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    let last = 0;
    for (let i = 0; running; i++) {
      try {
        const text = await Deno.readTextFile(`/proc/${pid}/status`);
        const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(text)?.[1] ?? 0);
        const rss = kb("VmRSS") / 1024;
        let kinds = "";
        if (i % 10 === 0) {
          const by = await smapsKinds(pid);
          const mib = (k: string) => ((by.get(k) ?? 0) / 1024).toFixed(0);
          kinds = ` v8 ${mib("[anon:v8]")} arenas ${mib("[anon:arena]")} anon ${
            mib("[anon]")
          } heap ${mib("[heap]")}`;
        }
        if (Math.abs(rss - last) >= 2 || kinds) {
          last = rss;
          out.push({
            t: performance.now() - t0,
            line: `rss ${rss.toFixed(0)} MiB threads ${kb("Threads")}${kinds}`,
          });
        }
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}

/** Collects the child's output lines into `out`, stamped. */
async function collectLines(
  stream: ReadableStream<Uint8Array>,
  t0: number,
  out: TimelineEntry[],
): Promise<void> {
  let rest = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop() ?? "";
    for (const line of lines) {
      // Per-Service Events would drown the phases.
      if (!line.includes('"msg":"event"')) {
        out.push({ t: performance.now() - t0, line: `LOG ${line.slice(0, 160)}` });
      }
    }
  }
}

/** Runs the program once on `dir` until every route is out and its writes had time, then stops it. */
async function writeState(dir: string, collectors: Collector[]): Promise<void> {
  const first = new Deno.Command(Deno.execPath(), {
    args: ["run", ...scenarioArgs(dir, { v8Flags: Deno.env.get("HEAP_V8_FLAGS"), adminPort: 0 })],
    cwd: dir,
    stdout: "null",
    stderr: "null",
  }).spawn();
  const all = (c: Collector) => c.routes().some((p) => p.routes.length >= N);
  await Promise.all(collectors.map((c) => c.waitFor(() => all(c), { timeoutMs: 600_000 })));
  await new Promise((r) => setTimeout(r, 2000 + N / 20));
  first.kill("SIGTERM");
  await first.status;
  await Promise.all(collectors.map((c) => c.waitFor(() => !all(c), { timeoutMs: 60_000 })));
}

async function main() {
  const dir = await Deno.makeTempDir({ prefix: "flb-heap-" });
  const collectors = await profileScenario(dir, {
    services: N,
    peers: P,
    port: 11_790 + (INSPECT_PORT % 1000),
  });
  if (Deno.env.get("HEAP_RESTART")) await writeState(dir, collectors);
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      `--inspect=127.0.0.1:${INSPECT_PORT}`,
      ...scenarioArgs(dir, { v8Flags: Deno.env.get("HEAP_V8_FLAGS"), adminPort: ADMIN_PORT }),
    ],
    cwd: dir,
    stdout: TIMELINE ? "piped" : Deno.env.get("HEAP_PROFILE_LOGS") ? "inherit" : "null",
    stderr: TIMELINE ? "piped" : Deno.env.get("HEAP_PROFILE_LOGS") ? "inherit" : "null",
  }).spawn();
  const timeline: TimelineEntry[] = [];
  const stopSampling = TIMELINE ? sampleTimeline(child.pid, t0, timeline) : undefined;
  if (TIMELINE) {
    collectLines(child.stdout, t0, timeline).catch(() => {});
    collectLines(child.stderr, t0, timeline).catch(() => {});
  }
  try {
    await Promise.all(
      collectors.map((c) =>
        c.waitFor(() => c.routes().some((p) => p.routes.length >= N), { timeoutMs: 600_000 })
      ),
    );
    const doneS = (performance.now() - t0) / 1000;
    const atRoutes = await procMemory(child.pid);
    const lagAtRoutesS = await loopLagSinceStart();
    const wait = Deno.env.get("HEAP_NO_STATUS_WAIT")
      ? { waitS: 0, hwm: atRoutes.hwm }
      : await statusSettled(child.pid, N, P);
    // HEAP_SETTLE_MS: a quiet moment after the reads of /status before the figures are taken.
    await new Promise((r) => setTimeout(r, Number(Deno.env.get("HEAP_SETTLE_MS") ?? 0)));
    const before = await procMemory(child.pid);
    if (stopSampling) {
      await stopSampling();
      timeline.sort((a, b) => a.t - b.t);
      for (const e of timeline) console.log(`${(e.t / 1000).toFixed(2).padStart(7)} s  ${e.line}`);
    }
    const cdp = await connectInspector(INSPECT_PORT);
    // HEAP_SPACES=1: V8's spaces and external memory as they are before the forced GC (what
    // garbage the start left in each), then after it.
    const spaces = Deno.env.get("HEAP_SPACES") ? () => printSpaces(cdp) : () => Promise.resolve();
    await spaces();
    await cdp.call("HeapProfiler.enable");
    await cdp.call("HeapProfiler.collectGarbage");
    await spaces();
    const usage = await cdp.call("Runtime.getHeapUsage");
    const after = await procMemory(child.pid);
    // And again after the GC: what the process gives back of what that GC freed (malloc trim).
    const settleMs = Number(Deno.env.get("HEAP_SETTLE_MS") ?? 0);
    await new Promise((r) => setTimeout(r, settleMs));
    const settled = settleMs > 0 ? await procMemory(child.pid) : after;
    console.log(JSON.stringify({
      services: N,
      peers: P,
      allRoutesS: +doneS.toFixed(2),
      rssMiB: +(before.rss / 2 ** 20).toFixed(1),
      peakRssMiB: +(before.hwm / 2 ** 20).toFixed(1),
      // The peak until every route was out, before /status was read (a /status of 100,000
      // Services is itself a few tens of MB): the status writes may still be running.
      peakAtRoutesMiB: +(atRoutes.hwm / 2 ** 20).toFixed(1),
      // The peak before the first /status read (the status writes are usually done by then).
      peakBeforeStatusMiB: +(wait.hwm / 2 ** 20).toFixed(1),
      statusWaitS: wait.waitS,
      // The worst event-loop lag until every route was out (before /status reads add theirs).
      lagAtRoutesS,
      rssAfterGcMiB: +(after.rss / 2 ** 20).toFixed(1),
      rssAfterGcSettledMiB: +(settled.rss / 2 ** 20).toFixed(1),
      heapUsedMiB: +(Number(usage.usedSize) / 2 ** 20).toFixed(1),
      heapTotalMiB: +(Number(usage.totalSize) / 2 ** 20).toFixed(1),
    }));
    if (Deno.env.get("HEAP_SMAPS")) console.log(await smapsSummary(child.pid));
    const smapsOut = Deno.env.get("HEAP_SMAPS_OUT");
    if (smapsOut) await Deno.copyFile(`/proc/${child.pid}/smaps`, smapsOut);
    // TOP=0: the figures only, without the snapshot (which takes longer than the run at 100k).
    if (TOP === 0) return;
    const chunks: string[] = [];
    cdp.onEvent((m, p) => {
      if (m === "HeapProfiler.addHeapSnapshotChunk") chunks.push(String(p.chunk));
    });
    await cdp.call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
    cdp.close();
    const text = chunks.join("");
    const out = Deno.env.get("HEAP_SNAPSHOT_OUT");
    if (out) await Deno.writeTextFile(out, text);
    const rows = aggregate(JSON.parse(text));
    const total = rows.reduce((s, r) => s + r.bytes, 0);
    console.log(`snapshot self total ${(total / 2 ** 20).toFixed(1)} MiB`);
    for (const r of rows.slice(0, TOP)) {
      console.log(
        `${(r.bytes / 2 ** 20).toFixed(2).padStart(8)} MiB ${String(r.count).padStart(9)} ${
          (r.bytes / N).toFixed(0).padStart(6)
        } B/svc  ${r.key}`,
      );
    }
  } finally {
    child.kill("SIGKILL");
    await child.status;
    await Promise.all(collectors.map((c) => c.close()));
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await main();
