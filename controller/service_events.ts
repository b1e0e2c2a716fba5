/**
 * The Events a pass records for a Service it decided, as MetalLB records them: deprecated
 * annotations, a cleared assignment, the address given or why none could be, and the
 * second family a PreferDualStack Service could not get.
 */
import type { EventRecord } from "../cluster/types.ts";
import { deprecationMessage } from "./service_request.ts";
import { additionalMessage, EventReason } from "./events.ts";
import type { ControllerState, Decision } from "./state.ts";

type Involved = EventRecord["involved"];

/** Records the Service's Events for this pass's decision (`large`: log per Service at debug). */
export function emitServiceEvents(
  s: ControllerState,
  d: Decision,
  options: { large: boolean },
): void {
  deprecation(s, d);
  // With no pool at all MetalLB clears and waits without a word per Service: every one
  // of them would say the same thing, and the configuration error says it once.
  const silent = s.config !== null && s.config.pools.length === 0;
  if (!silent) clearedAssignment(s, d);
  s.cleared.delete(d.key);
  allocationOutcome(s, d, { silent, large: options.large });
  additionalFamily(s, d);
}

/** The Service as an Event's involved object; built only for an Event that is recorded. */
function involvedOf(d: Decision): Involved {
  const involved: Involved = {
    kind: "Service",
    apiVersion: "v1",
    namespace: d.view.namespace,
    name: d.view.name,
  };
  if (d.obj.metadata.uid) involved.uid = d.obj.metadata.uid;
  return involved;
}

/**
 * A Service's Event that stands while its message does: recorded when the message changes,
 * forgotten (so it is recorded again if it comes back) when there is none.
 */
function standingEvent(
  s: ControllerState,
  d: Decision,
  e: { slot: string; type: "Normal" | "Warning"; reason: string; message: string | undefined },
): void {
  if (!e.message) {
    s.events.forget(d.key, e.slot);
    return;
  }
  s.events.record(s.ops, {
    involved: involvedOf(d),
    type: e.type,
    reason: e.reason,
    message: e.message,
  }, { owner: d.key, slot: e.slot });
}

function deprecation(s: ControllerState, d: Decision): void {
  standingEvent(s, d, {
    slot: "deprecated",
    type: "Warning",
    reason: EventReason.DeprecatedAnnotation,
    message: deprecationMessage(d.deprecated),
  });
}

function clearedAssignment(s: ControllerState, d: Decision): void {
  const cleared = s.cleared.get(d.key);
  const lost = d.before !== undefined && d.ips.length === 0 && !d.keep;
  if (cleared === undefined && !lost) return;
  const reason = cleared ?? (d.pending ? d.pending.reason : "assignment no longer valid");
  const from = d.before ?? d.view.ingressIPs;
  // Normal, as MetalLB records it: the Service gets a new address where it can.
  s.events.pushService(s.ops, {
    subject: d,
    type: "Normal",
    reason: EventReason.ClearAssignment,
    message: `current IP${from.length ? ` ${JSON.stringify(from)}` : ""} for "${d.key}"` +
      ` not allowed by config, will attempt for new IP assignment: ${reason}`,
  });
}

function allocationOutcome(
  s: ControllerState,
  d: Decision,
  options: { silent: boolean; large: boolean },
): void {
  const { silent } = options;
  const slot = { owner: d.key, slot: "alloc" };
  if (d.fresh && d.ips.length > 0) {
    // An empty slot differs from every failure message, as "assigned" would, for free.
    s.events.forget(d.key, "alloc");
    assignedEvents(s, d);
    logAssigned(s, d, options.large);
  } else if (d.pending) {
    if (!s.pendingSince.has(d.key)) s.pendingSince.set(d.key, s.now().getTime());
    if (silent) return;
    const message = d.keep && d.invalid
      ? `invalid request: ${d.pending.reason}`
      : `Failed to allocate IP for "${d.key}": ${d.pending.reason}`;
    const event = {
      involved: involvedOf(d),
      type: "Warning" as const,
      reason: d.pending.eventReason,
      message,
    };
    if (s.events.record(s.ops, event, slot)) {
      s.log.warn("allocation failed", { service: d.key, reason: d.pending.reason });
    }
  } else if (d.keep && d.invalid) {
    const message = `invalid request, keeping the current address: ${d.invalid.reason}`;
    s.events.record(s.ops, {
      involved: involvedOf(d),
      type: "Warning",
      reason: EventReason.LoadBalancerFailed,
      message,
    }, slot);
  } else if (d.ips.length > 0) {
    s.events.forget(d.key, "alloc");
  }
}

// MetalLB records the first family's address when it assigns it and, on its own Event, the
// other family's a PreferDualStack Service gets beside it; a Service already showing the
// first (a restart) gets only the second Event.
function assignedEvents(s: ControllerState, d: Decision): void {
  const extra = d.additional;
  const first = extra === undefined ? d.ips : d.ips.filter((ip) => ip !== extra);
  if (extra === undefined || !first.every((ip) => d.before?.includes(ip))) {
    // The addresses, not the text: built when the Event is sent (see ServiceEvent).
    s.events.pushService(s.ops, {
      subject: d,
      type: "Normal",
      reason: EventReason.IPAllocated,
      message: first,
    });
  }
  if (extra === undefined) return;
  s.events.pushService(s.ops, {
    subject: d,
    type: "Normal",
    reason: EventReason.IPAllocated,
    message: additionalMessage(extra),
  });
}

function logAssigned(s: ControllerState, d: Decision, large: boolean): void {
  const since = s.pendingSince.get(d.key);
  s.pendingSince.delete(d.key);
  // A large batch says how far it got instead (see PassClock.report).
  (large ? s.log.debug : s.log.info).call(s.log, "assigned", {
    service: d.key,
    ips: d.ips,
    pool: d.pool,
    ...(since !== undefined ? { pendingMs: s.now().getTime() - since } : {}),
  });
}

// One message per pool and family, shared by every Service that waits on it.
const additionalMessages = new Map<string, string>();

/**
 * MetalLB tries to add the missing family to a PreferDualStack Service holding one address
 * and, when the pool has none free, records a Normal `AdditionalAssignFailed`. Recorded
 * here when the message changes, not on every pass over an unchanged Service.
 */
function additionalFamily(s: ControllerState, d: Decision): void {
  standingEvent(s, d, {
    slot: "additional",
    type: "Normal",
    reason: EventReason.AdditionalAssignFailed,
    message: missingFamilyMessage(s, d),
  });
}

function missingFamilyMessage(s: ControllerState, d: Decision): string | undefined {
  const request = d.request;
  if (request === undefined || d.ips.length !== 1 || d.pool === undefined) return;
  if (request.policy !== "PreferDualStack") return;
  const missing = d.ips[0].includes(":") ? 4 : 6;
  const counts = s.allocator.counts(d.pool);
  const free = missing === 4 ? counts?.ipv4.available : counts?.ipv6.available;
  // A Service of two families was refused the second by the allocator; one of a single
  // family (a single-stack cluster) is tried by MetalLB too, which fails where none is free.
  if (request.families.length < 2 && free !== undefined && free > 0n) return;
  const k = `${d.pool}|${missing}`;
  let message = additionalMessages.get(k);
  if (message === undefined) {
    message = "cannot assign additional IP in PreferDualStack: " +
      `no available IPs in pool ${d.pool} for ipv${missing} IPFamily`;
    additionalMessages.set(k, message);
  }
  return message;
}
