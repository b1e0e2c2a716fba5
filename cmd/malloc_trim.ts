/**
 * Gives the memory glibc's malloc holds free back to the kernel (`malloc_trim(0)`), for the
 * long-running roles that hold `--allow-ffi` to libc. Deno's own allocations (sockets, file
 * reads and writes, the module loader) go through malloc, and glibc keeps what a burst freed
 * (the start, a big table sent to peers) mapped unless asked: resident for no use. Without the
 * grant, or on a libc without `malloc_trim` (musl), there is nothing to call and nothing is done.
 */
import { LIBC_CANDIDATES } from "../bgp/libc_paths.mjs";
import { openGrantedLibc } from "./libc_open.ts";

const SYMBOLS = {
  malloc_trim: { parameters: ["usize"], result: "i32" },
} as const;

/** Returns freed malloc memory to the kernel. */
export interface MallocTrimmer {
  /** Trims now; true when memory was given back. */
  trim(): boolean;
}

/** A trimmer through libc, or undefined without `--allow-ffi` to a glibc. */
export function libcMallocTrimmer(
  candidates: readonly string[] = LIBC_CANDIDATES,
): MallocTrimmer | undefined {
  const lib = openGrantedLibc(SYMBOLS, candidates);
  return lib && { trim: () => lib.symbols.malloc_trim(0n) === 1 };
}

/** Options for {@linkcode startMallocTrim}. */
export interface MallocTrimOptions {
  /** The trimmer; default {@linkcode libcMallocTrimmer} (none without the grant). */
  trimmer?: MallocTrimmer;
  /** Period in ms. Default {@linkcode TRIM_INTERVAL_MS}. */
  intervalMs?: number;
}

/**
 * Trim period: one call costs well under 1 ms (~10 ms at most after a 100,000-Service table
 * went out), and a short period also gives back what one phase of the start freed before the
 * next one grows (the peak), not only what is left once it settled.
 */
export const TRIM_INTERVAL_MS = 2_000;

/**
 * Trims every `intervalMs` on a timer that does not keep the process alive, until the
 * returned stop is called; without a trimmer nothing is scheduled.
 */
export function startMallocTrim(options: MallocTrimOptions = {}): () => void {
  const trimmer = "trimmer" in options ? options.trimmer : libcMallocTrimmer();
  if (!trimmer) return () => {};
  const id = setInterval(() => trimmer.trim(), options.intervalMs ?? TRIM_INTERVAL_MS);
  Deno.unrefTimer(id);
  return () => clearInterval(id);
}
