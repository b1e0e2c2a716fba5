import assert from "node:assert/strict";
import { parseManifests } from "./file_source.ts";
import { DEFAULT_LIMITS, parseJsonBounded, readTextBounded, resolveLimits } from "./safe_yaml.ts";
import {
  aliasBomb,
  binaryGarbage,
  deepNesting,
  manyServices,
  serviceAliasBomb,
} from "../tests/soak/hostile_files.ts";

const reasonOf = (r: ReturnType<typeof parseManifests>): string => {
  assert.equal(r.ok, false, "expected a parse error");
  return (r as { reason: string }).reason;
};

Deno.test("a billion-laughs file is refused by its alias expansion", () => {
  const reason = reasonOf(parseManifests(aliasBomb(9)));
  assert.match(reason, /YAML alias expansion reaches 4\d\d,\d{3},\d{3} nodes \(limit 10,000,000\)/);
});

Deno.test("the bomb inside a Service's spec.ports is refused, not a RangeError", () => {
  assert.match(reasonOf(parseManifests(serviceAliasBomb(8))), /alias expansion reaches .* nodes/);
  // A smaller variant under the node limit but over the character limit.
  const r = parseManifests(serviceAliasBomb(7), { limits: { maxJsonChars: 1_000_000 } });
  assert.match(reasonOf(r), /alias expansion reaches [\d,]+ characters \(limit 1,000,000\)/);
});

Deno.test("the expansion budget is per file: splitting a bomb over documents does not help", () => {
  const doc = (i: number) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c${i}}\n${aliasBomb(5).replace(/^/gm, "")}`;
  const text = Array.from({ length: 40 }, (_, i) => doc(i)).join("---\n");
  // 40 documents of ~66,000 nodes each: each fits 1,000,000, together they do not.
  const r = parseManifests(text, { limits: { maxNodes: 1_000_000 } });
  assert.match(reasonOf(r), /document at line \d+: YAML alias expansion reaches [\d,]+ nodes/);
});

Deno.test("deep nesting, recursive aliases, too many aliases and garbage are errors", () => {
  assert.match(reasonOf(parseManifests(deepNesting(100_000))), /nesting exceeded maxDepth \(100\)/);
  assert.match(
    reasonOf(parseManifests("apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: x, self: *m}\n")),
    /nesting through aliases exceeds depth 100|unidentified alias/,
  );
  assert.match(
    reasonOf(parseManifests("a: &a [1]\nb: [*a, *a, *a]\n", { limits: { maxAliases: 2 } })),
    /maxAliases \(2\)/,
  );
  const garbage = new TextDecoder().decode(binaryGarbage(64 * 1024));
  assert.equal(parseManifests(garbage).ok, false);
});

Deno.test("nesting through aliases counts: deep anchors reused deeper are refused", () => {
  // Each level is shallow in the text but adds 10 levels once the alias is expanded.
  const lines = ["l0: &l0 [[[[[[[[[[1]]]]]]]]]]"];
  for (let i = 1; i < 12; i++) lines.push(`l${i}: &l${i} [[[[[[[[[[*l${i - 1}]]]]]]]]]]`);
  const text = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n${lines.join("\n")}\n`;
  assert.match(reasonOf(parseManifests(text)), /nesting through aliases exceeds depth 100/);
});

Deno.test("real use passes: anchors for shared labels, and 100,000 Services in one file", () => {
  const shared = `apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: Service
    metadata: {name: a, labels: &l {app: web, tier: front}}
    spec: {type: LoadBalancer, ports: [{port: 80}]}
  - apiVersion: v1
    kind: Service
    metadata: {name: b, labels: *l}
    spec: {type: LoadBalancer, ports: [{port: 80}]}
`;
  const r = parseManifests(shared);
  assert.ok(r.ok, JSON.stringify(r));
  assert.deepEqual(r.objects.map((o) => o.metadata.labels), [
    { app: "web", tier: "front" },
    { app: "web", tier: "front" },
  ]);
  // Expanded copies, not shared references: freezing or editing one leaves the other alone.
  assert.notEqual(r.objects[0].metadata.labels, r.objects[1].metadata.labels);

  const big = manyServices(100_000);
  assert.ok(big.length > 26_000_000);
  const all = parseManifests(big);
  assert.ok(all.ok, all.ok ? "" : all.reason);
  assert.equal(all.objects.length, 100_000);
  assert.equal(all.objects[99_999].metadata.name, "svc-99999");
});

Deno.test("size and object count limits name the limit", () => {
  const r = parseManifests(manyServices(30), { limits: { maxBytes: 1000 } });
  assert.match(reasonOf(r), /^file is [\d,]+ bytes \(limit 1,000 bytes\)$/);
  const many = parseManifests(manyServices(30), { limits: { maxObjects: 20 } });
  assert.match(reasonOf(many), /more than 20 objects \(limit 20\)/);
});

Deno.test("JSON (the state file) is bounded the same way", () => {
  const limits = resolveLimits({ maxDepth: 10, maxNodes: 100 });
  assert.deepEqual(parseJsonBounded('{"a":[1,2]}', limits), { ok: true, value: { a: [1, 2] } });
  const deep = parseJsonBounded("[".repeat(50) + "]".repeat(50), limits);
  assert.deepEqual(deep, { ok: false, reason: "nesting exceeds depth 10" });
  const wide = parseJsonBounded(JSON.stringify(Array(200).fill(0)), limits);
  assert.deepEqual(wide, { ok: false, reason: "JSON holds 201 nodes (limit 100)" });
  assert.match((parseJsonBounded("{", limits) as { reason: string }).reason, /^not JSON/);
  // V8's own JSON.parse has no depth limit that we rely on: 1,000,000 deep is an error value.
  const huge = parseJsonBounded("[".repeat(1_000_000) + "]".repeat(1_000_000), DEFAULT_LIMITS);
  assert.equal(huge.ok, false);
});

Deno.test("readTextBounded refuses a file over the limit without loading it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/big.yaml`;
    await Deno.writeTextFile(path, "x".repeat(5000));
    await assert.rejects(
      () => readTextBounded(path, resolveLimits({ maxBytes: 4096 })),
      /file is 5,000 bytes \(limit 4,096 bytes\)/,
    );
    assert.equal((await readTextBounded(path, resolveLimits({ maxBytes: 5000 }))).length, 5000);
    await assert.rejects(
      () => readTextBounded(`${dir}/gone.yaml`, DEFAULT_LIMITS),
      Deno.errors.NotFound,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
