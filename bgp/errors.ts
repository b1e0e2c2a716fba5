/**
 * BGP error codes (RFC 4271 4.5, RFC 4486, RFC 6608, RFC 7313) and the typed error the codec
 * throws: it carries exactly what the NOTIFICATION to send must contain.
 */

/** NOTIFICATION error codes (RFC 4271 4.5, RFC 7313). */
export const ErrorCode = {
  MESSAGE_HEADER: 1,
  OPEN_MESSAGE: 2,
  UPDATE_MESSAGE: 3,
  HOLD_TIMER_EXPIRED: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH: 7,
} as const;

/** Message Header Error subcodes (RFC 4271 6.1). */
export const HeaderSubcode = {
  CONNECTION_NOT_SYNCHRONIZED: 1,
  BAD_MESSAGE_LENGTH: 2,
  BAD_MESSAGE_TYPE: 3,
} as const;

/** OPEN Message Error subcodes (RFC 4271 6.2, RFC 5492). */
export const OpenSubcode = {
  UNSUPPORTED_VERSION_NUMBER: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_IDENTIFIER: 3,
  UNSUPPORTED_OPTIONAL_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  UNSUPPORTED_CAPABILITY: 7,
} as const;

/** UPDATE Message Error subcodes (RFC 4271 6.3). */
export const UpdateSubcode = {
  MALFORMED_ATTRIBUTE_LIST: 1,
  UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE: 2,
  MISSING_WELL_KNOWN_ATTRIBUTE: 3,
  ATTRIBUTE_FLAGS_ERROR: 4,
  ATTRIBUTE_LENGTH_ERROR: 5,
  INVALID_ORIGIN_ATTRIBUTE: 6,
  INVALID_NEXT_HOP_ATTRIBUTE: 8,
  OPTIONAL_ATTRIBUTE_ERROR: 9,
  INVALID_NETWORK_FIELD: 10,
  MALFORMED_AS_PATH: 11,
} as const;

/** Finite State Machine Error subcodes (RFC 6608). */
export const FsmSubcode = {
  UNSPECIFIED: 0,
  UNEXPECTED_MESSAGE_IN_OPENSENT: 1,
  UNEXPECTED_MESSAGE_IN_OPENCONFIRM: 2,
  UNEXPECTED_MESSAGE_IN_ESTABLISHED: 3,
} as const;

/** Cease subcodes (RFC 4486, RFC 8203). */
export const CeaseSubcode = {
  MAXIMUM_PREFIXES_REACHED: 1,
  ADMINISTRATIVE_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMINISTRATIVE_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIGURATION_CHANGE: 6,
  CONNECTION_COLLISION_RESOLUTION: 7,
  OUT_OF_RESOURCES: 8,
  /** RFC 8538: the peer must drop our routes even under graceful restart. */
  HARD_RESET: 9,
} as const;

/** ROUTE-REFRESH Message Error subcodes (RFC 7313). */
export const RouteRefreshSubcode = {
  INVALID_MESSAGE_LENGTH: 1,
} as const;

const CODE_NAMES: Record<number, string> = {
  1: "Message Header Error",
  2: "OPEN Message Error",
  3: "UPDATE Message Error",
  4: "Hold Timer Expired",
  5: "Finite State Machine Error",
  6: "Cease",
  7: "ROUTE-REFRESH Message Error",
};

const SUBCODE_NAMES: Record<number, Record<number, string>> = {
  1: { 1: "Connection Not Synchronized", 2: "Bad Message Length", 3: "Bad Message Type" },
  2: {
    1: "Unsupported Version Number",
    2: "Bad Peer AS",
    3: "Bad BGP Identifier",
    4: "Unsupported Optional Parameter",
    6: "Unacceptable Hold Time",
    7: "Unsupported Capability",
  },
  3: {
    1: "Malformed Attribute List",
    2: "Unrecognized Well-known Attribute",
    3: "Missing Well-known Attribute",
    4: "Attribute Flags Error",
    5: "Attribute Length Error",
    6: "Invalid ORIGIN Attribute",
    8: "Invalid NEXT_HOP Attribute",
    9: "Optional Attribute Error",
    10: "Invalid Network Field",
    11: "Malformed AS_PATH",
  },
  5: {
    0: "Unspecified Error",
    1: "Receive Unexpected Message in OpenSent State",
    2: "Receive Unexpected Message in OpenConfirm State",
    3: "Receive Unexpected Message in Established State",
  },
  6: {
    1: "Maximum Number of Prefixes Reached",
    2: "Administrative Shutdown",
    3: "Peer De-configured",
    4: "Administrative Reset",
    5: "Connection Rejected",
    6: "Other Configuration Change",
    7: "Connection Collision Resolution",
    8: "Out of Resources",
    9: "Hard Reset",
  },
  7: { 1: "Invalid Message Length" },
};

/** Human-readable text for a NOTIFICATION code/subcode pair, for logs. */
export function describeNotification(code: number, subcode: number): string {
  const name = CODE_NAMES[code] ?? `Unknown error code ${code}`;
  if (subcode === 0 && code !== ErrorCode.FSM) return `${name} (${code}/0)`;
  const sub = SUBCODE_NAMES[code]?.[subcode] ?? `subcode ${subcode}`;
  return `${name}: ${sub} (${code}/${subcode})`;
}

/** A protocol error: the NOTIFICATION code/subcode/data to send to the peer. */
export class BgpError extends Error {
  /** NOTIFICATION error code. */
  code: number;
  /** NOTIFICATION error subcode. */
  subcode: number;
  /** NOTIFICATION data field (what RFC 4271 says to echo back). */
  data: Uint8Array;

  /** Builds the error; `detail` explains the cause in logs. */
  constructor(
    code: number,
    subcode: number,
    options: { data?: Uint8Array; detail?: string } = {},
  ) {
    const text = describeNotification(code, subcode);
    super(options.detail ? `${text}: ${options.detail}` : text);
    this.name = "BgpError";
    this.code = code;
    this.subcode = subcode;
    this.data = options.data ?? new Uint8Array(0);
  }
}

/**
 * NOTIFICATION data for Cease/2 and Cease/4 with a human message (RFC 9003): one length
 * byte then UTF-8, at most 255 bytes (cut on a character boundary).
 */
export function encodeShutdownMessage(text: string): Uint8Array {
  let bytes = new TextEncoder().encode(text);
  if (bytes.length > 255) {
    let end = 255;
    while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
    bytes = bytes.subarray(0, end);
  }
  const out = new Uint8Array(1 + bytes.length);
  out[0] = bytes.length;
  out.set(bytes, 1);
  return out;
}

/** The RFC 9003 shutdown message in Cease/2 or Cease/4 data, or null if there is none. */
export function decodeShutdownMessage(data: Uint8Array): string | null {
  if (data.length === 0 || data[0] === 0 || data[0] + 1 > data.length) return null;
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(data.subarray(1, 1 + data[0]));
  } catch {
    return null;
  }
}
