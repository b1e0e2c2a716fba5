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

interface LeaseSpec {
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

/** Creates a leader-election candidate for the Lease `namespace/name`. */
export function createLeaderElector(
  kc: k8s.KubeConfig,
  options: LeaderElectorOptions,
): LeaderElector {
  forceHttp1(kc);
  const log = (options.logger ?? silentLogger).child({
    component: "leader-election",
    lease: `${options.namespace}/${options.name}`,
    identity: options.identity,
  });
  const clock = options.clock ?? { now: () => Date.now() };
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewMs = options.renewMs ?? 10_000;
  const retryMs = options.retryMs ?? 2_000;
  const timeoutMs = options.requestTimeoutMs ?? Math.max(retryMs, 1000);
  const leaseSeconds = Math.max(1, Math.ceil(leaseDurationMs / 1000));
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${
    encodeURIComponent(options.namespace)
  }/leases`;
  const path = `${collection}/${encodeURIComponent(options.name)}`;
  const listeners = new Set<(leader: boolean) => void>();
  let leader = false;
  let lastRenew = 0;
  let observedKey = "";
  let observedAt = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;

  function setLeader(value: boolean): void {
    if (leader === value) return;
    leader = value;
    log.info(value ? "became leader" : "lost leadership");
    for (const fn of [...listeners]) {
      try {
        fn(value);
      } catch (err) {
        log.error("leader change listener failed", { err });
      }
    }
  }

  async function tryAcquireOrRenew(): Promise<boolean> {
    const now = clock.now();
    let current: Lease | undefined;
    try {
      current = await kubeRequest<Lease>(kc, "GET", path, { timeoutMs });
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
    const mine: LeaseSpec = {
      holderIdentity: options.identity,
      leaseDurationSeconds: leaseSeconds,
      acquireTime: microTime(now),
      renewTime: microTime(now),
      leaseTransitions: 0,
    };
    if (!current) {
      try {
        await kubeRequest(kc, "POST", collection, {
          timeoutMs,
          body: {
            apiVersion: "coordination.k8s.io/v1",
            kind: "Lease",
            metadata: { name: options.name, namespace: options.namespace },
            spec: mine,
          },
        });
        return true;
      } catch (err) {
        if (isStatus(err, 409)) return false;
        throw err;
      }
    }
    const spec = current.spec ?? {};
    const key = JSON.stringify([
      spec.holderIdentity,
      spec.renewTime,
      spec.acquireTime,
      spec.leaseDurationSeconds,
    ]);
    if (key !== observedKey) {
      observedKey = key;
      observedAt = now;
    }
    const holder = spec.holderIdentity ?? "";
    const validMs = (spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
    if (holder !== "" && holder !== options.identity && observedAt + validMs > now) return false;
    const next: LeaseSpec = holder === options.identity
      ? { ...spec, ...mine, acquireTime: spec.acquireTime ?? mine.acquireTime }
      : { ...mine, leaseTransitions: (spec.leaseTransitions ?? 0) + 1 };
    if (holder === options.identity) next.leaseTransitions = spec.leaseTransitions ?? 0;
    try {
      await kubeRequest(kc, "PUT", path, { timeoutMs, body: { ...current, spec: next } });
      return true;
    } catch (err) {
      if (isStatus(err, 409)) return false;
      throw err;
    }
  }

  async function tick(): Promise<void> {
    try {
      if (await tryAcquireOrRenew()) {
        lastRenew = clock.now();
        if (!stopped) setLeader(true);
      } else {
        setLeader(false);
      }
    } catch (err) {
      log.warn("lease update failed", { err });
      if (leader && clock.now() - lastRenew > renewMs) setLeader(false);
    }
  }

  function schedule(): void {
    if (stopped) return;
    const delay = Math.round(retryMs * (0.9 + 0.2 * Math.random()));
    timer = setTimeout(() => {
      running = tick().then(schedule);
    }, delay);
  }

  async function release(): Promise<void> {
    try {
      const current = await kubeRequest<Lease>(kc, "GET", path, { timeoutMs });
      if (current.spec?.holderIdentity !== options.identity) return;
      const now = microTime(clock.now());
      await kubeRequest(kc, "PUT", path, {
        timeoutMs,
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
      log.warn("releasing the lease failed; successor waits for expiry", { err });
    }
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
      if (leader) await release();
      setLeader(false);
    },
  };
}
