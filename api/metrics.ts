/**
 * A small Prometheus registry rendering the text exposition format 0.0.4. Values may be
 * bigints because an IPv6 pool (a /64 has 2^64 addresses) overflows a float's exact range,
 * and users' capacity alerts compare these numbers exactly.
 */

import { formatValue, renderChunks, type RenderFamily } from "./metrics_render.ts";

export { formatValue };

/** A sample value; bigint for counts beyond Number.MAX_SAFE_INTEGER. */
export type MetricValue = number | bigint;

/** Label values of one series, keyed by label name. */
export type Labels<L extends string> = Record<L, string>;

/** The metric kinds we expose. */
export type MetricType = "counter" | "gauge";

/** A metric misuse (bad name, unknown label, negative counter increment), with context. */
export class MetricError extends Error {
  override name = "MetricError";
}

/** One metric family with its series. */
export interface Metric<L extends string = never> {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly L[];
  /** Adds `n` (default 1) to the series; counters reject negative amounts. */
  inc(labels?: Labels<L>, n?: MetricValue): void;
  /** Sets the series to `value`. */
  set(labels: Labels<L>, value: MetricValue): void;
  /** The series' value, or undefined when it does not exist. */
  get(labels?: Labels<L>): MetricValue | undefined;
  /** Deletes one series (e.g. a pool or peer that went away). */
  remove(labels: Labels<L>): void;
  /** Deletes every series set here (an attached source's belong to its owner). */
  reset(): void;
  /**
   * Lets `source` hold series of this family (replacing an earlier source; undefined drops
   * it): rendered and looked up with those set here, which should not share their labels.
   */
  attach(source: SeriesSource | undefined): void;
}

/**
 * Series their owner already holds the state of (one per announced Service, say), read
 * when rendered or looked up instead of copied into the registry, times 100,000s.
 */
export interface SeriesSource {
  /** Calls `row` once per series: its label values in `labelNames` order, and its value. */
  forEach(row: (values: readonly string[], value: MetricValue) => void): void;
  /** The value of the series with these label values, or undefined when there is none. */
  get(values: readonly string[]): MetricValue | undefined;
}

/** A set of metrics rendered together on /metrics. */
export interface Registry {
  /** Registers a counter; names must be unique in the registry. */
  counter<L extends string = never>(
    name: string,
    help: string,
    labelNames?: readonly L[],
  ): Metric<L>;
  /** Registers a gauge; names must be unique in the registry. */
  gauge<L extends string = never>(name: string, help: string, labelNames?: readonly L[]): Metric<L>;
  /**
   * Adds a function run at the start of every {@linkcode Registry.render}, for values read
   * when scraped (process figures, sources' error counts). A throw skips only that function.
   */
  addCollector(collect: () => void): void;
  /** Every metric in text exposition format 0.0.4, sorted by name then label values. */
  render(): string;
  /**
   * {@linkcode Registry.render}'s text in chunks, for a scrape that must not hold the event
   * loop: `null` marks a point where the caller may let timers and I/O in.
   */
  renderChunks(): Generator<string | null, void>;
}

/** The Content-Type of {@linkcode Registry.render}'s output. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * A family's series: the value under the series' label key ({@linkcode seriesKey}). One Map
 * entry and one key string per series, since a family such as `metallb_speaker_announced`
 * has one series per Service; the label values are read back from the key when rendering.
 */
type Series = Map<string, MetricValue>;

interface Family {
  metric: Metric<string>;
  series: Series;
  source: SeriesSource | undefined;
}

/**
 * The map key of label values: joined by NUL (n values, n - 1 NULs), as no Kubernetes name
 * or IP holds one. Values that do are keyed by their JSON (which escapes NUL) after n NULs,
 * so the two forms never collide and the NUL count tells them apart.
 */
function seriesKey(values: readonly string[]): string {
  for (const v of values) {
    if (v.includes("\0")) return "\0".repeat(values.length) + JSON.stringify(values);
  }
  return values.join("\0");
}

/** The `count` label values a {@linkcode seriesKey} was made of. */
function seriesValues(key: string, count: number): string[] {
  const parts = key.split("\0");
  return parts.length === count ? parts : JSON.parse(parts[count]);
}

/** Adds without losing precision: integers past 2^53 continue as bigint. */
function add(a: MetricValue, b: MetricValue): MetricValue {
  if (typeof a === "number" && typeof b === "number") {
    const sum = a + b;
    if (Number.isSafeInteger(sum) || !Number.isInteger(a) || !Number.isInteger(b)) return sum;
    return BigInt(a) + BigInt(b);
  }
  if (typeof a === "bigint" && typeof b === "bigint") return a + b;
  const n = (typeof a === "number" ? a : b) as number;
  const big = (typeof a === "bigint" ? a : b) as bigint;
  if (Number.isInteger(n)) return big + BigInt(n);
  // A fraction cannot be a bigint; the float loses only digits nobody alerts on.
  return Number(big) + n;
}

function isNegative(v: MetricValue): boolean {
  return typeof v === "bigint" ? v < 0n : v < 0;
}

/** Throws unless `name` and `labelNames` make a new, well-formed family. */
function checkDefinition(
  name: string,
  labelNames: readonly string[],
  families: ReadonlyMap<string, Family>,
): void {
  if (!METRIC_NAME.test(name)) throw new MetricError(`invalid metric name "${name}"`);
  if (families.has(name)) throw new MetricError(`metric "${name}" registered twice`);
  for (const l of labelNames) {
    if (!LABEL_NAME.test(l) || l.startsWith("__")) {
      throw new MetricError(`metric "${name}": invalid label name "${l}"`);
    }
  }
  if (new Set(labelNames).size !== labelNames.length) {
    throw new MetricError(`metric "${name}": duplicate label names`);
  }
}

/** The label values of one series, in `labelNames` order; throws on unknown or missing ones. */
function labelValues(
  name: string,
  labelNames: readonly string[],
  labels: Record<string, unknown> | undefined,
): string[] {
  const given = labels ?? {};
  for (const k of Object.keys(given)) {
    if (!labelNames.includes(k)) {
      throw new MetricError(`metric "${name}": unknown label "${k}"`);
    }
  }
  return labelNames.map((l) => {
    const v = given[l];
    if (typeof v !== "string") {
      throw new MetricError(`metric "${name}": label "${l}" must be a string`);
    }
    return v;
  });
}

/** A metric over its own series map (keyed by {@linkcode seriesKey} of the label values). */
function createMetric<L extends string>(
  family: { type: MetricType; name: string; help: string; labelNames: readonly L[] },
  held: Omit<Family, "metric">,
): Metric<L> {
  const { type, name } = family;
  const series = held.series;
  const values = (labels: Labels<L> | undefined) =>
    labelValues(name, family.labelNames, labels as Record<string, unknown> | undefined);
  const key = (labels: Labels<L> | undefined) => seriesKey(values(labels));
  return {
    ...family,
    inc(labels, n = 1) {
      if (type === "counter" && isNegative(n)) {
        throw new MetricError(`counter "${name}" cannot decrease`);
      }
      const k = key(labels);
      series.set(k, add(series.get(k) ?? 0, n));
    },
    set(labels, value) {
      series.set(key(labels), value);
    },
    get(labels) {
      const vs = values(labels);
      return series.get(seriesKey(vs)) ?? held.source?.get(vs);
    },
    remove(labels) {
      series.delete(key(labels));
    },
    reset() {
      series.clear();
    },
    attach(source) {
      held.source = source;
    },
  };
}

/** What the renderer reads of `family`. */
function renderView(family: Family): RenderFamily {
  const { metric, series, source } = family;
  const count = metric.labelNames.length;
  return {
    help: metric.help,
    type: metric.type,
    labelNames: metric.labelNames,
    unlabelled: series.get(seriesKey([])),
    forEachRow(row) {
      for (const [k, value] of series) row(seriesValues(k, count), value);
      source?.forEach(row);
    },
  };
}

/** Runs the per-scrape collectors, then renders every family sorted by name, in chunks. */
function* renderAll(
  families: ReadonlyMap<string, Family>,
  collectors: (() => void)[],
): Generator<string | null, void> {
  for (const collect of collectors) {
    try {
      collect();
    } catch {
      // A failed reading keeps the previous values; the rest of the scrape still works.
    }
  }
  const names = [...families.keys()].sort();
  yield* renderChunks(names.map((name) => [name, renderView(families.get(name)!)]));
}

/** Creates an empty registry. */
export function createRegistry(): Registry {
  const families = new Map<string, Family>();
  const collectors: (() => void)[] = [];
  function define<L extends string>(
    type: MetricType,
    name: string,
    help: string,
    labelNames: readonly L[],
  ): Metric<L> {
    checkDefinition(name, labelNames, families);
    // The family is what `attach` sets the source of: made first, its metric put in after.
    const family = { series: new Map(), source: undefined } as unknown as Family;
    const metric = createMetric({ name, help, type, labelNames }, family);
    family.metric = metric as unknown as Metric<string>;
    families.set(name, family);
    return metric;
  }
  return {
    counter: (name, help, labelNames = []) => define("counter", name, help, labelNames),
    gauge: (name, help, labelNames = []) => define("gauge", name, help, labelNames),
    addCollector: (collect) => void collectors.push(collect),
    render: () => [...renderAll(families, collectors)].filter((c) => c !== null).join(""),
    renderChunks: () => renderAll(families, collectors),
  };
}

/** MetalLB's metrics, under the names users' dashboards and alerts already query. */
export interface MetallbMetrics {
  addressesTotal: Metric<"pool">;
  addressesInUse: Metric<"pool">;
  ipv4AddressesTotal: Metric<"pool">;
  ipv4AddressesInUse: Metric<"pool">;
  ipv6AddressesTotal: Metric<"pool">;
  ipv6AddressesInUse: Metric<"pool">;
  configLoaded: Metric;
  configStale: Metric;
  k8sUpdates: Metric;
  k8sUpdateErrors: Metric;
  speakerAnnounced: Metric<"service" | "protocol" | "node" | "ip">;
  bgpSessionUp: Metric<"peer">;
  bgpUpdates: Metric<"peer">;
  bgpAnnouncedPrefixes: Metric<"peer">;
  bgpPendingPrefixes: Metric<"peer">;
}

/** The allocator's families: addresses per pool, all and per family. */
function allocatorMetrics(registry: Registry) {
  const pool = ["pool"] as const;
  return {
    addressesTotal: registry.gauge(
      "metallb_allocator_addresses_total",
      "Number of usable IP addresses, per pool",
      pool,
    ),
    addressesInUse: registry.gauge(
      "metallb_allocator_addresses_in_use_total",
      "Number of IP addresses in use, per pool",
      pool,
    ),
    ipv4AddressesTotal: registry.gauge(
      "metallb_allocator_ipv4_addresses_total",
      "Number of usable IPv4 addresses, per pool",
      pool,
    ),
    ipv4AddressesInUse: registry.gauge(
      "metallb_allocator_ipv4_addresses_in_use_total",
      "Number of IPv4 addresses in use, per pool",
      pool,
    ),
    ipv6AddressesTotal: registry.gauge(
      "metallb_allocator_ipv6_addresses_total",
      "Number of usable IPv6 addresses, per pool",
      pool,
    ),
    ipv6AddressesInUse: registry.gauge(
      "metallb_allocator_ipv6_addresses_in_use_total",
      "Number of IPv6 addresses in use, per pool",
      pool,
    ),
  };
}

/** The configuration client's families: loaded, stale, updates and failed updates. */
function k8sClientMetrics(registry: Registry) {
  return {
    configLoaded: registry.gauge(
      "metallb_k8s_client_config_loaded_bool",
      "1 if the configuration was ever loaded successfully, 0 otherwise",
    ),
    configStale: registry.gauge(
      "metallb_k8s_client_config_stale_bool",
      "1 if running on a stale configuration because the latest one failed to load",
    ),
    k8sUpdates: registry.counter(
      "metallb_k8s_client_updates_total",
      "Number of object updates processed",
    ),
    k8sUpdateErrors: registry.counter(
      "metallb_k8s_client_update_errors_total",
      "Number of object updates that failed to process",
    ),
  };
}

/** The speaker's families: announced Services and, per BGP peer, session and prefixes. */
function speakerMetrics(registry: Registry) {
  const peer = ["peer"] as const;
  return {
    speakerAnnounced: registry.gauge(
      "metallb_speaker_announced",
      "Services being announced from this node, by protocol",
      ["service", "protocol", "node", "ip"],
    ),
    bgpSessionUp: registry.gauge(
      "metallb_bgp_session_up",
      "BGP session state (1 established, 0 not), per peer ip:port",
      peer,
    ),
    bgpUpdates: registry.counter(
      "metallb_bgp_updates_total",
      "Number of BGP UPDATE messages sent, per peer",
      peer,
    ),
    bgpAnnouncedPrefixes: registry.gauge(
      "metallb_bgp_announced_prefixes_total",
      "Number of prefixes currently advertised on the BGP session, per peer",
      peer,
    ),
    bgpPendingPrefixes: registry.gauge(
      "metallb_bgp_pending_prefixes_total",
      "Number of prefixes that should be advertised on the BGP session, per peer",
      peer,
    ),
  };
}

/** Registers MetalLB's metric families (names, types and labels as MetalLB has them). */
export function defineMetallbMetrics(registry: Registry): MetallbMetrics {
  return {
    ...allocatorMetrics(registry),
    ...k8sClientMetrics(registry),
    ...speakerMetrics(registry),
  };
}
