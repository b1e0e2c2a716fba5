/** IPAddressPools: parsed ranges, service allocation, and no address in two entries. */
import { type AddressRange, describeRange, parseAddressEntry } from "./ip.ts";
import { cmp, type Parsed, type PoolConfig, type Reporter } from "./config_types.ts";

interface Entry {
  p: Parsed;
  index: number;
  range: AddressRange;
  order: number;
}

/** Builds pools from valid objects; `partial` (refused) pools only join the overlap check. */
export function buildPools(parsed: Parsed[], partial: Parsed[], report: Reporter): PoolConfig[] {
  const pools: PoolConfig[] = [];
  const entries: Entry[] = [];
  const partialSet = new Set(partial);
  const all = [...parsed, ...partial].sort((a, b) =>
    cmp(a.data.metadata.name, b.data.metadata.name)
  );
  for (const p of all) {
    const ranges: AddressRange[] = [];
    p.data.spec.addresses.forEach((text: string, index: number) => {
      const r = parseAddressEntry(text);
      if (!r.ok) return; // the schema already reported it
      ranges.push(r.value);
      entries.push({ p, index, range: r.value, order: entries.length });
    });
    if (!partialSet.has(p)) pools.push(poolConfig(p, ranges));
  }
  for (const family of [4, 6] as const) {
    reportOverlaps(entries.filter((e) => e.range.family === family), report);
  }
  return pools;
}

function poolConfig(p: Parsed, ranges: AddressRange[]): PoolConfig {
  const spec = p.data.spec;
  const sa = spec.serviceAllocation;
  return {
    name: p.data.metadata.name,
    labels: { ...(p.data.metadata.labels ?? {}) },
    ranges,
    autoAssign: spec.autoAssign,
    avoidBuggyIPs: spec.avoidBuggyIPs,
    ...(sa
      ? {
        serviceAllocation: {
          priority: sa.priority ?? 0,
          namespaces: sa.namespaces ?? [],
          namespaceSelectors: sa.namespaceSelectors ?? [],
          serviceSelectors: sa.serviceSelectors ?? [],
        },
      }
      : {}),
  };
}

// Sweep by start address: each entry is compared with the earlier one reaching furthest.
function reportOverlaps(entries: Entry[], report: Reporter): void {
  const fam = entries.sort((a, b) =>
    a.range.start < b.range.start ? -1 : a.range.start > b.range.start ? 1 : a.order - b.order
  );
  let reach: Entry | undefined;
  for (const e of fam) {
    if (reach && e.range.start <= reach.range.end) reportOverlap(e, reach, report);
    if (!reach || e.range.end > reach.range.end) reach = e;
  }
}

function reportOverlap(a: Entry, b: Entry, report: Reporter): void {
  const [later, earlier] = a.order > b.order ? [a, b] : [b, a];
  const where = later.p === earlier.p
    ? `spec.addresses[${earlier.index}]`
    : `IPAddressPool ${earlier.p.data.metadata.namespace}/${earlier.p.data.metadata.name} spec.addresses[${earlier.index}]`;
  const same = later.range.start === earlier.range.start && later.range.end === earlier.range.end;
  report.err(
    later.p,
    `spec.addresses[${later.index}]`,
    same
      ? `duplicate of ${describeRange(earlier.range)} (${where})`
      : `${describeRange(later.range)} overlaps ${describeRange(earlier.range)} (${where})`,
  );
}
