/**
 * What the speaker reports in /status. The shapes are the speaker's own (cmd/ prints them);
 * they are a superset of the fields `ferrolb status` has always shown.
 */

/** Validity of the running configuration, as /status shows it. */
export interface SpeakerConfigStatus {
  valid: boolean;
  errors: string[];
  warnings: string[];
}

/** One BGP session. */
export interface SpeakerSessionStatus {
  /** `ip:port`, as in the `metallb_bgp_session_up{peer}` label. */
  peer: string;
  /** The BGPPeer object's name. */
  name?: string;
  /** FSM state (`Idle` … `Established`), or `Rejected` for a peer the speaker cannot run. */
  state: string;
  /** Seconds since the session reached Established; absent when it is not established. */
  uptimeSeconds?: number;
  prefixesSent: number;
  prefixesReceived: number;
  lastError?: string;
  /** The AS the peer sent in its OPEN (the one in use with `dynamicASN`), while connected. */
  peerAsn?: number;
  /**
   * Graceful restart: `enabled` in the BGPPeer, `negotiated` with the peer on the current
   * session, and RFC 8538 `notification` support; absent when neither side asked for it.
   */
  gracefulRestart?: { enabled: boolean; negotiated: boolean; notification: boolean };
  /** Features the BGPPeer asks for that the session runs without, e.g. `["BFD"]`. */
  unsupported?: string[];
}

/** One LoadBalancer Service as this node's speaker sees it. */
export interface SpeakerServiceStatus {
  namespace: string;
  name: string;
  ips: string[];
  pool?: string;
  /**
   * Peers (`ip:port`) that hold the Service's routes now: the session is Established and
   * the routes went out with their current attributes. Not every peer that should.
   */
  peers: string[];
  /** When `peers` last changed (RFC 3339), while it is not empty. */
  announcedSince?: string;
  /** Why it has no address yet, or why it is announced nowhere. */
  pending?: string;
  /**
   * Why an assigned Service is not announced from this node (no peer carries its family,
   * no IPv6 next hop, node excluded …), or which of its IPs are not.
   */
  notAnnounced?: string;
}

/** The speaker's part of a StatusDocument. */
export interface SpeakerStatus {
  sessions: SpeakerSessionStatus[];
  services: SpeakerServiceStatus[];
}
