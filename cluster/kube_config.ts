/**
 * Loading the API server connection (kubeconfig file or in-cluster service account) and a
 * small raw-JSON request helper on top of `@kubernetes/client-node`'s HTTP stack, so objects
 * stay exactly as the server sent them (the typed APIs turn timestamps into Dates and drop
 * unknown fields).
 */

// First: process.env is confined before client-node and its dependencies load.
import "./process_env.ts";
import * as k8s from "@kubernetes/client-node";

/** Where the in-cluster service account token lives. */
export const SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** The API server connection could not be configured. */
export class KubeConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "KubeConfigError";
  }
}

/** Options for {@linkcode loadKubeConfig}. */
export interface LoadKubeConfigOptions {
  /** A kubeconfig path (`--kubeconfig`, or KUBECONFIG resolved by the caller). */
  kubeconfig?: string;
}

/**
 * Loads a kubeconfig file when given, else the in-cluster service account; throws
 * {@linkcode KubeConfigError} saying what was tried when neither works.
 */
export function loadKubeConfig(options: LoadKubeConfigOptions = {}): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  if (options.kubeconfig) {
    try {
      kc.loadFromFile(options.kubeconfig);
    } catch (err) {
      throw new KubeConfigError(
        `cannot load kubeconfig "${options.kubeconfig}": ${(err as Error).message}`,
        { cause: err },
      );
    }
    if (!kc.getCurrentCluster()) {
      throw new KubeConfigError(
        `kubeconfig "${options.kubeconfig}" has no current context with a cluster`,
      );
    }
    return forceHttp1(kc);
  }
  let host: string | undefined;
  try {
    host = Deno.env.get("KUBERNETES_SERVICE_HOST");
  } catch {
    host = undefined;
  }
  if (!host) {
    throw new KubeConfigError(
      "no kubeconfig given (--kubeconfig or KUBECONFIG) and not running in a cluster " +
        "(KUBERNETES_SERVICE_HOST is not set)",
    );
  }
  try {
    Deno.statSync(SERVICE_ACCOUNT_TOKEN);
  } catch (err) {
    throw new KubeConfigError(
      `running in a cluster (KUBERNETES_SERVICE_HOST=${host}) but the service account token ` +
        `${SERVICE_ACCOUNT_TOKEN} is unreadable: ${(err as Error).message}`,
      { cause: err },
    );
  }
  kc.loadFromCluster();
  return forceHttp1(kc);
}

const http1Patched = new WeakSet<k8s.KubeConfig>();

interface DispatcherHooks {
  createDispatcher(cluster: unknown, agentOptions: unknown): unknown;
  createDispatcherOptions(
    cluster: unknown,
    agentOptions: unknown,
  ): { type: string; connect?: Record<string, unknown> };
}

/** The identity of a connection's TLS material, so a rotated certificate gets a new agent. */
function connectKey(connect: Record<string, unknown> | undefined): string {
  return JSON.stringify(
    Object.entries(connect ?? {}).map((
      [k, v],
    ) => [k, v instanceof Uint8Array ? new TextDecoder().decode(v) : v]),
  );
}

interface ClosableDispatcher {
  constructor: new (o: unknown) => unknown;
  close?: () => Promise<void>;
}

/**
 * Makes the client offer only HTTP/1.1 and reuse its connections. undici offers h2 by
 * default, and under Deno HTTP/2 runs through node:http2, which we saw abort the whole
 * process when a server sends GOAWAY (API server restarts do). And the client builds a new
 * agent, so a new TCP and TLS handshake, for every request; one agent per TLS identity keeps
 * connections alive between requests (most of a request's cost on a real server).
 * Idempotent; returns `kc`.
 */
export function forceHttp1(kc: k8s.KubeConfig): k8s.KubeConfig {
  if (http1Patched.has(kc)) return kc;
  http1Patched.add(kc);
  const hooks = kc as unknown as DispatcherHooks;
  const original = hooks.createDispatcher.bind(kc);
  let shared: { key: string; agent: unknown } | undefined;
  hooks.createDispatcher = (cluster, agentOptions) => {
    const opts = hooks.createDispatcherOptions(cluster, agentOptions);
    if (opts.type !== "agent") return original(cluster, agentOptions);
    const key = connectKey(opts.connect);
    if (shared?.key === key) return shared.agent;
    const dispatcher = original(cluster, agentOptions) as ClosableDispatcher;
    const Agent = dispatcher.constructor;
    dispatcher.close?.().catch(() => {});
    // The agent it replaces finishes its requests in flight, then closes its connections.
    (shared?.agent as ClosableDispatcher | undefined)?.close?.().catch(() => {});
    shared = {
      key,
      agent: new Agent({ connect: { ...opts.connect, allowH2: false }, allowH2: false }),
    };
    return shared.agent;
  };
  return kc;
}

/** A non-2xx answer from the API server, with the `Status` reason when there was one. */
export class KubeApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
    readonly method: string,
    readonly path: string,
    message: string,
  ) {
    super(`${method} ${path}: HTTP ${status} ${reason}: ${message}`);
    this.name = "KubeApiError";
  }
}

/** Options for {@linkcode kubeRequest}. */
export interface KubeRequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  /** Content type of `body`; `application/json` unless a patch type is given. */
  contentType?: string;
  /** Bound on the whole request (default 30 s). */
  timeoutMs?: number;
  /** Cancels the request early (e.g. on shutdown). */
  signal?: AbortSignal;
}

/** Sends one request with the kubeconfig's server, TLS and credentials; returns parsed JSON. */
export async function kubeRequest<T = unknown>(
  kc: k8s.KubeConfig,
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE",
  path: string,
  options: KubeRequestOptions = {},
): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeConfigError("kubeconfig has no current cluster");
  const ctx = new k8s.RequestContext(cluster.server.replace(/\/$/, "") + path, method as never);
  for (const [k, v] of Object.entries(options.query ?? {})) {
    if (v !== undefined) ctx.setQueryParam(k, String(v));
  }
  ctx.setHeaderParam("Accept", "application/json");
  if (options.body !== undefined) {
    ctx.setHeaderParam("Content-Type", options.contentType ?? "application/json");
    ctx.setBody(toJson(options.body));
  }
  await kc.applySecurityAuthentication(ctx);
  const timeoutMs = options.timeoutMs ?? 30_000;
  const timeout = AbortSignal.timeout(timeoutMs);
  ctx.setSignal(options.signal ? AbortSignal.any([timeout, options.signal]) : timeout);
  let text: string;
  let status: number;
  try {
    const resp = await new k8s.IsomorphicFetchHttpLibrary().send(ctx).toPromise();
    status = resp.httpStatusCode;
    text = await resp.body.text();
  } catch (err) {
    const e = err as Error;
    const cause = (e.cause as Error | undefined)?.message;
    const what = timeout.aborted
      ? `timed out after ${timeoutMs} ms`
      : cause
      ? `${e.message}: ${cause}`
      : e.message;
    throw new KubeApiError(0, "ConnectionError", method, path, what);
  }
  let parsed: unknown = undefined;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  if (status < 200 || status > 299) {
    const st = parsed as { reason?: string; message?: string } | undefined;
    throw new KubeApiError(
      status,
      st?.reason ?? "Unknown",
      method,
      path,
      st?.message ?? text.slice(0, 200),
    );
  }
  return parsed as T;
}

/** True when `err` is a {@linkcode KubeApiError} with this HTTP status. */
export function isStatus(err: unknown, status: number): boolean {
  return err instanceof KubeApiError && err.status === status;
}

/**
 * JSON text of a request body. bigints (IPv6 pool counts) are written as exact JSON
 * integers, which JSON.stringify refuses to do.
 */
export function toJson(value: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(value, (_k, v) => {
    if (typeof v !== "bigint") return v;
    marks.push(v.toString());
    return `\u0000bigint${marks.length - 1}\u0000`;
  });
  return marks.length === 0
    ? text
    : text.replace(/"\\u0000bigint(\d+)\\u0000"/g, (_m, i) => marks[Number(i)]);
}
