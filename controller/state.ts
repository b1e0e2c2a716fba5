/**
 * What the controller keeps between passes, in one place the rooms share. Per Service it
 * keeps nothing for a settled one beyond the allocator's assignment: the pending ones
 * (with why), the few keeping an address under an invalid request, and Events' last
 * messages only where an Event is deduplicated.
 */
import type { buildConfig, Config, ConfigError, ConfigWarning } from "../api/config.ts";
import type { Logger } from "../api/log.ts";
import { Allocator } from "../ipam/mod.ts";
import type { KubeObject, ObjectWriter } from "../cluster/types.ts";
import { EventLog } from "./events.ts";
import type { ControllerOptions } from "./options.ts";
import { PassClock } from "./pass_clock.ts";
import type { Pending } from "./decision.ts";
import { WriteLedger } from "./write_ledger.ts";
import type { WriteOp } from "./write_queue.ts";

export type { Decision, HandledResult, InvalidResult, Pending } from "./decision.ts";

/** The controller's state, read and changed by the pass's rooms. */
export class ControllerState {
  readonly opts: ControllerOptions;
  readonly log: Logger;
  readonly writer: ObjectWriter;
  readonly now: () => Date;
  readonly clock: PassClock;
  readonly events: EventLog;
  readonly written = new WriteLedger();
  /** The writes the pass in progress wants made (handed to the write queue at its end). */
  ops: WriteOp[] = [];
  allocator = new Allocator();
  /** The configuration in force (the last valid one), or null before the first valid one. */
  config: Config | null = null;
  poolsKey: string | null = null;
  configErrors: ConfigError[] = [];
  configWarnings: ConfigWarning[] = [];
  configInputs: ReadonlyMap<string, KubeObject>[] = [];
  lastBuild: ReturnType<typeof buildConfig> | null = null;
  configStateKey: string | null = null;
  restored = false;
  fullNext = true;
  /** Whether the pass in progress (or the last one) runs as the leader. */
  passLeader = false;
  /** Handled Services without an address, looked at on every pass. */
  pending = new Map<string, Pending>();
  /** When each pending Service was first found pending (the option `clock`). */
  pendingSince = new Map<string, number>();
  /** Services keeping their address while their request is invalid. */
  kept = new Set<string>();
  /** Reasons an assignment was dropped (pool change, restore conflict) awaiting its event. */
  cleared = new Map<string, string>();
  metricPools = new Set<string>();
  /** Services as last looked at, to find what changed. */
  lastSeen: ReadonlyMap<string, KubeObject> = new Map();
  lastNamespaces: ReadonlyMap<string, KubeObject> | null = null;

  /** State of a controller that has not run a pass. */
  constructor(writer: ObjectWriter, options: ControllerOptions & { stopped: () => boolean }) {
    this.opts = options;
    this.writer = writer;
    this.log = options.logger.child({ component: "controller" });
    this.now = options.clock ?? (() => new Date());
    this.clock = new PassClock(this.log, options.stopped);
    this.events = new EventLog(writer);
  }

  /**
   * Throws away allocator state so the next pass restores from the cluster again. What was
   * last seen stays: the full pass that follows does not read it to find changes, only to
   * drop the views of objects it moved on from.
   */
  resetForResync(): void {
    this.allocator = new Allocator();
    this.poolsKey = null;
    this.restored = false;
    this.written.clear();
    this.cleared.clear();
    this.configStateKey = null;
    this.fullNext = true;
    this.pending.clear();
    // The full pass after a resync finds the invalid requests again; a Service gone while
    // another replica led would otherwise stay listed here.
    this.kept.clear();
  }
}
