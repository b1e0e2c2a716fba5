/**
 * What the speaker reports in /status: the shapes of `api/status.ts`, with what only the
 * speaker knows.
 */
import type { ServiceStatus, SessionStatus } from "../api/status.ts";

/** Validity of the running configuration, as /status shows it. */
export interface SpeakerConfigStatus {
  valid: boolean;
  errors: string[];
  warnings: string[];
}

/** One BGP session (state `Rejected` for a peer the speaker cannot run). */
export type SpeakerSessionStatus = SessionStatus;

/**
 * One LoadBalancer Service as this node's speaker sees it. `peers` are the peers (`ip:port`)
 * that hold its routes now: the session is Established and the routes went out with their
 * current attributes, not every peer that should. `notAnnounced` says why an assigned
 * Service is announced nowhere from this node, or which of its IPs are not.
 */
export interface SpeakerServiceStatus extends ServiceStatus {
  /** When `peers` last changed (RFC 3339), while it is not empty. */
  announcedSince?: string;
}

/** The speaker's part of a StatusDocument. */
export interface SpeakerStatus {
  sessions: SpeakerSessionStatus[];
  services: SpeakerServiceStatus[];
}
