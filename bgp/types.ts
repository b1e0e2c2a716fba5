/**
 * The BGP message model shared by the codec (packets, attributes) and the session layer.
 * Plain data only: no I/O, nothing of Kubernetes.
 */

/** Address family identifiers (RFC 4760). */
export const AFI_IPV4 = 1;
/** IPv6 AFI. */
export const AFI_IPV6 = 2;
/** Unicast SAFI. */
export const SAFI_UNICAST = 1;

/**
 * An IPv4 prefix: `addr` is the address's 32 bits as a signed integer (`| 0`; `>>> 0` gives
 * the address), bits past `length` zero. Signed, so that it is always a small integer the
 * engine keeps in the object: one address of 128.0.0.0 or above stored as a double would
 * box the field in every prefix (16 B each).
 */
export interface Prefix4 {
  readonly afi: 1;
  readonly addr: number;
  readonly length: number;
}

/** An IPv6 prefix: `addr` is the 16 address bytes as 32 lowercase hex digits, bits past `length` zero. */
export interface Prefix6 {
  readonly afi: 2;
  readonly addr: string;
  readonly length: number;
}

/**
 * An IP prefix. The address is a number or a string rather than bytes: a typed array per
 * prefix costs ~100 B, times a route per Service.
 */
export type Prefix = Prefix4 | Prefix6;

/** Message type codes (RFC 4271 4.1, RFC 2918). */
export const MessageType = {
  OPEN: 1,
  UPDATE: 2,
  NOTIFICATION: 3,
  KEEPALIVE: 4,
  ROUTE_REFRESH: 5,
} as const;

/** OPEN capabilities we understand; anything else is kept raw. */
export type Capability =
  | { code: 1; afi: number; safi: number } // multiprotocol (RFC 4760)
  | { code: 2 } // route refresh (RFC 2918)
  | {
    code: 64; // graceful restart (RFC 4724)
    restarting: boolean;
    /**
     * RFC 8538 N bit: the speaker applies graceful restart to NOTIFICATIONs too (all but
     * Cease/Hard Reset). The decoder sets it only when the bit is on.
     */
    notification?: boolean;
    restartTime: number;
    families: { afi: number; safi: number; forwardingPreserved: boolean }[];
  }
  | { code: 65; asn: number } // 4-octet AS (RFC 6793)
  | { code: number; raw: Uint8Array };

/** OPEN message. `myAs` is the 2-octet field (AS_TRANS 23456 when the real AS is > 65535). */
export interface OpenMessage {
  type: 1;
  version: number;
  myAs: number;
  holdTime: number;
  /** Dotted quad. */
  routerId: string;
  capabilities: Capability[];
}

/** AS_PATH segment: 1 = AS_SET, 2 = AS_SEQUENCE (3/4 confed). ASNs are always 32-bit here. */
export interface AsPathSegment {
  type: 1 | 2 | 3 | 4;
  asns: number[];
}

/** An attribute we do not interpret, passed through when optional transitive. */
export interface RawAttribute {
  flags: number;
  code: number;
  value: Uint8Array;
}

/** A large community (RFC 8092). */
export type LargeCommunity = readonly [number, number, number];

/**
 * Path attributes of an UPDATE, decoded. Route-independent: NLRI live in the message (IPv4)
 * or in `mpReach`/`mpUnreach` (other families).
 */
export interface PathAttributes {
  /** 0 IGP, 1 EGP, 2 INCOMPLETE. */
  origin?: number;
  asPath?: AsPathSegment[];
  /** IPv4 next hop, dotted quad. */
  nextHop?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: boolean;
  aggregator?: { asn: number; address: string };
  /** RFC 1997 communities as 32-bit unsigned numbers (high 16 bits = ASN). */
  communities?: number[];
  /** RFC 4360 extended communities, 8 bytes each. */
  extendedCommunities?: Uint8Array[];
  largeCommunities?: LargeCommunity[];
  mpReach?: { afi: number; safi: number; nextHops: string[]; nlri: Prefix[] };
  mpUnreach?: { afi: number; safi: number; withdrawn: Prefix[] };
  /** Unrecognised attributes, in wire order. */
  unknown?: RawAttribute[];
}

/** UPDATE message. */
export interface UpdateMessage {
  type: 2;
  /** IPv4 withdrawn routes. */
  withdrawn: Prefix[];
  attributes: PathAttributes;
  /** IPv4 NLRI. */
  nlri: Prefix[];
  /**
   * Set by the decoder when RFC 7606 says treat-as-withdraw: every NLRI in the message
   * must be handled as withdrawn; `attributeError` says why.
   */
  treatAsWithdraw?: boolean;
  attributeError?: string;
}

/** NOTIFICATION message. */
export interface NotificationMessage {
  type: 3;
  code: number;
  subcode: number;
  data: Uint8Array;
}

/** KEEPALIVE message. */
export interface KeepaliveMessage {
  type: 4;
}

/** ROUTE-REFRESH message (RFC 2918). */
export interface RouteRefreshMessage {
  type: 5;
  afi: number;
  safi: number;
  /**
   * RFC 7313 subtype carried in the reserved byte: 1 Beginning-of-RIB, 2 End-of-RIB marker.
   * Absent for a plain request (0).
   */
  subtype?: number;
}

/** Any BGP message. */
export type Message =
  | OpenMessage
  | UpdateMessage
  | NotificationMessage
  | KeepaliveMessage
  | RouteRefreshMessage;

/** What the decoder needs to know about the session (negotiated capabilities). */
export interface CodecContext {
  /** Both sides announced 4-octet AS: AS_PATH carries 4-byte ASNs. */
  fourOctetAs: boolean;
}
