/**
 * The /status document: what the controller and the speaker report and `ferrolb status`
 * prints. It lives here, below the roles, so controller/ and speaker/ fill the shape without
 * importing from cmd/.
 */

import type { HistoryEntry } from "./ip_history.ts";

/** A count that may exceed 2^53 (IPv6 pools): a decimal string, or a number when small. */
export type Count = string | number;

/** One BGP session as the speaker sees it. */
export interface SessionStatus {
  /** `ip:port`, as in the `metallb_bgp_session_up{peer}` label. */
  peer: string;
  /** The BGPPeer object's name, when known. */
  name?: string;
  /** FSM state: `Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm`, `Established`. */
  state: string;
  /** Seconds since the session reached Established; absent when it is not established. */
  uptimeSeconds?: number;
  prefixesSent: number;
  prefixesReceived: number;
  lastError?: string;
  /** The AS the peer sent in its OPEN (useful with `dynamicASN`). */
  peerAsn?: number;
  /** Graceful restart: configured, negotiated with the peer, RFC 8538 N bit on both sides. */
  gracefulRestart?: { enabled: boolean; negotiated: boolean; notification: boolean };
  /** BGPPeer features accepted but not implemented (e.g. `BFD`): the session runs without. */
  unsupported?: string[];
}

/** Used and total addresses of one family in a pool. */
export interface FamilyUsage {
  used: Count;
  total: Count;
}

/** One IPAddressPool's usage. */
export interface PoolStatus {
  name: string;
  ipv4?: FamilyUsage;
  ipv6?: FamilyUsage;
}

/** One LoadBalancer Service. */
export interface ServiceStatus {
  namespace: string;
  name: string;
  ips: string[];
  pool?: string;
  /** Peers (`ip:port`) this node announces the Service to. */
  peers: string[];
  /** Why it has no address yet, e.g. the AllocationFailed message. */
  pending?: string;
  /** Why this node announces it to no peer although it has an address (from the speaker). */
  notAnnounced?: string;
  /** ferrolb path control its routes carry (BGPAdvertisement annotations), when set. */
  path?: { asPathPrepend?: number; med?: number };
}

/** The /status JSON document served by the admin server. */
export interface StatusDocument {
  role: string;
  node?: string;
  config: { valid: boolean; errors: string[]; warnings: string[] };
  sessions: SessionStatus[];
  pools: PoolStatus[];
  services: ServiceStatus[];
  /** IP history entries (controller), only when asked for with `/status?history[=IP|SERVICE]`. */
  history?: HistoryEntry[];
}
