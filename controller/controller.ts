/**
 * The controller: MetalLB's assignment loop over an {@linkcode ObjectSource}, writing back
 * through an {@linkcode ObjectWriter}. Every pass starts from the source's snapshot and
 * writes only differences, so a restart over a cluster that is already right makes no
 * request at all, and the last valid configuration stays in force while a bad edit is
 * reported.
 *
 * This file is the pass's scheduling (sync gate, one pass per burst, leadership read once
 * per pass, retries) and the public surface; the steps of a pass live beside it:
 * `config_pass.ts`, `service_pass.ts` (→ `read_services.ts`, `restore.ts`, `allocate.ts`,
 * `service_events.ts`, `service_writes.ts`), `pool_status.ts`, then `write_queue.ts`.
 */
import { formatConfigError } from "../api/config.ts";
import { formatCount } from "../api/count_text.ts";
import type { PoolStatus, ServiceStatus, StatusDocument } from "../api/status.ts";
import type { ObjectSource, ObjectWriter } from "../cluster/types.ts";
import { updateConfig } from "./config_pass.ts";
import { HeldAddresses } from "./held_addresses.ts";
import type { ControllerOptions } from "./options.ts";
import { PassAborted } from "./pass_clock.ts";
import { updatePoolStatus } from "./pool_status.ts";
import { displayCount } from "./pools.ts";
import { cmp } from "./read_services.ts";
import { reconcileServices } from "./service_pass.ts";
import { forgetFailedWrites } from "./service_writes.ts";
import { ControllerState } from "./state.ts";
import { runWrites } from "./write_queue.ts";

export { CONFIGURATION_STATE_NAME } from "./config_pass.ts";
export { EVENT_COMPONENT, EventReason } from "./events.ts";
export type { ControllerOptions } from "./options.ts";

/**
 * The controller knows no peers, and a pending Service holds no address: every such row
 * shares this one empty list (read-only; readers of /status copy, never change, a row).
 */
const NO_STRINGS = Object.freeze([]) as unknown as string[];

/** Kube-source client counters, when the source has them. */
interface SourceClientMetrics {
  updatesTotal: number;
  updateErrorsTotal: number;
  configLoaded: boolean;
  stale: boolean;
}

/**
 * Assigns LoadBalancer addresses to Services: restores every existing assignment before
 * giving out a new one, then reconciles on every change (one pass per burst of changes).
 */
export class Controller {
  #source: ObjectSource;
  #s: ControllerState;
  #started = false;
  #synced = false;
  #ready = false;
  #stopped = false;
  #unsubscribe?: () => void;
  #wasLeader = false;
  #sourceUpdatesSeen = 0;
  #dirty = false;
  #loop: Promise<void> | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #passes = 0;

  /** Creates a controller; call {@linkcode Controller.start}. */
  constructor(source: ObjectSource, writer: ObjectWriter, options: ControllerOptions) {
    this.#source = source;
    this.#s = new ControllerState(writer, { ...options, stopped: () => this.#stopped });
  }

  /** Waits for the source to sync, then restores, allocates and keeps reconciling. */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#source.start();
    if (this.#stopped) return;
    this.#synced = true;
    this.#unsubscribe = this.#source.subscribe(() => {
      // Sources without client counters: count change notifications instead.
      const m = this.#s.opts.metrics;
      if (m && !this.#sourceMetrics()) m.k8sUpdates.inc();
      this.#schedule();
    });
    this.#schedule();
    await this.idle();
    this.#ready = true;
  }

  /** Stops reacting to changes and waits for the pass in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#loop;
  }

  /** True once the first pass after sync completed. */
  ready(): boolean {
    return this.#ready;
  }

  /**
   * What the controller is doing while not ready, e.g. "assigning addresses 4,000/10,000",
   * for `/readyz`; undefined when ready.
   */
  progress(): string | undefined {
    if (this.#ready) return undefined;
    if (!this.#started) return "starting";
    if (this.#passes === 0) return "reading objects";
    const p = this.#s.clock.progress;
    if (!p) return this.#s.config === null ? "waiting for a valid configuration" : "writing state";
    return `${p.phase} ${formatCount(p.done)}/${formatCount(p.total)}`;
  }

  /** Passes run so far (for tests and benchmarks). */
  passes(): number {
    return this.#passes;
  }

  /** Resolves when no pass is queued or running (after the current tick's changes). */
  async idle(): Promise<void> {
    for (;;) {
      await new Promise((r) => setTimeout(r, 0));
      if (!this.#loop) return;
      await this.#loop;
    }
  }

  /** Call when leadership may have changed: on gaining it the controller resyncs fully. */
  leadershipChanged(): void {
    this.#s.fullNext = true;
    this.#schedule();
  }

  /** Requests a pass (coalesced with any other request in the same tick). */
  reconcile(): void {
    this.#s.fullNext = true;
    this.#schedule();
  }

  /** The current assignment of `namespace/name`, as the allocator holds it. */
  assignmentOf(key: string): { ips: string[]; pool: string } | undefined {
    return this.#s.allocator.assignmentOf(key);
  }

  /** The configuration's validity, errors and warnings as /status shows them (cheap). */
  configReport(): StatusDocument["config"] {
    const s = this.#s;
    return {
      valid: s.configErrors.length === 0 && s.config !== null,
      errors: s.configErrors.map(formatConfigError),
      warnings: s.configWarnings.map(formatConfigError),
    };
  }

  /** The controller's part of the /status document. */
  status(): StatusDocument {
    return {
      role: "controller",
      config: this.configReport(),
      sessions: [],
      pools: this.#poolStatuses(),
      services: this.#serviceStatuses(),
    };
  }

  #poolStatuses(): PoolStatus[] {
    const allocator = this.#s.allocator;
    return allocator.poolNames().map((name) => {
      const c = allocator.counts(name)!;
      return {
        name,
        ...(c.ipv4.total > 0n
          ? { ipv4: { used: c.ipv4.used, total: displayCount(c.ipv4.total) } }
          : {}),
        ...(c.ipv6.total > 0n
          ? { ipv6: { used: c.ipv6.used, total: displayCount(c.ipv6.total) } }
          : {}),
      };
    });
  }

  /**
   * Handled Services: those holding an address (the allocator's) and those pending, sorted
   * by key. The keys are sorted first and each row is built once in order: sorting rows
   * built a `namespace/name` string per comparison, millions at a 100,000-Service start.
   */
  #serviceStatuses(): ServiceStatus[] {
    const s = this.#s;
    const keys: string[] = [];
    for (const key of s.allocator.keys()) if (!s.pending.has(key)) keys.push(key);
    for (const key of s.pending.keys()) keys.push(key);
    keys.sort(cmp);
    const rows: ServiceStatus[] = new Array(keys.length);
    for (let i = 0; i < keys.length; i++) rows[i] = this.#serviceRow(keys[i]);
    return rows;
  }

  /**
   * Every Service holding an address, as its key (`namespace/name`), addresses and pool, in
   * no order and without a status row each: what the IP history is aligned with at a start.
   */
  *heldAddresses(): IterableIterator<{ service: string; ips: readonly string[]; pool?: string }> {
    const allocator = this.#s.allocator;
    for (const key of allocator.keys()) {
      if (this.#s.pending.has(key)) continue;
      yield new HeldAddresses(key, allocator.poolOf(key), allocator.heldOf(key)!);
    }
  }

  #serviceRow(key: string): ServiceStatus {
    const slash = key.indexOf("/");
    const namespace = key.slice(0, slash);
    const name = key.slice(slash + 1);
    const p = this.#s.pending.get(key);
    if (p) return { namespace, name, ips: NO_STRINGS, peers: NO_STRINGS, pending: p.reason };
    // No view and copy per row (a /status of 100,000 Services): one address comes as a new
    // list already; two, the assignment's own, are copied so the row stays the caller's.
    const held = this.#s.allocator.ipsOf(key)!;
    const ips = held.length === 1 ? held as string[] : [...held];
    const pool = this.#s.allocator.poolOf(key);
    return pool
      ? { namespace, name, ips, pool, peers: NO_STRINGS }
      : { namespace, name, ips, peers: NO_STRINGS };
  }

  #isLeader(): boolean {
    return this.#s.opts.isLeader ? this.#s.opts.isLeader() : true;
  }

  #sourceMetrics(): SourceClientMetrics | undefined {
    const s = this.#source as { metrics?: () => SourceClientMetrics };
    return typeof s.metrics === "function" ? s.metrics() : undefined;
  }

  #schedule(): void {
    // Not before the source has synced: a Lease won during the first list must not run a pass
    // on a partial snapshot (Services missing would be assigned again, pools rewritten).
    if (this.#stopped || !this.#synced) return;
    this.#dirty = true;
    if (this.#loop) return;
    this.#loop = (async () => {
      // A macrotask first, so a burst of notifications in one tick makes one pass.
      await new Promise((r) => setTimeout(r, 0));
      while (this.#dirty && !this.#stopped) {
        this.#dirty = false;
        try {
          await this.#pass();
        } catch (err) {
          if (err instanceof PassAborted) break;
          this.#s.log.error("reconcile pass failed", { error: err });
          this.#retryLater();
        }
      }
    })().finally(() => {
      this.#loop = null;
    });
  }

  #retryLater(): void {
    if (this.#retryTimer !== undefined || this.#stopped) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#s.fullNext = true;
      this.#schedule();
    }, this.#s.opts.retryDelayMs ?? 1000);
  }

  async #pass(): Promise<void> {
    const s = this.#s;
    this.#passes++;
    const leader = this.#isLeader();
    // Leadership is read once per pass: a Lease won mid-pass (the pass yields) must not have
    // half of the pass record writes as made that the end of the pass then drops.
    s.passLeader = leader;
    s.events.leader = leader;
    if (leader && !this.#wasLeader && this.#passes > 1) {
      s.log.info("became leader; resyncing from the cluster");
      s.resetForResync();
    }
    this.#wasLeader = leader;
    const snap = this.#source.snapshot();
    const t0 = performance.now();
    this.#updateSourceMetrics();
    s.clock.restart();
    s.ops = [];
    updateConfig(s, snap);
    if (s.config !== null) await reconcileServices(s, snap);
    updatePoolStatus(s, snap);
    const t1 = performance.now();
    s.clock.progress = null;
    const ops = s.ops;
    s.ops = [];
    if (!leader || ops.length === 0) return;
    const failures = await runWrites(ops, {
      writer: s.writer,
      limit: s.opts.writeConcurrency ?? 64,
    });
    s.log.debug("pass", {
      revision: snap.revision,
      computeMs: Math.round(t1 - t0),
      writeMs: Math.round(performance.now() - t1),
      writes: ops.length,
      failed: failures.length,
    });
    forgetFailedWrites(s, failures.map((f) => f.op));
    for (const { op, error } of failures) {
      s.log.warn("write failed; will retry", { object: op.key, write: op.what, error });
    }
    if (failures.length > 0) this.#retryLater();
  }

  #updateSourceMetrics(): void {
    const m = this.#s.opts.metrics;
    const src = this.#sourceMetrics();
    if (!m || !src) return;
    if (src.updatesTotal > this.#sourceUpdatesSeen) {
      m.k8sUpdates.inc(undefined, src.updatesTotal - this.#sourceUpdatesSeen);
      this.#sourceUpdatesSeen = src.updatesTotal;
    }
    // List/watch failures are not counted here: MetalLB's update_errors_total counts failed
    // syncs of objects (the config refused, the pools not taken), not API connection errors.
  }
}

/** Options for {@linkcode createController}. */
export type CreateControllerOptions = ControllerOptions;

/** Creates a {@linkcode Controller} (not started). */
export function createController(
  source: ObjectSource,
  writer: ObjectWriter,
  options: CreateControllerOptions,
): Controller {
  return new Controller(source, writer, options);
}
