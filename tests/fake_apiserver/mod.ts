/**
 * A fake Kubernetes API server over HTTPS for tests: the REST semantics the real
 * `@kubernetes/client-node` relies on (lists with a collection resourceVersion, watches with
 * bookmarks and 410 Gone, optimistic concurrency, a separate status subresource, merge and
 * JSON patches, Status errors), plus fault switches.
 */

import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../../api/log.ts";
import { silentLogger } from "../../api/log.ts";
import { applyJsonPatch, applyMergePatch, JsonPatchError } from "./patch.ts";
import {
  apiVersionOf,
  findResource,
  type ResourceDef,
  RESOURCES,
  servedGroups,
} from "./resources.ts";
import {
  type FieldRequirement,
  type LabelRequirement,
  matchFields,
  matchLabels,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
} from "./selectors.ts";
import { createStore, type Store, type StoredObject, type StoreEvent } from "./store.ts";
import { createTestCertificates } from "./tls.ts";

export type { StoredObject } from "./store.ts";

/** Options for {@linkcode startFakeApiServer}. */
export interface FakeApiServerOptions {
  /** Port on 127.0.0.1; 0 (default) picks a free one, kept across `restart()`. */
  port?: number;
  logger?: Logger;
  /** Bearer token the kubeconfig carries; requests without it get 401. */
  token?: string;
  /**
   * Further identities, each with its own token and kubeconfig (`kubeconfigFor`), so one
   * server can tell apart the components or replicas that call it (`RequestLogEntry.user`).
   */
  users?: readonly string[];
  /**
   * An authorizer for requests made as one of `users` (the default token is an admin): when it
   * returns false the request gets 403 Forbidden, as a real API server enforcing RBAC would.
   */
  authorize?: (user: string, request: Readonly<RequestLogEntry>) => boolean;
  /** Watch history window (events); older resourceVersions get 410 Gone. */
  historyLimit?: number;
  /** How often open watches that asked for bookmarks get one. */
  bookmarkIntervalMs?: number;
}

/** One request as the server understood it. */
export interface RequestLogEntry {
  verb: "get" | "list" | "watch" | "create" | "update" | "patch" | "delete" | "discovery";
  method: string;
  path: string;
  /** Plural resource name, e.g. `services`; empty for discovery. */
  resource: string;
  group: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** HTTP status answered. */
  status: number;
  /** The identity (`FakeApiServerOptions.users`) whose token came with it; unset for `token`. */
  user?: string;
}

/** How {@linkcode FaultControls.restart} goes down. */
export interface RestartOptions {
  /**
   * Cut every connection at once instead of ending watch streams first. Under Deno the
   * client does not notice such a cut (no error, no end), so watchers must rely on their
   * own idle bound.
   */
  abrupt?: boolean;
}

/** Switches that make the server misbehave like a real one under stress. */
export interface FaultControls {
  /** Ends every open watch stream now. */
  dropWatches(): void;
  /** Fails the next `n` requests with 500 InternalError. */
  failNext(n: number): void;
  /** Fails this fraction (0..1) of requests with 500, drawn from a PRNG seeded with `seed`. */
  failFraction(fraction: number, seed?: number): void;
  /** Delays every response by this many milliseconds (0 disables). */
  delayMs: number;
  /** Fails the next `n` updates and patches with 409 Conflict. */
  conflictNextWrites(n: number): void;
  /**
   * The next watch that names a resourceVersion gets 410 Gone: as an ERROR event in a 200
   * stream (`"event"`, default, what the watch cache does) or as the HTTP status (`"http"`).
   */
  goneNextWatch(mode?: "event" | "http"): void;
  /** Closes the listener and listens again on the same port, keeping the store. */
  restart(options?: RestartOptions): Promise<void>;
  /** Clears every fault. */
  reset(): void;
}

/** A resource name as tests pass it: `plural` for core, `plural.group` otherwise. */
export type ResourceName = string;

/** Direct store access for tests; writes go through the same versioning and watch events. */
export interface FakeObjects {
  get(
    resource: ResourceName,
    namespace: string | undefined,
    name: string,
  ): StoredObject | undefined;
  list(resource: ResourceName, namespace?: string): StoredObject[];
  /** Creates or replaces an object as is (status included), bumping its resourceVersion. */
  put(resource: ResourceName, object: StoredObject): StoredObject;
  delete(resource: ResourceName, namespace: string | undefined, name: string): boolean;
  /** The latest resourceVersion. */
  resourceVersion(): number;
  /** Drops the watch history: every older resourceVersion becomes "too old" (410). */
  compact(): void;
}

/** A running fake API server. */
export interface FakeApiServer {
  /** `https://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** A kubeconfig file (CA data and bearer token) in a temp dir removed by `close()`. */
  kubeconfigPath: string;
  kubeConfigYaml: string;
  caPem: string;
  token: string;
  faults: FaultControls;
  objects: FakeObjects;
  /** Every request served, in order. */
  requestLog: RequestLogEntry[];
  /** Number of watch streams currently open. */
  openWatches(): number;
  /** A fresh client configuration loaded from `kubeconfigPath`. */
  kubeConfig(): k8s.KubeConfig;
  /** The kubeconfig file of one of `FakeApiServerOptions.users` (throws for others). */
  kubeconfigFor(user: string): string;
  /** Same as `faults.restart()`. */
  restart(options?: RestartOptions): Promise<void>;
  close(): Promise<void>;
}

interface Parsed {
  def: ResourceDef;
  namespace?: string;
  name?: string;
  subresource?: string;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const encoder = new TextEncoder();

function statusBody(code: number, reason: string, message: string, details?: unknown): unknown {
  return {
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    details,
    code,
  };
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function resourceLabel(def: ResourceDef): string {
  return def.group ? `${def.plural}.${def.group}` : def.plural;
}

function notFound(def: ResourceDef, name: string): HttpError {
  return new HttpError(404, "NotFound", `${resourceLabel(def)} "${name}" not found`, {
    name,
    group: def.group,
    kind: def.plural,
  });
}

function conflict(def: ResourceDef, name: string): HttpError {
  return new HttpError(
    409,
    "Conflict",
    `Operation cannot be fulfilled on ${resourceLabel(def)} "${name}": the object has been ` +
      "modified; please apply your changes to the latest version and try again",
    { name, group: def.group, kind: def.plural },
  );
}

/** mulberry32: small deterministic PRNG so fault fractions are reproducible. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function parsePath(segments: string[]): Parsed | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (segments[0] === "api" && segments.length >= 3) {
    group = "";
    version = segments[1];
    rest = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 4) {
    group = segments[1];
    version = segments[2];
    rest = segments.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  const namespaceSubresource = group === "" && rest.length === 3 &&
    ["status", "finalize"].includes(rest[2]);
  if (rest[0] === "namespaces" && rest.length >= 3 && !namespaceSubresource) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const def = findResource(group, version, rest[0]);
  if (!def) return undefined;
  if (!def.namespaced && namespace !== undefined) return undefined;
  return { def, namespace, name: rest[1], subresource: rest[2] };
}

function specOf(o: StoredObject): string {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return JSON.stringify(rest);
}

function sameObject(a: StoredObject, b: StoredObject): boolean {
  const strip = (o: StoredObject) => {
    const { apiVersion: _a, kind: _k, ...rest } = o;
    return JSON.stringify({ ...rest, metadata: { ...o.metadata, resourceVersion: undefined } });
  };
  return strip(a) === strip(b);
}

function present(def: ResourceDef, o: StoredObject): StoredObject {
  return { ...o, apiVersion: apiVersionOf(def), kind: def.kind };
}

function randomSuffix(): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  let s = "";
  for (let i = 0; i < 5; i++) s += alphabet[Math.floor(Math.random() * alphabet.length)];
  return s;
}

function resolveResource(name: ResourceName): ResourceDef {
  const dot = name.indexOf(".");
  const plural = dot < 0 ? name : name.slice(0, dot);
  const group = dot < 0 ? "" : name.slice(dot + 1);
  const def = RESOURCES.find((r) => r.plural === plural && r.group === group);
  if (!def) throw new Error(`fake API server: unknown resource "${name}"`);
  return def;
}

function kubeconfigYaml(url: string, caPem: string, token: string): string {
  const ca = btoa(caPem);
  return [
    "apiVersion: v1",
    "kind: Config",
    "clusters:",
    "- name: fake",
    "  cluster:",
    `    server: ${url}`,
    `    certificate-authority-data: ${ca}`,
    "users:",
    "- name: fake",
    "  user:",
    `    token: ${token}`,
    "contexts:",
    "- name: fake",
    "  context:",
    "    cluster: fake",
    "    user: fake",
    "    namespace: default",
    "current-context: fake",
    "",
  ].join("\n");
}

/** Starts a fake API server on 127.0.0.1 over HTTPS with a fresh test CA. */
export async function startFakeApiServer(
  options: FakeApiServerOptions = {},
): Promise<FakeApiServer> {
  const log = options.logger ?? silentLogger;
  const token = options.token ?? crypto.randomUUID().replaceAll("-", "");
  const bookmarkIntervalMs = options.bookmarkIntervalMs ?? 1000;
  const certs = await createTestCertificates();
  const store: Store = createStore({ historyLimit: options.historyLimit });
  const requestLog: RequestLogEntry[] = [];
  const userTokens = new Map<string, string>(
    (options.users ?? []).map((u) => [crypto.randomUUID().replaceAll("-", ""), u]),
  );
  const watches = new Set<{ close(): void }>();

  let failCount = 0;
  let failRatio = 0;
  let random = seededRandom(1);
  let conflictCount = 0;
  let goneNext: false | "event" | "http" = false;

  let port = options.port ?? 0;
  // Deno.serve always offers h2 over TLS, and undici then talks HTTP/2 through Deno's node:http2,
  // which crashes the process on GOAWAY. Real clients must work, so TLS is terminated here with
  // ALPN http/1.1 only and bytes are relayed to a plain HTTP/1.1 listener on loopback.
  let tlsListener: Deno.TlsListener | undefined;
  const relays = new Set<{ close(): void; idleMs(): number }>();
  const inner = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, handle);

  async function listen(): Promise<void> {
    // A just-closed listener may hold the port for a moment; retry briefly (bounded).
    for (let attempt = 0;; attempt++) {
      try {
        tlsListener = Deno.listenTls({
          hostname: "127.0.0.1",
          port,
          cert: certs.certPem,
          key: certs.keyPem,
          alpnProtocols: ["http/1.1"],
        });
        break;
      } catch (err) {
        if (!(err instanceof Deno.errors.AddrInUse) || attempt >= 100) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    port = (tlsListener.addr as Deno.NetAddr).port;
    acceptLoop(tlsListener);
  }

  async function acceptLoop(listener: Deno.TlsListener): Promise<void> {
    for (;;) {
      let conn: Deno.TlsConn;
      try {
        conn = await listener.accept();
      } catch {
        return;
      }
      relay(conn);
    }
  }

  async function relay(conn: Deno.TlsConn): Promise<void> {
    let upstream: Deno.TcpConn;
    try {
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: inner.addr.port });
      // Small request writes should not wait for Nagle's algorithm on the loopback hop.
      upstream.setNoDelay(true);
    } catch {
      conn.close();
      return;
    }
    let closed = false;
    let lastActivity = Date.now();
    const touch = () =>
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, c) {
          lastActivity = Date.now();
          c.enqueue(chunk);
        },
      });
    const pair = {
      idleMs: () => Date.now() - lastActivity,
      close() {
        if (closed) return;
        closed = true;
        relays.delete(pair);
        for (const c of [conn, upstream]) {
          try {
            c.close();
          } catch {
            // already closed by the other direction
          }
        }
      },
    };
    relays.add(pair);
    await Promise.allSettled([
      conn.readable.pipeThrough(touch()).pipeTo(upstream.writable, { preventClose: true }),
      upstream.readable.pipeThrough(touch()).pipeTo(conn.writable, { preventClose: true }),
    ].map((p) => p.finally(() => pair.close())));
  }

  function stopListening(): void {
    try {
      tlsListener?.close();
    } catch {
      // already closed
    }
    tlsListener = undefined;
    for (const r of [...relays]) r.close();
  }

  function dropWatches(): void {
    for (const w of [...watches]) w.close();
  }

  async function handle(req: Request): Promise<Response> {
    const url = new URL(req.url);
    const entry: RequestLogEntry = {
      verb: "discovery",
      method: req.method,
      path: url.pathname,
      resource: "",
      group: "",
      status: 200,
    };
    requestLog.push(entry);
    const faults = server.faults;
    if (faults.delayMs > 0) await new Promise((r) => setTimeout(r, faults.delayMs));
    let response: Response;
    try {
      response = await route(req, url, entry);
    } catch (err) {
      if (err instanceof HttpError) {
        response = json(statusBody(err.code, err.reason, err.message, err.details), err.code);
      } else {
        log.error("fake apiserver handler failed", { err, path: url.pathname });
        response = json(statusBody(500, "InternalError", String(err)), 500);
      }
    }
    entry.status = response.status;
    return response;
  }

  async function route(req: Request, url: URL, entry: RequestLogEntry): Promise<Response> {
    const auth = req.headers.get("authorization");
    if (auth !== `Bearer ${token}`) {
      const user = auth?.startsWith("Bearer ") ? userTokens.get(auth.slice(7)) : undefined;
      if (user === undefined) throw new HttpError(401, "Unauthorized", "Unauthorized");
      entry.user = user;
    }
    const segments = url.pathname.split("/").filter((s) => s !== "");
    const discovery = discoveryResponse(segments);
    if (discovery) return discovery;
    const parsed = parsePath(segments);
    if (!parsed) {
      throw new HttpError(404, "NotFound", `the server could not find the requested resource`);
    }
    const { def, namespace, name, subresource } = parsed;
    entry.resource = def.plural;
    entry.group = def.group;
    entry.namespace = namespace;
    entry.name = name;
    entry.subresource = subresource;
    const isWatch = ["1", "true"].includes(url.searchParams.get("watch") ?? "");
    entry.verb = verbOf(req.method, name, isWatch);
    if (entry.user !== undefined && options.authorize && !options.authorize(entry.user, entry)) {
      const what = `${def.plural}${subresource ? `/${subresource}` : ""}`;
      throw new HttpError(
        403,
        "Forbidden",
        `user "${entry.user}" cannot ${entry.verb} resource "${what}" in API group ` +
          `"${def.group}"${
            namespace ? ` in the namespace "${namespace}"` : " at the cluster scope"
          }`,
      );
    }
    if (failCount > 0) {
      failCount--;
      throw new HttpError(500, "InternalError", "injected fault: internal error");
    }
    if (failRatio > 0 && random() < failRatio) {
      throw new HttpError(500, "InternalError", "injected fault: internal error (fraction)");
    }
    if (subresource !== undefined && (subresource !== "status" || !def.statusSubresource)) {
      throw new HttpError(404, "NotFound", `the server could not find the requested resource`);
    }
    if (["update", "patch"].includes(entry.verb) && conflictCount > 0) {
      conflictCount--;
      throw conflict(def, name ?? "");
    }
    switch (entry.verb) {
      case "list":
        return list(def, namespace, url);
      case "watch":
        return watch(def, namespace, url);
      case "get":
        return getOne(def, namespace, name!);
      case "create":
        return create(def, namespace, await readBody(req));
      case "update":
        return update(def, namespace, name!, subresource, await readBody(req));
      case "patch":
        return patch(req, def, namespace, name!, subresource);
      case "delete":
        return remove(def, namespace, name!);
    }
    throw new HttpError(405, "MethodNotAllowed", `method ${req.method} not allowed`);
  }

  function verbOf(method: string, name: string | undefined, isWatch: boolean) {
    if (method === "GET") return name ? "get" : isWatch ? "watch" : "list";
    if (method === "POST" && !name) return "create";
    if (method === "PUT" && name) return "update";
    if (method === "PATCH" && name) return "patch";
    if (method === "DELETE" && name) return "delete";
    return "discovery";
  }

  async function readBody(req: Request): Promise<StoredObject> {
    let body: unknown;
    try {
      body = await req.json();
    } catch (err) {
      throw new HttpError(400, "BadRequest", `invalid JSON body: ${err}`);
    }
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      throw new HttpError(400, "BadRequest", "body must be a JSON object");
    }
    const o = body as StoredObject;
    o.metadata ??= { name: "" };
    return o;
  }

  function selectors(url: URL): { labels: LabelRequirement[]; fields: FieldRequirement[] } {
    try {
      return {
        labels: parseLabelSelector(url.searchParams.get("labelSelector") ?? ""),
        fields: parseFieldSelector(url.searchParams.get("fieldSelector") ?? ""),
      };
    } catch (err) {
      if (err instanceof SelectorError) throw new HttpError(400, "BadRequest", err.message);
      throw err;
    }
  }

  function list(def: ResourceDef, namespace: string | undefined, url: URL): Response {
    const sel = selectors(url);
    const items = store.list(def.storageKey, namespace)
      .filter((o) =>
        matchLabels(sel.labels, o.metadata.labels) && matchFields(sel.fields, o.metadata)
      )
      .map((o) => present(def, o));
    return json({
      kind: `${def.kind}List`,
      apiVersion: apiVersionOf(def),
      metadata: { resourceVersion: String(store.currentRv()) },
      items,
    });
  }

  function getOne(def: ResourceDef, namespace: string | undefined, name: string): Response {
    const o = store.get(def.storageKey, namespace, name);
    if (!o) throw notFound(def, name);
    return json(present(def, o));
  }

  function create(def: ResourceDef, namespace: string | undefined, body: StoredObject): Response {
    const meta = body.metadata;
    if (!meta.name) {
      if (typeof meta.generateName === "string" && meta.generateName) {
        do {
          meta.name = `${meta.generateName}${randomSuffix()}`;
        } while (store.get(def.storageKey, namespace, meta.name));
      } else {
        throw new HttpError(422, "Invalid", `${def.kind} "": metadata.name: Required value`);
      }
    }
    if (def.namespaced) {
      if (meta.namespace && meta.namespace !== namespace) {
        throw new HttpError(
          400,
          "BadRequest",
          "the namespace of the provided object does not match the namespace sent on the request",
        );
      }
      meta.namespace = namespace;
    } else {
      delete meta.namespace;
    }
    if (store.get(def.storageKey, namespace, meta.name)) {
      throw new HttpError(
        409,
        "AlreadyExists",
        `${resourceLabel(def)} "${meta.name}" already exists`,
        {
          name: meta.name,
          group: def.group,
          kind: def.plural,
        },
      );
    }
    meta.uid = crypto.randomUUID();
    meta.creationTimestamp = new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
    meta.generation = 1;
    delete meta.resourceVersion;
    if (def.statusSubresource) delete body.status;
    const stored = store.put(def.storageKey, {
      ...body,
      apiVersion: apiVersionOf(def),
      kind: def.kind,
    });
    return json(present(def, stored), 201);
  }

  function applyUpdate(
    def: ResourceDef,
    old: StoredObject,
    incoming: StoredObject,
    subresource: string | undefined,
  ): StoredObject {
    const name = old.metadata.name;
    const wantRv = incoming.metadata?.resourceVersion;
    if (wantRv !== undefined && wantRv !== "" && wantRv !== old.metadata.resourceVersion) {
      throw conflict(def, name);
    }
    if (incoming.metadata?.name && incoming.metadata.name !== name) {
      throw new HttpError(
        400,
        "BadRequest",
        "the name of the object does not match the name on the URL",
      );
    }
    let next: StoredObject;
    if (subresource === "status") {
      next = { ...old, metadata: { ...old.metadata } };
      if (incoming.status === undefined) delete next.status;
      else next.status = incoming.status;
    } else {
      next = {
        ...incoming,
        metadata: {
          ...incoming.metadata,
          name,
          namespace: old.metadata.namespace,
          uid: old.metadata.uid,
          creationTimestamp: old.metadata.creationTimestamp,
          generation: old.metadata.generation,
        },
      };
      if (def.namespaced) next.metadata.namespace = old.metadata.namespace;
      else delete next.metadata.namespace;
      if (def.statusSubresource) {
        if (old.status === undefined) delete next.status;
        else next.status = old.status;
      }
      if (specOf(next) !== specOf(old)) {
        next.metadata.generation = Number(old.metadata.generation ?? 1) + 1;
      }
    }
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    if (sameObject(next, old)) return old;
    return store.put(def.storageKey, { ...next, apiVersion: apiVersionOf(def), kind: def.kind });
  }

  function update(
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    subresource: string | undefined,
    body: StoredObject,
  ): Response {
    const old = store.get(def.storageKey, namespace, name);
    if (!old) throw notFound(def, name);
    return json(present(def, applyUpdate(def, old, body, subresource)));
  }

  async function patch(
    req: Request,
    def: ResourceDef,
    namespace: string | undefined,
    name: string,
    subresource: string | undefined,
  ): Promise<Response> {
    const type = (req.headers.get("content-type") ?? "").split(";")[0].trim();
    let body: unknown;
    try {
      body = await req.json();
    } catch (err) {
      throw new HttpError(400, "BadRequest", `invalid JSON patch body: ${err}`);
    }
    const old = store.get(def.storageKey, namespace, name);
    if (!old) throw notFound(def, name);
    let patched: unknown;
    try {
      if (
        type === "application/merge-patch+json" || type === "application/strategic-merge-patch+json"
      ) {
        patched = applyMergePatch(old, body);
      } else if (type === "application/json-patch+json") {
        patched = applyJsonPatch(old, body);
      } else {
        throw new HttpError(
          415,
          "UnsupportedMediaType",
          `the body of the request was in an unknown format - accepted media types include: ` +
            `application/json-patch+json, application/merge-patch+json, ` +
            `application/strategic-merge-patch+json (got "${type}")`,
        );
      }
    } catch (err) {
      if (err instanceof JsonPatchError) throw new HttpError(422, "Invalid", err.message);
      throw err;
    }
    if (typeof patched !== "object" || patched === null) {
      throw new HttpError(422, "Invalid", "patch result is not an object");
    }
    const p = patched as StoredObject;
    p.metadata ??= { name };
    return json(present(def, applyUpdate(def, old, p, subresource)));
  }

  function remove(def: ResourceDef, namespace: string | undefined, name: string): Response {
    const last = store.remove(def.storageKey, namespace, name);
    if (!last) throw notFound(def, name);
    return json(present(def, last));
  }

  function watch(def: ResourceDef, namespace: string | undefined, url: URL): Response {
    const sel = selectors(url);
    const rvParam = url.searchParams.get("resourceVersion") ?? "";
    const bookmarks = ["1", "true"].includes(url.searchParams.get("allowWatchBookmarks") ?? "");
    const timeoutSeconds = Number(url.searchParams.get("timeoutSeconds") ?? "1800") || 1800;
    const matches = (o: StoredObject | undefined) =>
      o !== undefined &&
      (namespace === undefined || o.metadata.namespace === namespace) &&
      matchLabels(sel.labels, o.metadata.labels) && matchFields(sel.fields, o.metadata);

    const line = (type: string, object: unknown) =>
      encoder.encode(JSON.stringify({ type, object }) + "\n");
    const toLine = (ev: StoreEvent): Uint8Array | undefined => {
      if (ev.storageKey !== def.storageKey) return undefined;
      const now = matches(ev.object);
      const before = matches(ev.old);
      if (ev.type === "DELETED") {
        return before ? line("DELETED", present(def, ev.object)) : undefined;
      }
      if (now && !before) return line("ADDED", present(def, ev.object));
      if (now && before) return line("MODIFIED", present(def, ev.object));
      if (!now && before) return line("DELETED", present(def, ev.object));
      return undefined;
    };

    let initial: Uint8Array[] = [];
    let gone = false;
    if (rvParam !== "" && rvParam !== "0") {
      const from = Number(rvParam);
      if (goneNext === "http") {
        goneNext = false;
        throw new HttpError(410, "Expired", `too old resource version: ${rvParam}`);
      }
      if (goneNext || !Number.isFinite(from) || from < store.oldestServableRv()) {
        goneNext = false;
        gone = true;
        initial = [line(
          "ERROR",
          statusBody(
            410,
            "Expired",
            `too old resource version: ${rvParam} (${store.oldestServableRv()})`,
          ),
        )];
      } else {
        initial = store.eventsSince(from).map(toLine).filter((l) => l !== undefined);
      }
    } else {
      initial = store.list(def.storageKey, namespace).filter(matches).map((o) =>
        line("ADDED", present(def, o))
      );
    }

    let ctrl!: ReadableStreamDefaultController<Uint8Array>;
    let closed = false;
    let unsubscribe = () => {};
    let timeout: ReturnType<typeof setTimeout> | undefined;
    let ticker: ReturnType<typeof setInterval> | undefined;
    const handle = {
      close() {
        if (closed) return;
        closed = true;
        unsubscribe();
        clearTimeout(timeout);
        clearInterval(ticker);
        watches.delete(handle);
        try {
          ctrl.close();
        } catch {
          // already closed by the client going away
        }
      },
    };
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        ctrl = c;
        for (const l of initial) c.enqueue(l);
        if (gone) {
          closed = true;
          c.close();
          return;
        }
        watches.add(handle);
        unsubscribe = store.onEvent((ev) => {
          const l = toLine(ev);
          if (l && !closed) ctrl.enqueue(l);
        });
        timeout = setTimeout(() => handle.close(), timeoutSeconds * 1000);
        if (bookmarks) {
          ticker = setInterval(() => {
            if (closed) return;
            ctrl.enqueue(line("BOOKMARK", {
              kind: def.kind,
              apiVersion: apiVersionOf(def),
              metadata: { resourceVersion: String(store.currentRv()) },
            }));
          }, bookmarkIntervalMs);
        }
      },
      cancel() {
        handle.close();
      },
    });
    return new Response(stream, {
      status: 200,
      headers: { "content-type": "application/json", "transfer-encoding": "chunked" },
    });
  }

  function discoveryResponse(segments: string[]): Response | undefined {
    const path = segments.join("/");
    if (["healthz", "readyz", "livez"].includes(path)) return new Response("ok");
    if (path === "version") {
      return json({
        major: "1",
        minor: "31",
        gitVersion: "v1.31.0-ferrolb-fake",
        platform: "fake",
      });
    }
    if (path === "api") {
      return json({
        kind: "APIVersions",
        versions: ["v1"],
        serverAddressByClientCIDRs: [{
          clientCIDR: "0.0.0.0/0",
          serverAddress: `127.0.0.1:${port}`,
        }],
      });
    }
    if (path === "apis") {
      const groups = [...servedGroups()].map(([name, versions]) => ({
        name,
        versions: versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v })),
        preferredVersion: { groupVersion: `${name}/${versions[0]}`, version: versions[0] },
      }));
      return json({ kind: "APIGroupList", apiVersion: "v1", groups });
    }
    let group: string | undefined;
    let version: string | undefined;
    if (segments[0] === "api" && segments.length === 2) [group, version] = ["", segments[1]];
    if (segments[0] === "apis" && segments.length === 3) {
      [group, version] = [segments[1], segments[2]];
    }
    if (group === undefined) return undefined;
    const defs = RESOURCES.filter((r) => r.group === group && r.version === version);
    if (defs.length === 0) return undefined;
    const verbs = ["create", "delete", "get", "list", "patch", "update", "watch"];
    const resources = defs.flatMap((r) => {
      const main = {
        name: r.plural,
        singularName: r.kind.toLowerCase(),
        namespaced: r.namespaced,
        kind: r.kind,
        verbs,
      };
      if (!r.statusSubresource) return [main];
      return [main, {
        name: `${r.plural}/status`,
        singularName: "",
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ["get", "patch", "update"],
      }];
    });
    return json({
      kind: "APIResourceList",
      apiVersion: "v1",
      groupVersion: apiVersionOf({ group, version: version! }),
      resources,
    });
  }

  const objects: FakeObjects = {
    get: (resource, namespace, name) => {
      const def = resolveResource(resource);
      const o = store.get(def.storageKey, namespace, name);
      return o ? present(def, o) : undefined;
    },
    list: (resource, namespace) => {
      const def = resolveResource(resource);
      return store.list(def.storageKey, namespace).map((o) => present(def, o));
    },
    put: (resource, object) => {
      const def = resolveResource(resource);
      const old = store.get(def.storageKey, object.metadata.namespace, object.metadata.name);
      const o = structuredClone(object);
      o.metadata.uid = old?.metadata.uid ?? o.metadata.uid ?? crypto.randomUUID();
      o.metadata.creationTimestamp ??= old?.metadata.creationTimestamp ??
        new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
      o.metadata.generation ??= old ? old.metadata.generation : 1;
      return present(def, store.put(def.storageKey, { ...present(def, o) }));
    },
    delete: (resource, namespace, name) => {
      const def = resolveResource(resource);
      return store.remove(def.storageKey, namespace, name) !== undefined;
    },
    resourceVersion: () => store.currentRv(),
    compact: () => store.compact(),
  };

  await listen();
  const url = `https://127.0.0.1:${port}`;
  const dir = await Deno.makeTempDir({ prefix: "ferrolb-fake-apiserver-" });
  const kubeConfigYaml = kubeconfigYaml(url, certs.caPem, token);
  const kubeconfigPath = `${dir}/kubeconfig`;
  await Deno.writeTextFile(kubeconfigPath, kubeConfigYaml);
  const userKubeconfigs = new Map<string, string>();
  for (const [userToken, user] of userTokens) {
    const path = `${dir}/kubeconfig-${userKubeconfigs.size}`;
    await Deno.writeTextFile(path, kubeconfigYaml(url, certs.caPem, userToken));
    userKubeconfigs.set(user, path);
  }

  async function restart(restartOptions: RestartOptions = {}): Promise<void> {
    dropWatches();
    if (!restartOptions.abrupt) {
      // Like a real API server shutting down: watch streams end cleanly (the terminating chunk
      // reaches the client) before connections close. Bounded.
      const until = Date.now() + 1000;
      while (relays.size > 0 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 20));
        if ([...relays].every((r) => r.idleMs() >= 50)) break;
      }
    }
    stopListening();
    await listen();
    log.info("fake apiserver restarted", { port, abrupt: restartOptions.abrupt ?? false });
  }

  const server: FakeApiServer = {
    url,
    port,
    kubeconfigPath,
    kubeConfigYaml,
    caPem: certs.caPem,
    token,
    objects,
    requestLog,
    openWatches: () => watches.size,
    kubeConfig() {
      const kc = new k8s.KubeConfig();
      kc.loadFromFile(kubeconfigPath);
      return kc;
    },
    kubeconfigFor(user) {
      const path = userKubeconfigs.get(user);
      if (!path) throw new Error(`fake API server: no user "${user}" (see options.users)`);
      return path;
    },
    restart,
    faults: {
      dropWatches,
      failNext(n) {
        failCount = n;
      },
      failFraction(fraction, seed = 1) {
        failRatio = fraction;
        random = seededRandom(seed);
      },
      delayMs: 0,
      conflictNextWrites(n) {
        conflictCount = n;
      },
      goneNextWatch(mode = "event") {
        goneNext = mode;
      },
      restart,
      reset() {
        failCount = 0;
        failRatio = 0;
        conflictCount = 0;
        goneNext = false;
        server.faults.delayMs = 0;
      },
    },
    async close() {
      dropWatches();
      stopListening();
      await inner.shutdown();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    },
  };
  return server;
}
