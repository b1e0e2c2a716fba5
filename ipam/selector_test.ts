import assert from "node:assert/strict";
import { type LabelSelector, matchesSelector } from "./selector.ts";

Deno.test("label selectors follow Kubernetes semantics", () => {
  const labels = { app: "web", tier: "front" };
  const cases: [string, LabelSelector, boolean][] = [
    ["empty selector matches all", {}, true],
    ["matchLabels equal", { matchLabels: { app: "web" } }, true],
    ["matchLabels differ", { matchLabels: { app: "db" } }, false],
    ["matchLabels missing key", { matchLabels: { zone: "a" } }, false],
    ["In hit", { matchExpressions: [{ key: "tier", operator: "In", values: ["front"] }] }, true],
    ["In miss", { matchExpressions: [{ key: "tier", operator: "In", values: ["back"] }] }, false],
    ["In absent key", { matchExpressions: [{ key: "x", operator: "In", values: ["a"] }] }, false],
    ["NotIn hit", {
      matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }],
    }, false],
    ["NotIn absent key", {
      matchExpressions: [{ key: "x", operator: "NotIn", values: ["a"] }],
    }, true],
    ["Exists", { matchExpressions: [{ key: "app", operator: "Exists" }] }, true],
    ["Exists absent", { matchExpressions: [{ key: "x", operator: "Exists" }] }, false],
    ["DoesNotExist", { matchExpressions: [{ key: "x", operator: "DoesNotExist" }] }, true],
    ["DoesNotExist present", {
      matchExpressions: [{ key: "app", operator: "DoesNotExist" }],
    }, false],
    ["all terms must hold", {
      matchLabels: { app: "web" },
      matchExpressions: [{ key: "tier", operator: "In", values: ["back"] }],
    }, false],
  ];
  for (const [name, selector, want] of cases) {
    assert.equal(matchesSelector(selector, labels), want, name);
  }
});
