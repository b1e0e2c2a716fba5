/**
 * Opening libc through FFI for the process metrics and housekeeping of cmd/ (descriptor
 * counts, malloc trimming): only at a path `--allow-ffi` grants, so a role without the
 * grant simply goes without, never prompting or throwing.
 */
import { LIBC_CANDIDATES } from "../bgp/libc_paths.mjs";

/**
 * `symbols` of the first libc in `candidates` that the process may load and that has them,
 * or undefined when none does.
 */
export function openGrantedLibc<S extends Deno.ForeignLibraryInterface>(
  symbols: S,
  candidates: readonly string[] = LIBC_CANDIDATES,
): Deno.DynamicLibrary<S> | undefined {
  for (const path of candidates) {
    // Query first: without the grant, dlopen would prompt or throw.
    if (Deno.permissions.querySync({ name: "ffi", path }).state !== "granted") continue;
    try {
      return Deno.dlopen(path, symbols);
    } catch {
      // Not at this path on this distribution, or a libc without these symbols (musl has
      // no malloc_trim): try the next one.
    }
  }
  return undefined;
}
