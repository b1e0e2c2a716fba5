import assert from "node:assert/strict";
import { renderChunks, type RenderFamily } from "./metrics_render.ts";

function family(rows: [string[], number][], labelNames = ["service", "ip"]): RenderFamily {
  return {
    help: "help with a \\ and a\nnewline",
    type: "gauge",
    labelNames,
    unlabelled: undefined,
    forEachRow: (row) => rows.forEach(([v, x]) => row(v, x)),
  };
}

Deno.test("renderChunks writes a large family in chunks, sorted, with yields while sorting", () => {
  const n = 20_000;
  const rows: [string[], number][] = [];
  for (let i = 0; i < n; i++) rows.push([[`s${(i * 7919) % n}`, `10.0.0.${i % 7}`], i]);
  const parts = [...renderChunks([["m", family(rows)]])];
  const chunks = parts.filter((p): p is string => p !== null);
  assert.ok(chunks.length > 1, "a large family comes out in more than one chunk");
  assert.ok(parts.includes(null), "sorting unsorted rows leaves turns for the event loop");
  const lines = chunks.join("").split("\n").filter(Boolean);
  assert.equal(lines[0], "# HELP m help with a \\\\ and a\\nnewline");
  assert.equal(lines[1], "# TYPE m gauge");
  const series = lines.slice(2);
  assert.equal(series.length, n);
  const key = (l: string) => /service="([^"]*)",ip="([^"]*)"/.exec(l)!.slice(1).join("\0");
  assert.deepEqual(series.map(key), series.map(key).sort());
});

Deno.test("renderChunks escapes label values and writes unlabelled families as 0 when unset", () => {
  const text = [
    ...renderChunks([
      ["a", { ...family([[['x"y\\z\nw'], 1]], ["l"]) }],
      ["b", { ...family([], []), unlabelled: 2n ** 64n }],
      ["c", { ...family([], []) }],
    ]),
  ].join("");
  assert.ok(text.includes('a{l="x\\"y\\\\z\\nw"} 1\n'));
  assert.ok(text.includes("b 18446744073709551616\n"));
  assert.ok(text.includes("c 0\n"));
});

Deno.test("rows already in order are not sorted again (no turns taken)", () => {
  const rows: [string[], number][] = [];
  for (let i = 0; i < 10_000; i++) rows.push([[`s${String(i).padStart(5, "0")}`, "ip"], 1]);
  const parts = [...renderChunks([["m", family(rows)]])];
  assert.ok(!parts.includes(null));
});
