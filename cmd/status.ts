/**
 * `ferrolb status`: asks a running instance for /status and prints it for people. The
 * document type lives here so the controller and speaker fill the same shape that this
 * command reads.
 */
import type { ParsedArgs } from "./args.ts";

/** A count that may exceed 2^53 (IPv6 pools): a decimal string, or a number when small. */
export type Count = string | number;

/** One BGP session as the speaker sees it. */
export interface SessionStatus {
  /** `ip:port`, as in the `metallb_bgp_session_up{peer}` label. */
  peer: string;
  /** The BGPPeer object's name, when known. */
  name?: string;
  /** FSM state: `Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`, `Established`. */
  state: string;
  /** Seconds since the session reached Established; absent when it is not established. */
  uptimeSeconds?: number;
  prefixesSent: number;
  prefixesReceived: number;
  lastError?: string;
  /** The AS the peer sent in its OPEN (useful with `dynamicASN`). */
  peerAsn?: number;
  /** Graceful restart: configured, negotiated with the peer, RFC 8538 N bit on both sides. */
  gracefulRestart?: { enabled: boolean; negotiated: boolean; notification: boolean };
}

function describeGracefulRestart(gr: SessionStatus["gracefulRestart"]): string {
  if (!gr?.enabled) return "-";
  if (!gr.negotiated) return "configured";
  return gr.notification ? "on (N)" : "on";
}

/** Used and total addresses of one family in a pool. */
export interface FamilyUsage {
  used: Count;
  total: Count;
}

/** One IPAddressPool's usage. */
export interface PoolStatus {
  name: string;
  ipv4?: FamilyUsage;
  ipv6?: FamilyUsage;
}

/** One LoadBalancer Service. */
export interface ServiceStatus {
  namespace: string;
  name: string;
  ips: string[];
  pool?: string;
  /** Peers (`ip:port`) this node announces the Service to. */
  peers: string[];
  /** Why it has no address yet, e.g. the AllocationFailed message. */
  pending?: string;
}

/** The /status JSON document served by the admin server. */
export interface StatusDocument {
  role: string;
  node?: string;
  config: { valid: boolean; errors: string[]; warnings: string[] };
  sessions: SessionStatus[];
  pools: PoolStatus[];
  services: ServiceStatus[];
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
        s.peers.length ? s.peers.join(",") : "-",
      ]);
    out.push(...table(["SERVICE", "IPS", "POOL", "ANNOUNCED TO"], rows).map((l) => `  ${l}`));
  }
  return out.join("\n") + "\n";
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

/** A listen address such as `:7472` or `0.0.0.0:7472` is reached on loopback. */
function dialable(addr: string): string {
  if (addr.startsWith(":")) return `127.0.0.1${addr}`;
  if (addr.startsWith("0.0.0.0:")) return `127.0.0.1${addr.slice(7)}`;
  if (addr.startsWith("[::]:")) return `[::1]${addr.slice(4)}`;
  return addr;
}

function writeOut(text: string): void {
  Deno.stdout.writeSync(new TextEncoder().encode(text));
}

function writeErr(text: string): void {
  Deno.stderr.writeSync(new TextEncoder().encode(text));
}

/** Fetches /status from `--addr` (else `--admin-addr`) and prints it; returns the exit code. */
export async function runStatus(args: ParsedArgs, options: RunStatusOptions = {}): Promise<number> {
  const stdout = options.stdout ?? writeOut;
  const stderr = options.stderr ?? writeErr;
  const timeoutMs = options.timeoutMs ?? 5000;
  const addr = dialable(
    (args.flags.addr ?? args.flags["admin-addr"] ?? "127.0.0.1:7472") as string,
  );
  const url = `http://${addr}/status`;
  let doc: StatusDocument;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    if (!res.ok) {
      stderr(`ferrolb status: ${url}: HTTP ${res.status}: ${body.trim().split("\n")[0]}\n`);
      return 1;
    }
    const parsed = parseStatusDocument(body);
    if (typeof parsed === "string") {
      stderr(`ferrolb status: ${url} did not answer with a status document: ${parsed}\n`);
      return 1;
    }
    doc = parsed;
  } catch (err) {
    const e = err as Error;
    const reason = e.name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : e.message.split("\n")[0];
    stderr(`ferrolb status: cannot reach ${addr}: ${reason}\n`);
    return 1;
  }
  stdout(formatStatus(doc));
  return 0;
}
