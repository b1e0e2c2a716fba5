/**
 * The speaker role's public API: the pure announcement decision and the running speaker.
 */
export {
  type AnnounceCache,
  type AnnounceInput,
  type Announcements,
  AS_TRANS,
  BANDWIDTH_PER_ENDPOINT,
  computeAnnouncements,
  createAnnounceCache,
  EXCLUDE_LABEL,
  LEGACY_POOL_ANNOTATION,
  linkBandwidthCommunity,
  localAsnOf,
  peerFamilies,
  POOL_ANNOTATION,
  poolOf,
  type ServiceAnnouncement,
} from "./announce.ts";
export {
  createSpeaker,
  type PeerProblems,
  peerProblems,
  routerIdFor,
  serviceBGPStatusName,
  type SessionFactory,
  type Speaker,
  type SpeakerConfigStatus,
  type SpeakerOptions,
  type SpeakerSession,
  type SpeakerSessionStatus,
  type SpeakerStatus,
} from "./speaker.ts";
