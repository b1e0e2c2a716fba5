/**
 * Path attributes (RFC 4271 5, RFC 1997, RFC 4360, RFC 4760, RFC 6793, RFC 8092) and NLRI
 * encoding, with RFC 7606 revised error handling on decode. One entry point for the codec;
 * each attribute family lives in its own file:
 *
 * - `attr_codes.ts`: flags, type codes, AS_TRANS
 * - `wire_writer.ts`: the byte buffer and attribute framing
 * - `nlri.ts`: prefixes in NLRI form
 * - `as_path.ts`: AS_PATH / AS4_PATH
 * - `communities_codec.ts`: standard, extended and large communities
 * - `mp_nlri.ts`: MP_REACH_NLRI / MP_UNREACH_NLRI
 * - `attr_encode.ts`, `attr_decode.ts`: the whole attribute block
 */
export { AS_TRANS, AttrFlag, AttrType } from "./attr_codes.ts";
export { Writer } from "./wire_writer.ts";
export { nlriLength, readNlri, writeNlri } from "./nlri.ts";
export { mergeAs4Path } from "./as_path.ts";
export { writePathAttributes } from "./attr_encode.ts";
export { type DecodedAttributes, decodePathAttributes } from "./attr_decode.ts";
