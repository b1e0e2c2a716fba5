/**
 * The objects the status reporter writes and reads back: ServiceBGPStatus (name, labels,
 * body), the Events about a Service, and which decisions changed between two passes.
 */
import type { EventRecord, KubeObject } from "../cluster/types.ts";
import { compareServices, type ServiceAnnouncement } from "./announce_types.ts";
import { sha256Prefix40 } from "./short_hash.ts";

const NODE_LABEL = "metallb.io/node";
const SERVICE_NAME_LABEL = "metallb.io/service-name";
const SERVICE_NAMESPACE_LABEL = "metallb.io/service-namespace";

/** Name of the ServiceBGPStatus for (Service, node): readable, unique, and a valid name. */
export function serviceBGPStatusName(namespace: string, service: string, node: string): string {
  return statusNameOfTag(statusNameBase(service, node), statusNameHash(namespace, service, node));
}

/**
 * The {@linkcode statusNameTag} of {@linkcode serviceBGPStatusName}'s name: the number its
 * hash spells, got without making the name (100,000s at a start).
 */
export function statusNameHash(namespace: string, service: string, node: string): number {
  return sha256Prefix40(`${namespace}/${service}/${node}`);
}

/** Longest readable part of a name. */
const BASE_LENGTH = 200;

/** Whether `text` is already a readable part as is (the usual lowercase names). */
function isPlainBase(text: string): boolean {
  if (text.length > BASE_LENGTH) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // a-z, 0-9, '.', '-'
    if (!((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 46 || c === 45)) return false;
  }
  const last = text.charCodeAt(text.length - 1);
  return last !== 46 && last !== 45;
}

/** The readable part of a ServiceBGPStatus name (see {@linkcode serviceBGPStatusName}). */
export function statusNameBase(service: string, node: string): string {
  const text = `${service}-${node}`;
  // Most names need no change: no lowered copy nor replaced ones are made for them.
  if (isPlainBase(text)) return text;
  return text.toLowerCase().replace(/[^a-z0-9.-]/g, "-").slice(0, BASE_LENGTH)
    .replace(/[.-]+$/, "");
}

/** Digits of the hash a ServiceBGPStatus name ends with. */
const HASH_DIGITS = 10;

/**
 * `name` as a number when it is `base`, a dash and 10 lowercase hex digits (the names
 * {@linkcode serviceBGPStatusName} gives: {@linkcode statusNameOfTag} makes it again), else
 * -1. A number is kept per Service rather than its name string, times 100,000s.
 */
export function statusNameTag(name: string, base: string): number {
  if (name.length !== base.length + 1 + HASH_DIGITS || !name.startsWith(base)) return -1;
  if (name.charCodeAt(base.length) !== 45 /* - */) return -1;
  const hex = name.slice(base.length + 1);
  return /^[0-9a-f]+$/.test(hex) ? parseInt(hex, 16) : -1;
}

/** The name whose {@linkcode statusNameTag} is `tag` (a number >= 0). */
export function statusNameOfTag(base: string, tag: number): string {
  return `${base}-${tag.toString(16).padStart(HASH_DIGITS, "0")}`;
}

/** The `namespace/name` of the Service a ServiceBGPStatus is about, from its labels. */
export function serviceKeyOf(o: KubeObject): string {
  const labels = o.metadata.labels ?? {};
  return `${labels[SERVICE_NAMESPACE_LABEL]}/${labels[SERVICE_NAME_LABEL]}`;
}

/** The ServiceBGPStatus `name` saying that `peers` hold Service `s` from `node`. */
export function serviceBGPStatusObject(
  name: string,
  at: { s: ServiceAnnouncement; peers: readonly string[]; namespace: string; node: string },
): KubeObject {
  const { s, peers, node } = at;
  return {
    apiVersion: "metallb.io/v1beta1",
    kind: "ServiceBGPStatus",
    metadata: {
      name,
      namespace: at.namespace,
      labels: {
        [NODE_LABEL]: node,
        [SERVICE_NAME_LABEL]: s.name,
        [SERVICE_NAMESPACE_LABEL]: s.namespace,
      },
    },
    // The shared, frozen list: a store keeping written objects then holds no copy each.
    status: { node, serviceName: s.name, serviceNamespace: s.namespace, peers },
  };
}

/** An Event of the speaker about Service `s`. */
export function serviceEvent(
  s: ServiceAnnouncement,
  what: { type: "Normal" | "Warning"; reason: string; message: string },
): EventRecord {
  // The fields one by one, in the same order: a spread made a slower, larger object.
  return {
    involved: { kind: "Service", apiVersion: "v1", namespace: s.namespace, name: s.name },
    type: what.type,
    reason: what.reason,
    message: what.message,
    component: "metallb-speaker",
  };
}

/** Whether `o` is this node's ServiceBGPStatus, in the install namespace. */
export function isOwnStatus(o: KubeObject, at: { namespace: string; node: string }): boolean {
  return o.metadata.namespace === at.namespace && o.metadata.labels?.[NODE_LABEL] === at.node;
}

/** The `namespace/name` of a decision: the planner's string when it gave one. */
export function serviceKey(s: ServiceAnnouncement): string {
  return s.key ?? `${s.namespace}/${s.name}`;
}

/**
 * A walk over the decisions that differ between two lists sorted by namespace/name (see
 * {@linkcode changedDecisions}): `next()` moves to the next one, found in `key` and `now`
 * (the new decision, or undefined for a Service gone). No pair is made per decision: a start
 * changes 100,000s of them.
 */
export class DecisionChanges {
  readonly #before: readonly ServiceAnnouncement[];
  readonly #now: readonly ServiceAnnouncement[];
  #i = 0;
  #j = 0;
  /** `namespace/name` of the current change. */
  key = "";
  /** The new decision of the current change, or undefined for a Service gone. */
  now: ServiceAnnouncement | undefined;

  /** A walk from `before` to `now`, before its first change. */
  constructor(before: readonly ServiceAnnouncement[], now: readonly ServiceAnnouncement[]) {
    this.#before = before;
    this.#now = now;
  }

  /** Moves to the next change; false when there is none. */
  next(): boolean {
    const before = this.#before, now = this.#now;
    while (this.#i < before.length || this.#j < now.length) {
      const b = before[this.#i], a = now[this.#j];
      if (a === b) {
        this.#i++;
        this.#j++;
        continue;
      }
      const c = b === undefined ? 1 : a === undefined ? -1 : compareServices(b, a);
      if (c < 0) {
        this.key = serviceKey(b);
        this.now = undefined;
      } else {
        this.key = serviceKey(a);
        this.now = a;
      }
      if (c <= 0) this.#i++;
      if (c >= 0) this.#j++;
      return true;
    }
    return false;
  }
}

/**
 * The decisions that differ between two lists sorted by namespace/name, by `namespace/name`:
 * the new one, or undefined for a Service gone. Unchanged decisions are the same objects
 * (planner cache), so with 100,000s of Services only the changed ones cost more than a
 * comparison; one walk over both lists, no set of either.
 */
export function* changedDecisions(
  before: readonly ServiceAnnouncement[],
  now: readonly ServiceAnnouncement[],
): Generator<[string, ServiceAnnouncement | undefined]> {
  const walk = new DecisionChanges(before, now);
  while (walk.next()) yield [walk.key, walk.now];
}
