/**
 * UPDATE packing: withdrawals and announcements into as few messages of at most 4096 bytes
 * as the NLRI fit, IPv4 in the UPDATE's own fields, IPv6 in MP_REACH/MP_UNREACH.
 */
import type { Family } from "./fsm.ts";
import { encodePathAttributes, MAX_MESSAGE_SIZE, nlriLength } from "./packets.ts";
import {
  AFI_IPV4,
  AFI_IPV6,
  type CodecContext,
  type PathAttributes,
  type Prefix,
  SAFI_UNICAST,
  type UpdateMessage,
} from "./types.ts";

/** Fixed UPDATE overhead: 19-byte header, withdrawn length, attributes length. */
const UPDATE_OVERHEAD = 19 + 2 + 2;
/**
 * MP_REACH_NLRI around its NLRI for one 16-byte next hop, counting a 2-byte (extended)
 * attribute length so the estimate never falls short: flags, code, length(2), AFI(2), SAFI,
 * next-hop length, next hop(16), reserved.
 */
const MP_REACH_V6_OVERHEAD = 4 + 2 + 1 + 1 + 16 + 1;
/** MP_UNREACH_NLRI around its withdrawn routes: flags, code, length(2), AFI(2), SAFI. */
const MP_UNREACH_OVERHEAD = 4 + 2 + 1;

/** Prefixes to announce that share one attribute set, and the attributes (without NLRI). */
export interface AnnounceGroup {
  afi: 1 | 2;
  attributes: PathAttributes;
  prefixes: Prefix[];
}

/** Splits `items` into runs whose summed NLRI size stays within `room` bytes. */
function chunkBySize(items: Prefix[], room: number): Prefix[][] {
  const out: Prefix[][] = [];
  let cur: Prefix[] = [];
  let used = 0;
  for (const p of items) {
    const n = nlriLength(p);
    if (used + n > room && cur.length > 0) {
      out.push(cur);
      cur = [];
      used = 0;
    }
    cur.push(p);
    used += n;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Bytes left for NLRI in one UPDATE of group `g`. */
export function nlriRoom(g: AnnounceGroup, ctx: CodecContext): number {
  const attrLen = encodePathAttributes(g.attributes, ctx).length;
  const room = MAX_MESSAGE_SIZE - UPDATE_OVERHEAD - attrLen;
  return g.afi === AFI_IPV4 ? room : room - MP_REACH_V6_OVERHEAD;
}

/** The withdrawals as UPDATEs: IPv4 ones first, then IPv6 ones in MP_UNREACH_NLRI. */
function packWithdrawals(withdrawn: Prefix[], out: UpdateMessage[]): void {
  const room = MAX_MESSAGE_SIZE - UPDATE_OVERHEAD;
  const w4 = withdrawn.filter((p) => p.afi === AFI_IPV4);
  const w6 = withdrawn.filter((p) => p.afi === AFI_IPV6);
  for (const chunk of chunkBySize(w4, room)) {
    out.push({ type: 2, withdrawn: chunk, attributes: {}, nlri: [] });
  }
  for (const chunk of chunkBySize(w6, room - MP_UNREACH_OVERHEAD)) {
    out.push({
      type: 2,
      withdrawn: [],
      attributes: { mpUnreach: { afi: AFI_IPV6, safi: SAFI_UNICAST, withdrawn: chunk } },
      nlri: [],
    });
  }
}

/**
 * Packs withdrawals and announcements into UPDATEs of at most 4096 bytes: IPv4 in the
 * withdrawn/NLRI fields, IPv6 in MP_UNREACH/MP_REACH. Withdrawals come first.
 */
export function packUpdates(
  withdrawn: Prefix[],
  groups: AnnounceGroup[],
  options: { ctx: CodecContext; nextHopV6: string },
): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  if (withdrawn.length > 0) packWithdrawals(withdrawn, out);
  for (const g of groups) {
    if (g.prefixes.length === 0) continue;
    const chunks = chunkBySize(g.prefixes, nlriRoom(g, options.ctx));
    for (const chunk of chunks) {
      if (g.afi === AFI_IPV4) {
        out.push({ type: 2, withdrawn: [], attributes: g.attributes, nlri: chunk });
        continue;
      }
      const mpReach = { afi: AFI_IPV6, safi: SAFI_UNICAST, nextHops: [options.nextHopV6] };
      out.push({
        type: 2,
        withdrawn: [],
        attributes: { ...g.attributes, mpReach: { ...mpReach, nlri: chunk } },
        nlri: [],
      });
    }
  }
  return out;
}

/**
 * How many prefixes at the end of `g` fill its last, partly filled UPDATE, and whether `g`
 * fills more than one UPDATE (a bulk change).
 */
export function lastUpdateCount(
  g: AnnounceGroup,
  ctx: CodecContext,
): { count: number; bulk: boolean } {
  const room = nlriRoom(g, ctx);
  let used = 0;
  let chunks = 1;
  let last = 0;
  for (const p of g.prefixes) {
    const n = nlriLength(p);
    if (used + n > room && used > 0) {
      chunks++;
      used = 0;
      last = 0;
    }
    used += n;
    last++;
  }
  return { count: last, bulk: chunks > 1 };
}

/** The End-of-RIB marker for a family (RFC 4724 2). */
export function endOfRib(family: Family): UpdateMessage {
  if (family === "ipv4") return { type: 2, withdrawn: [], attributes: {}, nlri: [] };
  return {
    type: 2,
    withdrawn: [],
    attributes: { mpUnreach: { afi: AFI_IPV6, safi: SAFI_UNICAST, withdrawn: [] } },
    nlri: [],
  };
}
