/**
 * The network of the end-to-end benchmarks: the sender under test (ferrolb, BIRD or a
 * gobgpd) in namespace A at 192.0.2.1, up to four receiving gobgpds in namespace B at
 * 192.0.2.2, .3, … joined by one veth pair (GoBGP drops 127/8 next hops, so not loopback).
 */
import {
  createNetnsPair,
  type Gobgpd,
  NETNS_GRPC_PORT,
  type NetnsPair,
  runInNetns,
  startGobgpd,
} from "../gobgp/mod.ts";

/** ferrolb's (and each reference sender's) AS. */
export const SENDER_ASN = 65001;
/** The receivers' AS. */
export const RECEIVER_ASN = 65002;

/** A receiving gobgpd and the address it listens on. */
export interface BenchReceiver {
  address: string;
  gobgpd: Gobgpd;
}

const ACTIVE = 3;

/** What one receiver holds from the sender. */
export interface ReceiverCounts {
  established: boolean;
  /** GoBGP's session state number: 1 idle, 3 active (waiting for the sender), 6 established. */
  state: number;
  accepted: number;
  /** UPDATE messages received from the sender, over all its sessions (GoBGP's counter). */
  updates: number;
}

/** The namespaces, the sender's address and the receivers. */
export interface BenchNet {
  pair: NetnsPair;
  senderNetns: string;
  senderAddress: string;
  receivers: BenchReceiver[];
  /** Starts receivers until there are `count` (addresses 192.0.2.2 …). */
  ensureReceivers(count: number): Promise<BenchReceiver[]>;
  /** Stops receivers beyond the first `count`. */
  trimReceivers(count: number): Promise<void>;
  close(): Promise<void>;
}

/** Creates the namespaces (a /24 on the veth so B can hold several receiver addresses). */
export async function createBenchNet(): Promise<BenchNet> {
  const pair = await createNetnsPair({ addr4: ["192.0.2.1", "192.0.2.2"], prefix4: 24 });
  const receivers: BenchReceiver[] = [];
  const net: BenchNet = {
    pair,
    senderNetns: pair.a.name,
    senderAddress: pair.a.addr4,
    receivers,
    async ensureReceivers(count) {
      while (receivers.length < count) {
        const i = receivers.length;
        const address = `192.0.2.${2 + i}`;
        if (i > 0) {
          const r = await runInNetns(pair.b.name, "ip", {
            args: ["addr", "add", `${address}/24`, "dev", pair.b.ifname],
          });
          if (r.code !== 0 && !r.stderr.includes("exists")) {
            throw new Error(`adding ${address} in ${pair.b.name}: ${r.stderr.trim()}`);
          }
        }
        const gobgpd = await startGobgpd({
          netns: pair.b.name,
          asn: RECEIVER_ASN,
          routerId: address,
          listenAddress: address,
          grpcPort: NETNS_GRPC_PORT + i,
          neighbors: [{ address: pair.a.addr4, asn: SENDER_ASN, passive: true }],
        });
        receivers.push({ address, gobgpd });
      }
      return receivers.slice(0, count);
    },
    async trimReceivers(count) {
      while (receivers.length > count) await receivers.pop()!.gobgpd.stop();
    },
    async close() {
      await net.trimReceivers(0);
      await pair.close();
    },
  };
  await net.ensureReceivers(1);
  return net;
}

/** The sender's session and routes as one receiver sees them. */
export async function receiverCounts(r: BenchReceiver, sender: string): Promise<ReceiverCounts> {
  const raw = JSON.parse(await r.gobgpd.cli(["neighbor", sender], { json: true }));
  const state = Number(raw.state?.session_state ?? 0);
  const established = state === 6;
  let accepted = 0;
  for (const af of raw.afi_safis ?? []) accepted += Number(af.state?.accepted ?? 0);
  const updates = Number(raw.state?.messages?.received?.update ?? 0);
  return { established, state, accepted, updates };
}

/** The outcome of {@linkcode waitForRoutes}. */
export interface RoutesWait {
  /** Every receiver held `n` routes before the cap. */
  reached: boolean;
  /** `performance.now()` of the first poll that saw all routes (or the cap). */
  doneAt: number;
  /** `performance.now()` of the first poll that saw every session established (0: never). */
  establishedAt: number;
  /** Per receiver at the end. */
  counts: ReceiverCounts[];
}

/**
 * Polls every receiver until each holds `n` routes from `sender`, or `capMs` passes (then
 * `reached` is false and `counts` say how far it got); `stop` ends the wait early too,
 * e.g. when the sender exited.
 */
export async function waitForRoutes(
  receivers: BenchReceiver[],
  options: { sender: string; n: number; capMs: number; intervalMs?: number; stop?: () => boolean },
): Promise<RoutesWait> {
  const deadline = performance.now() + options.capMs;
  let establishedAt = 0;
  let counts: ReceiverCounts[] = [];
  for (;;) {
    try {
      counts = await Promise.all(receivers.map((r) => receiverCounts(r, options.sender)));
    } catch {
      // gobgp CLI hiccup under load: poll again
    }
    const now = performance.now();
    if (!establishedAt && counts.length && counts.every((c) => c.established)) {
      establishedAt = now;
    }
    if (counts.length && counts.every((c) => c.established && c.accepted >= options.n)) {
      return { reached: true, doneAt: now, establishedAt, counts };
    }
    if (now >= deadline || options.stop?.()) {
      return { reached: false, doneAt: now, establishedAt, counts };
    }
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 100));
  }
}

/**
 * Polls until no receiver holds a route from `sender` (session down or withdrawn);
 * returns the `performance.now()` of that poll, or undefined after `capMs`.
 */
export async function waitForEmpty(
  receivers: BenchReceiver[],
  options: { sender: string; capMs: number; intervalMs?: number },
): Promise<number | undefined> {
  const deadline = performance.now() + options.capMs;
  for (;;) {
    try {
      const counts = await Promise.all(receivers.map((r) => receiverCounts(r, options.sender)));
      if (counts.every((c) => c.accepted === 0)) return performance.now();
    } catch {
      // poll again
    }
    if (performance.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, options.intervalMs ?? 50));
  }
}

/**
 * Waits until every receiver's session with `sender` is down, empty and back to waiting for
 * a connection (GoBGP refuses connections during its idle hold after a reset, which would
 * charge the next sender a reconnect backoff), so every sender starts from the same state.
 */
export async function waitReceiversIdle(
  receivers: BenchReceiver[],
  sender: string,
): Promise<ReceiverCounts[]> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const counts = await Promise.all(receivers.map((r) => receiverCounts(r, sender)));
    if (counts.every((c) => c.state === ACTIVE && c.accepted === 0)) return counts;
    if (performance.now() > deadline) {
      throw new Error(`receivers still hold a session or routes: ${JSON.stringify(counts)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Peak and current resident set of a process, in bytes, from /proc (undefined if gone). */
export async function processMemory(
  pid: number,
): Promise<{ hwmBytes: number; rssBytes: number } | undefined> {
  // Deno will not read another process's /proc entry without --allow-all; cat may.
  const o = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  }).output().catch(() => undefined);
  if (!o?.success) return undefined;
  const text = new TextDecoder().decode(o.stdout);
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text)?.[1]);
  const hwm = kb("VmHWM");
  const rss = kb("VmRSS");
  if (!Number.isFinite(hwm) || !Number.isFinite(rss)) return undefined;
  return { hwmBytes: hwm * 1024, rssBytes: rss * 1024 };
}

/**
 * Samples a process's peak resident set until `stop()`; /proc's VmHWM is kept by the kernel,
 * sampling only makes sure the last value before exit is read.
 */
export function trackPeakMemory(pid: number): { stop(): Promise<number | undefined> } {
  let peak: number | undefined;
  let running = true;
  const loop = (async () => {
    while (running) {
      const m = await processMemory(pid);
      if (m) peak = Math.max(peak ?? 0, m.hwmBytes);
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    async stop() {
      const m = await processMemory(pid);
      if (m) peak = Math.max(peak ?? 0, m.hwmBytes);
      running = false;
      await loop;
      return peak;
    },
  };
}

/** `uptime`'s load averages, for the figures' context. */
export async function loadAverage(): Promise<string> {
  const o = await new Deno.Command("cat", { args: ["/proc/loadavg"], stdout: "piped" }).output()
    .catch(() => undefined);
  if (!o?.success) return "unknown";
  return new TextDecoder().decode(o.stdout).split(" ").slice(0, 3).join(" ");
}
