/**
 * GoBGP test harness: starts `gobgpd` (optionally inside a network namespace), drives it with
 * the `gobgp` CLI and parses its JSON (GoBGP 3.10 shapes).
 */
import { encodeMrtIpv4 } from "./mrt.ts";
import { runInNetns, spawnInNetns } from "./netns.ts";

/**
 * gobgpd's gRPC port inside a namespace (the next gobgpd in the same namespace takes the next
 * port up). Below Linux's ephemeral range (32768-60999): a port in it can be held, as its
 * source port, by one of the many short `gobgp` CLI connections polling another gobgpd, and
 * the next gobgpd then fails to listen ("address already in use"), as 50052 did.
 */
export const NETNS_GRPC_PORT = 30051;
export {
  cleanupStaleNetns,
  createNetnsPair,
  netnsAvailable,
  runInNetns,
  spawnInNetns,
} from "./netns.ts";
export type { NetnsEnd, NetnsPair } from "./netns.ts";
export { hostPrefix } from "./mrt.ts";

/** Address family names used by the harness. */
export type Family = "ipv4" | "ipv6";

/** One configured BGP neighbor of a gobgpd. */
export interface GobgpNeighbor {
  address: string;
  asn: number;
  /** Wait for the peer to connect instead of dialing it. */
  passive?: boolean;
  /** Families to negotiate; default: the family of `address`. */
  families?: Family[];
  /** Hold time in seconds (default 90); keepalive is a third of it. */
  holdTime?: number;
  /** Source address for the session. */
  localAddress?: string;
  /** Seconds between connection attempts (default 1; GoBGP's own default is 120). */
  connectRetry?: number;
  /** Configured but administratively down until `enableNeighbor`. */
  adminDown?: boolean;
  /**
   * Graceful restart (RFC 4724) for this neighbor, GoBGP acting as helper: keeps the peer's
   * routes as stale for `restartTime` seconds (GoBGP's default: the hold time) when the
   * session drops; `notification` adds RFC 8538 (NOTIFICATIONs other than Hard Reset too).
   */
  gracefulRestart?: { restartTime?: number; notification?: boolean };
  /** TCP MD5 (RFC 2385) password the peer must sign its segments with. */
  authPassword?: string;
}

/** Options for `startGobgpd`. */
export interface GobgpdOptions {
  /** Namespace to run in; gobgpd runs in the current namespace when absent. */
  netns?: string;
  asn: number;
  routerId: string;
  /** BGP listen address (default: all). */
  listenAddress?: string;
  /** BGP listen port (default 179; -1 disables listening). */
  listenPort?: number;
  /**
   * gRPC port on 127.0.0.1 (default {@linkcode NETNS_GRPC_PORT} inside a namespace, a free
   * port otherwise).
   */
  grpcPort?: number;
  neighbors?: GobgpNeighbor[];
  /** Directory for config and log (default: a new temp dir). */
  logDir?: string;
  /** Milliseconds to wait for gRPC to answer (default 10000). */
  startTimeoutMs?: number;
}

/** One path of GoBGP's RIB, from `gobgp -j global rib`. */
export interface RibEntry {
  prefix: string;
  nextHop: string;
  /** All AS numbers of the AS_PATH, sequences and sets flattened in order. */
  asPath: number[];
  origin?: number;
  localPref?: number;
  med?: number;
  /** "a:b" */
  communities: string[];
  /** "a:b:c" */
  largeCommunities: string[];
  /** e.g. "rt:65001:10", "soo:65001:10", others "t<type>/s<subtype>:<value>". */
  extendedCommunities: string[];
  best: boolean;
  /** Neighbor the path came from; absent for locally added paths. */
  neighbor?: string;
  /** GoBGP's typed attribute objects, unparsed. */
  attrs: Record<string, unknown>[];
}

/** Session state of one neighbor, from `gobgp -j neighbor`. */
export interface NeighborState {
  address: string;
  peerAsn: number;
  /** "idle" | "connect" | "active" | "opensent" | "openconfirm" | "established" | "unknown" */
  state: string;
  established: boolean;
  /** Received and accepted prefix counts per negotiated family. */
  families: Partial<Record<Family, { received: number; accepted: number }>>;
  received: number;
  accepted: number;
  adminDown: boolean;
}

/** Attributes for `addRoutes`. */
export interface RouteAttrs {
  /** Next hop; GoBGP turns 127/8 into a withdraw and fills 0.0.0.0 with the session address. */
  nextHop?: string;
  /** Prepended AS numbers (GoBGP adds its own AS on eBGP). */
  asPath?: number[];
  origin?: "igp" | "egp" | "incomplete";
  med?: number;
  localPref?: number;
  /** "a:b" or well-known names such as "no-export". */
  communities?: string[];
  /** "a:b:c" */
  largeCommunities?: string[];
  /** Route-target extended communities, "asn:value". */
  routeTargets?: string[];
}

/** Error from the harness with the command and gobgpd's log tail. */
export class GobgpError extends Error {
  constructor(message: string, readonly logTail = "") {
    super(logTail ? `${message}\n--- gobgpd log tail ---\n${logTail}` : message);
    this.name = "GobgpError";
  }
}

/** Options for `waitFor`. */
export interface WaitOptions {
  /** Give up after this long (default 30000 ms: generous, so a loaded machine passes). */
  timeoutMs?: number;
  /** Poll interval (default 100 ms). */
  intervalMs?: number;
  /** Named in the timeout error. */
  what?: string;
}

/**
 * Polls `fn` until it returns a truthy value, which is returned; throws a GobgpError naming
 * `what` and the last value or error after the timeout.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
      last = v;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      throw new GobgpError(
        `timed out after ${timeoutMs} ms waiting for ${options.what ?? "condition"}; last: ${
          last instanceof Error ? last.message : JSON.stringify(last)
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** A running gobgpd and the CLI operations on it. */
export interface Gobgpd {
  readonly netns?: string;
  readonly grpcPort: number;
  readonly configPath: string;
  readonly logPath: string;
  /** Current process id (changes on restart); throws when gobgpd is not running, because a
   * pid of -1 handed to Deno.kill would signal every process on the host. */
  readonly pid: number;
  /** Runs `gobgp -u 127.0.0.1 -p PORT <args>` (in the namespace); throws on non-zero exit. */
  cli(args: string[], options?: { json?: boolean }): Promise<string>;
  /** Every path of the global RIB of a family. */
  rib(family: Family): Promise<RibEntry[]>;
  /** Number of destinations in the global RIB (cheap: `global rib summary`). */
  ribCount(family: Family): Promise<number>;
  /** State of every configured neighbor. */
  neighbors(): Promise<NeighborState[]>;
  /** Waits until the neighbor at `address` is established. */
  waitEstablished(address: string, options?: WaitOptions): Promise<NeighborState>;
  /** Brings up a neighbor configured with `adminDown`. */
  enableNeighbor(address: string): Promise<void>;
  /** Adds routes one CLI call each; fine for tens of prefixes. Family is taken from the prefix. */
  addRoutes(prefixes: string[], attrs?: RouteAttrs): Promise<void>;
  /** Withdraws locally added routes. */
  deleteRoutes(prefixes: string[]): Promise<void>;
  /**
   * Adds many IPv4 prefixes, none already in the RIB, fast through an MRT dump and
   * `gobgp mrt inject global`, then waits until the RIB count grew by their number.
   */
  addRoutesBulk(
    prefixes: string[],
    attrs: { nextHop: string; communities?: string[] },
  ): Promise<void>;
  /** Polls `fn(this)` until truthy, adding gobgpd's log tail to the timeout error. */
  waitFor<T>(fn: (g: Gobgpd) => T | Promise<T>, options?: WaitOptions): Promise<NonNullable<T>>;
  /** Sends a signal to gobgpd (default SIGKILL) and waits for it to exit. */
  kill(signal?: Deno.Signal): Promise<void>;
  /** Starts gobgpd again with the same config (after kill, or kills it first). */
  restart(): Promise<void>;
  /** Stops gobgpd (SIGTERM, then SIGKILL after 5 s) and removes a temp logDir; idempotent. */
  stop(): Promise<void>;
  /** Last lines of the gobgpd log. */
  logTail(lines?: number): Promise<string>;
}

function familyOf(addressOrPrefix: string): Family {
  return addressOrPrefix.includes(":") ? "ipv6" : "ipv4";
}

function tomlString(s: string): string {
  return JSON.stringify(s);
}

/** Renders the gobgpd TOML config for `options`. */
export function gobgpdConfig(options: GobgpdOptions): string {
  const lines = [
    "[global.config]",
    `  as = ${options.asn}`,
    `  router-id = ${tomlString(options.routerId)}`,
    `  port = ${options.listenPort ?? 179}`,
  ];
  if (options.listenAddress) {
    lines.push(`  local-address-list = [${tomlString(options.listenAddress)}]`);
  }
  for (const n of options.neighbors ?? []) {
    const hold = n.holdTime ?? 90;
    lines.push(
      "",
      "[[neighbors]]",
      "  [neighbors.config]",
      `    neighbor-address = ${tomlString(n.address)}`,
      `    peer-as = ${n.asn}`,
    );
    if (n.adminDown) lines.push("    admin-down = true");
    if (n.authPassword !== undefined) {
      lines.push(`    auth-password = ${tomlString(n.authPassword)}`);
    }
    lines.push(
      "  [neighbors.timers.config]",
      `    connect-retry = ${n.connectRetry ?? 1}`,
      `    hold-time = ${hold}`,
      `    keepalive-interval = ${Math.max(1, Math.floor(hold / 3))}`,
      // GoBGP waits 30 s by default before redialing a peer that reset; tests want it soon.
      "    idle-hold-time-after-reset = 1",
    );
    if (n.passive || n.localAddress) {
      lines.push("  [neighbors.transport.config]");
      if (n.passive) lines.push("    passive-mode = true");
      if (n.localAddress) lines.push(`    local-address = ${tomlString(n.localAddress)}`);
    }
    const gr = n.gracefulRestart;
    if (gr) {
      lines.push("  [neighbors.graceful-restart.config]", "    enabled = true");
      if (gr.restartTime !== undefined) lines.push(`    restart-time = ${gr.restartTime}`);
      if (gr.notification) lines.push("    notification-enabled = true");
    }
    for (const f of n.families ?? [familyOf(n.address)]) {
      lines.push(
        "  [[neighbors.afi-safis]]",
        "    [neighbors.afi-safis.config]",
        `      afi-safi-name = "${f}-unicast"`,
      );
      if (gr) {
        lines.push("    [neighbors.afi-safis.mp-graceful-restart.config]", "      enabled = true");
      }
    }
  }
  return lines.join("\n") + "\n";
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const SESSION_STATES = [
  "unknown",
  "idle",
  "connect",
  "active",
  "opensent",
  "openconfirm",
  "established",
];

function communityText(v: number): string {
  return `${v >>> 16}:${v & 0xffff}`;
}

function extCommunityText(e: Record<string, unknown>): string {
  const names: Record<number, string> = { 2: "rt", 3: "soo" };
  const sub = Number(e.subtype);
  const value = String(e.value ?? "");
  return names[sub] ? `${names[sub]}:${value}` : `t${e.type}/s${sub}:${value}`;
}

/** Turns one path of `gobgp -j global rib` output into a RibEntry. */
export function parseRibPath(prefix: string, path: Record<string, unknown>): RibEntry {
  const attrs = (path.attrs ?? []) as Record<string, unknown>[];
  const entry: RibEntry = {
    prefix,
    nextHop: "",
    asPath: [],
    communities: [],
    largeCommunities: [],
    extendedCommunities: [],
    best: path.best === true,
    attrs,
  };
  if (typeof path["neighbor-ip"] === "string") entry.neighbor = path["neighbor-ip"];
  for (const a of attrs) {
    switch (a.type) {
      case 1:
        entry.origin = Number(a.value);
        break;
      case 2:
        for (const seg of (a.as_paths ?? []) as { asns?: number[] }[]) {
          entry.asPath.push(...(seg.asns ?? []));
        }
        break;
      case 3:
        entry.nextHop = String(a.nexthop);
        break;
      case 4:
        entry.med = Number(a.metric);
        break;
      case 5:
        entry.localPref = Number(a.value);
        break;
      case 8:
        entry.communities = ((a.communities ?? []) as number[]).map(communityText);
        break;
      case 14: // MP_REACH_NLRI: the IPv6 next hop lives here
        entry.nextHop = String(a.nexthop);
        break;
      case 16:
        entry.extendedCommunities = ((a.value ?? []) as Record<string, unknown>[]).map(
          extCommunityText,
        );
        break;
      case 32:
        entry.largeCommunities = ((a.value ?? []) as Record<string, number>[]).map(
          (l) => `${l.ASN}:${l.LocalData1}:${l.LocalData2}`,
        );
        break;
    }
  }
  return entry;
}

// deno-lint-ignore no-explicit-any -- GoBGP's neighbor JSON is deep and loosely typed
type Json = Record<string, any>;

/** Turns `gobgp -j neighbor` output into NeighborStates. */
export function parseNeighbors(json: unknown): NeighborState[] {
  return ((json ?? []) as Json[]).map((n) => {
    const state = n.state ?? {};
    const families: NeighborState["families"] = {};
    let received = 0;
    let accepted = 0;
    for (const af of (n.afi_safis ?? []) as Json[]) {
      const afi = af.state?.family?.afi ?? af.config?.family?.afi;
      const fam: Family | undefined = afi === 1 ? "ipv4" : afi === 2 ? "ipv6" : undefined;
      if (!fam) continue;
      const r = Number(af.state?.received ?? 0);
      const acc = Number(af.state?.accepted ?? 0);
      families[fam] = { received: r, accepted: acc };
      received += r;
      accepted += acc;
    }
    const s = SESSION_STATES[Number(state.session_state ?? 0)] ?? "unknown";
    return {
      address: String(state.neighbor_address ?? n.conf?.neighbor_address),
      peerAsn: Number(state.peer_asn ?? n.conf?.peer_asn),
      state: s,
      established: s === "established",
      families,
      received,
      accepted,
      adminDown: state.admin_state === 1 || state.admin_state === "DOWN",
    };
  });
}

function routeArgs(attrs: RouteAttrs): string[] {
  const args: string[] = [];
  if (attrs.origin) args.push("origin", attrs.origin);
  if (attrs.asPath?.length) args.push("aspath", attrs.asPath.join(","));
  if (attrs.nextHop) args.push("nexthop", attrs.nextHop);
  if (attrs.med !== undefined) args.push("med", String(attrs.med));
  if (attrs.localPref !== undefined) args.push("local-pref", String(attrs.localPref));
  if (attrs.communities?.length) args.push("community", attrs.communities.join(","));
  if (attrs.largeCommunities?.length) {
    args.push("large-community", attrs.largeCommunities.join(","));
  }
  for (const rt of attrs.routeTargets ?? []) args.push("rt", rt);
  return args;
}

/**
 * Writes a config for `options`, starts gobgpd with gRPC on 127.0.0.1:grpcPort (inside the
 * namespace when given) and resolves once its gRPC answers.
 */
export async function startGobgpd(options: GobgpdOptions): Promise<Gobgpd> {
  const ownDir = options.logDir === undefined;
  const dir = options.logDir ?? await Deno.makeTempDir({ prefix: "flb-gobgp-" });
  await Deno.mkdir(dir, { recursive: true });
  const grpcPort = options.grpcPort ?? (options.netns ? NETNS_GRPC_PORT : freePort());
  const tag = `${options.netns ?? "host"}-${grpcPort}`;
  const configPath = `${dir}/gobgpd-${tag}.toml`;
  const logPath = `${dir}/gobgpd-${tag}.log`;
  await Deno.writeTextFile(configPath, gobgpdConfig(options));
  let child: Deno.ChildProcess | undefined;
  let exited: Promise<Deno.CommandStatus> | undefined;

  async function logTail(lines = 30): Promise<string> {
    try {
      return (await Deno.readTextFile(logPath)).trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  async function cli(args: string[], opts: { json?: boolean } = {}): Promise<string> {
    const full = ["-u", "127.0.0.1", "-p", String(grpcPort), ...(opts.json ? ["-j"] : []), ...args];
    const r = await runInNetns(options.netns, "gobgp", { args: full });
    if (r.code !== 0) {
      throw new GobgpError(`gobgp ${full.join(" ")} exited ${r.code}: ${r.stderr.trim()}`);
    }
    return r.stdout;
  }

  async function spawn(): Promise<void> {
    const log = await Deno.open(logPath, { append: true, create: true, write: true });
    const args = [
      "-f",
      configPath,
      "--api-hosts",
      `127.0.0.1:${grpcPort}`,
      "--pprof-disable",
    ];
    const cmd = {
      args,
      stdin: "null" as const,
      stdout: "piped" as const,
      stderr: "piped" as const,
    };
    child = options.netns
      ? spawnInNetns(options.netns, "gobgpd", cmd)
      : new Deno.Command("gobgpd", cmd).spawn();
    // Both streams go to the log file; pumping them keeps gobgpd from blocking on a full pipe.
    const pump = async (s: ReadableStream<Uint8Array>) => {
      for await (const chunk of s) await log.write(chunk).catch(() => 0);
    };
    const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
    exited = child.status.then(async (st) => {
      await pumps.catch(() => {});
      log.close();
      return st;
    });
    let dead = false;
    exited.then(() => (dead = true));
    const timeoutMs = options.startTimeoutMs ?? 10_000;
    try {
      await waitFor(async () => {
        if (dead) throw new GobgpError("gobgpd exited during start");
        await cli(["global"]);
        return true;
      }, { timeoutMs, intervalMs: 50, what: `gobgpd gRPC on ${tag}` });
    } catch (e) {
      const tail = await logTail();
      await halt();
      throw new GobgpError(`gobgpd did not start: ${(e as Error).message}`, tail);
    }
  }

  async function kill(signal: Deno.Signal = "SIGKILL"): Promise<void> {
    if (!child || !exited) return;
    try {
      child.kill(signal);
    } catch {
      // already exited
    }
    await exited;
    child = undefined;
    exited = undefined;
  }

  async function halt(): Promise<void> {
    if (!child || !exited) return;
    const c = child;
    const ex = exited;
    try {
      c.kill("SIGTERM");
    } catch {
      // already exited
    }
    const timer = setTimeout(() => {
      try {
        c.kill("SIGKILL");
      } catch {
        // already exited
      }
    }, 5_000);
    await ex;
    clearTimeout(timer);
    child = undefined;
    exited = undefined;
  }

  async function stop(): Promise<void> {
    await halt();
    if (ownDir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  }

  const g: Gobgpd = {
    netns: options.netns,
    grpcPort,
    configPath,
    logPath,
    get pid() {
      if (!child || child.pid <= 1) throw new Error("gobgpd is not running");
      return child.pid;
    },
    cli,
    async rib(family) {
      const out = await cli(["global", "rib", "-a", family], { json: true });
      const json = JSON.parse(out.trim() || "{}") as Record<string, Record<string, unknown>[]>;
      return Object.entries(json).flatMap(([prefix, paths]) =>
        paths.map((p) => parseRibPath(prefix, p))
      );
    },
    async ribCount(family) {
      const out = await cli(["global", "rib", "summary", "-a", family], { json: true });
      return Number(JSON.parse(out.trim() || "{}").num_destination ?? 0);
    },
    async neighbors() {
      return parseNeighbors(JSON.parse((await cli(["neighbor"], { json: true })).trim() || "[]"));
    },
    waitEstablished(address, opts = {}) {
      return g.waitFor(async () => {
        const n = (await g.neighbors()).find((x) => x.address === address);
        return n?.established ? n : undefined;
      }, { what: `session with ${address} established`, ...opts });
    },
    async enableNeighbor(address) {
      await cli(["neighbor", address, "enable"]);
    },
    async addRoutes(prefixes, attrs = {}) {
      for (const p of prefixes) {
        await cli(["global", "rib", "-a", familyOf(p), "add", p, ...routeArgs(attrs)]);
      }
    },
    async deleteRoutes(prefixes) {
      for (const p of prefixes) await cli(["global", "rib", "-a", familyOf(p), "del", p]);
    },
    async addRoutesBulk(prefixes, attrs) {
      const expected = (await g.ribCount("ipv4")) + new Set(prefixes).size;
      const file = await Deno.makeTempFile({ dir, prefix: "inject-", suffix: ".mrt" });
      try {
        await Deno.writeFile(file, encodeMrtIpv4(prefixes, attrs));
        await cli(["mrt", "inject", "global", file]);
        await g.waitFor(async () => (await g.ribCount("ipv4")) >= expected, {
          timeoutMs: 30_000,
          what: `${expected} IPv4 destinations after mrt inject`,
        });
      } finally {
        await Deno.remove(file).catch(() => {});
      }
    },
    async waitFor(fn, opts = {}) {
      try {
        return await waitFor(() => fn(g), opts);
      } catch (e) {
        throw new GobgpError((e as Error).message, await logTail());
      }
    },
    kill,
    async restart() {
      await halt();
      await spawn();
    },
    stop,
    logTail,
  };
  await spawn();
  return g;
}
