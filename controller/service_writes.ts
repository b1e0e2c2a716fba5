/**
 * The writes that make a Service show what the controller decided: ingress addresses in
 * its status and the pool annotations, each only where it differs from what the Service
 * shows and was not already written (see `write_ledger.ts`).
 */
import type { ServiceView } from "../api/objects.ts";
import type { ObjectWriter } from "../cluster/types.ts";
import { canonicalIP } from "../ipam/mod.ts";
import {
  ALLOCATED_FROM_POOL,
  ANNOTATION_PREFIX,
  LEGACY_ANNOTATION_PREFIX,
} from "./service_request.ts";
import type { ControllerState, Decision } from "./state.ts";
import type { Comparison } from "./write_ledger.ts";
import type { ServiceWrite, WriteOp } from "./write_queue.ts";

// Both keys are written: MetalLB before 0.14 (as in users' seed clusters) shows and reads
// the older one, newer tooling the metallb.io one; writing both keeps both kinds working.
/** The annotations naming the pool a Service's address came from. */
export const POOL_ANNOTATIONS = [
  ANNOTATION_PREFIX + ALLOCATED_FROM_POOL,
  LEGACY_ANNOTATION_PREFIX + ALLOCATED_FROM_POOL,
] as const;

/** Whether `key` is one of {@linkcode POOL_ANNOTATIONS}. */
export function isPoolAnnotation(key: string): boolean {
  return key === POOL_ANNOTATIONS[0] || key === POOL_ANNOTATIONS[1];
}

/** What the Service should show: its addresses and the pool they came from. */
interface Shown {
  view: ServiceView;
  ips: readonly string[];
  pool: string | null;
}

// Shared by every Service already showing what is wanted: most of them, on most passes.
const SAME: Comparison = Object.freeze({ observed: "", desired: "" });

/** Queues the writes that make the Service show the decision. */
export function writeDecision(s: ControllerState, d: Decision): void {
  queueServiceWrites(s, d.key, { view: d.view, ips: d.ips, pool: d.pool ?? null });
}

/** A Service we do not handle: clear what we wrote, if anything. */
export function clearUnhandled(s: ControllerState, key: string, view: ServiceView): void {
  if (!POOL_ANNOTATIONS.some((k) => Object.hasOwn(view.annotations, k))) return;
  queueServiceWrites(s, key, { view, ips: [], pool: null });
}

function queueServiceWrites(s: ControllerState, key: string, shown: Shown): void {
  // A follower compares too: a Service showing what is wanted ends the record of a write.
  const leader = s.passLeader;
  const { view, ips, pool } = shown;
  const write: ServiceWrite = { namespace: view.namespace, name: view.name };
  const ingress = compareIngress(shown);
  if (s.written.serviceNeeds(key, "ingress", ingress) && leader) {
    s.written.noteService(key, "ingress", ingress);
    write.ingress = ips.map((ip) => ({ ip }));
  }
  const annotations = compareAnnotations(shown);
  if (s.written.serviceNeeds(key, "annotations", annotations) && leader) {
    s.written.noteService(key, "annotations", annotations);
    write.annotations = poolPatch(pool);
  }
  if (write.ingress || write.annotations) s.ops.push(new ServiceWriteOp(key, write, s.writer));
}

// One patch per pool (and one clearing both), shared by every Service written with it;
// writers read patches, never change them.
const patches = new Map<string | null, Record<string, string | null>>();

function poolPatch(pool: string | null): Record<string, string | null> {
  let patch = patches.get(pool);
  if (!patch) {
    patch = Object.freeze({ [POOL_ANNOTATIONS[0]]: pool, [POOL_ANNOTATIONS[1]]: pool });
    // Pools come and go with the configuration; a few stale entries cost nothing.
    if (patches.size > 1000) patches.clear();
    patches.set(pool, patch);
  }
  return patch;
}

/** Ingress compared as sets: the order another controller wrote them in is not worth a write. */
function compareIngress(shown: Shown): Comparison {
  const seen = shown.view.ingressIPs;
  const want = shown.ips;
  if (seen.length === want.length && seen.every((ip, i) => ip === want[i])) return SAME;
  return {
    observed: seen.map((ip) => canonicalIP(ip) ?? ip).sort().join(","),
    desired: [...want].sort().join(","),
  };
}

function compareAnnotations(shown: Shown): Comparison {
  const ann = shown.view.annotations;
  const a = ann[POOL_ANNOTATIONS[0]] ?? null;
  const b = ann[POOL_ANNOTATIONS[1]] ?? null;
  if (a === shown.pool && b === shown.pool) return SAME;
  return { observed: JSON.stringify([a, b]), desired: JSON.stringify([shown.pool, shown.pool]) };
}

/**
 * One Service's write, run by the write queue: a batching writer takes `service` with the
 * others, any other writer gets the ingress, then the annotations. A class, so the 100,000
 * of a first pass share their methods instead of holding closures each.
 */
class ServiceWriteOp implements WriteOp {
  readonly key: string;
  readonly service: ServiceWrite;
  #writer: ObjectWriter;

  constructor(key: string, service: ServiceWrite, writer: ObjectWriter) {
    this.key = key;
    this.service = service;
    this.#writer = writer;
  }

  get what(): string {
    return "service status and annotations";
  }

  async run(): Promise<void> {
    const w = this.service;
    if (w.ingress) await this.#writer.setServiceIngress(w.namespace, w.name, w.ingress);
    if (w.annotations) {
      await this.#writer.patchServiceAnnotations(w.namespace, w.name, w.annotations);
    }
  }
}

/** Writes that failed are forgotten, so the next pass makes them again. */
export function forgetFailedWrites(s: ControllerState, failed: readonly WriteOp[]): void {
  for (const op of failed) s.written.forget(op.key);
}
