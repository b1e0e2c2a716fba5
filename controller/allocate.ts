/**
 * The allocation step of a pass: each handled Service, oldest first, keeps or gets its
 * addresses or is left pending with why. Allocation may release a Service's stale
 * assignment, freeing addresses for one that failed earlier in the same pass, so the step
 * goes round again while that happens.
 */
import { canonicalIP, type RefusalCode } from "../ipam/mod.ts";
import { EventReason } from "./events.ts";
import type { ControllerState, Decision, InvalidResult } from "./state.ts";

/** Rounds at most: each one only where the last freed an address for a pending Service. */
const ROUNDS = 5;

const NONE: readonly string[] = Object.freeze([]);
const FREED = 1;
const PENDING = 2;

function refusalEvent(code: RefusalCode): string {
  // Exhaustion and address clashes can heal as Services come and go; the rest need the
  // user to change the Service or the configuration.
  return code === "exhausted" || code === "in-use" || code === "no-pool"
    ? EventReason.AllocationFailed
    : EventReason.LoadBalancerFailed;
}

/** Decides every handled Service; notes what each showed before (`Decision.before`). */
export async function allocateServices(s: ControllerState, handled: Decision[]): Promise<void> {
  let held = 0;
  for (const d of handled) {
    if (s.clock.due()) await s.clock.yieldNow();
    // No copy: `before` is only read, and the allocator replaces a list, never changes it.
    const ips = s.allocator.ipsOf(d.key);
    d.holds = ips !== undefined;
    if (!ips) continue;
    held++;
    // A dual-stack Service that kept one address of a dropped pair still shows both.
    d.before = s.cleared.has(d.key) && d.view.ingressIPs.length > ips.length
      ? d.view.ingressIPs.map((ip) => canonicalIP(ip) ?? ip)
      : ips;
  }
  // Progress counts the Services that need an address, as users see it: "assigned n/m".
  const needing = handled.length - held;
  const progress = needing > 0
    ? s.clock.phase("assigned", needing)
    : s.clock.phase("checked", handled.length);
  s.clock.holdProgress();
  let logged = false;
  for (let round = 0; round < ROUNDS; round++) {
    let outcome = 0;
    // Index loops in the pass's async steps: a for-of there allocates a result per step.
    for (let i = 0; i < handled.length; i++) {
      const d = handled[i];
      if (s.clock.due()) await s.clock.yieldNow();
      if (round === 0) {
        if (progress.phase === "checked" || d.before === undefined) progress.done++;
        logged = s.clock.report() || logged;
      }
      outcome |= decide(s, d);
    }
    // The closing line only where progress was shown (a pass of over a second).
    if (round === 0 && logged) s.clock.report(true);
    if (outcome !== (FREED | PENDING)) break;
  }
}

/** Decides one Service; FREED and PENDING say what it did to the pool and itself. */
function decide(s: ControllerState, d: Decision): number {
  const request = d.request;
  if (request === undefined) {
    decideInvalid(s, d, d.invalid!);
    return 0;
  }
  // Allocating one Service changes no other's assignment, so whether it holds one is known
  // from its own steps (`holds`), without asking the allocator for a copy per Service.
  const had = d.holds;
  const r = s.allocator.allocate(request);
  if (r.ok) {
    if (!r.kept) {
      d.fresh = true;
      // A later round that keeps it leaves this round's additional address named.
      d.additional = r.additional;
    }
    d.ips = r.ips;
    d.pool = r.pool;
    d.pending = undefined;
    d.holds = true;
    return had && !r.kept ? FREED : 0;
  }
  d.ips = NONE;
  d.pool = undefined;
  d.pending = { reason: r.reason, eventReason: refusalEvent(r.code) };
  // A refusal may or may not have let the old assignment go: rare, so ask.
  d.holds = had && s.allocator.poolOf(d.key) !== undefined;
  return (had ? FREED : 0) | PENDING;
}

function decideInvalid(s: ControllerState, d: Decision, result: InvalidResult): void {
  const a = s.allocator.assignmentOf(d.key);
  d.ips = a ? a.ips : NONE;
  d.pool = a?.pool;
  // A bad annotation never withdraws an address in use; without one, status is cleared
  // like any other Service that cannot be served.
  d.keep = a !== undefined;
  d.pending = a ? undefined : {
    reason: result.reason,
    eventReason: result.allocation ? EventReason.AllocationFailed : EventReason.LoadBalancerFailed,
  };
}
