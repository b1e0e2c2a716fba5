/**
 * Leader election on a coordination.k8s.io/v1 Lease, with the same rules as client-go:
 * optimistic concurrency on resourceVersion (409 = lost the race), expiry judged by when we
 * last saw the record change (our own clock, so skew between nodes does not matter), and the
 * lease released on stop so a successor does not wait for expiry.
 */

import type * as k8s from "@kubernetes/client-node";
import type { Logger } from "../api/log.ts";
import { silentLogger } from "../api/log.ts";
import { forceHttp1, isStatus, kubeRequest } from "./kube_config.ts";

/** A time source in milliseconds (tests may pass a fake one). */
export interface Clock {
  now(): number;
}

/** Options for {@linkcode createLeaderElector}. */
export interface LeaderElectorOptions {
  namespace: string;
  /** Lease name. */
  name: string;
  /** This candidate's identity (pod name). */
  identity: string;
  /** How long a lease is valid after its last renewal (default 15 s). */
  leaseDurationMs?: number;
  /** A leader that cannot renew for this long steps down (default 10 s). */
  renewMs?: number;
  /** Time between attempts to acquire or renew (default 2 s). */
  retryMs?: number;
  clock?: Clock;
  logger?: Logger;
  /** Bound on each request (default: `retryMs`, at least 1 s). */
  requestTimeoutMs?: number;
}

/** A running candidate. */
export interface LeaderElector {
  /** Starts campaigning; resolves after the first attempt. */
  start(): Promise<void>;
  isLeader(): boolean;
  /** Calls `fn(isLeader)` on every change; returns unsubscribe. */
  on(event: "change", fn: (isLeader: boolean) => void): () => void;
  /** Stops campaigning and releases the lease if held. */
  stop(): Promise<void>;
}

/** The spec of a Lease. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** RFC 3339 with microseconds, the MicroTime format of Lease timestamps. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

/** When a lease record was last seen to change, on our clock. */
export interface Observation {
  key: string;
  at: number;
}

/**
 * What to write to take or keep the lease `current` as `identity` at `now`, or undefined
 * when another holder's lease is still valid. `seen` is updated with the record's change.
 */
export function nextLeaseSpec(
  current: LeaseSpec,
  candidate: { identity: string; leaseSeconds: number; now: number },
  seen: Observation,
): LeaseSpec | undefined {
  const { identity, leaseSeconds, now } = candidate;
  const key = JSON.stringify([
    current.holderIdentity,
    current.renewTime,
    current.acquireTime,
    current.leaseDurationSeconds,
  ]);
  if (key !== seen.key) {
    seen.key = key;
    seen.at = now;
  }
  const holder = current.holderIdentity ?? "";
  const validMs = (current.leaseDurationSeconds ?? leaseSeconds) * 1000;
  if (holder !== "" && holder !== identity && seen.at + validMs > now) return undefined;
  const mine = {
    holderIdentity: identity,
    leaseDurationSeconds: leaseSeconds,
    renewTime: microTime(now),
  };
  return holder === identity
    ? {
      ...current,
      ...mine,
      acquireTime: current.acquireTime ?? microTime(now),
      leaseTransitions: current.leaseTransitions ?? 0,
    }
    : {
      ...mine,
      acquireTime: microTime(now),
      leaseTransitions: (current.leaseTransitions ?? 0) + 1,
    };
}

/** A candidate's state and its requests. */
interface Candidate {
  kc: k8s.KubeConfig;
  options: LeaderElectorOptions;
  log: Logger;
  clock: Clock;
  timeoutMs: number;
  leaseSeconds: number;
  collection: string;
  path: string;
  seen: Observation;
}

/** Creates the Lease held by us; false when someone created it first. */
async function createLease(c: Candidate, now: number): Promise<boolean> {
  try {
    await kubeRequest(c.kc, "POST", c.collection, {
      timeoutMs: c.timeoutMs,
      body: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name: c.options.name, namespace: c.options.namespace },
        spec: {
          holderIdentity: c.options.identity,
          leaseDurationSeconds: c.leaseSeconds,
          acquireTime: microTime(now),
          renewTime: microTime(now),
          leaseTransitions: 0,
        },
      },
    });
    return true;
  } catch (err) {
    if (isStatus(err, 409)) return false;
    throw err;
  }
}

/** One attempt to acquire or renew; true when we hold the lease afterwards. */
async function tryAcquireOrRenew(c: Candidate): Promise<boolean> {
  const now = c.clock.now();
  let current: Lease | undefined;
  try {
    current = await kubeRequest<Lease>(c.kc, "GET", c.path, { timeoutMs: c.timeoutMs });
  } catch (err) {
    if (!isStatus(err, 404)) throw err;
  }
  if (!current) return await createLease(c, now);
  const candidate = { identity: c.options.identity, leaseSeconds: c.leaseSeconds, now };
  const next = nextLeaseSpec(current.spec ?? {}, candidate, c.seen);
  if (!next) return false;
  try {
    await kubeRequest(c.kc, "PUT", c.path, {
      timeoutMs: c.timeoutMs,
      body: { ...current, spec: next },
    });
    return true;
  } catch (err) {
    if (isStatus(err, 409)) return false;
    throw err;
  }
}

/** Hands the lease back (holder cleared, 1 s duration) if we still hold it. */
async function release(c: Candidate): Promise<void> {
  try {
    const current = await kubeRequest<Lease>(c.kc, "GET", c.path, { timeoutMs: c.timeoutMs });
    if (current.spec?.holderIdentity !== c.options.identity) return;
    const now = microTime(c.clock.now());
    await kubeRequest(c.kc, "PUT", c.path, {
      timeoutMs: c.timeoutMs,
      body: {
        ...current,
        spec: {
          holderIdentity: "",
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: current.spec?.leaseTransitions ?? 0,
        },
      },
    });
  } catch (err) {
    c.log.warn("releasing the lease failed; successor waits for expiry", { err });
  }
}

function candidateOf(kc: k8s.KubeConfig, options: LeaderElectorOptions): Candidate {
  const retryMs = options.retryMs ?? 2_000;
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${
    encodeURIComponent(options.namespace)
  }/leases`;
  return {
    kc,
    options,
    log: (options.logger ?? silentLogger).child({
      component: "leader-election",
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    }),
    clock: options.clock ?? { now: () => Date.now() },
    timeoutMs: options.requestTimeoutMs ?? Math.max(retryMs, 1000),
    leaseSeconds: Math.max(1, Math.ceil((options.leaseDurationMs ?? 15_000) / 1000)),
    collection,
    path: `${collection}/${encodeURIComponent(options.name)}`,
    seen: { key: "", at: 0 },
  };
}

/** Creates a leader-election candidate for the Lease `namespace/name`. */
export function createLeaderElector(
  kc: k8s.KubeConfig,
  options: LeaderElectorOptions,
): LeaderElector {
  forceHttp1(kc);
  const c = candidateOf(kc, options);
  const renewMs = options.renewMs ?? 10_000;
  const retryMs = options.retryMs ?? 2_000;
  const listeners = new Set<(leader: boolean) => void>();
  let leader = false;
  let lastRenew = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  function setLeader(value: boolean): void {
    if (leader === value) return;
    leader = value;
    c.log.info(value ? "became leader" : "lost leadership");
    for (const fn of [...listeners]) {
      try {
        fn(value);
      } catch (err) {
        c.log.error("leader change listener failed", { err });
      }
    }
  }

  async function tick(): Promise<void> {
    try {
      if (await tryAcquireOrRenew(c)) {
        lastRenew = c.clock.now();
        if (!stopped) setLeader(true);
      } else {
        setLeader(false);
      }
    } catch (err) {
      c.log.warn("lease update failed", { err });
      if (leader && c.clock.now() - lastRenew > renewMs) setLeader(false);
    }
  }

  function schedule(): void {
    if (stopped) return;
    const delay = Math.round(retryMs * (0.9 + 0.2 * Math.random()));
    timer = setTimeout(() => {
      running = tick().then(schedule);
    }, delay);
  }

  return {
    start() {
      if (running) return running;
      stopped = false;
      running = tick().then(schedule);
      return running;
    },
    isLeader: () => leader,
    on(_event, fn) {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      // Not only when `leader`: a tick in flight at stop() may have taken the Lease without
      // becoming leader (it was stopped); release() checks the holder before it writes.
      await release(c);
      setLeader(false);
    },
  };
}
