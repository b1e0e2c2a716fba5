/**
 * SHA-256 of a string, synchronously, for ServiceBGPStatus names (their first hex digits) and
 * the key of a BGPPeer's TCP MD5 password (no second plaintext copy is kept). The speaker names
 * one object per Service, 100,000s at a start; `node:crypto`'s `createHash` makes a Hash
 * object (with its native state) per name that outlives the young generation. This one
 * reuses its buffers and makes only the result string. Same digest: names written before
 * stay the names the speaker finds after an upgrade. (`node:crypto` would also load Deno's
 * Node layer, megabytes of heap, into a process that otherwise never needs it.)
 */

const K = new Uint32Array([
  0x428a2f98,
  0x71374491,
  0xb5c0fbcf,
  0xe9b5dba5,
  0x3956c25b,
  0x59f111f1,
  0x923f82a4,
  0xab1c5ed5,
  0xd807aa98,
  0x12835b01,
  0x243185be,
  0x550c7dc3,
  0x72be5d74,
  0x80deb1fe,
  0x9bdc06a7,
  0xc19bf174,
  0xe49b69c1,
  0xefbe4786,
  0x0fc19dc6,
  0x240ca1cc,
  0x2de92c6f,
  0x4a7484aa,
  0x5cb0a9dc,
  0x76f988da,
  0x983e5152,
  0xa831c66d,
  0xb00327c8,
  0xbf597fc7,
  0xc6e00bf3,
  0xd5a79147,
  0x06ca6351,
  0x14292967,
  0x27b70a85,
  0x2e1b2138,
  0x4d2c6dfc,
  0x53380d13,
  0x650a7354,
  0x766a0abb,
  0x81c2c92e,
  0x92722c85,
  0xa2bfe8a1,
  0xa81a664b,
  0xc24b8b70,
  0xc76c51a3,
  0xd192e819,
  0xd6990624,
  0xf40e3585,
  0x106aa070,
  0x19a4c116,
  0x1e376c08,
  0x2748774c,
  0x34b0bcb5,
  0x391c0cb3,
  0x4ed8aa4a,
  0x5b9cca4f,
  0x682e6ff3,
  0x748f82ee,
  0x78a5636f,
  0x84c87814,
  0x8cc70208,
  0x90befffa,
  0xa4506ceb,
  0xbef9a3f7,
  0xc67178f2,
]);
const INIT = [
  0x6a09e667,
  0xbb67ae85,
  0x3c6ef372,
  0xa54ff53a,
  0x510e527f,
  0x9b05688c,
  0x1f83d9ab,
  0x5be0cd19,
];

const encoder = new TextEncoder();
const W = new Uint32Array(64);
const H = new Uint32Array(8);
let buf = new Uint8Array(1024);

/** Runs the compression function over the 64-byte block of `bytes` at `at`. */
function block(bytes: Uint8Array, at: number): void {
  for (let i = 0; i < 16; i++) {
    const j = at + i * 4;
    W[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15], b = W[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[i] = W[i - 16] + s0 + W[i - 7] + s1;
  }
  let a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
  for (let i = 0; i < 64; i++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (h + S1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (S0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    h = g, g = f, f = e, e = (d + t1) | 0, d = c, c = b, b = a, a = (t1 + t2) | 0;
  }
  H[0] += a, H[1] += b, H[2] += c, H[3] += d, H[4] += e, H[5] += f, H[6] += g, H[7] += h;
}

function putWord(at: number, word: number): void {
  buf[at] = word >>> 24;
  buf[at + 1] = word >>> 16;
  buf[at + 2] = word >>> 8;
  buf[at + 3] = word;
}

/** Leaves the SHA-256 of `text` (UTF-8) in `H`. */
function digest(text: string): void {
  // UTF-8 takes at most 3 bytes per UTF-16 unit; 72 more for the padding and length.
  const need = text.length * 3 + 72;
  if (buf.length < need) buf = new Uint8Array(need * 2);
  const n = encoder.encodeInto(text, buf).written;
  const total = (n + 9 + 63) & ~63;
  buf.fill(0, n, total);
  buf[n] = 0x80;
  const bits = n * 8;
  // The length in bits, big-endian, in the last 8 bytes (the high word is 0 below 512 MiB).
  putWord(total - 8, Math.floor(bits / 0x100000000));
  putWord(total - 4, bits >>> 0);
  H.set(INIT);
  for (let at = 0; at < total; at += 64) block(buf, at);
}

/** The first `digits` (at most 64) lowercase hex digits of the SHA-256 of `text` (UTF-8). */
export function sha256Hex(text: string, digits = 64): string {
  digest(text);
  let out = "";
  for (let i = 0; i < 8 && out.length < digits; i++) out += H[i].toString(16).padStart(8, "0");
  return out.slice(0, digits);
}

/**
 * The number the first 10 hex digits of the SHA-256 of `text` spell (40 bits): no string is
 * made for them, where a name is kept as that number anyway.
 */
export function sha256Prefix40(text: string): number {
  digest(text);
  return H[0] * 256 + (H[1] >>> 24);
}
