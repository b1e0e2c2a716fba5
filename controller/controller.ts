/**
 * The controller: MetalLB's assignment loop over an {@linkcode ObjectSource}, writing back
 * through an {@linkcode ObjectWriter}. Every pass starts from the source's snapshot and
 * writes only differences, so a restart over a cluster that is already right makes no
 * request at all, and the last valid configuration stays in force while a bad edit is
 * reported.
 */
import {
  buildConfig,
  type Config,
  type ConfigError,
  type ConfigWarning,
  formatConfigError,
} from "../api/config.ts";
import type { Logger } from "../api/log.ts";
import { type AddressChangeListener, AddressChangeLog } from "./address_changes.ts";
import type { MetallbMetrics } from "../api/metrics.ts";
import { forgetSnapshotService, parseSnapshotService, type ServiceView } from "../api/objects.ts";
import type { PoolStatus, ServiceStatus, StatusDocument } from "../api/status.ts";
import {
  Allocator,
  canonicalIP,
  type ExistingAssignment,
  type RefusalCode,
  type RestoreReport,
  type ServiceRequest,
} from "../ipam/mod.ts";
import {
  CONFIG_KINDS,
  type EventRecord,
  type KubeObject,
  type ObjectSource,
  type ObjectWriter,
  type Snapshot,
} from "../cluster/types.ts";
import { bigintJson, displayCount, poolSpecOf, statusCount } from "./pools.ts";
import { runWrites, type ServiceWrite, type WriteOp } from "./write_queue.ts";
import {
  ALLOCATED_FROM_POOL,
  ANNOTATION_PREFIX,
  type DeprecatedAnnotation,
  deprecationMessage,
  LEGACY_ANNOTATION_PREFIX,
  type ServiceRequestResult,
  translateService,
} from "./service_request.ts";

/** The component name on Events, as MetalLB's controller uses. */
export const EVENT_COMPONENT = "metallb-controller";
/** Name of the controller's ConfigurationState object. */
export const CONFIGURATION_STATE_NAME = "controller";

/** Event reasons the controller records. */
export const EventReason = {
  IPAllocated: "IPAllocated",
  AllocationFailed: "AllocationFailed",
  ClearAssignment: "ClearAssignment",
  LoadBalancerFailed: "LoadBalancerFailed",
  DeprecatedAnnotation: "DeprecatedAnnotation",
  InvalidConfiguration: "InvalidConfiguration",
} as const;

// Both keys are written: MetalLB before 0.14 (as in users' seed clusters) shows and reads
// the older one, newer tooling the metallb.io one; writing both keeps both kinds working.
const POOL_ANNOTATIONS = [
  ANNOTATION_PREFIX + ALLOCATED_FROM_POOL,
  LEGACY_ANNOTATION_PREFIX + ALLOCATED_FROM_POOL,
] as const;

/** Kube-source client counters, when the source has them. */
interface SourceClientMetrics {
  updatesTotal: number;
  updateErrorsTotal: number;
  configLoaded: boolean;
  stale: boolean;
}

/** Options for {@linkcode Controller}. */
export interface ControllerOptions {
  /** Install namespace of the metallb.io objects. */
  namespace: string;
  /** `--lb-class`: handle only Services of this class (else only classless ones). */
  lbClass?: string;
  logger: Logger;
  metrics?: MetallbMetrics;
  /** Clock for how long Services waited for an address (logged on assignment). */
  clock?: () => Date;
  /** When given and false, passes compute but write nothing. */
  isLeader?: () => boolean;
  /** Writes in flight at once (default 64). */
  writeConcurrency?: number;
  /** Delay before a pass retries failed writes (default 1000 ms). */
  retryDelayMs?: number;
  /** Address changes of each pass, for the IP history (called on the leader only). */
  onAddressChanges?: AddressChangeListener;
}

/** Why a Service has no address, as shown on /status. */
interface Pending {
  reason: string;
  eventReason: string;
}

/** What one pass decided for a handled Service. */
interface Outcome {
  key: string;
  obj: KubeObject;
  view: ServiceView;
  created: string;
  result: ServiceRequestResult;
  ips: string[];
  pool?: string;
  pending?: Pending;
  /** Got a new assignment in this pass (IPAllocated). */
  fresh: boolean;
  /** Leave status and annotations as they are (the request itself is invalid). */
  keep: boolean;
}

interface ParsedService {
  view?: ServiceView;
  error?: string;
}

interface WrittenRecord {
  desired: string;
  observedAtWrite: string;
}

/** The pass stops at its next slice boundary because the controller is stopping. */
class PassAborted extends Error {
  override name = "PassAborted";
}

/** Assignments restored between two checks of the slice clock. */
const RESTORE_SLICE = 2000;
/** Longest stretch of a pass without yielding to the event loop. */
const SLICE_MS = 20;
/** Passes handling more Services than this log progress and per-Service lines at debug. */
const LARGE_PASS = 1000;
/** How often a large pass logs its progress. */
const PROGRESS_MS = 1000;

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function refusalEvent(code: RefusalCode): string {
  // Exhaustion and address clashes can heal as Services come and go; the rest need the
  // user to change the Service or the configuration.
  return code === "exhausted" || code === "in-use" || code === "no-pool"
    ? EventReason.AllocationFailed
    : EventReason.LoadBalancerFailed;
}

function metaCreated(obj: KubeObject): string {
  return obj.metadata.creationTimestamp ?? "";
}

/**
 * Assigns LoadBalancer addresses to Services: restores every existing assignment before
 * giving out a new one, then reconciles on every change (one pass per burst of changes).
 */
export class Controller {
  #source: ObjectSource;
  #writer: ObjectWriter;
  #opts: ControllerOptions;
  #log: Logger;
  #now: () => Date;
  #allocator = new Allocator();
  /** The configuration in force (the last valid one), or null before the first valid one. */
  #config: Config | null = null;
  #poolsKey: string | null = null;
  #configErrors: ConfigError[] = [];
  #configWarnings: ConfigWarning[] = [];
  #configInputs: ReadonlyMap<string, KubeObject>[] = [];
  #lastBuild: ReturnType<typeof buildConfig> | null = null;
  #restored = false;
  #started = false;
  #synced = false;
  /** Whether the pass in progress (or the last one) runs as the leader. */
  #passLeader = false;
  #ready = false;
  #stopped = false;
  #unsubscribe?: () => void;
  #wasLeader = false;
  /** Latest per-Service outcome, for /status. */
  #outcomes = new Map<string, Outcome>();
  /** Reasons an assignment was dropped (pool change, restore conflict) awaiting its event. */
  #cleared = new Map<string, string>();
  /** Last message per (object, slot), so Events are recorded on change only. */
  #lastEvent = new Map<string, string>();
  #written = new Map<string, WrittenRecord>();
  #configStateKey: string | null = null;
  #metricPools = new Set<string>();
  /** Services as last looked at, to find what changed. */
  #lastSeen: ReadonlyMap<string, KubeObject> = new Map();
  #lastNamespaces: ReadonlyMap<string, KubeObject> | null = null;
  /** Services without an address, looked at on every pass. */
  #pendingKeys = new Set<string>();
  /** When each pending Service was first found pending (the option `clock`). */
  #pendingSince = new Map<string, number>();
  #fullNext = true;
  #sourceUpdatesSeen = 0;
  #dirty = false;
  #loop: Promise<void> | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #passes = 0;
  #sliceStart = 0;
  #lastProgressLog = 0;
  /** What the pass in progress is doing, for logs and /readyz. */
  #progress: { phase: string; done: number; total: number } | null = null;

  /** Creates a controller; call {@linkcode Controller.start}. */
  constructor(source: ObjectSource, writer: ObjectWriter, options: ControllerOptions) {
    this.#source = source;
    this.#writer = writer;
    this.#opts = options;
    this.#log = options.logger.child({ component: "controller" });
    this.#now = options.clock ?? (() => new Date());
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
      if (this.#opts.metrics && !this.#sourceMetrics()) this.#opts.metrics.k8sUpdates.inc();
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
    const p = this.#progress;
    if (!p) return this.#config === null ? "waiting for a valid configuration" : "writing state";
    return `${p.phase} ${p.done.toLocaleString("en-US")}/${p.total.toLocaleString("en-US")}`;
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
    this.#fullNext = true;
    this.#schedule();
  }

  /** Requests a pass (coalesced with any other request in the same tick). */
  reconcile(): void {
    this.#fullNext = true;
    this.#schedule();
  }

  /** The current assignment of `namespace/name`, as the allocator holds it. */
  assignmentOf(key: string): { ips: string[]; pool: string } | undefined {
    return this.#allocator.assignmentOf(key);
  }

  /** The configuration's validity, errors and warnings as /status shows them (cheap). */
  configReport(): StatusDocument["config"] {
    return {
      valid: this.#configErrors.length === 0 && this.#config !== null,
      errors: this.#configErrors.map(formatConfigError),
      warnings: this.#configWarnings.map(formatConfigError),
    };
  }

  /** The controller's part of the /status document. */
  status(): StatusDocument {
    const pools: PoolStatus[] = [];
    for (const name of this.#allocator.poolNames()) {
      const c = this.#allocator.counts(name)!;
      pools.push({
        name,
        ...(c.ipv4.total > 0n
          ? { ipv4: { used: c.ipv4.used, total: displayCount(c.ipv4.total) } }
          : {}),
        ...(c.ipv6.total > 0n
          ? { ipv6: { used: c.ipv6.used, total: displayCount(c.ipv6.total) } }
          : {}),
      });
    }
    const services: ServiceStatus[] = [...this.#outcomes.values()]
      .sort((a, b) => cmp(a.key, b.key))
      .map((o) => ({
        namespace: o.view.namespace,
        name: o.view.name,
        ips: [...o.ips],
        ...(o.pool ? { pool: o.pool } : {}),
        peers: [],
        ...(o.pending ? { pending: o.pending.reason } : {}),
      }));
    return {
      role: "controller",
      config: this.configReport(),
      sessions: [],
      pools,
      services,
    };
  }

  #isLeader(): boolean {
    return this.#opts.isLeader ? this.#opts.isLeader() : true;
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
          this.#log.error("reconcile pass failed", { error: err });
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
      this.#fullNext = true;
      this.#schedule();
    }, this.#opts.retryDelayMs ?? 1000);
  }

  /** Throws away allocator state so the next pass restores from the cluster again. */
  #resetForResync(): void {
    this.#allocator = new Allocator();
    this.#poolsKey = null;
    this.#restored = false;
    this.#written.clear();
    this.#cleared.clear();
    this.#configStateKey = null;
    this.#fullNext = true;
    this.#lastSeen = new Map();
    this.#pendingKeys.clear();
  }

  async #pass(): Promise<void> {
    this.#passes++;
    const leader = this.#isLeader();
    // Leadership is read once per pass: a Lease won mid-pass (the pass yields) must not have
    // half of the pass record writes as made that the end of the pass then drops.
    this.#passLeader = leader;
    if (leader && !this.#wasLeader && this.#passes > 1) {
      this.#log.info("became leader; resyncing from the cluster");
      this.#resetForResync();
    }
    this.#wasLeader = leader;
    const snap = this.#source.snapshot();
    const ops: WriteOp[] = [];
    const t0 = performance.now();
    this.#updateSourceMetrics();
    this.#sliceStart = t0;
    this.#updateConfig(snap, ops);
    if (this.#config !== null) await this.#reconcileServices(snap, ops);
    this.#updatePools(snap, ops);
    const t1 = performance.now();
    this.#progress = null;
    if (!leader || ops.length === 0) return;
    const failures = await runWrites(ops, {
      writer: this.#writer,
      limit: this.#opts.writeConcurrency ?? 64,
    });
    this.#log.debug("pass", {
      revision: snap.revision,
      computeMs: Math.round(t1 - t0),
      writeMs: Math.round(performance.now() - t1),
      writes: ops.length,
      failed: failures.length,
    });
    for (const { op, error } of failures) {
      this.#written.delete(op.key);
      this.#log.warn("write failed; will retry", { object: op.key, write: op.what, error });
    }
    if (failures.length > 0) this.#retryLater();
  }

  /** Yields to the event loop when this slice of the pass has run long enough. */
  async #yieldIfDue(): Promise<void> {
    if (performance.now() - this.#sliceStart < SLICE_MS) return;
    await new Promise((r) => setTimeout(r, 0));
    this.#sliceStart = performance.now();
    if (this.#stopped) throw new PassAborted("controller stopping");
  }

  /** Logs how far a large pass got, at most once per {@linkcode PROGRESS_MS}. */
  #reportProgress(force = false): boolean {
    const p = this.#progress;
    if (!p || p.total <= LARGE_PASS) return false;
    const t = performance.now();
    if (!force && t - this.#lastProgressLog < PROGRESS_MS) return false;
    this.#lastProgressLog = t;
    const fmt = (n: number) => n.toLocaleString("en-US");
    this.#log.info(`${p.phase} ${fmt(p.done)}/${fmt(p.total)}`, {
      phase: p.phase,
      done: p.done,
      total: p.total,
    });
    return true;
  }

  #updateSourceMetrics(): void {
    const m = this.#opts.metrics;
    const s = this.#sourceMetrics();
    if (!m || !s) return;
    if (s.updatesTotal > this.#sourceUpdatesSeen) {
      m.k8sUpdates.inc(undefined, s.updatesTotal - this.#sourceUpdatesSeen);
      this.#sourceUpdatesSeen = s.updatesTotal;
    }
    // List/watch failures are not counted here: MetalLB's update_errors_total counts failed
    // syncs of objects (the config refused, the pools not taken), not API connection errors.
  }

  // ---------------------------------------------------------------------------------------
  // Configuration

  #updateConfig(snap: Snapshot, ops: WriteOp[]): void {
    const inputs = CONFIG_KINDS.map((k) => snap.objects.get(k) ?? new Map<string, KubeObject>());
    let build = this.#lastBuild;
    if (!build || inputs.some((m, i) => m !== this.#configInputs[i])) {
      build = buildConfig({ objects: new Map(CONFIG_KINDS.map((k, i) => [k, inputs[i]])) }, {
        namespace: this.#opts.namespace,
      });
      this.#lastBuild = build;
      this.#configInputs = inputs;
    }
    const m = this.#opts.metrics;
    this.#configWarnings = build.warnings;
    if (!build.ok) {
      this.#configErrors = build.errors;
      this.#reportInvalid(build.errors, ops);
      m?.configStale.set({}, 1);
      return;
    }
    const specs = build.config.pools.map(poolSpecOf);
    const key = JSON.stringify(specs, bigintJson);
    if (key !== this.#poolsKey) {
      const report = this.#allocator.setPools(specs);
      if (!report.ok) {
        // buildConfig should have caught it; still never drop the running pools for it.
        const err: ConfigError = {
          kind: "IPAddressPool",
          namespace: this.#opts.namespace,
          name: "",
          field: "spec.addresses",
          reason: report.reason,
        };
        this.#configErrors = [err];
        this.#reportInvalid([err], ops);
        // A load the handler refused: MetalLB counts it (SyncStateError), unlike a parse error.
        m?.k8sUpdateErrors.inc();
        m?.configStale.set({}, 1);
        return;
      }
      if (this.#poolsKey !== null || this.#restored) {
        this.#log.info("address pools changed", {
          pools: specs.map((s) => s.name),
          invalidated: report.invalid.length,
        });
      }
      for (const d of report.invalid) this.#cleared.set(d.key, d.reason);
      this.#poolsKey = key;
      this.#fullNext = true;
    }
    const wasInvalid = this.#configErrors.length > 0 || this.#config === null;
    this.#config = build.config;
    this.#configErrors = [];
    if (wasInvalid) {
      this.#log.info("configuration loaded", {
        pools: build.config.pools.length,
        warnings: build.warnings.map(formatConfigError),
      });
      // Forget reported errors so a later recurrence is reported again.
      for (const k of [...this.#lastEvent.keys()]) {
        if (k.startsWith("config|")) this.#lastEvent.delete(k);
      }
    }
    m?.configLoaded.set({}, 1);
    m?.configStale.set({}, 0);
    this.#setConfigurationState({
      result: "Valid",
      errorSummary: "",
      conditions: [{
        type: "Valid",
        status: "True",
        reason: "ConfigurationValid",
        message: build.warnings.length
          ? build.warnings.map(formatConfigError).join("; ")
          : "configuration is valid",
      }],
    }, ops);
  }

  #reportInvalid(errors: ConfigError[], ops: WriteOp[]): void {
    const summary = errors.map(formatConfigError).join("; ");
    const byObject = new Map<string, ConfigError[]>();
    for (const e of errors) {
      const k = `${e.kind}|${e.namespace}|${e.name}`;
      byObject.set(k, [...(byObject.get(k) ?? []), e]);
    }
    const transient = errors.every((e) => e.transient);
    if (this.#lastEvent.get("config|summary") !== summary) {
      this.#lastEvent.set("config|summary", summary);
      this.#log.error(
        this.#config
          ? "configuration invalid; keeping the running configuration"
          : "configuration invalid; allocating nothing until it is valid",
        { errors: errors.map(formatConfigError), transient },
      );
    }
    for (const [k, errs] of byObject) {
      const first = errs[0];
      const message = errs.map(formatConfigError).join("; ");
      this.#event(ops, `config|${k}`, message, {
        involved: {
          kind: first.kind,
          apiVersion: first.kind === "BGPPeer" ? "metallb.io/v1beta2" : "metallb.io/v1beta1",
          namespace: first.namespace || this.#opts.namespace,
          name: first.name,
        },
        type: "Warning",
        reason: EventReason.InvalidConfiguration,
        message: this.#config
          ? `${message} (the previous valid configuration stays in force)`
          : message,
      });
    }
    this.#setConfigurationState({
      result: "Invalid",
      errorSummary: summary,
      conditions: [{
        type: "Valid",
        status: "False",
        reason: transient ? "MissingReference" : "ConfigurationInvalid",
        message: summary,
      }],
    }, ops);
  }

  #setConfigurationState(
    status: { result: string; errorSummary: string; conditions: Record<string, string>[] },
    ops: WriteOp[],
  ): void {
    const key = JSON.stringify(status);
    if (key === this.#configStateKey) return;
    this.#configStateKey = key;
    // No lastTransitionTime (optional in our CRD): the status is then a pure function of the
    // configuration, so after a restart the writer finds it equal and sends nothing.
    const full = structuredClone(status);
    const ns = this.#opts.namespace;
    ops.push({
      key: `ConfigurationState|${ns}/${CONFIGURATION_STATE_NAME}`,
      what: "setConfigurationState",
      run: async () => {
        try {
          await this.#writer.setConfigurationState(ns, CONFIGURATION_STATE_NAME, full);
        } catch (err) {
          this.#configStateKey = null;
          throw err;
        }
      },
    });
  }

  // ---------------------------------------------------------------------------------------
  // Services

  /**
   * Whether `next` differs from `prev` only by the status and pool annotations this
   * controller wrote for the Service's current outcome. Sources that keep unchanged parts
   * as the same objects (file mode) make this cheap; others never match and take the
   * normal path.
   */
  #isOwnEcho(key: string, prev: KubeObject, next: KubeObject): boolean {
    const o = this.#outcomes.get(key);
    if (!o || o.keep || o.pending || this.#cleared.has(key)) return false;
    if (prev.spec !== next.spec || prev.metadata.labels !== next.metadata.labels) return false;
    const pm = prev.metadata;
    const nm = next.metadata;
    if (
      pm.uid !== nm.uid || pm.creationTimestamp !== nm.creationTimestamp ||
      pm.deletionTimestamp !== nm.deletionTimestamp
    ) return false;
    const pa = pm.annotations ?? {};
    const na = nm.annotations ?? {};
    for (const k of POOL_ANNOTATIONS) if (na[k] !== o.pool) return false;
    const ours = (k: string) => (POOL_ANNOTATIONS as readonly string[]).includes(k);
    const pk = Object.keys(pa).filter((k) => !ours(k));
    const nk = Object.keys(na).filter((k) => !ours(k));
    if (pk.length !== nk.length || pk.some((k) => pa[k] !== na[k])) return false;
    const status = next.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined;
    const shown = (status?.loadBalancer?.ingress ?? []).map((i) => canonicalIP(i.ip ?? "") ?? "");
    return shown.length === o.ips.length && [...shown].sort().join() === [...o.ips].sort().join();
  }

  /**
   * Keeps the Service as our write left it instead of as it was before: the speaker reads the
   * same object, so one view of it is held, and the older object's view (and what the
   * speaker derived from that view) can go. 100,000 Services: ~50 MB.
   */
  #holdEcho(key: string, obj: KubeObject): void {
    const kept = this.#outcomes.get(key);
    if (!kept) return;
    const r = parseSnapshotService(obj);
    if (!r.ok) return;
    if (kept.obj !== obj) forgetSnapshotService(kept.obj);
    kept.obj = obj;
    kept.view = r.value;
  }

  #parse(key: string, obj: KubeObject): ParsedService {
    // Views are memoized by object (shared with the speaker), so no per-key cache here. An
    // object we moved on from may stay alive (file mode keeps the manifest's object under
    // the overlaid one): its memoized view must not live on with it.
    const before = this.#outcomes.get(key)?.obj ?? this.#lastSeen.get(key);
    if (before !== undefined && before !== obj) forgetSnapshotService(before);
    const r = parseSnapshotService(obj);
    return r.ok ? { view: r.value } : { error: r.errors.map(formatConfigError).join("; ") };
  }

  async #reconcileServices(snap: Snapshot, ops: WriteOp[]): Promise<void> {
    const services = snap.objects.get("Service") ?? new Map<string, KubeObject>();
    const namespaces = snap.objects.get("Namespace") ?? new Map<string, KubeObject>();
    // A full pass looks at every Service; otherwise only at changed and pending ones, so a
    // burst of creations costs in proportion to the burst, not to the cluster.
    const full = this.#fullNext || !this.#restored || namespaces !== this.#lastNamespaces;
    this.#fullNext = false;
    this.#lastNamespaces = namespaces;
    const handled: Outcome[] = [];
    const unhandled: { key: string; obj: KubeObject; view: ServiceView }[] = [];
    this.#progress = { phase: "reading services", done: 0, total: services.size };
    let echoes = 0;
    for (const [key, obj] of services) {
      const prev = this.#lastSeen.get(key);
      if (!full && prev === obj && !this.#pendingKeys.has(key)) continue;
      if (!full && prev !== undefined && this.#isOwnEcho(key, prev, obj)) {
        // Our own write come back: nothing to decide, and 100,000 of them must not cost a
        // second pass over everything just assigned.
        this.#written.delete(`ingress|${key}`);
        this.#written.delete(`annotations|${key}`);
        this.#holdEcho(key, obj);
        echoes++;
        continue;
      }
      this.#progress.done++;
      await this.#yieldIfDue();
      const p = this.#parse(key, obj);
      if (!p.view) {
        // Unreadable objects keep whatever they hold; nothing here can make them better.
        this.#log.debug("service unreadable; left as is", { service: key, error: p.error });
        continue;
      }
      const nsLabels = namespaces.get(p.view.namespace)?.metadata.labels ?? {};
      const result = translateService(p.view, {
        lbClass: this.#opts.lbClass,
        namespaceLabels: nsLabels,
        key,
      });
      if (result.kind === "ignored") {
        unhandled.push({ key, obj, view: p.view });
        continue;
      }
      handled.push({
        key,
        obj,
        view: p.view,
        created: metaCreated(obj),
        result,
        ips: [],
        fresh: false,
        keep: false,
      });
    }
    // Oldest first: of two Services claiming one address, the older keeps it.
    handled.sort((a, b) => cmp(a.created, b.created) || cmp(a.key, b.key));

    if (!this.#restored) await this.#restore(handled);

    // Release Services that are gone or no longer ours before anything is allocated, so
    // their addresses are free for this pass.
    const changes = new AddressChangeLog();
    const release = (key: string) => {
      const held = this.#allocator.assignmentOf(key);
      if (this.#allocator.release(key)) {
        this.#log.info("released address of a service no longer handled", { service: key });
        changes.released(key, held, services.get(key));
      }
      this.#cleared.delete(key);
      this.#pendingKeys.delete(key);
      this.#pendingSince.delete(key);
      this.#outcomes.delete(key);
      this.#written.delete(`ingress|${key}`);
      this.#written.delete(`annotations|${key}`);
      this.#forgetEvents(key);
    };
    if (full) {
      const handledKeys = new Set(handled.map((o) => o.key));
      for (const [key] of [...this.#allocator.assignments()]) {
        if (!handledKeys.has(key)) release(key);
      }
      for (const key of [...this.#outcomes.keys()]) if (!handledKeys.has(key)) release(key);
    } else {
      for (const key of this.#lastSeen.keys()) if (!services.has(key)) release(key);
    }
    for (const u of unhandled) {
      release(u.key);
      this.#clearUnhandled(u.key, u.obj, u.view, ops);
    }
    this.#lastSeen = services;

    const before = new Map<string, string>();
    for (const o of handled) {
      const a = this.#allocator.assignmentOf(o.key);
      if (!a) continue;
      // A dual-stack Service that kept one address of a dropped pair still shows both.
      const shown = this.#cleared.has(o.key) && o.view.ingressIPs.length > a.ips.length
        ? o.view.ingressIPs.map((ip) => canonicalIP(ip) ?? ip)
        : a.ips;
      before.set(o.key, shown.join(","));
    }
    // Allocation may release a Service's stale assignment, freeing addresses for one that
    // failed earlier in the same pass; go round again while that happens.
    const large = handled.length > LARGE_PASS;
    // Progress counts the Services that need an address, as users see it: "assigned n/m".
    const needing = handled.length - before.size;
    const progress = needing > 0
      ? { phase: "assigned", done: 0, total: needing }
      : { phase: "checked", done: 0, total: handled.length };
    this.#progress = progress;
    this.#lastProgressLog = performance.now();
    let logged = false;
    for (let round = 0; round < 5; round++) {
      let freed = false;
      let pending = 0;
      for (const o of handled) {
        await this.#yieldIfDue();
        if (round === 0) {
          if (progress.phase === "checked" || !before.has(o.key)) progress.done++;
          logged = this.#reportProgress() || logged;
        }
        if (o.result.kind === "invalid") {
          const a = this.#allocator.assignmentOf(o.key);
          o.ips = a ? a.ips : [];
          o.pool = a?.pool;
          // A bad annotation never withdraws an address in use; without one, status is
          // cleared like any other Service that cannot be served.
          o.keep = a !== undefined;
          o.pending = a ? undefined : {
            reason: o.result.reason,
            eventReason: o.result.allocation
              ? EventReason.AllocationFailed
              : EventReason.LoadBalancerFailed,
          };
          continue;
        }
        if (o.result.kind !== "request") continue;
        const had = this.#allocator.assignmentOf(o.key);
        const r = this.#allocator.allocate(o.result.request);
        if (r.ok) {
          if (!r.kept) o.fresh = true;
          if (had && !r.kept) freed = true;
          o.ips = r.ips;
          o.pool = r.pool;
          o.pending = undefined;
        } else {
          if (had) freed = true;
          o.ips = [];
          o.pool = undefined;
          o.pending = { reason: r.reason, eventReason: refusalEvent(r.code) };
          pending++;
        }
      }
      // The closing line only where progress was shown (a pass of over a second).
      if (round === 0 && logged) this.#reportProgress(true);
      if (!freed || pending === 0) break;
    }

    this.#progress = { phase: "writing", done: 0, total: handled.length };
    for (const o of handled) {
      this.#progress.done++;
      await this.#yieldIfDue();
      this.#outcomes.set(o.key, o);
      if (o.pending) this.#pendingKeys.add(o.key);
      else this.#pendingKeys.delete(o.key);
      this.#emitServiceEvents(o, before.get(o.key), ops, large);
      changes.compare(o.key, before.get(o.key), o);
      if (!o.keep) this.#writeService(o, ops);
    }
    changes.deliver(this.#opts.onAddressChanges, {
      leader: this.#passLeader,
      pools: () => (this.#config?.pools ?? []).map((p) => p.name),
    });
  }

  /** First pass with a valid configuration: re-read every assignment before allocating. */
  async #restore(handled: Outcome[]): Promise<void> {
    const existing: ExistingAssignment[] = [];
    this.#progress = { phase: "restoring", done: 0, total: handled.length };
    for (const o of handled) {
      if (o.view.ingressIPs.length === 0) continue;
      const ips = o.view.ingressIPs.map((ip) => canonicalIP(ip) ?? ip);
      const request: ServiceRequest = o.result.kind === "request"
        ? o.result.request
        : fallbackRequest(o.view);
      existing.push({ request, ips });
    }
    // In order and in slices: restore claims one by one, so slices keep oldest-first.
    const report: RestoreReport = { restored: 0, refused: [] };
    for (let i = 0; i < existing.length; i += RESTORE_SLICE) {
      const r = this.#allocator.restore(existing.slice(i, i + RESTORE_SLICE));
      report.restored += r.restored;
      report.refused.push(...r.refused);
      this.#progress.done = Math.min(handled.length, i + RESTORE_SLICE);
      await this.#yieldIfDue();
    }
    for (const d of report.refused) {
      this.#cleared.set(d.key, d.reason);
      this.#log.warn("existing assignment not restored", {
        service: d.key,
        ips: d.ips,
        reason: d.reason,
      });
    }
    this.#log.info("restored existing assignments", {
      restored: report.restored,
      refused: report.refused.length,
    });
    // Old-prefix annotations on Services that already have their address were warned about
    // before this restart; only a change to the Service warns again.
    for (const o of handled) {
      if (o.view.ingressIPs.length === 0 || o.result.kind === "ignored") continue;
      const msg = deprecationMessage(o.result.deprecated);
      if (msg) this.#lastEvent.set(`${o.key}|deprecated`, msg);
    }
    this.#restored = true;
  }

  #forgetEvents(key: string): void {
    this.#lastEvent.delete(`${key}|alloc`);
    this.#lastEvent.delete(`${key}|deprecated`);
  }

  #serviceInvolved(obj: KubeObject, view: ServiceView): EventRecord["involved"] {
    return {
      kind: "Service",
      apiVersion: "v1",
      namespace: view.namespace,
      name: view.name,
      ...(obj.metadata.uid ? { uid: obj.metadata.uid } : {}),
    };
  }

  #emitServiceEvents(
    o: Outcome,
    beforeIps: string | undefined,
    ops: WriteOp[],
    large: boolean,
  ): void {
    const involved = this.#serviceInvolved(o.obj, o.view);
    const deprecated: DeprecatedAnnotation[] = o.result.kind === "ignored"
      ? []
      : o.result.deprecated;
    const dmsg = deprecationMessage(deprecated);
    if (dmsg) {
      this.#event(ops, `${o.key}|deprecated`, dmsg, {
        involved,
        type: "Warning",
        reason: EventReason.DeprecatedAnnotation,
        message: dmsg,
      });
    } else this.#lastEvent.delete(`${o.key}|deprecated`);

    const cleared = this.#cleared.get(o.key);
    const lost = beforeIps !== undefined && o.ips.length === 0 && !o.keep;
    // With no pool at all MetalLB clears and waits without a word per Service: every one
    // of them would say the same thing, and the configuration error says it once.
    const silent = this.#config !== null && this.#config.pools.length === 0;
    if ((cleared !== undefined || lost) && !silent) {
      const reason = cleared ?? (o.pending ? o.pending.reason : "assignment no longer valid");
      const from = beforeIps ?? o.view.ingressIPs.join(",");
      // Normal, as MetalLB records it: the Service gets a new address where it can.
      this.#push(ops, o.key, {
        involved,
        type: "Normal",
        reason: EventReason.ClearAssignment,
        message: `current IP${from ? ` ${JSON.stringify(from.split(","))}` : ""} for "${o.key}"` +
          ` not allowed by config, will attempt for new IP assignment: ${reason}`,
      });
    }
    this.#cleared.delete(o.key);
    if (o.fresh && o.ips.length > 0) {
      const msg = `Assigned IP ${JSON.stringify(o.ips)}`;
      // An empty slot differs from every failure message, as "assigned" would, for free.
      this.#lastEvent.delete(`${o.key}|alloc`);
      this.#push(ops, o.key, {
        involved,
        type: "Normal",
        reason: EventReason.IPAllocated,
        message: msg,
      });
      const since = this.#pendingSince.get(o.key);
      this.#pendingSince.delete(o.key);
      // A large batch says how far it got instead (see #reportProgress).
      (large ? this.#log.debug : this.#log.info).call(this.#log, "assigned", {
        service: o.key,
        ips: o.ips,
        pool: o.pool,
        ...(since !== undefined ? { pendingMs: this.#now().getTime() - since } : {}),
      });
    } else if (o.pending && silent) {
      if (!this.#pendingSince.has(o.key)) this.#pendingSince.set(o.key, this.#now().getTime());
    } else if (o.pending) {
      const msg = o.keep && o.result.kind === "invalid"
        ? `invalid request: ${o.pending.reason}`
        : `Failed to allocate IP for "${o.key}": ${o.pending.reason}`;
      if (!this.#pendingSince.has(o.key)) this.#pendingSince.set(o.key, this.#now().getTime());
      if (
        this.#event(ops, `${o.key}|alloc`, msg, {
          involved,
          type: "Warning",
          reason: o.pending.eventReason,
          message: msg,
        })
      ) {
        this.#log.warn("allocation failed", { service: o.key, reason: o.pending.reason });
      }
    } else if (o.keep && o.result.kind === "invalid") {
      const msg = `invalid request, keeping the current address: ${o.result.reason}`;
      this.#event(ops, `${o.key}|alloc`, msg, {
        involved,
        type: "Warning",
        reason: EventReason.LoadBalancerFailed,
        message: msg,
      });
    } else if (o.ips.length > 0) {
      // An empty slot differs from every failure message, as "assigned" would, for free.
      this.#lastEvent.delete(`${o.key}|alloc`);
    }
  }

  /** Records an Event unless the same message was recorded last in this slot. */
  #event(ops: WriteOp[], slot: string, dedupe: string, event: Omit<EventRecord, "component">) {
    if (this.#lastEvent.get(slot) === dedupe) return false;
    if (!this.#passLeader) return false;
    this.#lastEvent.set(slot, dedupe);
    this.#push(ops, slot, event);
    return true;
  }

  #push(ops: WriteOp[], key: string, event: Omit<EventRecord, "component">): void {
    if (!this.#passLeader) return;
    const full: EventRecord = { ...event, component: EVENT_COMPONENT };
    ops.push({
      key: `event|${key}`,
      what: `event ${event.reason}`,
      run: () => this.#writer.recordEvent(full),
    });
  }

  /** Queues the ingress and annotation writes that make the Service show `o`. */
  #writeService(o: Outcome, ops: WriteOp[]): void {
    const desiredIngress = o.ips;
    const observedIngress = o.view.ingressIPs.map((ip) => canonicalIP(ip) ?? ip);
    const ann = o.view.annotations;
    const desiredAnn: Record<string, string | null> = {};
    for (const k of POOL_ANNOTATIONS) desiredAnn[k] = o.pool ?? null;
    this.#queueServiceWrites(o.key, o.view, observedIngress, desiredIngress, ann, desiredAnn, ops);
  }

  /** A Service we do not handle: clear what we wrote, if anything. */
  #clearUnhandled(key: string, _obj: KubeObject, view: ServiceView, ops: WriteOp[]): void {
    const ann = view.annotations;
    const ours = POOL_ANNOTATIONS.some((k) => Object.hasOwn(ann, k));
    if (!ours) return;
    const desiredAnn: Record<string, string | null> = {};
    for (const k of POOL_ANNOTATIONS) desiredAnn[k] = null;
    this.#queueServiceWrites(
      key,
      view,
      view.ingressIPs.map((ip) => canonicalIP(ip) ?? ip),
      [],
      ann,
      desiredAnn,
      ops,
    );
  }

  #queueServiceWrites(
    key: string,
    view: ServiceView,
    observedIngress: string[],
    desiredIngress: string[],
    ann: Readonly<Record<string, string>>,
    desiredAnn: Record<string, string | null>,
    ops: WriteOp[],
  ): void {
    const leader = this.#passLeader;
    const steps: (() => Promise<void>)[] = [];
    const write: ServiceWrite = { namespace: view.namespace, name: view.name };
    const ingressKey = `ingress|${key}`;
    // Compared as sets: the order another controller wrote them in is not worth a write.
    const observedI = [...observedIngress].sort().join(",");
    const desiredI = [...desiredIngress].sort().join(",");
    if (this.#needsWrite(ingressKey, observedI, desiredI) && leader) {
      this.#written.set(ingressKey, { desired: desiredI, observedAtWrite: observedI });
      const ingress = desiredIngress.map((ip) => ({ ip }));
      write.ingress = ingress;
      steps.push(() => this.#writer.setServiceIngress(view.namespace, view.name, ingress));
    }
    const annKey = `annotations|${key}`;
    const observedA = JSON.stringify(Object.keys(desiredAnn).map((k) => ann[k] ?? null));
    const desiredA = JSON.stringify(Object.values(desiredAnn));
    if (this.#needsWrite(annKey, observedA, desiredA) && leader) {
      this.#written.set(annKey, { desired: desiredA, observedAtWrite: observedA });
      const patch = { ...desiredAnn };
      write.annotations = patch;
      steps.push(() => this.#writer.patchServiceAnnotations(view.namespace, view.name, patch));
    }
    if (steps.length === 0) return;
    const undo = () => {
      this.#written.delete(ingressKey);
      this.#written.delete(annKey);
    };
    ops.push({
      key,
      what: "service status and annotations",
      service: write,
      undo,
      run: async () => {
        try {
          for (const s of steps) await s();
        } catch (err) {
          undo();
          throw err;
        }
      },
    });
  }

  /**
   * Whether `observed` must be changed to `desired`. A write already made is not repeated
   * while the source still shows what it showed then (its watch has not caught up yet).
   */
  #needsWrite(key: string, observed: string, desired: string): boolean {
    if (observed === desired) {
      this.#written.delete(key);
      return false;
    }
    const w = this.#written.get(key);
    if (w && w.desired === desired && w.observedAtWrite === observed) return false;
    return true;
  }

  // ---------------------------------------------------------------------------------------
  // Pools

  #updatePools(snap: Snapshot, ops: WriteOp[]): void {
    const m = this.#opts.metrics;
    const names = this.#allocator.poolNames();
    const poolObjects = snap.objects.get("IPAddressPool") ?? new Map<string, KubeObject>();
    for (const name of names) {
      const c = this.#allocator.counts(name)!;
      if (m) {
        this.#metricPools.add(name);
        const pool = { pool: name };
        m.addressesTotal.set(pool, c.ipv4.total + c.ipv6.total);
        m.addressesInUse.set(pool, c.ipv4.used + c.ipv6.used);
        m.ipv4AddressesTotal.set(pool, c.ipv4.total);
        m.ipv4AddressesInUse.set(pool, c.ipv4.used);
        m.ipv6AddressesTotal.set(pool, c.ipv6.total);
        m.ipv6AddressesInUse.set(pool, c.ipv6.used);
      }
      if (!this.#restored) continue;
      const obj = poolObjects.get(`${this.#opts.namespace}/${name}`);
      if (!obj) continue;
      const desired = {
        assignedIPv4: c.ipv4.used,
        assignedIPv6: c.ipv6.used,
        availableIPv4: statusCount(c.ipv4.available),
        availableIPv6: statusCount(c.ipv6.available),
      };
      const desiredKey = JSON.stringify(desired, bigintJson);
      const st = (obj.status ?? {}) as Record<string, unknown>;
      const observedKey = JSON.stringify({
        assignedIPv4: st.assignedIPv4,
        assignedIPv6: st.assignedIPv6,
        availableIPv4: st.availableIPv4,
        availableIPv6: st.availableIPv6,
      }, bigintJson);
      const writtenKey = `pool|${name}`;
      if (!this.#needsWrite(writtenKey, observedKey, desiredKey)) continue;
      if (!this.#passLeader) continue;
      this.#written.set(writtenKey, { desired: desiredKey, observedAtWrite: observedKey });
      const ns = this.#opts.namespace;
      ops.push({
        key: writtenKey,
        what: "setPoolStatus",
        run: async () => {
          await this.#writer.setPoolStatus(ns, name, desired);
        },
      });
    }
    if (m) {
      for (const gone of [...this.#metricPools].filter((n) => !names.includes(n))) {
        this.#metricPools.delete(gone);
        for (
          const metric of [
            m.addressesTotal,
            m.addressesInUse,
            m.ipv4AddressesTotal,
            m.ipv4AddressesInUse,
            m.ipv6AddressesTotal,
            m.ipv6AddressesInUse,
          ]
        ) metric.remove({ pool: gone });
      }
    }
  }
}

/** A minimal request for restoring a Service whose annotations are currently invalid. */
function fallbackRequest(view: ServiceView): ServiceRequest {
  const families = view.ingressIPs.map((ip) => (ip.includes(":") ? 6 : 4) as 4 | 6);
  return {
    key: `${view.namespace}/${view.name}`,
    namespace: view.namespace,
    families: families.filter((f, i) => families.indexOf(f) === i),
    policy: families.length > 1 ? "PreferDualStack" : "SingleStack",
    ports: view.ports.map((p) => ({ protocol: p.protocol, port: p.port })),
    backendKey: "Cluster",
  };
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
