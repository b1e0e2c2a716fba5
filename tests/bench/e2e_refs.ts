/**
 * Same-run references for the end-to-end benchmarks: BIRD 2 sending the table as static
 * routes, and a gobgpd sending it, from the same namespace to the same receivers as ferrolb.
 */
import { hostPrefix, spawnInNetns, startGobgpd } from "../gobgp/mod.ts";
import {
  type BenchNet,
  RECEIVER_ASN,
  SENDER_ASN,
  trackPeakMemory,
  waitForEmpty,
  waitForRoutes,
  waitReceiversIdle,
} from "./e2e_env.ts";

/** First address of the table every sender announces (the generated pool's start). */
export const TABLE_BASE = "198.18.0.0";

/** What one reference sender measured. */
export interface RefRun {
  name: "bird" | "gobgp";
  reached: boolean;
  /** Process start → every route at every receiver (GoBGP: includes loading its table). */
  startToDoneSeconds: number;
  /** Every session up → every route. */
  transferSeconds: number | null;
  /** Seconds spent loading the table into the sender before the session (GoBGP only). */
  loadSeconds?: number;
  /** UPDATEs the first receiver got from this run. */
  updates: number;
  peakRssBytes: number | undefined;
  /** SIGTERM → exit, and → no route left at any receiver. */
  sigtermExitSeconds: number | null;
  sigtermWithdrawnSeconds: number | null;
}

/** Options shared by the reference runs. */
export interface RefOptions {
  net: BenchNet;
  n: number;
  /** Receivers to send to (the first ones of `net`). */
  receivers: number;
  capMs: number;
}

/** Whether `bin` runs here. */
export async function installed(bin: string, arg = "--version"): Promise<boolean> {
  try {
    await new Deno.Command(bin, { args: [arg], stdout: "null", stderr: "null" }).output();
    return true;
  } catch {
    return false;
  }
}

/** Times `terminate` (sends SIGTERM, resolves at exit) and the receivers emptying. */
async function timeSigterm(
  terminate: () => Promise<unknown>,
  options: RefOptions,
): Promise<{ exit: number | null; withdrawn: number | null }> {
  const t0 = performance.now();
  const exited = terminate();
  const receivers = options.net.receivers.slice(0, options.receivers);
  const [exitAt, emptyAt] = await Promise.all([
    exited.then(() => performance.now()),
    waitForEmpty(receivers, { sender: options.net.senderAddress, capMs: 30_000 }),
  ]);
  return {
    exit: (exitAt - t0) / 1000,
    withdrawn: emptyAt === undefined ? null : (emptyAt - t0) / 1000,
  };
}

function birdConfig(options: RefOptions, routesFile: string): string {
  const lines = [
    `router id ${options.net.senderAddress};`,
    "protocol device {}",
    "protocol static bench_routes {",
    "  ipv4;",
    // BIRD reads `include` only at the start of a line.
    `include "${routesFile}";`,
    "}",
  ];
  for (const r of options.net.receivers.slice(0, options.receivers)) {
    lines.push(
      `protocol bgp r_${r.address.replaceAll(".", "_")} {`,
      `  local ${options.net.senderAddress} as ${SENDER_ASN};`,
      `  neighbor ${r.address} as ${RECEIVER_ASN};`,
      // Dial at once, as ferrolb does, so start-to-done compares the programs, not a timer.
      "  connect delay time 0;",
      "  ipv4 { import none; export all; };",
      "}",
    );
  }
  return lines.join("\n") + "\n";
}

/**
 * Runs BIRD 2 with the table as static routes until the receivers hold it, then SIGTERM.
 * BIRD 2.0.12 (debug log) dials at least 1 s after start even with `connect delay time 0`,
 * and its first UPDATE often goes out only at its main loop's next 3-s poll wake-up: those
 * fixed delays are in `startToDoneSeconds` (not in `transferSeconds`), which is why the
 * figures carry GoBGP's and the transfer times beside it.
 */
export async function runBird(options: RefOptions): Promise<RefRun> {
  const dir = await Deno.makeTempDir({ prefix: "flb-bench-bird-" });
  try {
    const routes = Array.from(
      { length: options.n },
      (_, i) => `route ${hostPrefix(i, TABLE_BASE)} blackhole;`,
    );
    await Deno.writeTextFile(`${dir}/routes.conf`, routes.join("\n") + "\n");
    await Deno.writeTextFile(`${dir}/bird.conf`, birdConfig(options, `${dir}/routes.conf`));
    const receivers = options.net.receivers.slice(0, options.receivers);
    const before = await waitReceiversIdle(receivers, options.net.senderAddress);
    const t0 = performance.now();
    const child = spawnInNetns(options.net.senderNetns, "bird", {
      args: ["-f", "-c", `${dir}/bird.conf`, "-s", `${dir}/bird.ctl`, "-P", `${dir}/bird.pid`],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    });
    let stderr = "";
    const readErr = (async () => {
      for await (const c of child.stderr.pipeThrough(new TextDecoderStream())) stderr += c;
    })();
    let exited = false;
    const status = child.status.then(async (st) => {
      exited = true;
      await readErr.catch(() => {});
      return st;
    });
    const memory = trackPeakMemory(child.pid);
    const wait = await waitForRoutes(receivers, {
      sender: options.net.senderAddress,
      n: options.n,
      capMs: options.capMs,
      stop: () => exited,
    });
    const peakRssBytes = await memory.stop();
    if (exited) throw new Error(`bird exited: ${stderr.trim().slice(-500)}`);
    const stop = await timeSigterm(() => {
      child.kill("SIGTERM");
      return status;
    }, options);
    return {
      name: "bird",
      reached: wait.reached,
      startToDoneSeconds: (wait.doneAt - t0) / 1000,
      transferSeconds: wait.reached && wait.establishedAt
        ? (wait.doneAt - wait.establishedAt) / 1000
        : null,
      updates: (wait.counts[0]?.updates ?? 0) - (before[0]?.updates ?? 0),
      peakRssBytes,
      sigtermExitSeconds: stop.exit,
      sigtermWithdrawnSeconds: stop.withdrawn,
    };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Runs a gobgpd holding the table (loaded from an MRT dump while its neighbors are admin
 * down) until the receivers hold it, then SIGTERM.
 */
export async function runGobgpSender(options: RefOptions): Promise<RefRun> {
  const receivers = options.net.receivers.slice(0, options.receivers);
  const before = await waitReceiversIdle(receivers, options.net.senderAddress);
  const t0 = performance.now();
  const g = await startGobgpd({
    netns: options.net.senderNetns,
    asn: SENDER_ASN,
    routerId: options.net.senderAddress,
    listenPort: -1,
    neighbors: receivers.map((r) => ({ address: r.address, asn: RECEIVER_ASN, adminDown: true })),
  });
  try {
    const memory = trackPeakMemory(g.pid);
    const prefixes = Array.from({ length: options.n }, (_, i) => hostPrefix(i, TABLE_BASE));
    const loadStart = performance.now();
    await g.addRoutesBulk(prefixes, { nextHop: options.net.senderAddress });
    const loadSeconds = (performance.now() - loadStart) / 1000;
    for (const r of receivers) await g.enableNeighbor(r.address);
    const wait = await waitForRoutes(receivers, {
      sender: options.net.senderAddress,
      n: options.n,
      capMs: options.capMs,
    });
    const peakRssBytes = await memory.stop();
    const stop = await timeSigterm(() => g.kill("SIGTERM"), options);
    return {
      name: "gobgp",
      reached: wait.reached,
      startToDoneSeconds: (wait.doneAt - t0) / 1000,
      transferSeconds: wait.reached && wait.establishedAt
        ? (wait.doneAt - wait.establishedAt) / 1000
        : null,
      loadSeconds,
      updates: (wait.counts[0]?.updates ?? 0) - (before[0]?.updates ?? 0),
      peakRssBytes,
      sigtermExitSeconds: stop.exit,
      sigtermWithdrawnSeconds: stop.withdrawn,
    };
  } finally {
    await g.stop();
  }
}

/** Same-run references at one size: BIRD (when installed) and gobgpd. */
export interface Refs {
  bird?: RefRun;
  gobgp: RefRun;
}

/** Runs the references one after the other on an idle receiver set. */
export async function measureRefs(
  net: BenchNet,
  options: { n: number; receivers: number; capMs: number },
): Promise<Refs> {
  const receivers = net.receivers.slice(0, options.receivers);
  let bird: RefRun | undefined;
  if (await installed("bird")) {
    bird = await runBird({ net, ...options });
    await waitReceiversIdle(receivers, net.senderAddress);
  }
  const gobgp = await runGobgpSender({ net, ...options });
  await waitReceiversIdle(receivers, net.senderAddress);
  return { bird, gobgp };
}

/** The reference start-to-done figure: BIRD's when measured, else GoBGP's. */
export function refStart(refs: Refs): { seconds: number | null; name: string } {
  const r = refs.bird ?? refs.gobgp;
  return { seconds: r.reached ? r.startToDoneSeconds : null, name: r.name };
}

/** The references' figures as extra fields, prefixed by sender name. */
export function refExtras(refs: Refs, fields: (keyof RefRun)[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of [refs.bird, refs.gobgp]) {
    if (!r) continue;
    for (const f of fields) {
      const v = r[f];
      const name = `${r.name}${f[0].toUpperCase()}${f.slice(1)}`;
      // Memory is printed in MiB like the figures themselves.
      if (f.endsWith("Bytes")) {
        out[name.replace(/Bytes$/, "MB")] = typeof v === "number" ? Math.round(v / 2 ** 20) : null;
      } else out[name] = v;
    }
  }
  return out;
}
