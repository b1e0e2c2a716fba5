/**
 * The public BGP API: sessions with their Adj-RIB-Out, the passive collector, and the
 * clock/transport seams tests inject. Codec internals stay in packets.ts/attributes.ts.
 */
export {
  BgpSession,
  DEFAULT_CONNECT_MS,
  DEFAULT_HOLD_MS,
  type SessionConfig,
  type SessionEvent,
  type SessionOptions,
  type SessionStats,
  type StopOptions,
} from "./session.ts";
export {
  AdjRibOut,
  type AttributeEnv,
  buildPathAttributes,
  endOfRib,
  packUpdates,
  type Route,
  type RouteAttributes,
  type RouteState,
  validateAttributes,
} from "./adj_rib_out.ts";
export {
  backoffDelay,
  checkOpen,
  type Family,
  type Negotiated,
  type PeerAsnPolicy,
  PeerConnection,
  type SessionState,
  State,
} from "./fsm.ts";
export {
  type CollectedRoute,
  type Collector,
  type CollectorOptions,
  type CollectorPeer,
  type NotificationInfo,
  type PeerRoutes,
  startCollector,
} from "./collector.ts";
export { type Clock, FakeClock, systemClock, type TimerHandle } from "./timers.ts";
export {
  type Conn,
  type Connector,
  formatHostPort,
  type MemoryConn,
  memoryPipe,
  type NetAddr,
  parseHostPort,
  tcpConnector,
} from "./transport.ts";
export { BgpError, describeNotification, ErrorCode } from "./errors.ts";
export { formatPrefix, parsePrefix, prefixEquals, prefixKey } from "./prefix.ts";
export { comparePrefix } from "./prefix_order.ts";
export type { LargeCommunity, Prefix } from "./types.ts";
export {
  ffiAvailable,
  ffiConnector,
  type FfiConnectorOptions,
  FfiUnavailableError,
  LIBC_CANDIDATES,
  type LibcOptions,
  md5Available,
  md5Connector,
  type Md5ConnectorOptions,
  Md5UnavailableError,
  SocketError,
} from "./md5_transport.ts";
