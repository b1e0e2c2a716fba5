/**
 * One peer's Adj-RIB-In as the collector keeps it: what each message does to the session's
 * record and its routes, and how a route is shown.
 */
import type { Logger } from "./log.ts";
import { describeNotification } from "./errors.ts";
import type { CloseReason, Negotiated } from "./fsm.ts";
import { formatPrefix, prefixKey } from "./prefix.ts";
import type { Message, PathAttributes, Prefix, UpdateMessage } from "./types.ts";
import type { CollectedRoute, CollectorPeer } from "./collector_types.ts";

/** Routes by prefix key. */
export type Rib = Map<string, CollectedRoute>;

/** One session's record and routes. */
export interface PeerRecord {
  info: CollectorPeer;
  rib: Rib;
  log: Logger;
  /** Answers a ROUTE-REFRESH request for `family`. */
  refresh(family: "ipv4" | "ipv6"): void;
}

/** Records what the session agreed on when it came up. */
export function established(info: CollectorPeer, neg: Negotiated): void {
  info.asn = neg.peerAsn;
  info.routerId = neg.peerRouterId;
  info.holdTimeMs = neg.holdTimeMs;
  info.fourOctetAs = neg.fourOctetAs;
  info.families = neg.families;
  info.establishedAt = new Date().toISOString();
}

/** Records why and when the session ended. */
export function ended(info: CollectorPeer, why: CloseReason): void {
  info.state = "Closed";
  info.closedAt = new Date().toISOString();
  info.closeReason = why.reason;
  const n = why.received ?? why.sent;
  if (n) {
    info.lastNotification = {
      direction: why.received ? "received" : "sent",
      code: n.code,
      subcode: n.subcode,
      text: describeNotification(n.code, n.subcode),
    };
  }
}

function hex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

/** The JSON form of one received route. */
function toCollected(p: Prefix, a: PathAttributes, nextHop?: string): CollectedRoute {
  const r: CollectedRoute = {
    prefix: formatPrefix(p),
    asPath: (a.asPath ?? []).flatMap((s) => s.asns),
    communities: (a.communities ?? []).map((c) => `${c >>> 16}:${c & 0xffff}`),
    largeCommunities: (a.largeCommunities ?? []).map((l) => l.join(":")),
    extendedCommunities: (a.extendedCommunities ?? []).map(hex),
  };
  if (nextHop !== undefined) r.nextHop = nextHop;
  if (a.origin !== undefined) r.origin = a.origin;
  if (a.med !== undefined) r.med = a.med;
  if (a.localPref !== undefined) r.localPref = a.localPref;
  return r;
}

/**
 * Applies one received message to the peer's record and routes; `refresh` is called with
 * the family of a ROUTE-REFRESH request.
 */
export function received(
  msg: Message,
  peer: PeerRecord,
): void {
  const { info, rib } = peer;
  if (msg.type === 5) {
    if (msg.subtype) return; // RFC 7313 markers, not requests
    // Nothing to re-send: the collector announces no routes, only End-of-RIB.
    peer.refresh(msg.afi === 2 ? "ipv6" : "ipv4");
    return;
  }
  if (msg.type !== 2) return;
  info.updatesReceived++;
  applyUpdate(msg, peer);
  info.prefixes = rib.size;
}

function applyUpdate(
  msg: UpdateMessage,
  peer: Omit<PeerRecord, "refresh">,
): void {
  const { info, rib, log } = peer;
  const a = msg.attributes;
  const withdrawn = [...msg.withdrawn, ...(a.mpUnreach?.withdrawn ?? [])];
  const reach = a.mpReach?.nlri ?? [];
  if (withdrawn.length === 0 && msg.nlri.length === 0 && reach.length === 0) {
    const fam = a.mpUnreach ? (a.mpUnreach.afi === 2 ? "ipv6" : `afi${a.mpUnreach.afi}`) : "ipv4";
    if (!info.endOfRib.includes(fam)) info.endOfRib.push(fam);
    log.info("End-of-RIB received", { family: fam });
    return;
  }
  for (const p of withdrawn) rib.delete(prefixKey(p));
  if (msg.treatAsWithdraw) {
    for (const p of [...msg.nlri, ...reach]) rib.delete(prefixKey(p));
    log.warn("UPDATE treated as withdraw", {
      reason: msg.attributeError,
      prefixes: [...msg.nlri, ...reach].length,
    });
    return;
  }
  const added: CollectedRoute[] = [];
  for (const p of msg.nlri) added.push(toCollected(p, a, a.nextHop));
  for (const p of reach) added.push(toCollected(p, a, a.mpReach?.nextHops[0]));
  for (const [i, p] of [...msg.nlri, ...reach].entries()) rib.set(prefixKey(p), added[i]);
  logReceived(log, { added, withdrawn });
}

function logReceived(log: Logger, change: { added: CollectedRoute[]; withdrawn: Prefix[] }): void {
  const { added, withdrawn } = change;
  const sample = added.slice(0, 5);
  log.info("routes received", {
    announced: added.length,
    withdrawn: withdrawn.map(formatPrefix).slice(0, 20),
    withdrawnCount: withdrawn.length,
    sample: sample.map((r) => ({
      prefix: r.prefix,
      nextHop: r.nextHop,
      asPath: r.asPath,
      localPref: r.localPref,
      communities: r.communities,
      largeCommunities: r.largeCommunities,
    })),
  });
  for (const r of added) log.debug("route", { ...r });
}
