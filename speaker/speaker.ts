/**
 * The speaker: watches an ObjectSource and, on every change, rebuilds what changed (config,
 * views), asks the planner ({@linkcode computeAnnouncements}) for each peer's routes, hands
 * them to the peer set ({@linkcode PeerSet}: one BGP session per BGPPeer selecting this
 * node) and lets the status reporter ({@linkcode ServiceStatusReporter}) write what peers
 * really hold. Route changes only ever become UPDATEs on the existing sessions.
 */
import { buildConfig, type BuildResult, type Config, formatConfigError } from "../api/config.ts";
import type { Logger } from "../api/log.ts";
import { BgpSession, type Clock, formatHostPort, systemClock } from "../bgp/mod.ts";
import type { Route } from "../bgp/mod.ts";
import {
  CONFIG_KINDS,
  type KubeObject,
  type ObjectSource,
  type ObjectWriter,
  type ReadKind,
  type Snapshot,
} from "../cluster/types.ts";
import { type Announcements, createAnnounceCache, planAnnouncements } from "./announce.ts";
import { PeerSet } from "./peer_set.ts";
import { PeerPlanner } from "./peer_plan.ts";
import { SnapshotViews } from "./views.ts";
import { ServiceStatusReporter } from "./service_status.ts";
import type { SpeakerConfigStatus, SpeakerStatus } from "./status_types.ts";
import { drive } from "./slicer.ts";
import { drainableRoutes, drainBeforeStop, DrainGate, nodeLeavingReason } from "./drain.ts";
import { WriteQueue } from "./write_queue.ts";
import type { Speaker, SpeakerOptions } from "./speaker_types.ts";

export { type PeerProblems, peerProblems, routerIdFor } from "./peer_checks.ts";
export { type SessionFactory, type SpeakerSession } from "./peer_set.ts";
export { serviceBGPStatusName } from "./service_status.ts";
export type { Speaker, SpeakerOptions } from "./speaker_types.ts";
export type {
  SpeakerConfigStatus,
  SpeakerServiceStatus,
  SpeakerSessionStatus,
  SpeakerStatus,
} from "./status_types.ts";

/** Kinds whose change means the configuration must be rebuilt. */
const CONFIG_KIND_SET: ReadonlySet<ReadKind> = new Set<ReadKind>(CONFIG_KINDS);

/** How long statuses written before a restart stand for peers that have not come up. */
const ADOPTION_MS = 120_000;

/** Creates a speaker for `options.nodeName`; call `start()`. */
export function createSpeaker(
  source: ObjectSource,
  writer: ObjectWriter,
  options: SpeakerOptions,
): Speaker {
  return new SpeakerImpl(source, writer, options);
}

class SpeakerImpl implements Speaker {
  readonly #source: ObjectSource;
  readonly #writer: ObjectWriter;
  readonly #o: SpeakerOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #queue: WriteQueue;
  readonly #peers: PeerSet;
  readonly #report: ServiceStatusReporter;
  readonly #views: SnapshotViews;
  readonly #peerPlan: PeerPlanner;
  readonly #cache = createAnnounceCache();
  #started = false;
  #stopped = false;
  #unsubscribe?: () => void;
  /** The job loop (`#pump`) is scheduled or running. */
  #pumping = false;
  /** What peers hold may have changed: a confirmation pass is due. */
  #confirmDue = false;
  #adoptionTimer?: unknown;
  #metricsTimer?: ReturnType<typeof setTimeout>;
  #pendingKinds: Set<ReadKind> | "all" = "all";
  #reconciles = 0;
  #build?: BuildResult;
  #config?: Config;
  #last?: Announcements;
  #statusSwept = false;
  #lastConfigState = "";
  #waiters: (() => void)[] = [];
  #drain!: DrainGate;
  /** What the sessions were last handed (after the drain gate). */
  #pushed = new Map<string, Route[]>();
  #drainTimer?: ReturnType<Clock["setTimeout"]>;

  constructor(source: ObjectSource, writer: ObjectWriter, options: SpeakerOptions) {
    this.#source = source;
    this.#writer = writer;
    this.#o = options;
    this.#log = options.logger.child({ component: "speaker", node: options.nodeName });
    this.#clock = options.clock ?? systemClock;
    this.#drain = new DrainGate({ graceMs: options.gracefulShutdownMs ?? 0 });
    this.#queue = new WriteQueue(this.#log);
    this.#views = new SnapshotViews(this.#log);
    this.#peerPlan = new PeerPlanner({
      namespace: options.namespace,
      nodeName: options.nodeName,
      log: this.#log,
      defaultRouterId: options.defaultRouterId,
    });
    this.#peers = new PeerSet({
      log: this.#log,
      clock: this.#clock,
      metrics: options.metrics,
      factory: options.sessionFactory ?? ((config, opts) => new BgpSession(config, opts)),
      onChange: (peer) => this.#peerChanged(peer),
    });
    this.#report = new ServiceStatusReporter({
      node: options.nodeName,
      namespace: options.namespace,
      log: this.#log,
      writer,
      queue: this.#queue,
      peers: this.#peers,
      metrics: options.metrics,
      now: () => this.#clock.now(),
    });
  }

  get reconciles(): number {
    return this.#reconciles;
  }

  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    await this.#source.start();
    if (this.#stopped) return;
    this.#unsubscribe = this.#source.subscribe((kinds) => this.#schedule(kinds));
    this.#schedule("all");
    this.#tickMetrics();
    // Graceful restart's default restart time (RFC 4724; MetalLB's too): after it, a peer
    // that never came back holds none of our routes from before the restart.
    this.#adoptionTimer = this.#clock.setTimeout(() => {
      this.#report.adoptionOver();
      this.#confirmDue = true;
      this.#kick();
    }, ADOPTION_MS);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe?.();
    clearTimeout(this.#metricsTimer);
    this.#clock.clearTimeout(this.#adoptionTimer);
    this.refreshMetrics();
    if (this.#drainTimer !== undefined) this.#clock.clearTimeout(this.#drainTimer);
    const drainMs = this.#o.gracefulShutdownMs ?? 0;
    let stopGrace = this.#o.stopGraceMs ?? 5_000;
    if (drainMs > 0) {
      const routes = drainableRoutes(this.#pushed, this.#peers.statuses(this.#clock.now()));
      const r = await drainBeforeStop(routes, {
        graceMs: drainMs,
        push: (m) => drive(this.#peers.push(m)),
        withdrawn: () =>
          this.#peers.statuses(this.#clock.now()).every((s) =>
            !routes.has(s.name ?? "") || s.state !== "Established" || s.prefixesSent === 0
          ),
      });
      if (r.drainedMs > 0) this.#log.info("drained before stopping (RFC 8326)", r);
      // SIGTERM must end within the drain time plus 2 s: Cease gets what is left of that.
      stopGrace = Math.min(stopGrace, 1_000);
    }
    await this.#peers.stopAll(stopGrace);
    await this.#queue.idle();
    this.#wake();
  }

  status(): SpeakerStatus {
    this.refreshMetrics();
    const sessions = this.#peers.statuses(this.#clock.now());
    for (const [name, reason] of this.#peerPlan.errors) {
      const p = this.#config?.peers.find((x) => x.name === name);
      sessions.push({
        peer: p?.address ? formatHostPort(p.address, p.port) : name,
        name,
        state: "Rejected",
        prefixesSent: 0,
        prefixesReceived: 0,
        lastError: reason,
      });
    }
    // Built when read: callers polling for sessions alone would otherwise churn 100,000s of
    // objects each time.
    const report = this.#report;
    let services: SpeakerStatus["services"] | undefined;
    return {
      sessions,
      get services() {
        return services ??= report.services();
      },
    };
  }

  configStatus(): SpeakerConfigStatus {
    const build = this.#build;
    const errors = build && !build.ok ? build.errors.map(formatConfigError) : [];
    errors.push(...this.#peerPlan.errors.values());
    const warnings = (build?.warnings ?? []).map(formatConfigError);
    warnings.push(...this.#peerPlan.warnings);
    return { valid: errors.length === 0, errors, warnings };
  }

  ready(): boolean {
    return this.#started && !this.#stopped && this.#config !== undefined;
  }

  async settled(): Promise<void> {
    // Sources notify asynchronously (a microtask, or a short coalescing window): let
    // notifications of changes made just before this call arrive first.
    await new Promise((resolve) => setTimeout(resolve, 0));
    while (this.#busy()) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    await this.#queue.idle();
  }

  refreshMetrics(): void {
    this.#peers.refreshMetrics();
  }

  lastAnnouncements(): Announcements | undefined {
    return this.#last;
  }

  #busy(): boolean {
    return !this.#stopped && this.#pumping;
  }

  #wake(): void {
    if (this.#busy()) return;
    const ws = this.#waiters;
    this.#waiters = [];
    if (ws.length) this.#queue.idle().then(() => ws.forEach((w) => w()));
  }

  #tickMetrics(): void {
    this.refreshMetrics();
    const every = this.#o.metricsIntervalMs ?? 5_000;
    if (every > 0 && !this.#stopped) {
      const t = setTimeout(() => this.#tickMetrics(), every);
      Deno.unrefTimer(t as unknown as number);
      this.#metricsTimer = t;
    }
  }

  #schedule(kinds: ReadonlySet<ReadKind> | "all"): void {
    const pending = this.#pendingKinds;
    if (kinds === "all" || pending === "all") this.#pendingKinds = "all";
    else for (const k of kinds) pending.add(k);
    this.#kick();
  }

  /** A session came up or went down (`peer`), or sent routes: confirm what peers hold. */
  #peerChanged(peer?: string): void {
    if (peer !== undefined) this.#report.peerChanged(peer, this.#peers.established(peer));
    this.#confirmDue = true;
    this.#kick();
  }

  #kick(): void {
    if (this.#pumping || this.#stopped) return;
    this.#pumping = true;
    // A macrotask, so every change of the current burst lands in one recompute.
    setTimeout(() => this.#pump(), 0);
  }

  /**
   * Runs reconciles and confirmation passes one at a time, each in slices (see `drive`), until
   * nothing is pending: reconciles first, so a burst of changes is decided once.
   */
  async #pump(): Promise<void> {
    try {
      while (!this.#stopped) {
        const kinds = this.#pendingKinds;
        if (kinds === "all" || kinds.size > 0) {
          this.#pendingKinds = new Set();
          await this.#job("reconcile", this.#reconcile(kinds));
          this.#reconciles++;
          this.#confirmDue = true;
        } else if (this.#confirmDue) {
          this.#confirmDue = false;
          if (this.#report.unsettled) {
            await this.#job("status confirmation", this.#report.confirm());
          }
        } else break;
      }
    } finally {
      this.#pumping = false;
      this.#wake();
    }
  }

  async #job(what: string, work: Generator<void, void>): Promise<void> {
    try {
      await drive(work);
    } catch (err) {
      this.#log.error(`${what} failed`, { error: err });
    }
  }

  *#reconcile(kinds: Set<ReadKind> | "all"): Generator<void, void> {
    const snap = this.#source.snapshot();
    const all = kinds === "all";
    if (all || [...kinds].some((k) => CONFIG_KIND_SET.has(k)) || !this.#build) {
      this.#rebuildConfig(snap);
      yield;
    }
    const { obj: nodeObj, view: node } = this.#views.node(snap, this.#o.nodeName);
    yield* this.#views.refresh(snap, kinds);
    const plan = this.#peerPlan.check(this.#config, { snap, node });
    const config = this.#config;
    if (!config) {
      this.#writeConfigState();
      return;
    }
    const ann = yield* planAnnouncements(config, {
      nodeName: this.#o.nodeName,
      services: this.#views.services!,
      endpointSlices: this.#views.slices!,
      nodes: node ? [node] : [],
      weightedEcmp: this.#o.weightedEcmp,
      loadBalancerClass: this.#o.loadBalancerClass,
      rejectedPeers: plan.rejected,
      noNextHopV6: plan.noNextHopV6,
      cache: this.#cache,
    });
    if (this.#stopped) return;
    this.#last = ann;
    const wanted = new Set(ann.peers.map((p) => p.name));
    this.#peers.sync(plan.sessions.filter((s) => wanted.has(s.name)), this.#o.connector);
    yield* this.#pushGated(ann.routes, nodeLeavingReason(nodeObj));
    yield* this.#writeServiceStatus(snap, ann, all || kinds.has("ServiceBGPStatus"));
    this.#writeConfigState();
  }

  /** Hands the sessions the plan's routes through the RFC 8326 drain gate. */
  *#pushGated(
    planned: Map<string, Route[]>,
    leaving: string | undefined,
  ): Generator<void, void> {
    const gated = this.#drain.apply(planned, leaving, this.#clock.now());
    if (gated.phase !== "none" && this.#drainPhase !== gated.phase) {
      this.#log.info(`node leaving: routes ${gated.phase}`, { reason: gated.reason });
    }
    this.#drainPhase = gated.phase;
    if (this.#drainTimer !== undefined) this.#clock.clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    if (gated.wakeInMs !== undefined) {
      this.#drainTimer = this.#clock.setTimeout(() => {
        this.#drainTimer = undefined;
        this.#schedule(new Set<ReadKind>(["Node"]));
      }, gated.wakeInMs);
    }
    this.#pushed = gated.routes;
    yield* this.#peers.push(gated.routes);
  }
  #drainPhase = "none";

  *#writeServiceStatus(
    snap: Snapshot,
    ann: Announcements,
    statusChanged: boolean,
  ): Generator<void, void> {
    // Only looked at for new announcements and when the kind changed: most reconciles skip it.
    const statuses = () => objectsOf(snap, "ServiceBGPStatus");
    yield* this.#report.observe(ann.services, statuses);
    if (statusChanged || !this.#statusSwept) {
      this.#statusSwept = true;
      yield* this.#report.sweep(statuses());
    }
  }

  #rebuildConfig(snap: Snapshot): void {
    // Only the kinds a Config is made of: the snapshot also holds 100,000s of Services.
    const objects = new Map(CONFIG_KINDS.map((k) => [k, objectsOf(snap, k)]));
    const build = buildConfig({ objects }, { namespace: this.#o.namespace });
    this.#build = build;
    if (build.ok) {
      this.#config = build.config;
      for (const w of build.warnings) {
        this.#log.warn("configuration", { warning: formatConfigError(w) });
      }
      return;
    }
    this.#log.error(
      this.#config
        ? "configuration invalid: keeping the last valid one running"
        : "configuration invalid: nothing announced until it is fixed",
      { errors: build.errors.map(formatConfigError) },
    );
  }

  #writeConfigState(): void {
    const cs = this.configStatus();
    const status = {
      result: cs.valid ? "Valid" : "Invalid",
      ...(cs.errors.length ? { errorSummary: cs.errors.join("\n") } : {}),
    };
    const text = JSON.stringify(status);
    if (text === this.#lastConfigState) return;
    this.#lastConfigState = text;
    const full = {
      ...status,
      conditions: [{
        type: "Valid",
        status: cs.valid ? "True" : "False",
        reason: cs.valid ? "ConfigurationValid" : "ConfigurationInvalid",
        message: cs.valid ? "" : cs.errors.join("\n"),
        lastTransitionTime: new Date(this.#clock.now()).toISOString(),
      }],
    };
    const name = `speaker-${this.#o.nodeName}`;
    this.#queue.push(
      "ConfigurationState",
      (n: string, st: typeof full) => this.#writer.setConfigurationState(this.#o.namespace, n, st),
      name,
      full,
    );
  }
}

function objectsOf(snap: Snapshot, kind: ReadKind): ReadonlyMap<string, KubeObject> {
  return snap.objects.get(kind) ?? new Map<string, KubeObject>();
}
