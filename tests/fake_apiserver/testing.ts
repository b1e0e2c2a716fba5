/** Small helpers for tests that drive the fake API server. */

/**
 * Polls `cond` every few milliseconds until it holds; throws after `boundMs` (a safety bound,
 * not a timing assertion).
 */
export async function eventually(
  what: string,
  cond: () => boolean | Promise<boolean>,
  options: { boundMs?: number } = {},
): Promise<void> {
  const until = Date.now() + (options.boundMs ?? 15_000);
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
