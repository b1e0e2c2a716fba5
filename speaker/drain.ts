/**
 * Drain without dropped connections (RFC 8326): before this node withdraws its routes because
 * it is going away, it re-announces them with the GRACEFUL_SHUTDOWN community, waits a grace
 * period so that routers move traffic to other paths, and only then withdraws.
 */
import type { KubeObject } from "../cluster/types.ts";
import type { Route, RouteAttributes } from "../bgp/mod.ts";
import { EXCLUDE_LABEL } from "./announce.ts";

/** RFC 8326 GRACEFUL_SHUTDOWN, 65535:0, as a 32-bit community. */
export const GRACEFUL_SHUTDOWN = 0xffff0000;
/** Default `--graceful-shutdown-seconds`. */
export const DEFAULT_GRACEFUL_SHUTDOWN_SECONDS = 5;

/**
 * NoSchedule/NoExecute taints that mean the node is being drained or deleted: cordon's own
 * taint, the cluster autoscaler's and Karpenter's scale-down marks, and out-of-service.
 */
export const DRAIN_TAINTS: readonly string[] = [
  "node.kubernetes.io/unschedulable",
  "ToBeDeletedByClusterAutoscaler",
  "karpenter.sh/disrupted",
  "node.kubernetes.io/out-of-service",
];

/** Why the node is going away (cordoned, drain taint, exclusion label), or undefined. */
export function nodeLeavingReason(node: KubeObject | undefined): string | undefined {
  if (!node) return undefined;
  const name = node.metadata.name;
  if (Object.hasOwn(node.metadata.labels ?? {}, EXCLUDE_LABEL)) {
    return `node ${name} has label ${EXCLUDE_LABEL}`;
  }
  const spec = (node as { spec?: { unschedulable?: unknown; taints?: unknown } }).spec;
  if (spec?.unschedulable === true) return `node ${name} is cordoned (spec.unschedulable)`;
  if (Array.isArray(spec?.taints)) {
    for (const t of spec.taints as { key?: unknown; effect?: unknown }[]) {
      if (
        typeof t?.key === "string" && DRAIN_TAINTS.includes(t.key) &&
        t.effect !== "PreferNoSchedule"
      ) {
        return `node ${name} has taint ${t.key}`;
      }
    }
  }
  return undefined;
}

/**
 * Adds GRACEFUL_SHUTDOWN to attribute sets, sharing one result per input set, one marked
 * Route per input Route and one marked list per input list: peers that share their routes
 * (100,000s of them) share the marked ones too, instead of a copy of each per peer.
 */
export class ShutdownMarker {
  #marked = new WeakMap<RouteAttributes, RouteAttributes>();
  #routes = new WeakMap<Route, Route>();
  #lists = new WeakMap<readonly Route[], Route[]>();

  /** `a` with 65535:0 among its communities (sorted, once). */
  attributes(a: RouteAttributes): RouteAttributes {
    let m = this.#marked.get(a);
    if (!m) {
      const set = new Set(a.communities ?? []);
      set.add(GRACEFUL_SHUTDOWN);
      m = { ...a, communities: [...set].sort((x, y) => x - y) };
      this.#marked.set(a, m);
    }
    return m;
  }

  /** `r` with its attributes marked (the same object for the same `r`). */
  route(r: Route): Route {
    let m = this.#routes.get(r);
    if (!m) {
      m = { prefix: r.prefix, attributes: this.attributes(r.attributes) };
      this.#routes.set(r, m);
    }
    return m;
  }

  /** Every route of `list`, marked (the same list for the same `list`). */
  list(list: readonly Route[]): Route[] {
    let m = this.#lists.get(list);
    if (!m) {
      m = list.map((r) => this.route(r));
      this.#lists.set(list, m);
    }
    return m;
  }

  /** Every route of every peer, marked. */
  routes(routes: ReadonlyMap<string, readonly Route[]>): Map<string, Route[]> {
    const out = new Map<string, Route[]>();
    for (const [peer, list] of routes) out.set(peer, this.list(list));
    return out;
  }
}

/** What {@linkcode DrainGate.apply} hands the sessions. */
export interface GateResult {
  routes: Map<string, Route[]>;
  /** `draining` while routes carry 65535:0, `withdrawn` once the grace period is over. */
  phase: "none" | "draining" | "withdrawn";
  /** Call `apply` again after this many ms (the end of the grace period). */
  wakeInMs?: number;
  /** Why the node is leaving, while it is. */
  reason?: string;
}

/**
 * Sits between the announcement plan and the sessions. While the node is leaving, routes go
 * out marked with 65535:0 — the ones still planned, or for a peer whose routes the plan
 * already dropped (the exclusion label), the ones it last had — until the grace period ends;
 * then every peer gets an empty list. A grace of 0 turns drain off: routes pass unchanged, as
 * MetalLB would send them.
 */
export class DrainGate {
  readonly #graceMs: number;
  /**
   * The marks of the drain under way (its lists are reused while a peer's input list is the
   * same); dropped when the node stays, so no marked copy of 100,000s of routes outlives it.
   */
  #marker: ShutdownMarker | undefined;
  #last = new Map<string, Route[]>();
  #since: number | undefined;

  constructor(options: { graceMs: number }) {
    this.#graceMs = options.graceMs;
  }

  /** The routes to push for `planned`, given why the node is leaving (if it is) at `now`. */
  apply(
    planned: ReadonlyMap<string, Route[]>,
    leaving: string | undefined,
    now: number,
  ): GateResult {
    if (leaving === undefined || this.#graceMs <= 0) {
      this.#since = undefined;
      this.#marker = undefined;
      this.#last = new Map(planned);
      return { routes: new Map(planned), phase: "none" };
    }
    this.#since ??= now;
    const left = this.#since + this.#graceMs - now;
    const routes = new Map<string, Route[]>();
    if (left <= 0) {
      for (const peer of planned.keys()) routes.set(peer, []);
      return { routes, phase: "withdrawn", reason: leaving };
    }
    const marker = this.#marker ??= new ShutdownMarker();
    for (const [peer, list] of planned) {
      routes.set(peer, marker.list(list.length > 0 ? list : this.#last.get(peer) ?? []));
    }
    return { routes, phase: "draining", wakeInMs: left, reason: leaving };
  }
}

/**
 * The routes to drain at SIGTERM: those of peers without graceful restart negotiated. A peer
 * with graceful restart was asked to keep our routes while we restart (a speaker upgrade), so
 * it gets the stale-keeping stop instead, as before.
 */
export function drainableRoutes(
  pushed: ReadonlyMap<string, Route[]>,
  sessions: readonly { name?: string; gracefulRestart?: { negotiated: boolean } }[],
): Map<string, Route[]> {
  const keep = new Set(
    sessions.filter((s) => s.gracefulRestart?.negotiated && s.name).map((s) => s.name!),
  );
  return new Map([...pushed].filter(([peer]) => !keep.has(peer)));
}

/** How {@linkcode drainBeforeStop} reaches the sessions. */
export interface StopDrainOptions {
  graceMs: number;
  /** Hands each peer its routes. */
  push(routes: Map<string, Route[]>): Promise<void>;
  /** Whether every Established peer holds no route of ours any more. */
  withdrawn(): boolean;
  /** Bound on waiting for the withdrawals to go out (default 1000 ms). */
  withdrawWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

/**
 * At SIGTERM: announce `routes` marked with 65535:0, wait the grace period, withdraw them all
 * and wait (bounded) until they went out. Returns how long the marked routes stood, in ms.
 */
export async function drainBeforeStop(
  routes: ReadonlyMap<string, Route[]>,
  options: StopDrainOptions,
): Promise<{ drainedMs: number; withdrawn: boolean }> {
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const now = options.now ?? Date.now;
  // Nothing announced: nothing to move away from, so no reason to hold the shutdown up.
  if ([...routes.values()].every((l) => l.length === 0)) return { drainedMs: 0, withdrawn: true };
  const start = now();
  await options.push(new ShutdownMarker().routes(routes));
  await sleep(options.graceMs);
  const drainedMs = now() - start;
  const empty = new Map<string, Route[]>();
  for (const peer of routes.keys()) empty.set(peer, []);
  await options.push(empty);
  const until = now() + (options.withdrawWaitMs ?? 1_000);
  while (!options.withdrawn() && now() < until) await sleep(20);
  return { drainedMs, withdrawn: options.withdrawn() };
}
