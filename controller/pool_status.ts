/**
 * Pool counts after a pass: the metrics of every pool, and `IPAddressPool.status` where it
 * differs from what the pool object shows.
 */
import type { MetallbMetrics } from "../api/metrics.ts";
import type { KubeObject, Snapshot } from "../cluster/types.ts";
import { bigintJson, statusCount } from "./pools.ts";
import type { ControllerState } from "./state.ts";

type Counts = NonNullable<ReturnType<ControllerState["allocator"]["counts"]>>;

const NO_OBJECTS: ReadonlyMap<string, KubeObject> = new Map();

/** Updates pool metrics and queues the pool status writes of this pass. */
export function updatePoolStatus(s: ControllerState, snap: Snapshot): void {
  const m = s.opts.metrics;
  const names = s.allocator.poolNames();
  const poolObjects = snap.objects.get("IPAddressPool") ?? NO_OBJECTS;
  for (const name of names) {
    const c = s.allocator.counts(name)!;
    if (m) setPoolMetrics(s, m, { name, counts: c });
    if (!s.restored) continue;
    const obj = poolObjects.get(`${s.opts.namespace}/${name}`);
    if (obj) queuePoolStatus(s, obj, { name, counts: c });
  }
  if (m) {
    for (const gone of [...s.metricPools].filter((n) => !names.includes(n))) {
      s.metricPools.delete(gone);
      for (const metric of poolMetrics(m)) metric.remove({ pool: gone });
    }
  }
}

function poolMetrics(m: MetallbMetrics) {
  return [
    m.addressesTotal,
    m.addressesInUse,
    m.ipv4AddressesTotal,
    m.ipv4AddressesInUse,
    m.ipv6AddressesTotal,
    m.ipv6AddressesInUse,
  ];
}

function setPoolMetrics(
  s: ControllerState,
  m: MetallbMetrics,
  pool: { name: string; counts: Counts },
): void {
  const c = pool.counts;
  s.metricPools.add(pool.name);
  const labels = { pool: pool.name };
  m.addressesTotal.set(labels, c.ipv4.total + c.ipv6.total);
  m.addressesInUse.set(labels, c.ipv4.used + c.ipv6.used);
  m.ipv4AddressesTotal.set(labels, c.ipv4.total);
  m.ipv4AddressesInUse.set(labels, c.ipv4.used);
  m.ipv6AddressesTotal.set(labels, c.ipv6.total);
  m.ipv6AddressesInUse.set(labels, c.ipv6.used);
}

function queuePoolStatus(
  s: ControllerState,
  obj: KubeObject,
  pool: { name: string; counts: Counts },
): void {
  const { name, counts: c } = pool;
  const desired = {
    assignedIPv4: c.ipv4.used,
    assignedIPv6: c.ipv6.used,
    availableIPv4: statusCount(c.ipv4.available),
    availableIPv6: statusCount(c.ipv6.available),
  };
  const st = (obj.status ?? {}) as Record<string, unknown>;
  const comparison = {
    desired: JSON.stringify(desired, bigintJson),
    observed: JSON.stringify({
      assignedIPv4: st.assignedIPv4,
      assignedIPv6: st.assignedIPv6,
      availableIPv4: st.availableIPv4,
      availableIPv6: st.availableIPv6,
    }, bigintJson),
  };
  const key = `pool|${name}`;
  if (!s.written.needs(key, comparison) || !s.passLeader) return;
  s.written.note(key, comparison);
  const ns = s.opts.namespace;
  const writer = s.writer;
  s.ops.push({
    key,
    what: "setPoolStatus",
    run: async () => {
      await writer.setPoolStatus(ns, name, desired);
    },
  });
}
