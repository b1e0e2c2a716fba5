/**
 * The `process_*` metrics under the names and meanings of the Prometheus Go client's process
 * collector, so the dashboards and alerts users run against MetalLB's pods (memory, CPU,
 * restarts via start time, file descriptors) work on ferrolb's. Resident memory and start time
 * need no permission. Deno lets only `--allow-all` read /proc/self; without it, CPU time and
 * open and maximum file descriptors come from the caller's fallbacks when it has them (libc
 * through FFI), CPU time else from the Node layer, loaded only then, and virtual memory is left
 * out: an absent series, not a false 0.
 */
import type { Registry } from "./metrics.ts";
/** Clock ticks per second of /proc/<pid>/stat times; fixed at 100 on Linux (USER_HZ). */
const USER_HZ = 100;

/** Fields of /proc/self/stat we use (1-based numbering as in proc(5)). */
export interface ProcStat {
  /** utime + stime, in seconds. */
  cpuSeconds: number;
  /** vsize, in bytes. */
  virtualBytes: number;
}

/** Parses /proc/self/stat; the command name (field 2) may hold spaces and parentheses. */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(")");
  if (close < 0) return undefined;
  // After ")": field 3 (state) is index 0, so field N is index N - 3.
  const f = text.slice(close + 2).trim().split(/\s+/);
  const utime = Number(f[14 - 3]);
  const stime = Number(f[15 - 3]);
  const vsize = Number(f[23 - 3]);
  if (![utime, stime, vsize].every(Number.isFinite)) return undefined;
  return { cpuSeconds: (utime + stime) / USER_HZ, virtualBytes: vsize };
}

/** The soft "Max open files" limit from /proc/self/limits; undefined when unlimited. */
export function parseMaxFds(text: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith("Max open files"));
  const soft = line?.slice("Max open files".length).trim().split(/\s+/)[0];
  const n = Number(soft);
  return soft && Number.isFinite(n) ? n : undefined;
}

/** Where the process figures come from; tests replace it. */
export interface ProcessReader {
  /** User plus system CPU time, in seconds. */
  cpuSeconds(): number;
  residentBytes(): number;
  /** Seconds since the Unix epoch at which the process started. */
  startTime(): number;
  /** /proc/self/stat, /proc/self/limits and the fd count: throw when unreadable. */
  stat(): string;
  limits(): string;
  openFds(): number;
}

/**
 * CPU seconds from `node:process`, loaded on first use: until it is, reading throws and the
 * series keeps its last value. Only a role without /proc/self and without a `cpu` fallback
 * loads it.
 */
function nodeCpuClock(): () => number {
  let usage: (() => { user: number; system: number }) | undefined;
  let loading: Promise<unknown> | undefined;
  return () => {
    if (!usage) {
      loading ??= import("node:process").then((m) => usage = () => m.default.cpuUsage());
      throw new Error("node:process is loading");
    }
    const u = usage();
    return (u.user + u.system) / 1e6;
  };
}

const linuxReader: ProcessReader = {
  cpuSeconds: () => {
    const stat = parseProcStat(Deno.readTextFileSync("/proc/self/stat"));
    if (!stat) throw new Error("unreadable /proc/self/stat");
    return stat.cpuSeconds;
  },
  residentBytes: () => Deno.memoryUsage().rss,
  // The runtime's time origin is set as the process starts, before any of our code runs.
  startTime: () => performance.timeOrigin / 1000,
  stat: () => Deno.readTextFileSync("/proc/self/stat"),
  limits: () => Deno.readTextFileSync("/proc/self/limits"),
  openFds: () => {
    let n = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) n++;
    return n;
  },
};

function attempt<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Descriptor figures from elsewhere than /proc (cmd/ reads them through libc). */
export interface FdFallback {
  open(): number;
  max(): number | undefined;
}

/** Options of {@linkcode defineProcessMetrics}. */
export interface ProcessMetricsOptions {
  /** Used for open and maximum descriptors when /proc/self is not readable. */
  fds?: FdFallback;
  /** User plus system CPU seconds when the reader cannot tell them (no /proc/self). */
  cpu?: () => number;
}

/** Registers the process metrics on `registry`, read at every scrape. */
export function defineProcessMetrics(
  registry: Registry,
  reader: ProcessReader = linuxReader,
  options: ProcessMetricsOptions = {},
): void {
  const cpu = registry.counter(
    "process_cpu_seconds_total",
    "Total user and system CPU time spent in seconds.",
  );
  const rss = registry.gauge("process_resident_memory_bytes", "Resident memory size in bytes.");
  const start = registry.gauge(
    "process_start_time_seconds",
    "Start time of the process since unix epoch in seconds.",
  );
  start.set({}, reader.startTime());
  // Registered only when readable now: an unlabelled metric renders from registration on.
  const procfs = attempt(() => parseProcStat(reader.stat())) !== undefined;
  const readOpen = procfs ? () => reader.openFds() : options.fds && (() => options.fds!.open());
  const readMax = procfs
    ? () => parseMaxFds(reader.limits())
    : options.fds && (() => options.fds!.max());
  const openFds = readOpen && attempt(readOpen) !== undefined
    ? registry.gauge("process_open_fds", "Number of open file descriptors.")
    : undefined;
  const maxFds = readMax && attempt(readMax) !== undefined
    ? registry.gauge("process_max_fds", "Maximum number of open file descriptors.")
    : undefined;
  const virt = procfs
    ? registry.gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")
    : undefined;
  const readCpu = attempt(() => reader.cpuSeconds()) !== undefined
    ? () => reader.cpuSeconds()
    : options.cpu ?? nodeCpuClock();
  registry.addCollector(() => {
    const seconds = attempt(readCpu);
    if (seconds !== undefined) cpu.set({}, seconds);
    const resident = attempt(() => reader.residentBytes());
    if (resident !== undefined) rss.set({}, resident);
    if (virt) {
      const stat = attempt(() => parseProcStat(reader.stat()));
      if (stat) virt.set({}, stat.virtualBytes);
    }
    const fds = openFds && readOpen ? attempt(readOpen) : undefined;
    if (fds !== undefined) openFds?.set({}, fds);
    const max = maxFds && readMax ? attempt(readMax) : undefined;
    if (max !== undefined) maxFds?.set({}, max);
  });
}
