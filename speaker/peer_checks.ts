/**
 * What a BGPPeer needs before a session to it can run on this node: the fields the speaker
 * cannot honour, the router ID, the IPv6 next hop, the connector (TCP MD5, source address)
 * and the session configuration.
 */
import type { PeerConfig } from "../api/config.ts";
import { parseIP } from "../api/ip.ts";
import type { NodeView } from "../api/objects.ts";
import { type Connector, DEFAULT_CONNECT_MS, type Family, type SessionConfig } from "../bgp/mod.ts";
import { sha256Hex } from "./short_hash.ts";
import {
  ffiAvailable,
  ffiConnector,
  MD5_MAX_KEY_LEN,
  md5Available,
  md5Connector,
} from "../bgp/md5_transport.ts";
import { localAsnOf, peerFamilies } from "./announce.ts";

/**
 * How long announcements may wait to fill an UPDATE while many arrive over several flushes
 * (a cold start with IPs written in batches); lone changes never wait.
 */
export const COALESCE_MS = 50;

/** BGPPeer annotation naming the IPv6 next hop for IPv6 routes on an IPv4 session. */
export const NEXT_HOP_V6_ANNOTATION = "ferrolb.io/next-hop-ipv6";

/** A peer we cannot run (errors) or run with caveats (warnings, unsupported features). */
export interface PeerProblems {
  errors: string[];
  warnings: string[];
  /** Features the BGPPeer asks for that this speaker runs without, e.g. "BFD". */
  unsupported: string[];
}

/**
 * Checks a BGPPeer for fields this speaker cannot honour. Any error rejects that peer
 * alone: connecting while silently ignoring e.g. a password or VRF would be worse. BFD is
 * reported unsupported and the session runs without it, so that MetalLB configurations
 * using BFD keep working.
 */
export function peerProblems(peer: PeerConfig): PeerProblems {
  const errors: string[] = [];
  const warnings: string[] = [];
  const unsupported = unsupportedOf(peer);
  if (peer.vrf) {
    errors.push(`spec.vrf: VRF "${peer.vrf}" is not supported; sessions use the default VRF`);
  }
  if (peer.interface) {
    errors.push(
      "spec.interface: BGP unnumbered (interface) is not supported; set spec.peerAddress",
    );
  }
  errors.push(...passwordProblems(peer));
  if (peer.sourceAddress) errors.push(...sourceProblems(peer, peer.sourceAddress));
  if (peer.ebgpMultiHop) {
    warnings.push(
      "spec.ebgpMultiHop: the TTL cannot be set from Deno; the default TTL of 64 already " +
        "reaches multi-hop peers",
    );
  }
  if (peer.disableMP) warnings.push("spec.disableMP is deprecated and has no effect");
  return { errors, warnings, unsupported };
}

/** Features of `peer` the speaker runs without (the configuration's warning names them). */
export function unsupportedOf(peer: PeerConfig): string[] {
  const out = new Set<string>(peer.unsupported);
  if (peer.bfdProfile) out.add("BFD");
  return [...out].sort();
}

function passwordProblems(peer: PeerConfig): string[] {
  const password = passwordOf(peer);
  if (password === undefined) return [];
  const errors: string[] = [];
  const bytes = new TextEncoder().encode(password).length;
  if (bytes > MD5_MAX_KEY_LEN) {
    errors.push(
      `spec.password: ${bytes} bytes long; TCP MD5 (RFC 2385) keys on Linux are at most ` +
        `${MD5_MAX_KEY_LEN} bytes`,
    );
  }
  const md5 = md5Available();
  if (!md5.ok) {
    errors.push(
      `spec.password: TCP MD5 signatures (RFC 2385) unavailable: ${md5.reason}; ` +
        "refusing to connect without the password",
    );
  }
  return errors;
}

function sourceProblems(peer: PeerConfig, source: string): string[] {
  const errors: string[] = [];
  if (peer.address && source.includes(":") !== peer.address.includes(":")) {
    errors.push(
      `spec.sourceAddress: ${source} and peerAddress ${peer.address} are of different IP ` +
        "families",
    );
  }
  const ffi = ffiAvailable();
  if (passwordOf(peer) === undefined && !ffi.ok) {
    errors.push(
      `spec.sourceAddress: ${source} cannot be bound: Deno.connect cannot choose a source ` +
        `address and the FFI socket connector is unavailable: ${ffi.reason}`,
    );
  }
  return errors;
}

/** The TCP MD5 key of a peer; an empty password means none, as in MetalLB. */
function passwordOf(peer: PeerConfig): string | undefined {
  return peer.password ? peer.password : undefined;
}

/**
 * The connector a peer's session needs: TCP MD5 with a password, the FFI connector to bind a
 * `sourceAddress`, else `fallback` (undefined: the session's default, `Deno.connect`).
 */
export function connectorFor(peer: PeerConfig, fallback?: Connector): Connector | undefined {
  const password = passwordOf(peer);
  if (password === undefined && !peer.sourceAddress) return fallback;
  // A little under the session's own connect timeout, so the connector's error (which says
  // a silent drop usually means a password mismatch) is the one /status shows.
  const options = {
    connectTimeoutMs: DEFAULT_CONNECT_MS - 1_000,
    ...(peer.sourceAddress ? { sourceAddress: peer.sourceAddress } : {}),
  };
  return password === undefined ? ffiConnector(options) : md5Connector(password, options);
}

/**
 * What besides the session config makes a new session necessary: the password (hashed, so no
 * second plaintext copy is kept) and the source address.
 */
export function transportKeyOf(peer: PeerConfig): string {
  const password = passwordOf(peer);
  return JSON.stringify([
    password === undefined ? null : sha256Hex(password),
    peer.sourceAddress ?? null,
  ]);
}

/** Router ID of a session: the peer's `routerID`, else the node's first IPv4 InternalIP. */
export function routerIdFor(
  peer: PeerConfig,
  node: NodeView | undefined,
  fallback?: string,
): string | undefined {
  if (peer.routerID) return peer.routerID;
  const ip = node?.addresses.find((a) =>
    a.type === "InternalIP" && /^\d+\.\d+\.\d+\.\d+$/.test(a.address)
  );
  return ip?.address ?? fallback;
}

/** Where a session's IPv6 next hop comes from, or why there is none. */
export type NextHopV6 = { ok: true; address?: string } | { ok: false; reason: string };

/** Whether `text` is an IPv6 address a router can forward to (not link-local, mapped…). */
function usableV6(text: string): boolean {
  const r = parseIP(text);
  if (!r.ok || r.value.family !== 6) return false;
  const v = r.value.value;
  const top16 = Number(v >> 112n);
  if (v <= 1n) return false; // :: and ::1
  if ((v >> 32n) === 0xffffn) return false; // ::ffff:a.b.c.d
  if ((top16 & 0xffc0) === 0xfe80) return false; // link-local
  return (top16 & 0xff00) !== 0xff00; // multicast
}

/**
 * The IPv6 next hop of a session to `peer`: none needed unless IPv6 routes go over an IPv4
 * session (`dualStackAddressFamily`); then the BGPPeer's `ferrolb.io/next-hop-ipv6`
 * annotation, else the node's first global IPv6 address (InternalIP, then ExternalIP), as
 * MetalLB's FRR mode sends. Without one the peer gets no IPv6 routes, and the reason says why.
 */
export function nextHopV6For(
  peer: PeerConfig,
  node: NodeView | undefined,
  options: { annotation?: string; nodeName: string },
): NextHopV6 {
  if (!peerFamilies(peer).includes("ipv6") || peer.address?.includes(":")) return { ok: true };
  const annotated = options.annotation?.trim();
  if (annotated) {
    if (usableV6(annotated)) return { ok: true, address: annotated };
    return {
      ok: false,
      reason: `annotation ${NEXT_HOP_V6_ANNOTATION}: "${annotated}" is not a global IPv6 address`,
    };
  }
  for (const type of ["InternalIP", "ExternalIP"]) {
    const a = node?.addresses.find((x) => x.type === type && usableV6(x.address));
    if (a) return { ok: true, address: a.address };
  }
  return {
    ok: false,
    reason: `no IPv6 next hop for an IPv4 session: node ${options.nodeName} has no global ` +
      `IPv6 address; set annotation ${NEXT_HOP_V6_ANNOTATION} on the BGPPeer`,
  };
}

/** The session configuration for `peer` from this node. */
export function sessionConfigOf(
  peer: PeerConfig,
  options: { routerId: string; nextHopV6?: string },
): SessionConfig {
  const localAsn = localAsnOf(peer);
  const families: Family[] = peerFamilies(peer);
  const c: SessionConfig = {
    localAsn,
    peerAddress: peer.address!,
    peerPort: peer.port,
    routerId: options.routerId,
    holdTimeMs: peer.holdTimeMs,
    keepaliveMs: peer.keepaliveTimeMs,
    families,
    gracefulRestart: peer.enableGracefulRestart,
    name: peer.name,
    coalesceMs: COALESCE_MS,
  };
  if (options.nextHopV6) c.nextHopV6 = options.nextHopV6;
  // MetalLB's connectTime is the interval between connection attempts (FRR `timers connect`).
  if (peer.connectTimeMs !== undefined) c.connectRetryMs = peer.connectTimeMs;
  // With dynamicASN the peer's OPEN decides the AS, and with it iBGP or eBGP (LOCAL_PREF,
  // AS_PATH): the session takes both from the negotiated AS.
  if (peer.dynamicASN) c.peerAsnPolicy = peer.dynamicASN;
  else c.peerAsn = peer.peerASN ?? localAsn;
  return c;
}
