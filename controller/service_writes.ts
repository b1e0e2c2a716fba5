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
import { announcedEvent } from "./events.ts";
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
  let ingress: readonly string[] | null = null;
  let annotations: Readonly<Record<string, string | null>> | null = null;
  const ingressSeen = compareIngress(shown);
  if (s.written.serviceNeeds(key, "ingress", ingressSeen) && leader) {
    s.written.noteService(key, "ingress", ingressSeen);
    ingress = ips;
  }
  const annotationsSeen = compareAnnotations(shown);
  if (s.written.serviceNeeds(key, "annotations", annotationsSeen) && leader) {
    s.written.noteService(key, "annotations", annotationsSeen);
    annotations = poolPatch(pool);
  }
  if (ingress || annotations) {
    // The IPAllocated Event queued just before, if any, rides on the write (see WriteOp.event).
    const announce = ingress ? s.events.takeAssigned(s.ops, { key, ips: ingress }) : undefined;
    s.ops.push(
      new ServiceWriteOp(key, view, { ingress, annotations, writer: s.writer }, announce),
    );
  }
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

/**
 * Ingress compared as sets: the order another controller wrote them in is not worth a
 * write. The ledger keeps the strings until the write comes back, so the usual cases (no
 * address, one address) use the strings there are instead of building new ones.
 */
function compareIngress(shown: Shown): Comparison {
  const seen = shown.view.ingressIPs;
  const want = shown.ips;
  if (seen.length === want.length && seen.every((ip, i) => ip === want[i])) return SAME;
  return { observed: ipsText(seen.map((ip) => canonicalIP(ip) ?? ip)), desired: ipsText(want) };
}

function ipsText(ips: readonly string[]): string {
  if (ips.length === 0) return "";
  if (ips.length === 1) return ips[0];
  return [...ips].sort().join(",");
}

// The text of a pair of pool annotations, per pool (null: absent), shared by every Service
// showing or getting the same pool: 100,000 Services of a pool keep one string, not 100,000.
const pairTexts = new Map<string | null, string>();

function pairText(a: string | null, b: string | null): string {
  if (a !== b) return JSON.stringify([a, b]);
  let text = pairTexts.get(a);
  if (text === undefined) {
    text = JSON.stringify([a, a]);
    if (pairTexts.size > 1000) pairTexts.clear();
    pairTexts.set(a, text);
  }
  return text;
}

function compareAnnotations(shown: Shown): Comparison {
  const ann = shown.view.annotations;
  const a = ann[POOL_ANNOTATIONS[0]] ?? null;
  const b = ann[POOL_ANNOTATIONS[1]] ?? null;
  if (a === shown.pool && b === shown.pool) return SAME;
  return { observed: pairText(a, b), desired: pairText(shown.pool, shown.pool) };
}

/** What a Service write changes (null: that part stays as it is) and who makes it. */
interface WriteParts {
  ingress: readonly string[] | null;
  annotations: Readonly<Record<string, string | null>> | null;
  writer: ObjectWriter;
}

/**
 * One Service's write, run by the write queue: a batching writer takes the op itself as the
 * Service's {@linkcode ServiceWrite} with the others, any other writer gets the ingress, then
 * the annotations. A flat record of what is there already (the view, the addresses the
 * allocator gave, the pool's shared patch): a first pass holds 100,000 of these until the
 * writes finish. The ingress entries a writer takes are built only when it reads them, and
 * the `IPAllocated` Event naming them that was queued with the write only when it is due:
 * the op keeps the Service's uid for it, not an op of its own per Service.
 */
class ServiceWriteOp implements WriteOp, ServiceWrite {
  readonly key: string;
  readonly #view: ServiceView;
  /** The ingress addresses: one as its text (the pass's list can go), else the list. */
  readonly #ips: string | readonly string[] | null;
  readonly annotations: Record<string, string | null> | undefined;
  readonly #writer: ObjectWriter;
  /**
   * The uid to name in the IPAllocated Event of its ingress addresses it carries ("" for a
   * Service without one), or undefined when it carries none.
   */
  readonly #announce: string | undefined;

  constructor(key: string, view: ServiceView, parts: WriteParts, announce?: string) {
    this.key = key;
    this.#view = view;
    const ips = parts.ingress;
    this.#ips = ips?.length === 1 ? ips[0] : ips;
    // Shared and frozen (poolPatch): no writer changes a patch.
    this.annotations = (parts.annotations ?? undefined) as Record<string, string | null>;
    this.#writer = parts.writer;
    this.#announce = announce;
  }

  get namespace(): string {
    return this.#view.namespace;
  }

  get name(): string {
    return this.#view.name;
  }

  get what(): string {
    return "service status and annotations";
  }

  /** The op is its own batch entry (see {@linkcode WriteOp.service}). */
  get service(): ServiceWrite {
    return this;
  }

  /** New ingress entries (a new list on each read), or undefined to leave it as it is. */
  get ingress(): { ip: string }[] | undefined {
    const ips = this.#ips;
    if (ips === null) return undefined;
    return typeof ips === "string" ? [{ ip: ips }] : ips.map((ip) => ({ ip }));
  }

  /** The IPAllocated Event it carries, built now (see {@linkcode WriteOp.event}). */
  event(): WriteOp | undefined {
    const uid = this.#announce;
    const own = this.#ips;
    if (uid === undefined || own === null) return undefined;
    const ips = typeof own === "string" ? [own] : own;
    return announcedEvent({ key: this.key, view: this.#view, uid, ips }, this.#writer);
  }

  async run(): Promise<void> {
    const ingress = this.ingress;
    if (ingress) await this.#writer.setServiceIngress(this.namespace, this.name, ingress);
    if (this.annotations) {
      await this.#writer.patchServiceAnnotations(this.namespace, this.name, this.annotations);
    }
  }
}

/** Writes that failed are forgotten, so the next pass makes them again. */
export function forgetFailedWrites(s: ControllerState, failed: readonly WriteOp[]): void {
  for (const op of failed) s.written.forget(op.key);
}
