// @ts-check
/**
 * Where libc.so.6 lives on common distributions, tried in order: the TCP MD5 connector
 * (bgp/md5_transport.ts) loads the first that opens, and the launcher (bin/permissions.mjs)
 * grants `--allow-ffi` to the first that exists. Plain JavaScript so the Node launcher can
 * import the one list too.
 */

/** Candidate libc paths, most common first. */
export const LIBC_CANDIDATES = Object.freeze([
  "/lib/x86_64-linux-gnu/libc.so.6",
  "/usr/lib/x86_64-linux-gnu/libc.so.6",
  "/lib/aarch64-linux-gnu/libc.so.6",
  "/usr/lib/aarch64-linux-gnu/libc.so.6",
  "/lib64/libc.so.6",
  "/usr/lib64/libc.so.6",
  "/usr/lib/libc.so.6",
  "/lib/libc.so.6",
]);
