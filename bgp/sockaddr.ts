/**
 * The socket structures the FFI connector hands to libc, encoded by hand because no binding
 * layer exists: `sockaddr_in`/`sockaddr_in6` and Linux's `struct tcp_md5sig`. Pure bytes,
 * testable without FFI.
 */
import { bytesToIpv4, bytesToIpv6, ipv4ToBytes, ipv6ToBytes } from "./prefix.ts";
import type { NetAddr } from "./transport.ts";

/** AF_INET on Linux. */
export const AF_INET = 2;
/** AF_INET6 on Linux. */
export const AF_INET6 = 10;

/** Longest key the kernel accepts (TCP_MD5SIG_MAXKEYLEN in linux/tcp.h). */
export const MD5_MAX_KEY_LEN = 80;
/** sizeof(struct tcp_md5sig): sockaddr_storage 128 + flags 1 + prefixlen 1 + keylen 2 + ifindex 4 + key 80. */
export const TCP_MD5SIG_SIZE = 216;

/** A parsed IP address: family, 4 or 16 bytes, IPv6 zone index. */
export interface IpAddr {
  family: typeof AF_INET | typeof AF_INET6;
  bytes: Uint8Array;
  scopeId: number;
}

/**
 * Parses address text, an IPv6 one with an optional `%zone`; a zone name goes through
 * `zoneIndex` (if_nametoindex), which returns 0 for an unknown interface.
 */
export function parseIp(text: string, zoneIndex?: (zone: string) => number): IpAddr {
  if (!text.includes(":")) return { family: AF_INET, bytes: ipv4ToBytes(text), scopeId: 0 };
  const [addr, zone] = text.split("%", 2);
  let scopeId = 0;
  if (zone !== undefined) {
    scopeId = /^\d+$/.test(zone) ? Number(zone) : zoneIndex?.(zone) ?? 0;
    if (!scopeId) throw new TypeError(`invalid IPv6 zone "${zone}" in "${text}"`);
  }
  return { family: AF_INET6, bytes: ipv6ToBytes(addr), scopeId };
}

/**
 * A `struct sockaddr_in` (4-byte `addr`) or `struct sockaddr_in6` (16-byte `addr`) in host
 * byte order for the family, network byte order for port and address.
 */
export function encodeSockaddr(addr: Uint8Array, port: number, scopeId = 0): Uint8Array {
  const v6 = addr.length === 16;
  const out = new Uint8Array(v6 ? 28 : 16);
  const dv = new DataView(out.buffer);
  dv.setUint16(0, v6 ? AF_INET6 : AF_INET, true);
  dv.setUint16(2, port, false);
  if (v6) {
    out.set(addr, 8);
    dv.setUint32(24, scopeId, true);
  } else {
    out.set(addr, 4);
  }
  return out;
}

/** Reads a sockaddr_in/sockaddr_in6 back into address text and port. */
export function decodeSockaddr(buf: Uint8Array): NetAddr {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const family = dv.getUint16(0, true);
  const port = dv.getUint16(2, false);
  if (family === AF_INET) return { hostname: bytesToIpv4(buf, 4), port };
  if (family === AF_INET6) {
    const mapped = buf.subarray(8, 20).every((b, i) => b === (i < 10 ? 0 : 0xff));
    return { hostname: mapped ? bytesToIpv4(buf, 20) : bytesToIpv6(buf, 8), port };
  }
  return { hostname: "", port: 0 };
}

/**
 * A Linux `struct tcp_md5sig` for peer `addr` (4 or 16 bytes) and `key`: the peer address in
 * a sockaddr_storage, then flags, prefixlen, keylen (u16) and ifindex (all zero but keylen),
 * then the key padded to 80 bytes. An empty key deletes the peer's key.
 */
export function encodeMd5sig(addr: Uint8Array, scopeId: number, key: Uint8Array): Uint8Array {
  if (key.length > MD5_MAX_KEY_LEN) {
    throw new RangeError(`TCP MD5 key is ${key.length} bytes; Linux allows ${MD5_MAX_KEY_LEN}`);
  }
  const out = new Uint8Array(TCP_MD5SIG_SIZE);
  out.set(encodeSockaddr(addr, 0, scopeId), 0);
  new DataView(out.buffer).setUint16(130, key.length, true);
  out.set(key, 136);
  return out;
}
