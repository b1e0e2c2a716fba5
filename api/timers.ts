/** BGPPeer timer rules shared by the schema refinement and the config builder. */
import { formatDuration, parseDuration } from "./duration.ts";

/** Default hold time when none is set (MetalLB: 90s). */
export const DEFAULT_HOLD_MS = 90_000;

/** Resolved BGP timers in milliseconds. */
export interface ResolvedTimers {
  holdMs: number;
  keepaliveMs: number;
  connectMs?: number;
}

/** Result of {@linkcode resolveTimers}; errors name the spec field. */
export type TimersResult =
  | ({ ok: true } & ResolvedTimers)
  | { ok: false; errors: { field: string; reason: string }[] };

/**
 * Applies the reference's rules: hold 0 or ≥ 3s; only hold → keepalive = hold/3; only
 * keepalive → hold = 3×keepalive; keepalive ≤ hold; default hold 90s.
 */
export function resolveTimers(
  spec: { holdTime?: string; keepaliveTime?: string; connectTime?: string },
): TimersResult {
  const errors: { field: string; reason: string }[] = [];
  const read = (field: "holdTime" | "keepaliveTime" | "connectTime") => {
    const text = spec[field];
    if (text === undefined) return undefined;
    const r = parseDuration(text);
    if (!r.ok) {
      errors.push({ field, reason: r.error });
      return null;
    }
    return r.ms;
  };
  const hold = read("holdTime");
  const keepalive = read("keepaliveTime");
  const connect = read("connectTime");
  if (errors.length > 0) return { ok: false, errors };
  let holdMs: number;
  let keepaliveMs: number;
  if (hold == null && keepalive == null) {
    holdMs = DEFAULT_HOLD_MS;
    keepaliveMs = DEFAULT_HOLD_MS / 3;
  } else if (keepalive == null) {
    holdMs = hold!;
    keepaliveMs = holdMs / 3;
  } else if (hold == null) {
    keepaliveMs = keepalive;
    holdMs = keepalive * 3;
  } else {
    holdMs = hold;
    keepaliveMs = keepalive;
  }
  if (holdMs !== 0 && holdMs < 3000) {
    errors.push({
      field: hold == null ? "keepaliveTime" : "holdTime",
      reason: `hold time ${formatDuration(holdMs)} must be 0 or at least 3s`,
    });
  } else if (keepaliveMs > holdMs) {
    errors.push({
      field: "keepaliveTime",
      reason: `keepalive time ${formatDuration(keepaliveMs)} exceeds hold time ${
        formatDuration(holdMs)
      }`,
    });
  }
  if (connect != null && connect <= 0) {
    errors.push({ field: "connectTime", reason: "must be greater than 0" });
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, holdMs, keepaliveMs, ...(connect != null ? { connectMs: connect } : {}) };
}
