/**
 * `ferrolb demo [DIR]`: the README's first command. Starts a collector where the directory's
 * BGPPeer points (a loopback address), runs `all` on the directory, and prints what was
 * assigned and what the collector received, so a laptop shows the whole job end to end.
 */
import type { ParsedArgs } from "./args.ts";
import { type FileMode, fileModeFlags, startFileMode } from "./all.ts";
import { waitForSignal } from "./signals.ts";
import type { StatusDocument } from "./status.ts";
import { createLogger, type Logger, type LogLevel, parseLogLevel } from "../api/log.ts";
import { parseIP } from "../api/ip.ts";
import { type CollectedRoute, type Collector, startCollector } from "../bgp/mod.ts";
import { listManifestFiles, parseManifests } from "../cluster/file_source.ts";

/** The directory `ferrolb demo` runs on when none is given: the project's own quickstart. */
export const DEFAULT_DEMO_DIR = new URL("../examples/quickstart", import.meta.url).pathname;

/** How long `--exit-when-converged` waits before giving up. */
export const CONVERGE_TIMEOUT_MS = 60_000;

/** Where the demo's collector listens and which AS it has. */
export interface CollectorTarget {
  listen: string;
  asn: number;
  /** The BGPPeer it stands in for. */
  peer?: string;
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1)$/;

/**
 * Finds the first BGPPeer in `dir` whose `peerAddress` is a loopback address: the demo's
 * collector takes its place (address, port, AS). Falls back to `fallback`.
 */
export async function collectorTarget(
  dir: string,
  fallback: CollectorTarget,
): Promise<CollectorTarget> {
  const files = await listManifestFiles(dir);
  for (const file of files) {
    const r = parseManifests(await Deno.readTextFile(file));
    if (!r.ok) continue;
    for (const o of r.objects) {
      if (o.kind !== "BGPPeer") continue;
      const spec = (o.spec ?? {}) as Record<string, unknown>;
      const addr = spec.peerAddress;
      if (typeof addr !== "string" || !LOOPBACK.test(addr)) continue;
      const port = typeof spec.peerPort === "number" ? spec.peerPort : 179;
      const asn = typeof spec.peerASN === "number" ? spec.peerASN : fallback.asn;
      return {
        listen: addr.includes(":") ? `[${addr}]:${port}` : `${addr}:${port}`,
        asn,
        peer: o.metadata.name,
      };
    }
  }
  return fallback;
}

/** True when `prefix` (`addr/len`) contains the address `ip`. */
export function prefixCovers(prefix: string, ip: string): boolean {
  const [addr, lenText] = prefix.split("/");
  const p = parseIP(addr);
  const a = parseIP(ip);
  if (!p.ok || !a.ok || p.value.family !== a.value.family) return false;
  const bits = p.value.family === 4 ? 32 : 128;
  const len = lenText === undefined ? bits : Number(lenText);
  const shift = BigInt(bits - len);
  return (p.value.value >> shift) === (a.value.value >> shift);
}

/** Every route the collector holds, with the peer that sent it. */
export function collectorRoutes(collector: Collector): (CollectedRoute & { from: string })[] {
  return collector.routes().flatMap((p) => p.routes.map((r) => ({ ...r, from: p.peer })));
}

/** Why the demo has not converged yet; empty when it has. */
export function notConverged(doc: StatusDocument, routes: readonly CollectedRoute[]): string[] {
  const why: string[] = [];
  if (!doc.config.valid) why.push(`configuration invalid: ${doc.config.errors.join("; ")}`);
  for (const s of doc.services) {
    const name = `${s.namespace}/${s.name}`;
    if (s.ips.length === 0) {
      why.push(`${name} has no address${s.pending ? `: ${s.pending}` : ""}`);
      continue;
    }
    for (const ip of s.ips) {
      if (!routes.some((r) => prefixCovers(r.prefix, ip))) {
        why.push(`${name}: no route for ${ip} at the collector yet`);
      }
    }
  }
  for (const s of doc.sessions) {
    if (s.state !== "Established") {
      why.push(`session to ${s.peer} is ${s.state}${s.lastError ? ` (${s.lastError})` : ""}`);
    }
  }
  if (doc.sessions.length === 0) why.push("no BGP session configured");
  return why;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  return [header, ...rows].map((cells) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd()
  );
}

/** The human summary: Services and their addresses, then the collector's routes. */
export function formatDemoSummary(
  doc: StatusDocument,
  routes: readonly CollectedRoute[],
  target: CollectorTarget,
): string {
  const out: string[] = [];
  out.push(`Services (${doc.services.length}):`);
  if (doc.services.length === 0) out.push("  none of type LoadBalancer");
  else {
    const rows = [...doc.services]
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))
      .map((s) => [
        `${s.namespace}/${s.name}`,
        s.ips.length ? s.ips.join(", ") : `<pending${s.pending ? `: ${s.pending}` : ""}>`,
        s.pool ? `pool ${s.pool}` : "-",
        s.peers.length ? `announced to ${s.peers.join(", ")}` : "not announced",
      ]);
    out.push(...table(["SERVICE", "IP", "POOL", "BGP"], rows).map((l) => `  ${l}`));
  }
  out.push("");
  out.push(`Collector ${target.listen} (AS ${target.asn}) received ${routes.length} route(s):`);
  if (routes.length > 0) {
    const rows = [...routes]
      .sort((a, b) => a.prefix.localeCompare(b.prefix))
      .map((r) => [
        r.prefix,
        r.nextHop ?? "-",
        r.asPath.length ? r.asPath.join(" ") : "(empty)",
        r.localPref === undefined ? "-" : String(r.localPref),
        [...r.communities, ...r.largeCommunities.map((c) => `large:${c}`)].join(" ") || "-",
      ]);
    out.push(
      ...table(["PREFIX", "NEXT HOP", "AS PATH", "LOCAL PREF", "COMMUNITIES"], rows)
        .map((l) => `  ${l}`),
    );
  }
  if (!doc.config.valid) {
    out.push("", "Configuration INVALID (the last good one stays in force):");
    for (const e of doc.config.errors) out.push(`  ${e}`);
  }
  for (const w of doc.config.warnings) out.push(`  warning: ${w}`);
  return out.join("\n") + "\n";
}

function print(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text));
}

/** The demo is for people: `info` JSON lines would bury the summary, so it starts at `warn`. */
function demoLogLevel(flag: string): LogLevel | undefined {
  const level = parseLogLevel(flag);
  return level === "info" ? "warn" : level;
}

/** `all`'s file-mode flags on the demo directory, node `demo` unless given. */
function demoFlags(args: ParsedArgs, dir: string): ReturnType<typeof fileModeFlags> {
  return fileModeFlags({
    ...args,
    flags: {
      ...args.flags,
      "config-dir": dir,
      "node-name": typeof args.flags["node-name"] === "string" ? args.flags["node-name"] : "demo",
    },
  });
}

/** The collector's place from the directory's BGPPeer, or `--listen`/`--asn`; a string is why not. */
async function demoTarget(args: ParsedArgs, dir: string): Promise<CollectorTarget | string> {
  try {
    return await collectorTarget(dir, {
      listen: String(args.flags.listen ?? "127.0.0.1:1179"),
      asn: Number(args.flags.asn ?? 65001),
    });
  } catch (err) {
    return `cannot read ${dir}: ${(err as Error).message.split("\n")[0]}`;
  }
}

/** The BGP collector standing in for the peer; a string is why it could not listen. */
async function startDemoCollector(
  target: CollectorTarget,
  logger: Logger,
): Promise<Collector | string> {
  try {
    return await startCollector({
      listen: target.listen,
      asn: target.asn,
      routerId: "127.0.0.254",
      logger: logger.child({ component: "collector" }),
      acceptAnyAs: true,
    });
  } catch (err) {
    const why = err instanceof Deno.errors.AddrInUse
      ? "the address is in use (another demo or collector running?)"
      : (err as Error).message.split("\n")[0];
    return `cannot start the collector on ${target.listen}` +
      `${target.peer ? ` (BGPPeer ${target.peer} points there)` : ""}: ${why}`;
  }
}

/** A throwaway state in the temp directory: the demo leaves nothing where it was run. */
async function makeTempState(): Promise<string> {
  try {
    return await Deno.makeTempDir({ prefix: "ferrolb-demo-" });
  } catch (err) {
    // The binary's baked permissions write only below the working directory.
    if (!(err instanceof Deno.errors.NotCapable)) throw err;
    return await Deno.makeTempDir({ dir: ".", prefix: ".ferrolb-demo-" });
  }
}

/** What the demo runs with once its collector listens. */
interface DemoRun {
  dir: string;
  target: CollectorTarget;
  collector: Collector;
  exitWhenConverged: boolean;
  signal: Promise<unknown>;
}

/** Waits for convergence, prints the summary, then follows changes; resolves to the code. */
async function showDemo(mode: FileMode, run: DemoRun): Promise<number> {
  const { collector, target } = run;
  const timeoutMs = run.exitWhenConverged ? CONVERGE_TIMEOUT_MS : 0;
  const result = await converge(mode, collector, timeoutMs, run.signal);
  if (result.kind === "signal") {
    print("\nstopped\n");
    return 0;
  }
  print(formatDemoSummary(mode.status(), collectorRoutes(collector), target));
  if (result.kind === "timeout") {
    console.error(
      `ferrolb demo: not converged after ${CONVERGE_TIMEOUT_MS / 1000} s:\n  ${
        result.why.join("\n  ")
      }`,
    );
    return 1;
  }
  if (run.exitWhenConverged) {
    print("converged\n");
    return 0;
  }
  print(
    `\nRunning. Edit ${run.dir} to see changes; \`ferrolb status --addr ${mode.adminAddr}\` ` +
      `for details; Ctrl-C to stop.\n`,
  );
  await followChanges(mode, collector, target, run.signal);
  print("\nstopped\n");
  return 0;
}

/** Runs `ferrolb demo [DIR]`; resolves to the exit code. */
export async function runDemo(args: ParsedArgs): Promise<number> {
  const dir = args.positionals[0] ?? DEFAULT_DEMO_DIR;
  const flags = demoFlags(args, dir);
  if (typeof flags === "string") {
    console.error(`ferrolb demo: ${flags}`);
    return 2;
  }
  const logger = createLogger({ level: demoLogLevel(flags.level), component: "ferrolb" });
  const target = await demoTarget(args, dir);
  const collector = typeof target === "string" ? target : await startDemoCollector(target, logger);
  if (typeof target === "string" || typeof collector === "string") {
    console.error(`ferrolb demo: ${typeof target === "string" ? target : collector}`);
    return 1;
  }
  const tempState = typeof args.flags["state-dir"] !== "string" ? await makeTempState() : undefined;
  if (tempState) flags.stateDir = tempState;
  const signal = waitForSignal();
  const exitWhenConverged = args.flags["exit-when-converged"] === true;
  let mode: FileMode | undefined;
  try {
    print(`ferrolb demo: ${dir}, node ${flags.nodeName}, collector on ${target.listen}\n`);
    // Interactive: Ctrl-C stops at once; the collector is ours, no traffic to drain.
    mode = await startFileMode({ ...flags, logger, gracefulShutdownMs: 0 });
    return await showDemo(mode, {
      dir,
      target,
      collector,
      exitWhenConverged,
      signal: signal.promise,
    });
  } catch (err) {
    console.error(`ferrolb demo: ${(err as Error).message}`);
    return 1;
  } finally {
    signal.cancel();
    await mode?.close();
    await collector.close();
    if (tempState) await Deno.remove(tempState, { recursive: true }).catch(() => {});
  }
}

type ConvergeResult = { kind: "converged" } | { kind: "signal" } | {
  kind: "timeout";
  why: string[];
};

/** Waits until every Service is announced; `timeoutMs` 0 waits until a signal. */
async function converge(
  mode: FileMode,
  collector: Collector,
  timeoutMs: number,
  signal: Promise<unknown>,
): Promise<ConvergeResult> {
  let stop = false;
  signal.then(() => stop = true);
  const deadline = timeoutMs > 0 ? Date.now() + timeoutMs : Infinity;
  for (;;) {
    if (stop) return { kind: "signal" };
    const why = mode.ready()
      ? notConverged(mode.status(), collectorRoutes(collector))
      : ["assignments not restored yet"];
    if (why.length === 0) return { kind: "converged" };
    if (Date.now() > deadline) return { kind: "timeout", why };
    await Promise.race([new Promise((r) => setTimeout(r, 100)), signal]);
  }
}

/** Prints the summary again whenever it changes (users edit the directory live). */
async function followChanges(
  mode: FileMode,
  collector: Collector,
  target: CollectorTarget,
  signal: Promise<unknown>,
): Promise<void> {
  let stop = false;
  signal.then(() => stop = true);
  let last = formatDemoSummary(mode.status(), collectorRoutes(collector), target);
  while (!stop) {
    await Promise.race([new Promise((r) => setTimeout(r, 500)), signal]);
    if (stop) break;
    const now = formatDemoSummary(mode.status(), collectorRoutes(collector), target);
    if (now !== last) {
      print(`\n--- changed at ${new Date().toISOString()} ---\n${now}`);
      last = now;
    }
  }
}
