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

/**
 * Prefixes of one family and attribute set, cut into one run per UPDATE as they are added:
 * each prefix is stored once, in the array the UPDATE will carry.
 */
export class ChunkedGroup {
  /** Runs of prefixes, each filling at most one UPDATE. */
  readonly chunks: Prefix[][] = [];
  readonly afi: 1 | 2;
  readonly attributes: PathAttributes;
  readonly #room: number;
  #used = 0;

  /** An empty group; the room per UPDATE comes from the encoded attributes. */
  constructor(g: { afi: 1 | 2; attributes: PathAttributes; ctx: CodecContext }) {
    this.afi = g.afi;
    this.attributes = g.attributes;
    this.#room = nlriRoom({ afi: g.afi, attributes: g.attributes, prefixes: [] }, g.ctx);
  }

  /** Appends a prefix, starting a new run when the last one is full. */
  add(p: Prefix): void {
    const n = nlriLength(p);
    const last = this.chunks[this.chunks.length - 1];
    if (last === undefined || (this.#used + n > this.#room && last.length > 0)) {
      this.chunks.push([p]);
      this.#used = n;
      return;
    }
    last.push(p);
    this.#used += n;
  }

  /** The prefixes of the last run (the UPDATE that may not be full). */
  lastRun(): readonly Prefix[] {
    return this.chunks[this.chunks.length - 1] ?? [];
  }

  /** Drops the last run (held back for a later, fuller UPDATE). */
  dropLastRun(): void {
    this.chunks.pop();
    this.#used = this.#room;
  }
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
  const chunked = groups.filter((g) => g.prefixes.length > 0).map((g) => ({
    afi: g.afi,
    attributes: g.attributes,
    chunks: chunkBySize(g.prefixes, nlriRoom(g, options.ctx)),
  }));
  return packChunks(withdrawn, chunked, { nextHopV6: options.nextHopV6 });
}

/**
 * {@linkcode packUpdates} for announcements already cut into UPDATE-sized runs (see
 * {@linkcode ChunkedGroup}): one UPDATE per run. The run arrays become the UPDATEs' NLRI.
 */
export function packChunks(
  withdrawn: Prefix[],
  groups: readonly Pick<ChunkedGroup, "afi" | "attributes" | "chunks">[],
  options: { nextHopV6: string },
): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  if (withdrawn.length > 0) packWithdrawals(withdrawn, out);
  for (const g of groups) {
    for (const chunk of g.chunks) {
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
