/**
 * The admin HTTP server: /metrics for Prometheus, /healthz and /readyz for the kubelet,
 * /status for `ferrolb status`. Loopback by default because /status shows the cluster's
 * layout; `--admin-addr` opens it up when users want to scrape from elsewhere.
 */
import type { Logger } from "../api/log.ts";
import { EXPOSITION_CONTENT_TYPE, type Registry } from "../api/metrics.ts";
import { exportLoopLag, loopLagGauge, startLoopLagMonitor } from "./loop_lag.ts";
import { defineProcessMetrics } from "../api/process_metrics.ts";
import { libcCpuClock } from "./cpu_time.ts";
import { libcFdCounter } from "./fd_count.ts";
import { Slice } from "../addr/turn_budget.ts";

/** What /readyz reports; a plain boolean is accepted too. */
export interface Readiness {
  ready: boolean;
  /** Why not ready, shown in the 503 body. */
  reason?: string;
}

/** Options for {@linkcode startAdminServer}. */
export interface AdminServerOptions {
  registry: Registry;
  /** False (or a throw) makes /healthz answer 503. */
  health: () => boolean;
  ready: () => boolean | Readiness;
  /** The /status document (the query asks for extras, e.g. `history`); bigints as strings. */
  status: (query: URLSearchParams) => unknown;
  logger: Logger;
}

/** A running admin server. */
export interface AdminServer {
  /** The address actually bound, `HOST:PORT` (`[v6]:PORT` for IPv6). */
  readonly addr: string;
  /** Stops accepting and waits for the server to finish. */
  close(): Promise<void>;
}

/** A malformed `HOST:PORT`. */
export class AddressError extends Error {
  override name = "AddressError";
}

/** Splits `HOST:PORT` or `[V6]:PORT`; the port may be 0 (any free port). */
export function parseHostPort(addr: string): { hostname: string; port: number } {
  const m = addr.match(/^\[([^\]]+)\]:(\d+)$/) ?? addr.match(/^([^:\[\]]*):(\d+)$/);
  if (!m) throw new AddressError(`invalid address "${addr}": want HOST:PORT or [IPv6]:PORT`);
  const port = Number(m[2]);
  if (port > 65535) throw new AddressError(`invalid address "${addr}": port ${port} > 65535`);
  return { hostname: m[1] === "" ? "0.0.0.0" : m[1], port };
}

/** Formats a bound address as `HOST:PORT`, bracketing IPv6. */
export function formatHostPort(hostname: string, port: number): string {
  return hostname.includes(":") ? `[${hostname}]:${port}` : `${hostname}:${port}`;
}

function text(body: string, status = 200): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function bigintSafe(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/**
 * Checks that `addr` can be bound, without keeping it: why not, or undefined when it can.
 * Run before anything is created so a port in use leaves no state directory behind.
 */
export async function checkAdminAddr(addr: string): Promise<string | undefined> {
  let hostname: string, port: number;
  try {
    ({ hostname, port } = parseHostPort(addr));
  } catch (err) {
    return (err as Error).message;
  }
  if (port === 0) return undefined;
  try {
    const listener = Deno.listen({ hostname, port });
    listener.close();
    // Let the close reach the OS before the role binds the port for real.
    await new Promise((r) => setTimeout(r, 0));
    return undefined;
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      return "address in use (another ferrolb running? choose another with --admin-addr)";
    }
    if (err instanceof Deno.errors.AddrNotAvailable) {
      return `${hostname} is not an address of this host`;
    }
    return (err as Error).message.split("\n")[0];
  }
}

const withProcessMetrics = new WeakSet<Registry>();

/** Process metrics once per registry: a registry may serve more than one admin server. */
function ensureProcessMetrics(registry: Registry): void {
  if (withProcessMetrics.has(registry)) return;
  withProcessMetrics.add(registry);
  defineProcessMetrics(registry, undefined, { fds: libcFdCounter(), cpu: libcCpuClock() });
}

/** /healthz: 503 when `health` says false or throws. */
function healthz(options: AdminServerOptions, log: Logger): Response {
  let ok = false;
  try {
    ok = options.health();
  } catch (err) {
    log.warn("health check failed", { error: err });
  }
  return ok ? text("ok") : text("unhealthy", 503);
}

/** /readyz: 503 with the reason until ready. */
function readyz(options: AdminServerOptions): Response {
  let r: Readiness;
  try {
    const v = options.ready();
    r = typeof v === "boolean" ? { ready: v } : v;
  } catch (err) {
    r = { ready: false, reason: (err as Error).message };
  }
  return r.ready ? text("ok") : text(`not ready: ${r.reason ?? "starting"}`, 503);
}

/** /status: the role's document as JSON, or 500 when building it fails. */
function statusz(options: AdminServerOptions, log: Logger, query: URLSearchParams): Response {
  try {
    return new Response(
      JSON.stringify(options.status(query), bigintSafe, 2) + "\n",
      {
        headers: { "content-type": "application/json" },
      },
    );
  } catch (err) {
    log.error("building /status failed", { error: err });
    return text(`status unavailable: ${(err as Error).message}`, 500);
  }
}

/**
 * The registry's text as a stream rendered as it is read, a slice per turn: at 100,000
 * Services /metrics is ~10 MB, which rendered in one call held the event loop ~200 ms and
 * ~100 MiB on every scrape.
 */
function exposition(registry: Registry): ReadableStream<Uint8Array> {
  const chunks = registry.renderChunks();
  const encoder = new TextEncoder();
  let slice: Slice | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // A pull resumes after the client read the last chunk: a new slice starts then.
      if (slice) slice.restart();
      else slice = new Slice();
      for (let r = chunks.next(); !r.done; r = chunks.next()) {
        if (r.value !== null) {
          controller.enqueue(encoder.encode(r.value));
          return;
        }
        if (slice.due()) await slice.next();
      }
      controller.close();
    },
    cancel() {
      chunks.return();
    },
  });
}

/** Routes a request; `metrics` renders /metrics. */
function route(
  req: Request,
  ctx: { options: AdminServerOptions; log: Logger; metrics: () => Response },
): Response {
  const url = new URL(req.url);
  if (req.method !== "GET" && req.method !== "HEAD") {
    return new Response("method not allowed\n", { status: 405, headers: { allow: "GET, HEAD" } });
  }
  switch (url.pathname) {
    case "/metrics":
      return ctx.metrics();
    case "/healthz":
      return healthz(ctx.options, ctx.log);
    case "/readyz":
      return readyz(ctx.options);
    case "/status":
      return statusz(ctx.options, ctx.log, url.searchParams);
    default:
      return text("not found", 404);
  }
}

/** Starts the admin server on `addr` (e.g. `127.0.0.1:7472`; port 0 picks a free one). */
export function startAdminServer(addr: string, options: AdminServerOptions): AdminServer {
  const log = options.logger.child({ component: "admin" });
  const { hostname, port } = parseHostPort(addr);
  const lagGauge = loopLagGauge(options.registry);
  ensureProcessMetrics(options.registry);
  const metrics = () => {
    exportLoopLag(lag, lagGauge);
    return new Response(exposition(options.registry), {
      headers: { "content-type": EXPOSITION_CONTENT_TYPE },
    });
  };
  const server = Deno.serve({
    hostname,
    port,
    // The default prints to stdout, which belongs to command output.
    onListen: () => {},
    onError: (err) => {
      log.error("admin request failed", { error: err });
      return text("internal error", 500);
    },
  }, (req) => route(req, { options, log, metrics }));
  // Started once the server is up, so a bind failure leaves no timer behind.
  const lag = startLoopLagMonitor();
  const bound = formatHostPort(server.addr.hostname, server.addr.port);
  log.info("admin server listening", { addr: bound });
  return {
    addr: bound,
    async close() {
      lag.stop();
      await server.shutdown();
    },
  };
}
