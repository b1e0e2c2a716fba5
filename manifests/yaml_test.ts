import assert from "node:assert/strict";
import { loadAllYaml } from "@kubernetes/client-node";
import { toYaml, toYamlDocuments, type YamlValue } from "./yaml.ts";

// An apiVersion outside the built-in groups makes client-node hand back the parsed data
// untouched, so these round trips test the emitter against a real YAML parser.
function roundTrip(data: YamlValue): unknown {
  const text = toYaml({ apiVersion: "test.example/v1", kind: "Probe", data });
  const [doc] = loadAllYaml(text);
  return doc.data;
}

Deno.test("toYaml: scalars YAML would misread are quoted and read back as written", () => {
  const tricky = [
    "yes",
    "No",
    "on",
    "OFF",
    "true",
    "null",
    "~",
    "",
    "123",
    "0x1F",
    "1e3",
    "1.5",
    "-",
    "- item",
    "a: b",
    "a #b",
    "#c",
    " lead",
    "trail ",
    "µs",
    "line\nbreak",
    "tab\there",
    "quote \"double\" and 'single'",
    "back\\slash",
    "[flow]",
    "{flow}",
    "*alias",
    "&anchor",
    "!tag",
    "%directive",
    "@at",
    "`tick`",
    "has(self.peerASN) != has(self.dynamicASN)",
    "^[+]?(0|(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$",
  ];
  assert.deepEqual(roundTrip(tricky), tricky);
});

Deno.test("toYaml: nested maps, lists, empties and numbers keep their shape", () => {
  const value = {
    "app.kubernetes.io/name": "ferrolb",
    "x-kubernetes-validations": [{ rule: "self.a != 0", message: "a must not be 0" }],
    lists: [[1, 2], [], [{ a: [{ b: {} }] }]],
    empty: {},
    none: [],
    n: [0, -1, 4294967295, 1.25],
    flags: [true, false, null],
  };
  assert.deepEqual(roundTrip(value), value);
});

Deno.test("toYaml: undefined map values are left out", () => {
  assert.deepEqual(roundTrip({ a: 1, b: undefined }), { a: 1 });
});

Deno.test("toYaml: non-finite numbers are refused", () => {
  assert.throws(() => toYaml({ a: Number.NaN }), /cannot write NaN/);
});

Deno.test("toYamlDocuments: documents are separated and comments are YAML comments", () => {
  const text = toYamlDocuments([
    { comment: "first\n\nline three", value: { apiVersion: "test.example/v1", kind: "A" } },
    { value: { apiVersion: "test.example/v1", kind: "B" } },
  ]);
  assert.deepEqual(loadAllYaml(text).map((d) => d.kind), ["A", "B"]);
  assert.match(text, /^# first\n#\n# line three\n/);
});
