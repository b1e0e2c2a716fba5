import assert from "node:assert/strict";
import { loadAll } from "js-yaml";
import { createExpansionBudget, jsonStringLength, resolveLimits } from "./input_limits.ts";

Deno.test("jsonStringLength is the length of JSON.stringify, escapes and surrogates included", () => {
  const tricky = [
    "",
    "svc-000001",
    'a "quoted" \\ path',
    "tab\tnew\nline\r\u0008\u000c",
    "\u0000\u0001\u001f\u007f",
    "emoji 😀 pair",
    "lone \ud800 high",
    "lone \udc00 low",
    "\udc00\ud800",
    "ends high \ud83d",
    "ü é ß 中文",
  ];
  for (const s of tricky) assert.equal(jsonStringLength(s), JSON.stringify(s).length, s);
  // Random strings over the code units that matter: ASCII, controls, surrogates, others.
  const units = [0x00, 0x08, 0x0a, 0x1f, 0x20, 0x22, 0x41, 0x5c, 0xe9, 0xd83d, 0xde00, 0xdfff];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
  for (let i = 0; i < 2000; i++) {
    const s = String.fromCharCode(
      ...Array.from({ length: next() % 12 }, () => units[next() % units.length]),
    );
    assert.equal(jsonStringLength(s), JSON.stringify(s).length, JSON.stringify(s));
  }
});

Deno.test("expand: a plain tree is given back as it is, equal to what the copy gave", () => {
  const [doc] = loadAll(
    "apiVersion: v1\nkind: Service\nmetadata: {name: a, labels: {x: 'y'}}\n" +
      "spec: {ports: [{port: 80, protocol: TCP}], loadBalancerIP: null, flag: true}\n",
  );
  const r = createExpansionBudget(resolveLimits()).expand(doc);
  assert.ok(r.ok);
  assert.equal(r.value, doc);
  assert.deepEqual(r.value, JSON.parse(JSON.stringify(doc)));
});

Deno.test("expand: aliases and numbers JSON changes are copied as before", () => {
  const budget = createExpansionBudget(resolveLimits());
  const [aliased] = loadAll("a: &x {k: v}\nb: *x\n") as [Record<string, unknown>];
  assert.equal(aliased.a, aliased.b); // js-yaml shares the aliased node
  const r = budget.expand(aliased);
  assert.ok(r.ok);
  const copy = r.value as Record<string, unknown>;
  assert.notEqual(copy.a, copy.b);
  assert.deepEqual(copy, { a: { k: "v" }, b: { k: "v" } });

  const [typed] = loadAll("nan: .nan\ninf: .inf\nneg: -0.0\n");
  const t = budget.expand(typed);
  assert.ok(t.ok);
  assert.deepEqual(t.value, { nan: null, inf: null, neg: 0 });
  assert.ok(!Object.is((t.value as { neg: number }).neg, -0));
});

Deno.test("expand: characters are counted as JSON with a comma per entry, nodes one each", () => {
  const doc = { metadata: { name: 'q"uote', labels: { "k\n": "v" } }, spec: [1, true, null] };
  // The count is an upper bound of the JSON length: one separator per entry, so one more
  // than JSON per non-empty container (the root, metadata, labels, spec).
  const chars = JSON.stringify(doc).length + 4;
  // Nodes: the root, metadata, name, labels, its one value, spec and its three items.
  const nodes = 9;
  assert.ok(createExpansionBudget(resolveLimits({ maxJsonChars: chars })).expand(doc).ok);
  assert.ok(!createExpansionBudget(resolveLimits({ maxJsonChars: chars - 1 })).expand(doc).ok);
  assert.ok(createExpansionBudget(resolveLimits({ maxNodes: nodes })).expand(doc).ok);
  assert.ok(!createExpansionBudget(resolveLimits({ maxNodes: nodes - 1 })).expand(doc).ok);
});
