/**
 * Echo detection: a Service that comes back from the source differing only by what this
 * controller just wrote needs no decision. Sources that lay what is written over an
 * unchanged object (file mode) make the check cheap; others never match and take the
 * normal path.
 */
import { type KubeObject, laidOverBase } from "../cluster/types.ts";
import { canonicalIP } from "../ipam/mod.ts";
import { isPoolAnnotation, POOL_ANNOTATIONS } from "./service_writes.ts";
import type { ControllerState } from "./state.ts";

/** The Service's previous and current object. */
export interface ObjectPair {
  prev: KubeObject;
  next: KubeObject;
}

/**
 * Whether `next` differs from `prev` only by the status and pool annotations this
 * controller wrote for the Service's current assignment.
 */
export function isOwnEcho(s: ControllerState, key: string, pair: ObjectPair): boolean {
  if (s.pending.has(key) || s.kept.has(key) || s.cleared.has(key)) return false;
  const { prev, next } = pair;
  // Laid over the same object, the spec and labels are the same (if made when read);
  // else only the same objects are known to be unchanged.
  if (
    laidOverBase(prev) !== laidOverBase(next) &&
    (prev.spec !== next.spec || prev.metadata.labels !== next.metadata.labels)
  ) return false;
  const pm = prev.metadata;
  const nm = next.metadata;
  if (
    pm.uid !== nm.uid || pm.creationTimestamp !== nm.creationTimestamp ||
    pm.deletionTimestamp !== nm.deletionTimestamp
  ) return false;
  const pool = s.allocator.poolOf(key);
  if (pool === undefined) return false;
  const na = nm.annotations ?? {};
  for (const k of POOL_ANNOTATIONS) if (na[k] !== pool) return false;
  return sameOtherAnnotations(pm.annotations ?? {}, na) && showsIps(next, s.allocator.ipsOf(key)!);
}

/** Whether the annotations other than ours are the same (no arrays: runs per echo). */
function sameOtherAnnotations(
  pa: Readonly<Record<string, string>>,
  na: Readonly<Record<string, string>>,
): boolean {
  let count = 0;
  for (const k in pa) {
    if (isPoolAnnotation(k)) continue;
    if (pa[k] !== na[k]) return false;
    count++;
  }
  for (const k in na) if (!isPoolAnnotation(k)) count--;
  return count === 0;
}

/** Whether the object's status shows exactly `ips` (as a set). */
function showsIps(obj: KubeObject, ips: readonly string[]): boolean {
  const status = obj.status as { loadBalancer?: { ingress?: { ip?: string }[] } } | undefined;
  const ingress = status?.loadBalancer?.ingress ?? [];
  if (ingress.length !== ips.length) return false;
  if (ingress.every((e, i) => e.ip === ips[i])) return true;
  const shown = ingress.map((e) => canonicalIP(e.ip ?? "") ?? "");
  return [...shown].sort().join() === [...ips].sort().join();
}
