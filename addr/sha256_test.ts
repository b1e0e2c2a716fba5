import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256Hex } from "./sha256.ts";

Deno.test("the FIPS 180-4 examples: one block, two blocks, and the empty message", () => {
  assert.equal(
    sha256Hex("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
  assert.equal(
    sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
  );
  assert.equal(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
});

Deno.test("every length around the block edges, and non-ASCII text, agree with node:crypto", () => {
  for (let n = 0; n < 200; n++) {
    const text = "pässwörd-".repeat(20).slice(0, n);
    assert.equal(sha256Hex(text), createHash("sha256").update(text).digest("hex"), `length ${n}`);
  }
});
