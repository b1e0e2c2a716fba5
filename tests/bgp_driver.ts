/**
 * Runs one BgpSession in its own process (so it can live in a network namespace) from JSON
 * lines on stdin, and reports what happens as JSON lines on stdout.
 *
 * stdin, first line: {"config": SessionConfig, "routes"?: DriverRoute[], "generate"?: …};
 * the routes are set before the session starts. Later lines: {"setRoutes": DriverRoute[]},
 * {"generate": {count, base, attributes?}}, {"stats": true}, {"stop": true, "hardReset"?: true}.
 * stdout: {"event": "state"|"error"|"stats"|"stopped"|"fatal", "t": epoch ms, …}.
 *
 * The parent side is {@linkcode spawnDriver}.
 */
import {
  BgpSession,
  parsePrefix,
  type Route,
  type RouteAttributes,
  type SessionConfig,
  type SessionStats,
} from "../bgp/mod.ts";
import { spawnInNetns } from "./gobgp/netns.ts";

/** A route as JSON: prefix text and attributes in the notation users type. */
export interface DriverRoute {
  prefix: string;
  localPref?: number;
  med?: number;
  /** "a:b" */
  communities?: string[];
  /** "a:b:c" */
  largeCommunities?: string[];
}

/** Attributes shared by generated routes. */
export type DriverAttributes = Omit<DriverRoute, "prefix">;

/** `count` consecutive IPv4 /32s from `base`, all with `attributes`. */
export interface GenerateSpec {
  count: number;
  base: string;
  attributes?: DriverAttributes;
}

/** What the driver is started with. */
export interface DriverInit {
  config: SessionConfig;
  routes?: DriverRoute[];
  generate?: GenerateSpec;
}

/** One line the driver printed. */
export interface DriverEvent {
  event: string;
  /** Epoch milliseconds when the driver printed it. */
  t: number;
  state?: string;
  previous?: string;
  message?: string;
  stats?: SessionStats;
  id?: number;
}

function parseCommunity(text: string): number {
  const m = /^(\d+):(\d+)$/.exec(text);
  if (!m || Number(m[1]) > 0xffff || Number(m[2]) > 0xffff) {
    throw new TypeError(`invalid community "${text}": want a:b with 16-bit parts`);
  }
  return ((Number(m[1]) << 16) | Number(m[2])) >>> 0;
}

function parseLargeCommunity(text: string): [number, number, number] {
  const parts = text.split(":").map(Number);
  if (parts.length !== 3 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 0xffffffff)) {
    throw new TypeError(`invalid large community "${text}": want a:b:c with 32-bit parts`);
  }
  return [parts[0], parts[1], parts[2]];
}

/** Turns the JSON attribute notation into the session's RouteAttributes. */
export function toRouteAttributes(a: DriverAttributes): RouteAttributes {
  const ra: RouteAttributes = {};
  if (a.localPref !== undefined) ra.localPref = a.localPref;
  if (a.med !== undefined) ra.med = a.med;
  if (a.communities?.length) ra.communities = a.communities.map(parseCommunity);
  if (a.largeCommunities?.length) ra.largeCommunities = a.largeCommunities.map(parseLargeCommunity);
  return ra;
}

/** Turns JSON routes into session routes; throws TypeError naming a bad prefix or attribute. */
export function toRoutes(routes: DriverRoute[]): Route[] {
  return routes.map((r) => ({ prefix: parsePrefix(r.prefix), attributes: toRouteAttributes(r) }));
}

/** The routes of a GenerateSpec. */
export function generateRoutes(spec: GenerateSpec): Route[] {
  const base = parsePrefix(spec.base);
  if (base.afi !== 1) throw new TypeError(`generated routes are IPv4, not ${spec.base}`);
  const start = base.addr >>> 0;
  const attributes = toRouteAttributes(spec.attributes ?? {});
  const out: Route[] = [];
  for (let i = 0; i < spec.count; i++) {
    const n = (start + i) >>> 0;
    out.push({ prefix: { afi: 1, addr: n | 0, length: 32 }, attributes });
  }
  return out;
}

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield line;
    }
  }
  if (buf.trim()) yield buf.trim();
}

async function main(): Promise<number> {
  const out = (e: Record<string, unknown>) => console.log(JSON.stringify({ ...e, t: Date.now() }));
  const input = lines(Deno.stdin.readable);
  const first = await input.next();
  if (first.done) {
    out({ event: "fatal", message: "no config line on stdin" });
    return 2;
  }
  let session: BgpSession;
  try {
    const init = JSON.parse(first.value) as DriverInit;
    session = new BgpSession(init.config);
    session.on("state", (state, previous) => out({ event: "state", state, previous }));
    session.on("error", (err) => out({ event: "error", message: err.message }));
    if (init.routes) session.setRoutes(toRoutes(init.routes));
    if (init.generate) session.setRoutes(generateRoutes(init.generate));
  } catch (err) {
    out({ event: "fatal", message: `bad config line: ${(err as Error).message}` });
    return 2;
  }
  session.start();
  let hardReset = false;
  for await (const line of input) {
    let cmd: {
      setRoutes?: DriverRoute[];
      generate?: GenerateSpec;
      stats?: boolean;
      stop?: boolean;
      hardReset?: boolean;
      id?: number;
    };
    try {
      cmd = JSON.parse(line);
      if (cmd.setRoutes) session.setRoutes(toRoutes(cmd.setRoutes));
      if (cmd.generate) session.setRoutes(generateRoutes(cmd.generate));
    } catch (err) {
      out({ event: "error", message: `bad command line: ${(err as Error).message}` });
      continue;
    }
    // Let the session's microtask flush run so stats reflect the command.
    await new Promise((r) => setTimeout(r, 0));
    if (cmd.stats) out({ event: "stats", id: cmd.id, stats: session.stats() });
    if (cmd.stop) {
      hardReset = cmd.hardReset === true;
      break;
    }
  }
  await session.stop({ hardReset });
  out({ event: "stopped", stats: session.stats() });
  return 0;
}

/** A driver process and the parent's view of its output. */
export interface Driver {
  /** Every event printed so far, in order. */
  readonly events: DriverEvent[];
  /** Stderr collected so far (the session logs nothing by default; Deno errors land here). */
  stderr(): string;
  setRoutes(routes: DriverRoute[]): Promise<void>;
  generate(spec: GenerateSpec): Promise<void>;
  /** Asks the session for its stats and waits for the answer. */
  stats(): Promise<SessionStats>;
  /**
   * Resolves with the first event matching `pred`, already seen or future, at index `since`
   * (default 0) or later in {@linkcode Driver.events}.
   */
  waitEvent(
    pred: (e: DriverEvent) => boolean,
    options?: { timeoutMs?: number; what?: string; since?: number },
  ): Promise<DriverEvent>;
  /**
   * Sends {"stop": true} (with `hardReset`: `BgpSession.stop({hardReset: true})`) and waits
   * for the process to exit; returns the final stats.
   */
  stop(options?: { hardReset?: boolean }): Promise<SessionStats | undefined>;
  /** Kills the process if still running; idempotent. */
  close(): Promise<void>;
}

/**
 * Spawns the driver in namespace `netns` with `init` (config and initial routes) and returns
 * once the process reads its stdin.
 */
export function spawnDriver(netns: string, init: DriverInit): Driver {
  const script = new URL(import.meta.url).pathname;
  const root = new URL("..", import.meta.url).pathname;
  const child = spawnInNetns(netns, Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-read", script],
    cwd: root,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  });
  const events: DriverEvent[] = [];
  const waiters = new Set<() => void>();
  let err = "";
  let exited = false;
  const writer = child.stdin.getWriter();
  const enc = new TextEncoder();
  const send = (obj: unknown) => writer.write(enc.encode(JSON.stringify(obj) + "\n"));
  const notify = () => {
    for (const w of [...waiters]) w();
  };
  const reading = (async () => {
    for await (const line of lines(child.stdout)) {
      try {
        events.push(JSON.parse(line) as DriverEvent);
      } catch {
        events.push({ event: "garbage", t: Date.now(), message: line });
      }
      notify();
    }
  })();
  const readingErr = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err += chunk;
  })();
  const status = child.status.then(async (s) => {
    await Promise.allSettled([reading, readingErr]);
    exited = true;
    notify();
    return s;
  });
  let nextId = 1;
  const sendInit = send(init);

  const driver: Driver = {
    events,
    stderr: () => err,
    async setRoutes(routes) {
      await sendInit;
      await send({ setRoutes: routes });
    },
    async generate(spec) {
      await sendInit;
      await send({ generate: spec });
    },
    async stats() {
      await sendInit;
      const id = nextId++;
      await send({ stats: true, id });
      const e = await driver.waitEvent((x) => x.event === "stats" && x.id === id, {
        what: "stats answer",
      });
      return e.stats!;
    },
    waitEvent(pred, options = {}) {
      const timeoutMs = options.timeoutMs ?? 30_000;
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = events.find((e, i) => i >= (options.since ?? 0) && pred(e));
          if (hit) {
            done();
            resolve(hit);
          } else if (exited) {
            done();
            reject(new Error(`driver exited before ${options.what ?? "event"}; stderr: ${err}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(
            new Error(
              `timed out after ${timeoutMs} ms waiting for ${options.what ?? "driver event"}; ` +
                `events: ${JSON.stringify(events.slice(-10))}; stderr: ${err.slice(-2000)}`,
            ),
          );
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    async stop(options = {}) {
      if (exited) return undefined;
      await sendInit;
      await send({ stop: true, hardReset: options.hardReset === true }).catch(() => {});
      await writer.close().catch(() => {});
      const killer = setTimeout(() => driver.close(), 10_000);
      await status;
      clearTimeout(killer);
      return events.find((e) => e.event === "stopped")?.stats;
    },
    async close() {
      if (!exited) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }
      await writer.close().catch(() => {});
      await status;
    },
  };
  return driver;
}

if (import.meta.main) Deno.exit(await main());
