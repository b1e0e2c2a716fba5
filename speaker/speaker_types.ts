/**
 * What the speaker offers its callers: the options of `createSpeaker` and the running
 * speaker's interface (kept apart from its workings in speaker.ts).
 */
import type { Logger } from "../api/log.ts";
import type { MetallbMetrics } from "../api/metrics.ts";
import type { Clock, Connector } from "../bgp/mod.ts";
import type { Announcements } from "./announce_types.ts";
import type { SessionFactory } from "./peer_set.ts";
import type { SpeakerConfigStatus, SpeakerStatus } from "./status_types.ts";

/** Options of {@linkcode createSpeaker}. */
export interface SpeakerOptions {
  nodeName: string;
  /** Install namespace of the metallb.io objects (and of ServiceBGPStatus/ConfigurationState). */
  namespace: string;
  logger: Logger;
  metrics?: MetallbMetrics;
  /**
   * TCP dialer for sessions (tests use loopback or memory pipes). Peers with a password or a
   * `sourceAddress` always use the libc FFI connector instead.
   */
  connector?: Connector;
  clock?: Clock;
  /** Attach link-bandwidth extended communities to `externalTrafficPolicy: Local` routes. */
  weightedEcmp?: boolean;
  /** Handle only Services of this class; unset = only Services without one. */
  loadBalancerClass?: string;
  /** Router ID when neither BGPPeer `routerID` nor an IPv4 InternalIP of the Node gives one. */
  defaultRouterId?: string;
  sessionFactory?: SessionFactory;
  /** Bound on {@linkcode Speaker.stop} waiting for Cease to go out (default 5 s). */
  stopGraceMs?: number;
  /**
   * RFC 8326 drain: how long routes stand marked 65535:0 before a leaving node (SIGTERM,
   * cordon, drain taint, exclusion label) withdraws them. 0 or unset: off.
   */
  gracefulShutdownMs?: number;
  /** How often session counters are copied into metrics (default 5 s; 0 = only on demand). */
  metricsIntervalMs?: number;
}

/** A running speaker. */
export interface Speaker {
  /** Waits for the source's caches, then reconciles and keeps reconciling on changes. */
  start(): Promise<void>;
  /**
   * Stops every session gracefully (bounded by the grace period): peers with graceful restart
   * keep our routes until we are back. Then stops watching.
   */
  stop(): Promise<void>;
  /** Sessions and Services for /status. */
  status(): SpeakerStatus;
  /** Configuration validity for /status. */
  configStatus(): SpeakerConfigStatus;
  /** True once started and a valid configuration was seen. */
  ready(): boolean;
  /**
   * Resolves when no reconcile is pending, every write has finished and the Services'
   * status matches what the peers hold (or waits on a session that is not up).
   */
  settled(): Promise<void>;
  /** Copies session counters into the metrics now. */
  refreshMetrics(): void;
  /** The last decision, for tests and debugging. */
  lastAnnouncements(): Announcements | undefined;
  /** Reconciles done so far. */
  readonly reconciles: number;
}
