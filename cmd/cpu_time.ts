/**
 * The process's CPU time through libc's `getrusage(2)`, for `process_cpu_seconds_total`: Deno
 * keeps /proc/self closed without `--allow-all`, and its only other source, `node:process`,
 * loads the Node layer (~1.6 MB of heap) into roles that otherwise never need it. The roles
 * that hold `--allow-ffi` to libc get it here; the others fall back to api/process_metrics.ts.
 */
import { openGrantedLibc } from "./libc_open.ts";

const RUSAGE_SELF = 0;
/** `struct rusage` on 64-bit Linux: two `timeval`s, then fourteen `long`s. */
const RUSAGE_SIZE = 144;
const SYMBOLS = {
  getrusage: { parameters: ["i32", "buffer"], result: "i32" },
} as const;

/** User plus system CPU seconds, read on demand; throws when the call fails. */
export type CpuClock = () => number;

/** A libc-backed clock, or undefined without `--allow-ffi` to libc. */
export function libcCpuClock(): CpuClock | undefined {
  const lib = openGrantedLibc(SYMBOLS);
  if (!lib) return undefined;
  const buf = new Uint8Array(RUSAGE_SIZE);
  const view = new DataView(buf.buffer);
  const timeval = (at: number) =>
    Number(view.getBigInt64(at, true)) + Number(view.getBigInt64(at + 8, true)) / 1e6;
  return () => {
    if (lib.symbols.getrusage(RUSAGE_SELF, buf) !== 0) throw new Error("getrusage(2) failed");
    return timeval(0) + timeval(16);
  };
}
