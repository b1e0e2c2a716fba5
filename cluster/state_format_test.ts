import assert from "node:assert/strict";
import { parseEnvelope } from "./state_format.ts";

const envelope = (data: Record<string, unknown>) =>
  JSON.stringify({ format: "ferrolb-state", generation: 3, savedAt: "now", data });

Deno.test("state file: Services are checked by shape, anything else by the generic bounds", () => {
  const good = envelope({
    version: 1,
    services: { "default/a": { ingress: ["192.0.2.1"], annotations: { x: "y" } } },
    note: { kept: [1, 2, 3] },
  });
  const ok = parseEnvelope(good);
  assert.ok(typeof ok !== "string", String(ok));
  assert.deepEqual(ok.data.services["default/a"].ingress, ["192.0.2.1"]);
  assert.deepEqual(ok.data.note, { kept: [1, 2, 3] });

  // A planted extra field nested past the depth bound is refused, not carried along.
  let deep: unknown = 0;
  for (let i = 0; i < 200; i++) deep = [deep];
  const planted = parseEnvelope(envelope({ version: 1, services: {}, extra: deep }));
  assert.match(String(planted), /nesting exceeds depth 100/);

  const malformed = parseEnvelope(
    envelope({ version: 1, services: { "default/b": { ingress: [[["1"]]], annotations: {} } } }),
  );
  assert.equal(malformed, 'services["default/b"] is malformed');
  assert.match(String(parseEnvelope("{")), /^not JSON/);
  assert.equal(parseEnvelope(envelope({ version: 2, services: {} })), "unsupported version 2");
});
