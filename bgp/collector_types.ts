/** What the collector reports: sessions and the routes they sent, in JSON-friendly form. */

/** One route as received, in JSON-friendly form. */
export interface CollectedRoute {
  prefix: string;
  nextHop?: string;
  /** ASNs of the AS_PATH in order (sets flattened). */
  asPath: number[];
  origin?: number;
  med?: number;
  localPref?: number;
  /** "asn:value". */
  communities: string[];
  /** "global:local1:local2". */
  largeCommunities: string[];
  /** 16 hex digits each. */
  extendedCommunities: string[];
}

/** A peer's Adj-RIB-In. */
export interface PeerRoutes {
  peer: string;
  asn?: number;
  routerId?: string;
  routes: CollectedRoute[];
}

/** A NOTIFICATION seen on a session. */
export interface NotificationInfo {
  direction: "received" | "sent";
  code: number;
  subcode: number;
  text: string;
}

/** A session, live or ended. */
export interface CollectorPeer {
  peer: string;
  state: string;
  asn?: number;
  routerId?: string;
  holdTimeMs?: number;
  fourOctetAs?: boolean;
  families?: string[];
  /** ISO time the session came up. */
  establishedAt?: string;
  /** ISO time the session ended. */
  closedAt?: string;
  updatesReceived: number;
  prefixes: number;
  endOfRib: string[];
  lastNotification?: NotificationInfo;
  closeReason?: string;
}
