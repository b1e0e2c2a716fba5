import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { sha256Hex, sha256Prefix40 } from "./short_hash.ts";

Deno.test("sha256Hex gives node:crypto's SHA-256 for short, long and non-ASCII text", () => {
  const texts = ["", "abc", "default/web/n1", "ü€𝄞/ns/x", "a".repeat(55), "b".repeat(56)];
  for (let n = 0; n < 300; n += 7) texts.push(`ns-${n}/${"s".repeat(n)}/node-${n}`);
  texts.push("x".repeat(5000));
  for (const t of texts) {
    const want = createHash("sha256").update(t).digest("hex");
    assert.equal(sha256Hex(t), want, t);
    assert.equal(sha256Hex(t, 10), want.slice(0, 10), t);
    assert.equal(sha256Prefix40(t), parseInt(want.slice(0, 10), 16), t);
  }
});
