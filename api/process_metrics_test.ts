import assert from "node:assert/strict";
import { createRegistry } from "./metrics.ts";
import {
  defineProcessMetrics,
  parseMaxFds,
  parseProcStat,
  type ProcessReader,
} from "./process_metrics.ts";

// proc(5): a command name with spaces and a ')' must not shift the fields.
const STAT = "4242 (deno (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 " +
  "250 50 0 0 20 0 12 0 12345 987654321 4000 18446744073709551615";

/** A reader as Deno gives it without `--allow-all`: /proc/self unreadable. */
function withoutProc(cpuSeconds: () => number): ProcessReader {
  return {
    cpuSeconds,
    residentBytes: () => 1234,
    startTime: () => 1_700_000_000,
    stat: () => {
      throw new Deno.errors.NotCapable("Requires all access to /proc/self/stat");
    },
    limits: () => "",
    openFds: () => 0,
  };
}

Deno.test("parseProcStat: CPU seconds from utime+stime at USER_HZ 100, vsize in bytes", () => {
  assert.deepEqual(parseProcStat(STAT), { cpuSeconds: 3, virtualBytes: 987654321 });
  assert.equal(parseProcStat("garbage"), undefined);
});

Deno.test("parseMaxFds reads the soft 'Max open files' limit", () => {
  const limits = "Limit                     Soft Limit           Hard Limit           Units\n" +
    "Max cpu time              unlimited            unlimited            seconds\n" +
    "Max open files            1024                 524288               files\n";
  assert.equal(parseMaxFds(limits), 1024);
  assert.equal(parseMaxFds("Max open files            unlimited   unlimited   files\n"), undefined);
});

Deno.test("process metrics render under the Prometheus Go client's names, read per scrape", () => {
  const registry = createRegistry();
  let fds = 7;
  defineProcessMetrics(registry, {
    cpuSeconds: () => 3,
    stat: () => STAT,
    limits: () => "Max open files            4096                 4096                 files\n",
    openFds: () => fds,
    residentBytes: () => 5_000_000,
    startTime: () => 1_700_000_000.5,
  });
  const text = registry.render();
  assert.match(text, /^# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 3$/m);
  assert.match(text, /^process_open_fds 7$/m);
  assert.match(text, /^process_max_fds 4096$/m);
  assert.match(text, /^process_resident_memory_bytes 5000000$/m);
  assert.match(text, /^process_virtual_memory_bytes 987654321$/m);
  assert.match(text, /^process_start_time_seconds 1700000000\.5$/m);
  fds = 9;
  assert.match(registry.render(), /^process_open_fds 9$/m);
});

Deno.test("without /proc/self (minimal permissions) fds and vsize are absent, not 0", () => {
  const registry = createRegistry();
  defineProcessMetrics(registry, withoutProc(() => 0.25));
  const text = registry.render();
  assert.match(text, /^process_cpu_seconds_total 0\.25$/m);
  assert.match(text, /^process_resident_memory_bytes 1234$/m);
  assert.doesNotMatch(text, /process_open_fds|process_max_fds|process_virtual_memory_bytes/);
});

Deno.test("without /proc/self, a descriptor fallback supplies open and max fds (not vsize)", () => {
  const registry = createRegistry();
  let open = 12;
  defineProcessMetrics(registry, withoutProc(() => 0.25), {
    fds: { open: () => open, max: () => 4096 },
  });
  assert.match(registry.render(), /^process_open_fds 12$/m);
  assert.match(registry.render(), /^process_max_fds 4096$/m);
  open = 15;
  assert.match(registry.render(), /^process_open_fds 15$/m);
  assert.doesNotMatch(registry.render(), /process_virtual_memory_bytes/);
});

Deno.test("without /proc/self, CPU time comes from the caller's fallback", () => {
  const registry = createRegistry();
  let seconds = 1.5;
  const unreadable = () => {
    throw new Deno.errors.NotCapable("Requires all access to /proc/self/stat");
  };
  defineProcessMetrics(registry, withoutProc(unreadable), { cpu: () => seconds });
  assert.match(registry.render(), /^process_cpu_seconds_total 1\.5$/m);
  seconds = 2.25;
  assert.match(registry.render(), /^process_cpu_seconds_total 2\.25$/m);
});

Deno.test("on this Linux host the real readings are plausible", async () => {
  const registry = createRegistry();
  defineProcessMetrics(registry);
  // Without /proc/self and without a fallback, CPU time comes from the Node layer, which the
  // first scrape starts loading: once the module is in, the next scrape has it.
  registry.render();
  await import("node:process");
  await new Promise((r) => setTimeout(r, 0));
  const text = registry.render();
  const value = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
  // Deno opens /proc/self only under --allow-all (as `deno eval`); the test task's flags do not.
  let procReadable = true;
  try {
    Deno.readTextFileSync("/proc/self/stat");
  } catch {
    procReadable = false;
  }
  if (procReadable) {
    assert.ok(value("process_open_fds") >= 3, text);
    assert.ok(value("process_max_fds") >= value("process_open_fds"), text);
  } else {
    assert.doesNotMatch(text, /process_open_fds|process_max_fds|process_virtual_memory_bytes/);
  }
  assert.ok(value("process_resident_memory_bytes") > 1_000_000, text);
  assert.ok(value("process_cpu_seconds_total") > 0, text);
  const start = value("process_start_time_seconds");
  assert.ok(start <= Date.now() / 1000 && start > Date.now() / 1000 - 3600, text);
});
