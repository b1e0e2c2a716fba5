/**
 * The OPEN exchange of RFC 4271 section 6.2 without the state machine: the OPEN we send
 * ({@linkcode buildOpen}) and the checks and negotiation applied to the peer's
 * ({@linkcode checkOpen}), one short step per rule so each NOTIFICATION has one origin.
 */
import { BgpError, ErrorCode, OpenSubcode } from "./errors.ts";
import { AFI_IPV4, AFI_IPV6, type Capability, type OpenMessage, SAFI_UNICAST } from "./types.ts";

/** Address families a session may carry. */
export type Family = "ipv4" | "ipv6";

/** Which peer AS an unpinned session accepts: ours ("internal") or any other ("external"). */
export type PeerAsnPolicy = "internal" | "external";

/** AS_TRANS (RFC 6793): the 2-octet My AS of a speaker whose ASN does not fit. */
export const AS_TRANS = 23456;

/** What we put in our OPEN and expect from the peer's. */
export interface OpenPolicy {
  localAsn: number;
  /** Expected peer AS; undefined accepts any allowed by `peerAsnPolicy` (the collector). */
  peerAsn?: number;
  /**
   * When `peerAsn` is undefined: "external" accepts any AS but ours, "internal" only ours
   * (MetalLB's dynamicASN); undefined accepts any.
   */
  peerAsnPolicy?: PeerAsnPolicy;
  routerId: string;
  holdTimeMs: number;
  /** Configured keepalive; default a third of the negotiated hold time. */
  keepaliveMs?: number;
  families: Family[];
  /** Restart time in seconds to announce the graceful-restart capability; omit to not. */
  gracefulRestartTimeS?: number;
  /** Set the RFC 8538 N bit in our graceful-restart capability (default true). */
  gracefulRestartNotification?: boolean;
  /** Set the R bit: we are coming back from a restart (RFC 4724 3). */
  restarting?: boolean;
  /**
   * Set the F bit for every family: forwarding survived our restart. True for a speaker
   * whose data plane (the node) keeps running while the BGP process restarts.
   */
  forwardingPreserved?: boolean;
  /** Accept a peer router ID equal to ours on iBGP (the collector is lenient). */
  allowSameRouterId?: boolean;
}

/** The outcome of a successful OPEN exchange. */
export interface Negotiated {
  peerAsn: number;
  peerRouterId: string;
  /** Negotiated hold time in ms; 0 disables hold and keepalive timers. */
  holdTimeMs: number;
  keepaliveMs: number;
  fourOctetAs: boolean;
  /** Families both sides announced (IPv4 alone when the peer sent no multiprotocol caps). */
  families: Family[];
  routeRefresh: boolean;
  /** The peer announced graceful restart. */
  peerGracefulRestart: boolean;
  /** Both sides announced graceful restart (RFC 4724 procedures apply to this session). */
  gracefulRestart: boolean;
  /** Both sides set the RFC 8538 N bit: a NOTIFICATION other than Hard Reset keeps routes. */
  gracefulNotification: boolean;
  peerCapabilities: Capability[];
}

type GracefulRestartCap = Extract<Capability, { code: 64 }>;

function familyAfi(f: Family): 1 | 2 {
  return f === "ipv4" ? AFI_IPV4 : AFI_IPV6;
}

/** Our graceful-restart capability, announcing every family we carry. */
function gracefulRestartCap(policy: OpenPolicy, restartTimeS: number): GracefulRestartCap {
  const gr: GracefulRestartCap = {
    code: 64,
    restarting: !!policy.restarting,
    restartTime: Math.min(restartTimeS, 0x0fff),
    families: policy.families.map((f) => ({
      afi: familyAfi(f),
      safi: SAFI_UNICAST,
      forwardingPreserved: !!policy.forwardingPreserved,
    })),
  };
  if (policy.gracefulRestartNotification !== false) gr.notification = true;
  return gr;
}

/** Our OPEN message for `policy`. */
export function buildOpen(policy: OpenPolicy): OpenMessage {
  const caps: Capability[] = policy.families.map((f) => ({
    code: 1 as const,
    afi: familyAfi(f),
    safi: SAFI_UNICAST,
  }));
  caps.push({ code: 2 });
  caps.push({ code: 65, asn: policy.localAsn });
  if (policy.gracefulRestartTimeS !== undefined) {
    caps.push(gracefulRestartCap(policy, policy.gracefulRestartTimeS));
  }
  return {
    type: 1,
    version: 4,
    myAs: policy.localAsn > 0xffff ? AS_TRANS : policy.localAsn,
    holdTime: Math.floor(policy.holdTimeMs / 1000),
    routerId: policy.routerId,
    capabilities: caps,
  };
}

function checkVersion(open: OpenMessage): void {
  if (open.version === 4) return;
  throw new BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNSUPPORTED_VERSION_NUMBER, {
    data: new Uint8Array([0, 4]),
    detail: `peer speaks version ${open.version}`,
  });
}

/** The 4-octet AS capability, whose ASN overrides the (possibly AS_TRANS) My AS field. */
function fourOctetAsCap(open: OpenMessage): { code: 65; asn: number } | undefined {
  return open.capabilities.find((c): c is { code: 65; asn: number } => c.code === 65 && "asn" in c);
}

function checkPeerAsn(peerAsn: number, policy: OpenPolicy): void {
  if (policy.peerAsn !== undefined && peerAsn !== policy.peerAsn) {
    throw new BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_PEER_AS, {
      detail: `peer AS ${peerAsn}, configured ${policy.peerAsn}`,
    });
  }
  if (policy.peerAsn !== undefined || policy.peerAsnPolicy === undefined) return;
  const internal = peerAsn === policy.localAsn;
  if (internal === (policy.peerAsnPolicy === "internal")) return;
  throw new BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_PEER_AS, {
    detail: policy.peerAsnPolicy === "internal"
      ? `peer AS ${peerAsn}, want our AS ${policy.localAsn} (dynamic ASN internal)`
      : `peer AS ${peerAsn} is our own AS (dynamic ASN external)`,
  });
}

function checkHoldTime(open: OpenMessage): void {
  if (open.holdTime !== 1 && open.holdTime !== 2) return;
  throw new BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.UNACCEPTABLE_HOLD_TIME, {
    detail: `hold time ${open.holdTime}s (must be 0 or at least 3)`,
  });
}

function checkRouterId(open: OpenMessage, expect: { policy: OpenPolicy; peerAsn: number }): void {
  const { policy } = expect;
  const ibgp = expect.peerAsn === policy.localAsn;
  if (
    open.routerId === "0.0.0.0" ||
    (ibgp && open.routerId === policy.routerId && !policy.allowSameRouterId)
  ) {
    throw new BgpError(ErrorCode.OPEN_MESSAGE, OpenSubcode.BAD_BGP_IDENTIFIER, {
      detail: `peer router ID ${open.routerId}`,
    });
  }
}

/** The smaller hold time of the two OPENs, and a keepalive under it. */
function negotiateTimers(
  open: OpenMessage,
  policy: OpenPolicy,
): { holdTimeMs: number; keepaliveMs: number } {
  const holdTimeMs = Math.min(Math.floor(policy.holdTimeMs / 1000), open.holdTime) * 1000;
  if (holdTimeMs <= 0) return { holdTimeMs, keepaliveMs: 0 };
  let keepaliveMs = Math.floor(holdTimeMs / 3);
  // A keepalive at or above the hold time would let the peer's hold timer expire.
  if (
    policy.keepaliveMs !== undefined && policy.keepaliveMs > 0 && policy.keepaliveMs < holdTimeMs
  ) {
    keepaliveMs = policy.keepaliveMs;
  }
  return { holdTimeMs, keepaliveMs };
}

/** Unicast families the peer announced; IPv4 alone when it sent no multiprotocol caps. */
function peerFamilies(open: OpenMessage): Family[] {
  const mp = open.capabilities.filter((c): c is { code: 1; afi: number; safi: number } =>
    c.code === 1 && "afi" in c
  );
  if (mp.length === 0) return ["ipv4"];
  return mp
    .filter((c) => c.safi === SAFI_UNICAST && (c.afi === AFI_IPV4 || c.afi === AFI_IPV6))
    .map((c) => (c.afi === AFI_IPV4 ? "ipv4" : "ipv6"));
}

function negotiateGracefulRestart(
  open: OpenMessage,
  policy: OpenPolicy,
): Pick<Negotiated, "peerGracefulRestart" | "gracefulRestart" | "gracefulNotification"> {
  const peerGr = open.capabilities.find((c): c is GracefulRestartCap =>
    c.code === 64 && "restartTime" in c
  );
  const ourGr = policy.gracefulRestartTimeS !== undefined;
  return {
    peerGracefulRestart: peerGr !== undefined,
    gracefulRestart: ourGr && peerGr !== undefined,
    gracefulNotification: ourGr && policy.gracefulRestartNotification !== false &&
      peerGr?.notification === true,
  };
}

/** Checks the peer's OPEN against `policy` (RFC 4271 6.2); throws the BgpError to send. */
export function checkOpen(open: OpenMessage, policy: OpenPolicy): Negotiated {
  checkVersion(open);
  const as4 = fourOctetAsCap(open);
  const peerAsn = as4 ? as4.asn : open.myAs;
  checkPeerAsn(peerAsn, policy);
  checkHoldTime(open);
  checkRouterId(open, { policy, peerAsn });
  const families = peerFamilies(open);
  return {
    peerAsn,
    peerRouterId: open.routerId,
    ...negotiateTimers(open, policy),
    fourOctetAs: as4 !== undefined,
    families: policy.families.filter((f) => families.includes(f)),
    routeRefresh: open.capabilities.some((c) => c.code === 2),
    ...negotiateGracefulRestart(open, policy),
    peerCapabilities: open.capabilities,
  };
}
