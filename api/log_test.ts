import assert from "node:assert/strict";
import { createLogger, silentLogger } from "./log.ts";

Deno.test("a logger says which levels it writes", () => {
  const log = createLogger({ level: "info", write: () => {} });
  assert.equal(log.enabled?.("debug"), false);
  assert.equal(log.enabled?.("info"), true);
  assert.equal(log.enabled?.("error"), true);
  assert.equal(log.child({ component: "x" }).enabled?.("debug"), false);
});

Deno.test("the silent logger writes no level", () => {
  assert.equal(silentLogger.enabled?.("error"), false);
});
