/**
 * The controller's Events: their reasons, and the log that records one only when its
 * message changed, so a pass over an unchanged cluster records nothing.
 */
import type { EventRecord, ObjectWriter } from "../cluster/types.ts";
import type { WriteOp } from "./write_queue.ts";

/** The component name on Events, as MetalLB's controller uses. */
export const EVENT_COMPONENT = "metallb-controller";

/** Event reasons the controller records. */
export const EventReason = {
  IPAllocated: "IPAllocated",
  AllocationFailed: "AllocationFailed",
  AdditionalAssignFailed: "AdditionalAssignFailed",
  ClearAssignment: "ClearAssignment",
  LoadBalancerFailed: "LoadBalancerFailed",
  DeprecatedAnnotation: "DeprecatedAnnotation",
  InvalidConfiguration: "InvalidConfiguration",
} as const;

/** An Event as the controller builds it (the component is added on the way out). */
export type EventSpec = Omit<EventRecord, "component">;

/** Where an Event's last message is kept: an owner (a Service key, "config") and a slot. */
export interface EventSlot {
  owner: string;
  slot: string;
}

/**
 * Last message per (owner, slot). Per owner one small record, and only owners that have
 * had a deduplicated Event: most Services never do.
 */
export class EventLog {
  #writer: ObjectWriter;
  #last = new Map<string, Record<string, string>>();
  /** Whether this pass writes (the leader's); followers record nothing. */
  leader = false;

  /** Events go to `writer` when the pass's writes run. */
  constructor(writer: ObjectWriter) {
    this.#writer = writer;
  }

  /** The last message recorded in the slot. */
  last(at: EventSlot): string | undefined {
    return this.#last.get(at.owner)?.[at.slot];
  }

  /** Notes `message` as recorded in the slot without recording anything. */
  remember(at: EventSlot, message: string): void {
    const r = this.#last.get(at.owner);
    if (r) r[at.slot] = message;
    else this.#last.set(at.owner, { [at.slot]: message });
  }

  /** Forgets one slot, or every slot of the owner, so a recurrence is recorded again. */
  forget(owner: string, slot?: string): void {
    const r = this.#last.get(owner);
    if (!r) return;
    if (slot !== undefined) delete r[slot];
    if (slot === undefined || Object.keys(r).length === 0) this.#last.delete(owner);
  }

  /** Records `event` unless the same message was recorded last in the slot. */
  record(ops: WriteOp[], event: EventSpec, at: EventSlot & { message?: string }): boolean {
    const message = at.message ?? event.message;
    if (this.last(at) === message) return false;
    if (!this.leader) return false;
    this.remember(at, message);
    this.push(ops, event, { key: `${at.owner}|${at.slot}` });
    return true;
  }

  /** Records `event` whatever came before (on the leader). */
  push(ops: WriteOp[], event: EventSpec, options: { key: string }): void {
    if (!this.leader) return;
    ops.push(new EventOp(`event|${options.key}`, event, this.#writer));
  }

  /**
   * Records an Event on a Service whatever came before (on the leader), holding only what
   * the pass holds anyway until it is sent: see {@linkcode ServiceEvent}.
   */
  pushService(ops: WriteOp[], event: ServiceEvent): void {
    if (!this.leader) return;
    const { subject } = event;
    ops.push(
      new ServiceEventOp(
        { key: subject.key, view: subject.view, uid: subject.obj.metadata.uid },
        event,
        this.#writer,
      ),
    );
  }

  /**
   * Takes back the op pushed last when it is the `IPAllocated` Event of `key` naming `ips`,
   * for the Service's write to carry until it is due (see {@linkcode announcedEvent}): a
   * first pass queues 100,000 of them beside the writes. Returns the Service's uid ("" when
   * it has none, which an Event leaves out as well), or undefined when nothing was taken.
   */
  takeAssigned(ops: WriteOp[], at: { key: string; ips: readonly string[] }): string | undefined {
    const last = ops[ops.length - 1];
    if (!(last instanceof ServiceEventOp) || !last.announces(at)) return undefined;
    ops.pop();
    return last.uid ?? "";
  }
}

/** The `IPAllocated` Event naming `ips` a Service's write carried, built when it is due. */
export function announcedEvent(
  subject: { key: string; view: EventSubject["view"]; uid: string; ips: readonly string[] },
  writer: ObjectWriter,
): WriteOp {
  const { key, view, uid, ips } = subject;
  return new ServiceEventOp({ key, view, uid: uid || undefined }, {
    type: "Normal",
    reason: EventReason.IPAllocated,
    message: ips,
  }, writer);
}

/**
 * The Service an Event is about: the pass's decision for it. The Event keeps its key, view
 * and uid, not the decision: a first pass's 100,000 decisions (with their requests) would
 * otherwise live until the Events are sent, after every Service write and state save.
 */
export interface EventSubject {
  /** `namespace/name`, as the pass holds it. */
  readonly key: string;
  readonly view: { readonly namespace: string; readonly name: string };
  readonly obj: { readonly metadata: { readonly uid?: string } };
}

/**
 * An Event on a Service. `message` is the text, or the addresses of an `IPAllocated`
 * ("Assigned IP [...]"), whose text is built when the Event is sent: a first pass records
 * 100,000 of them and holds them until its writes run.
 */
export interface ServiceEvent {
  subject: EventSubject;
  type: EventRecord["type"];
  reason: string;
  message: string | readonly string[];
}

/** The message of MetalLB's `IPAllocated` Event for a PreferDualStack additional family. */
export function additionalMessage(ip: string): string {
  return `Assigned additional IP ${JSON.stringify(ip)}`;
}

/** The message of an `IPAllocated` Event, as MetalLB words it. */
export function assignedMessage(ips: readonly string[]): string {
  return `Assigned IP ${JSON.stringify(ips)}`;
}

/**
 * One Event on a Service, a flat record (no involved object, record, key or message text
 * until it is sent) of strings and the view the pass holds anyway. A first pass's 100,000
 * IPAllocated ride on their writes instead and are built as one of these when due.
 */
class ServiceEventOp implements WriteOp {
  readonly #key: string;
  readonly #view: EventSubject["view"];
  readonly #uid: string | undefined;
  readonly #type: EventRecord["type"];
  readonly #reason: string;
  readonly #message: string | readonly string[];
  readonly #writer: ObjectWriter;

  constructor(
    subject: { key: string; view: EventSubject["view"]; uid: string | undefined },
    event: Omit<ServiceEvent, "subject">,
    writer: ObjectWriter,
  ) {
    this.#key = subject.key;
    this.#view = subject.view;
    this.#uid = subject.uid;
    this.#type = event.type;
    this.#reason = event.reason;
    this.#message = event.message;
    this.#writer = writer;
  }

  /** Whether it is the `IPAllocated` Event of `key` naming `ips` (in that order). */
  announces(at: { key: string; ips: readonly string[] }): boolean {
    const m = this.#message;
    return this.#key === at.key && this.#reason === EventReason.IPAllocated &&
      typeof m !== "string" && m.length === at.ips.length && m.every((ip, i) => ip === at.ips[i]);
  }

  /** The Service's uid. */
  get uid(): string | undefined {
    return this.#uid;
  }

  get key(): string {
    return `event|${this.#key}`;
  }

  get what(): string {
    return `event ${this.#reason}`;
  }

  run(): Promise<void> {
    const view = this.#view;
    const involved: EventRecord["involved"] = {
      kind: "Service",
      apiVersion: "v1",
      namespace: view.namespace,
      name: view.name,
    };
    if (this.#uid) involved.uid = this.#uid;
    const m = this.#message;
    return this.#writer.recordEvent({
      involved,
      type: this.#type,
      reason: this.#reason,
      message: typeof m === "string" ? m : assignedMessage(m),
      component: EVENT_COMPONENT,
    });
  }
}

/**
 * One Event to record. A class, so the 100,000 IPAllocated of a first pass share their
 * methods instead of each holding a closure and its context until the writes run.
 */
class EventOp implements WriteOp {
  readonly key: string;
  #event: EventRecord;
  #writer: ObjectWriter;

  constructor(key: string, event: EventSpec, writer: ObjectWriter) {
    this.key = key;
    this.#event = {
      involved: event.involved,
      type: event.type,
      reason: event.reason,
      message: event.message,
      component: EVENT_COMPONENT,
    };
    this.#writer = writer;
  }

  get what(): string {
    return `event ${this.#event.reason}`;
  }

  run(): Promise<void> {
    return this.#writer.recordEvent(this.#event);
  }
}
