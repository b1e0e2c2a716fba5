/**
 * What one pass decides for a handled Service. A first pass holds 100,000 of these from
 * reading Services to queuing their writes, so a decision is one flat object: the request
 * (or, for the few invalid or using old-prefix annotations, the whole result) sits in one
 * field, the flags in one number and one address as its text, where the translation's
 * result object, a literal of twelve fields and three booleans cost two objects and 168
 * bytes per Service.
 */
import type { ServiceView } from "../api/objects.ts";
import type { KubeObject } from "../cluster/types.ts";
import type { ServiceRequest } from "../ipam/mod.ts";
import type { DeprecatedAnnotation, ServiceRequestResult } from "./service_request.ts";

/** Why a Service has no address, as shown on /status. */
export interface Pending {
  reason: string;
  eventReason: string;
}

/** A Service this controller handles, as the allocation rounds see it. */
export type HandledResult = Exclude<ServiceRequestResult, { kind: "ignored" }>;

/** A handled Service whose request cannot be served as asked. */
export type InvalidResult = Extract<HandledResult, { kind: "invalid" }>;

const NONE: readonly string[] = Object.freeze([]);
const NONE_DEPRECATED: readonly DeprecatedAnnotation[] = Object.freeze([]);
const INVALID = 1;
const FRESH = 2;
const KEEP = 4;
const HOLDS = 8;
/** `#ask` is the translation's whole result. */
const RESULT = 16;

/**
 * What one pass decides for a handled Service (lives for the pass only: each one goes once
 * its writes and Events are queued, see `service_pass.ts`).
 */
export class Decision {
  readonly key: string;
  readonly obj: KubeObject;
  readonly view: ServiceView;
  /** Its addresses: one as its text (the allocator's list can go), else the list. */
  #ips: string | readonly string[];
  /** What it showed before this pass's allocation, kept as `#ips` is; undefined: nothing. */
  #before: string | readonly string[] | undefined = undefined;
  pool: string | undefined = undefined;
  pending: Pending | undefined = undefined;
  /** The other family's address a PreferDualStack Service listing one got in this pass. */
  additional: string | undefined = undefined;
  /** The request alone, or (invalid, or with old-prefix annotations: few) the whole result. */
  readonly #ask: ServiceRequest | HandledResult;
  #flags: number;

  /** A decision not yet made for the Service `key` that translated to `result`. */
  constructor(at: { key: string; obj: KubeObject; view: ServiceView }, result: HandledResult) {
    this.key = at.key;
    this.obj = at.obj;
    this.view = at.view;
    this.#ips = NONE;
    const plain = result.kind === "request" && result.deprecated.length === 0;
    this.#ask = plain ? result.request : result;
    this.#flags = plain ? 0 : result.kind === "request" ? RESULT : RESULT | INVALID;
  }

  /** The addresses decided (a new list on each read when it is one). */
  get ips(): readonly string[] {
    return listOf(this.#ips)!;
  }
  set ips(ips: readonly string[]) {
    this.#ips = ips.length === 1 ? ips[0] : ips;
  }

  /** The addresses it showed before this pass's allocation, if it had any. */
  get before(): readonly string[] | undefined {
    return listOf(this.#before);
  }
  set before(ips: readonly string[] | undefined) {
    this.#before = ips?.length === 1 ? ips[0] : ips;
  }

  /** Old-prefix annotations the Service uses (a shared empty list for nearly all). */
  get deprecated(): readonly DeprecatedAnnotation[] {
    return this.#flags & RESULT ? (this.#ask as HandledResult).deprecated : NONE_DEPRECATED;
  }

  /** What it asks of the allocator, or undefined when its request is invalid. */
  get request(): ServiceRequest | undefined {
    const f = this.#flags;
    if (f & INVALID) return undefined;
    return f & RESULT
      ? (this.#ask as { request: ServiceRequest }).request
      : this.#ask as ServiceRequest;
  }

  /** Why its request is invalid, or undefined when it is a valid one. */
  get invalid(): InvalidResult | undefined {
    return this.#flags & INVALID ? this.#ask as InvalidResult : undefined;
  }

  // Flags by accessors, not a private helper method: that would add a brand field to each.

  /** Got a new assignment in this pass (IPAllocated). */
  get fresh(): boolean {
    return (this.#flags & FRESH) !== 0;
  }
  set fresh(on: boolean) {
    this.#flags = on ? this.#flags | FRESH : this.#flags & ~FRESH;
  }

  /** Leave status and annotations as they are (the request itself is invalid). */
  get keep(): boolean {
    return (this.#flags & KEEP) !== 0;
  }
  set keep(on: boolean) {
    this.#flags = on ? this.#flags | KEEP : this.#flags & ~KEEP;
  }

  /** Whether the allocator holds an assignment for it (kept up to date by `allocate.ts`). */
  get holds(): boolean {
    return (this.#flags & HOLDS) !== 0;
  }
  set holds(on: boolean) {
    this.#flags = on ? this.#flags | HOLDS : this.#flags & ~HOLDS;
  }
}

function listOf(ips: string | readonly string[] | undefined): readonly string[] | undefined {
  return typeof ips === "string" ? [ips] : ips;
}
