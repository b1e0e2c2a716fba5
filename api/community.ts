/** BGP community values as written in BGPAdvertisement and Community objects. */

/** A resolved community: standard (RFC 1997) or large (RFC 8092). */
export type CommunityValue =
  | { kind: "standard"; value: number; text: string }
  | { kind: "large"; global: number; local1: number; local2: number; text: string };

/** Result of {@linkcode parseCommunity}. */
export type CommunityResult = { ok: true; value: CommunityValue } | { ok: false; error: string };

const U32 = /^\d{1,10}$/;

function u32(s: string): number | undefined {
  if (!U32.test(s)) return undefined;
  const n = Number(s);
  return n <= 0xffffffff ? n : undefined;
}

/** Whether `text` is written as a literal (has a colon) rather than an alias name. */
export function isCommunityLiteral(text: string): boolean {
  return text.includes(":");
}

/** Parses `65535:65282` (two 16-bit halves) or `large:1:2:3` (three 32-bit parts). */
export function parseCommunity(text: string): CommunityResult {
  const parts = text.trim().split(":");
  if (parts[0] === "large") {
    if (parts.length !== 4) {
      return { ok: false, error: `invalid large community "${text}": expected large:G:L1:L2` };
    }
    const [g, l1, l2] = parts.slice(1).map(u32);
    if (g === undefined || l1 === undefined || l2 === undefined) {
      return {
        ok: false,
        error: `invalid large community "${text}": parts must be numbers 0-4294967295`,
      };
    }
    return { ok: true, value: { kind: "large", global: g, local1: l1, local2: l2, text } };
  }
  if (parts.length !== 2) {
    return { ok: false, error: `invalid community "${text}": expected AS:VALUE or large:G:L1:L2` };
  }
  const hi = u32(parts[0]);
  const lo = u32(parts[1]);
  if (hi === undefined || lo === undefined || hi > 0xffff || lo > 0xffff) {
    return { ok: false, error: `invalid community "${text}": both halves must be numbers 0-65535` };
  }
  return { ok: true, value: { kind: "standard", value: hi * 65536 + lo, text } };
}
