/** Path attribute flag bits and type codes (RFC 4271 4.3, RFC 7606 3(c)). */

/** Attribute flag bits (RFC 4271 4.3). */
export const AttrFlag = {
  OPTIONAL: 0x80,
  TRANSITIVE: 0x40,
  PARTIAL: 0x20,
  EXTENDED_LENGTH: 0x10,
} as const;

/** Attribute type codes we interpret. */
export const AttrType = {
  ORIGIN: 1,
  AS_PATH: 2,
  NEXT_HOP: 3,
  MED: 4,
  LOCAL_PREF: 5,
  ATOMIC_AGGREGATE: 6,
  AGGREGATOR: 7,
  COMMUNITIES: 8,
  MP_REACH_NLRI: 14,
  MP_UNREACH_NLRI: 15,
  EXTENDED_COMMUNITIES: 16,
  AS4_PATH: 17,
  AS4_AGGREGATOR: 18,
  LARGE_COMMUNITIES: 32,
} as const;

/** The 2-octet stand-in for a 4-octet ASN (RFC 6793). */
export const AS_TRANS = 23456;

/** Optional+transitive bits each known attribute must carry (RFC 7606 3(c)). */
export const EXPECTED_FLAGS: Readonly<Record<number, number>> = {
  1: 0x40,
  2: 0x40,
  3: 0x40,
  4: 0x80,
  5: 0x40,
  6: 0x40,
  7: 0xc0,
  8: 0xc0,
  14: 0x80,
  15: 0x80,
  16: 0xc0,
  17: 0xc0,
  18: 0xc0,
  32: 0xc0,
};

/** The attribute's name for messages, e.g. `AS_PATH`, or `attribute 99`. */
export function attrName(code: number): string {
  for (const [name, value] of Object.entries(AttrType)) if (value === code) return name;
  return `attribute ${code}`;
}
