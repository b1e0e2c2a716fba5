/**
 * One pass over Services: read what changed, restore on the first pass, release what is
 * gone, allocate, then keep the outcome, record Events and queue the writes.
 */
import type { KubeObject, Snapshot } from "../cluster/types.ts";
import { AddressChangeLog } from "./address_changes.ts";
import { allocateServices } from "./allocate.ts";
import { LARGE_PASS } from "./pass_clock.ts";
import { readServices, type ServicesRead } from "./read_services.ts";
import { restoreAssignments } from "./restore.ts";
import { emitServiceEvents } from "./service_events.ts";
import { clearUnhandled, writeDecision } from "./service_writes.ts";
import type { ControllerState, Decision } from "./state.ts";

const NO_OBJECTS: ReadonlyMap<string, KubeObject> = new Map();

/** Reconciles the snapshot's Services (the configuration in force is valid). */
export async function reconcileServices(s: ControllerState, snap: Snapshot): Promise<void> {
  const services = snap.objects.get("Service") ?? NO_OBJECTS;
  const namespaces = snap.objects.get("Namespace") ?? NO_OBJECTS;
  // A full pass looks at every Service; otherwise only at changed and pending ones, so a
  // burst of creations costs in proportion to the burst, not to the cluster.
  const full = s.fullNext || !s.restored || namespaces !== s.lastNamespaces;
  s.fullNext = false;
  s.lastNamespaces = namespaces;
  const read = await readServices(s, { services, namespaces, full });
  if (!s.restored) await restoreAssignments(s, read.handled);
  // Release Services that are gone or no longer ours before anything is allocated, so
  // their addresses are free for this pass.
  const changes = new AddressChangeLog(s.allocator);
  await releaseServices(s, { services, read, full, changes });
  s.written.compact();
  s.lastSeen = services;
  await allocateServices(s, read.handled);
  await settle(s, read.handled, changes);
  changes.deliver(s.opts.onAddressChanges, {
    leader: s.passLeader,
    pools: () => (s.config?.pools ?? []).map((p) => p.name),
  });
}

/** Keeps each decision, records its Events and queues its writes; empties `handled`. */
async function settle(
  s: ControllerState,
  handled: Decision[],
  changes: AddressChangeLog,
): Promise<void> {
  const large = handled.length > LARGE_PASS;
  const progress = s.clock.phase("writing", handled.length);
  // An index loop: a for-of in an async step allocates an iterator result per Service.
  for (let i = 0; i < handled.length; i++) {
    const d = handled[i];
    progress.done++;
    if (s.clock.due()) await s.clock.yieldNow();
    if (d.pending) s.pending.set(d.key, d.pending);
    else s.pending.delete(d.key);
    if (d.keep) s.kept.add(d.key);
    else s.kept.delete(d.key);
    emitServiceEvents(s, d, { large });
    changes.compare(d.key, d.before, d);
    if (!d.keep) writeDecision(s, d);
    // Nothing after this step reads the decision (the writes, Events and change keep what
    // they need): let it go now, not with the whole list at the pass's end, so a first
    // pass's 100,000 decisions and their requests do not all live beside its writes.
    (handled as (Decision | undefined)[])[i] = undefined;
  }
}

interface ReleaseInput {
  services: ReadonlyMap<string, KubeObject>;
  read: ServicesRead;
  full: boolean;
  changes: AddressChangeLog;
}

async function releaseServices(s: ControllerState, input: ReleaseInput): Promise<void> {
  const { services, read, full, changes } = input;
  const release = (key: string) => releaseService(s, key, { obj: services.get(key), changes });
  if (full) {
    // A full pass reads every Service: one is handled unless it is gone, not ours or
    // unreadable. Those few go in a set, not the 100,000 handled ones.
    const notHandled = new Set<string>(read.unreadable);
    for (const u of read.unhandled) notHandled.add(u.key);
    const handled = (key: string) => services.has(key) && !notHandled.has(key);
    const gone: string[] = [];
    for (const key of s.allocator.keys()) {
      if (!handled(key)) gone.push(key);
      // Nothing changes the allocator while the pass yields: the walk may go on after.
      if (s.clock.due()) await s.clock.yieldNow();
    }
    for (const key of s.pending.keys()) if (!handled(key)) gone.push(key);
    gone.forEach(release);
  } else {
    for (const key of s.lastSeen.keys()) if (!services.has(key)) release(key);
  }
  for (const u of read.unhandled) {
    release(u.key);
    clearUnhandled(s, u.key, u.view);
  }
}

function releaseService(
  s: ControllerState,
  key: string,
  options: { obj?: KubeObject; changes: AddressChangeLog },
): void {
  const held = s.allocator.assignmentOf(key);
  if (s.allocator.release(key)) {
    s.log.info("released address of a service no longer handled", { service: key });
    options.changes.released(key, held, options.obj);
  }
  s.cleared.delete(key);
  s.pending.delete(key);
  s.pendingSince.delete(key);
  s.kept.delete(key);
  s.written.forget(key);
  s.events.forget(key);
}
