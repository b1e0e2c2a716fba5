/**
 * The first pass with a valid configuration re-reads every existing assignment before
 * anything is allocated, oldest Service first, so a restart never moves an address.
 */
import type { ServiceView } from "../api/objects.ts";
import { canonicalKeep, type ExistingAssignment, type ServiceRequest } from "../ipam/mod.ts";
import { deprecationMessage } from "./service_request.ts";
import type { ControllerState, Decision } from "./state.ts";

/** Assignments restored between two checks of the slice clock. */
const RESTORE_SLICE = 500;

/** Restores the addresses the handled Services show (`handled` oldest first). */
export async function restoreAssignments(s: ControllerState, handled: Decision[]): Promise<void> {
  const progress = s.clock.phase("restoring", handled.length);
  let restored = 0;
  const refused: { key: string; ips: string[]; reason: string }[] = [];
  // In order and in slices: restore claims one by one, so slices keep oldest-first. Each
  // slice is built as it goes, not the whole list first (100,000 entries at a first pass).
  let batch: ExistingAssignment[] = [];
  for (let i = 0; i < handled.length; i++) {
    const d = handled[i];
    if (d.view.ingressIPs.length > 0) {
      const ips = d.view.ingressIPs.map((ip) => canonicalKeep(ip) ?? ip);
      const request = d.request ?? fallbackRequest(d.view);
      batch.push({ request, ips });
    }
    if (batch.length < RESTORE_SLICE && i < handled.length - 1) continue;
    const r = s.allocator.restore(batch);
    restored += r.restored;
    refused.push(...r.refused);
    batch = [];
    progress.done = i + 1;
    if (s.clock.due()) await s.clock.yieldNow();
  }
  for (const d of refused) {
    s.cleared.set(d.key, d.reason);
    s.log.warn("existing assignment not restored", {
      service: d.key,
      ips: d.ips,
      reason: d.reason,
    });
  }
  s.log.info("restored existing assignments", { restored, refused: refused.length });
  // Old-prefix annotations on Services that already have their address were warned about
  // before this restart; only a change to the Service warns again.
  for (const d of handled) {
    if (d.view.ingressIPs.length === 0) continue;
    const msg = deprecationMessage(d.deprecated);
    if (msg) s.events.remember({ owner: d.key, slot: "deprecated" }, msg);
  }
  s.restored = true;
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
