import assert from "node:assert/strict";
import {
  BgpError,
  CeaseSubcode,
  decodeShutdownMessage,
  describeNotification,
  encodeShutdownMessage,
  ErrorCode,
} from "./errors.ts";

Deno.test("describeNotification names code and subcode", () => {
  assert.equal(
    describeNotification(ErrorCode.CEASE, CeaseSubcode.ADMINISTRATIVE_SHUTDOWN),
    "Cease: Administrative Shutdown (6/2)",
  );
  assert.equal(describeNotification(4, 0), "Hold Timer Expired (4/0)");
  assert.match(describeNotification(5, 2), /OpenConfirm/);
  assert.match(describeNotification(99, 1), /99/);
});

Deno.test("BgpError carries what the NOTIFICATION needs", () => {
  const err = new BgpError(1, 2, { data: Uint8Array.of(0x10, 0x01), detail: "length 4097" });
  assert.ok(err instanceof Error);
  assert.equal(err.code, 1);
  assert.equal(err.subcode, 2);
  assert.deepEqual(err.data, Uint8Array.of(0x10, 0x01));
  assert.match(err.message, /Bad Message Length.*length 4097/);
  assert.equal(new BgpError(6, 4).data.length, 0);
});

Deno.test("RFC 9003 shutdown messages round-trip and are cut at 255 bytes", () => {
  const data = encodeShutdownMessage("maintenance: node drain");
  assert.equal(data[0], 23);
  assert.equal(decodeShutdownMessage(data), "maintenance: node drain");
  const long = encodeShutdownMessage("é".repeat(200)); // 400 bytes of UTF-8
  assert.equal(long[0], 254); // never splits a 2-byte character
  assert.equal(decodeShutdownMessage(long), "é".repeat(127));
  assert.equal(decodeShutdownMessage(new Uint8Array(0)), null);
  assert.equal(decodeShutdownMessage(Uint8Array.of(5, 0x41)), null); // length overruns
  assert.equal(decodeShutdownMessage(Uint8Array.of(1, 0xff)), null); // not UTF-8
});
