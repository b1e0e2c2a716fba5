/**
 * `ferrolb status`: asks a running instance for /status and prints it for people (or as
 * JSON with `--json`), exiting non-zero when the configuration is invalid or a configured
 * session is not Established, so scripts and probes can act on it as on `birdc`/`gobgp`.
 */
import type { ParsedArgs } from "./args.ts";
import { dialableAddr } from "../bin/permissions.mjs";
import type { FamilyUsage, ServiceStatus, SessionStatus, StatusDocument } from "../api/status.ts";
import { formatHistory, HISTORY_PARAM } from "../api/ip_history_view.ts";

export type {
  Count,
  FamilyUsage,
  PoolStatus,
  ServiceStatus,
  SessionStatus,
  StatusDocument,
} from "../api/status.ts";

/** Exit code: reachable, configuration valid, every configured session Established. */
export const EXIT_OK = 0;
/** Exit code: the configuration is invalid or a configured session is not Established. */
export const EXIT_DEGRADED = 1;
/** Exit code: the command line is wrong (main.ts prints the usage). */
export const EXIT_USAGE = 2;
/** Exit code: no status: the instance cannot be reached or did not answer with one. */
export const EXIT_UNREACHABLE = 3;

function describeGracefulRestart(gr: SessionStatus["gracefulRestart"]): string {
  if (!gr?.enabled) return "-";
  if (!gr.negotiated) return "configured";
  return gr.notification ? "on (N)" : "on";
}

/** Options for {@linkcode runStatus}. */
export interface RunStatusOptions {
  /** Gives up after this long; 5 s by default. */
  timeoutMs?: number;
  stdout?: (text: string) => void;
  stderr?: (text: string) => void;
}

/** Go-style duration for uptimes: `3d4h5m`, `2h0m7s`, `42s`. */
export function formatUptime(seconds: number): string {
  let s = Math.max(0, Math.floor(seconds));
  const d = Math.floor(s / 86400);
  s -= d * 86400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return `${d}d${h}h${m}m`;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(header), ...rows.map(line)];
}

function usage(u: FamilyUsage | undefined): string {
  return u ? `${u.used}/${u.total}` : "-";
}

/** Renders a status document as text sections: Config, Sessions, Pools, Services. */
export function formatStatus(doc: StatusDocument): string {
  const out: string[] = [];
  out.push(`ferrolb ${doc.role}${doc.node ? ` on node ${doc.node}` : ""}`, "");

  out.push(`Config: ${doc.config.valid ? "valid" : "INVALID"}`);
  for (const e of doc.config.errors) out.push(`  error: ${e}`);
  for (const w of doc.config.warnings) out.push(`  warning: ${w}`);
  out.push("");

  out.push(`Sessions (${doc.sessions.length}):`);
  if (doc.sessions.length === 0) out.push("  none");
  else {
    const rows = [...doc.sessions].sort((a, b) => a.peer.localeCompare(b.peer)).map((s) => [
      s.name ? `${s.peer} (${s.name})` : s.peer,
      s.state,
      s.peerAsn === undefined ? "-" : String(s.peerAsn),
      s.uptimeSeconds === undefined ? "-" : formatUptime(s.uptimeSeconds),
      String(s.prefixesSent),
      String(s.prefixesReceived),
      describeGracefulRestart(s.gracefulRestart),
      s.lastError ?? "",
    ]);
    const t = table(
      ["PEER", "STATE", "PEER AS", "UPTIME", "SENT", "RECEIVED", "GRACEFUL RESTART", "LAST ERROR"],
      rows,
    );
    out.push(...t.map((l) => `  ${l}`));
    for (const sess of doc.sessions) {
      if (sess.unsupported?.length) {
        out.push(`  ${sess.name ?? sess.peer}: unsupported: ${sess.unsupported.join(", ")}`);
      }
    }
  }
  out.push("");

  out.push(`Pools (${doc.pools.length}):`);
  if (doc.pools.length === 0) out.push("  none");
  else {
    const rows = [...doc.pools].sort((a, b) => a.name.localeCompare(b.name)).map((p) => [
      p.name,
      usage(p.ipv4),
      usage(p.ipv6),
    ]);
    out.push(...table(["NAME", "IPV4 USED/TOTAL", "IPV6 USED/TOTAL"], rows).map((l) => `  ${l}`));
  }
  out.push("");

  out.push(`Services (${doc.services.length}):`);
  if (doc.services.length === 0) out.push("  none");
  else {
    const rows = [...doc.services]
      .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))
      .map((s) => [
        `${s.namespace}/${s.name}`,
        s.ips.length ? s.ips.join(",") : s.pending ? `<pending: ${s.pending}>` : "<pending>",
        s.pool ?? "-",
        announcedTo(s),
      ]);
    out.push(...table(["SERVICE", "IPS", "POOL", "ANNOUNCED TO"], rows).map((l) => `  ${l}`));
  }
  return out.join("\n") + "\n";
}

/** The ANNOUNCED TO cell: the peers, or why none when the speaker said. */
function announcedTo(s: ServiceStatus): string {
  if (s.peers.length) return s.peers.join(",") + pathNote(s);
  // A speaker-only document carries the speaker's reason in `pending` (it assigns nothing).
  const why = s.notAnnounced ?? (s.ips.length ? s.pending : undefined);
  if (s.ips.length && why) return `- (${why})`;
  return "-";
}

/** ` (prepend N, med M)` when ferrolb path control applies to the Service's routes. */
function pathNote(s: ServiceStatus): string {
  const parts: string[] = [];
  if (s.path?.asPathPrepend !== undefined) parts.push(`prepend ${s.path.asPathPrepend}`);
  if (s.path?.med !== undefined) parts.push(`med ${s.path.med}`);
  return parts.length ? ` (${parts.join(", ")})` : "";
}

/** Why a status document is not healthy: invalid configuration, sessions not Established. */
export function problemsOf(doc: StatusDocument): string[] {
  const out: string[] = [];
  if (!doc.config.valid) out.push("configuration invalid");
  for (const s of doc.sessions) {
    if (s.state !== "Established") out.push(`session ${s.name ?? s.peer} is ${s.state}`);
  }
  return out;
}

/** Parses a /status body, filling absent lists so older or partial documents still print. */
export function parseStatusDocument(body: string): StatusDocument | string {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (err) {
    return (err as Error).message;
  }
  if (typeof v !== "object" || v === null || typeof (v as { role?: unknown }).role !== "string") {
    return "missing role";
  }
  const d = v as Partial<StatusDocument> & { role: string };
  const config = d.config ?? { valid: false, errors: ["no config section"], warnings: [] };
  return {
    ...d,
    config: { valid: !!config.valid, errors: config.errors ?? [], warnings: config.warnings ?? [] },
    sessions: Array.isArray(d.sessions) ? d.sessions : [],
    pools: Array.isArray(d.pools) ? d.pools : [],
    services: (Array.isArray(d.services) ? d.services : []).map((s) => ({
      ...s,
      ips: s.ips ?? [],
      peers: s.peers ?? [],
    })),
  };
}

function writeOut(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text));
}

function writeErr(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(text));
}

/** Why fetching failed, in the words an operator acts on. */
function unreachable(err: Error, addr: string, timeoutMs: number): string {
  if (err.name === "TimeoutError") return `no answer from ${addr} within ${timeoutMs} ms`;
  // fetch wraps the socket error: "error sending request ...: Connection refused (os error 111)".
  const text = `${err.message} ${(err.cause as Error | undefined)?.message ?? ""}`;
  if (/connection refused|ECONNREFUSED/i.test(text)) {
    return `connection refused at ${addr}: is ferrolb running? (--addr)`;
  }
  return `cannot reach ${addr}: ${err.message.split("\n")[0]} (--addr)`;
}

/**
 * Fetches /status from `--addr` (else `--admin-addr`) and prints it; resolves to
 * {@linkcode EXIT_OK}, {@linkcode EXIT_DEGRADED} or {@linkcode EXIT_UNREACHABLE}.
 */
export async function runStatus(args: ParsedArgs, options: RunStatusOptions = {}): Promise<number> {
  const stdout = options.stdout ?? writeOut;
  const stderr = options.stderr ?? writeErr;
  const timeoutMs = options.timeoutMs ?? 5000;
  const addr = dialableAddr(
    (args.flags.addr ?? args.flags["admin-addr"] ?? "127.0.0.1:7472") as string,
  );
  const history = args.flags.history === true;
  const what = args.positionals[0];
  const url = `http://${addr}/status` +
    (history ? `?${HISTORY_PARAM}=${encodeURIComponent(what ?? "")}` : "");
  let body: string;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    body = await res.text();
    if (!res.ok) {
      stderr(`ferrolb status: ${url}: HTTP ${res.status}: ${body.trim().split("\n")[0]}\n`);
      return EXIT_UNREACHABLE;
    }
  } catch (err) {
    stderr(`ferrolb status: ${unreachable(err as Error, addr, timeoutMs)}\n`);
    return EXIT_UNREACHABLE;
  }
  const parsed = parseStatusDocument(body);
  if (typeof parsed === "string") {
    stderr(`ferrolb status: ${url} did not answer with a status document: ${parsed}\n`);
    return EXIT_UNREACHABLE;
  }
  const doc = parsed;
  if (args.flags.json === true) stdout(JSON.stringify(doc, null, 2) + "\n");
  else if (history) stdout(formatHistory(doc.history ?? [], what));
  else stdout(formatStatus(doc));
  const problems = problemsOf(doc);
  if (problems.length === 0) return EXIT_OK;
  stderr(`ferrolb status: not healthy: ${problems.join("; ")}\n`);
  return EXIT_DEGRADED;
}
