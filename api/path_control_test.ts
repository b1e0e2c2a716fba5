import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { buildConfig, formatConfigError } from "./config.ts";
import { parseManifests } from "../cluster/file_source.ts";
import {
  AS_PATH_PREPEND_ANNOTATION,
  MED_ANNOTATION,
  mergePathControl,
  parsePathControl,
} from "./path_control.ts";

Deno.test("path control: valid annotations are read", () => {
  const r = parsePathControl({ [AS_PATH_PREPEND_ANNOTATION]: "3", [MED_ANNOTATION]: "4294967295" });
  assertEquals(r, { control: { asPathPrepend: 3, med: 4294967295 }, errors: [] });
  assertEquals(parsePathControl(undefined), { control: {}, errors: [] });
  assertEquals(parsePathControl({ [MED_ANNOTATION]: "0" }).control, { med: 0 });
});

Deno.test("path control: bad values name the annotation and the reason", () => {
  const cases: [string, string, string][] = [
    [AS_PATH_PREPEND_ANNOTATION, "0", "0 is outside 1-10"],
    [AS_PATH_PREPEND_ANNOTATION, "11", "11 is outside 1-10"],
    [AS_PATH_PREPEND_ANNOTATION, "two", `"two" is not a whole number`],
    [AS_PATH_PREPEND_ANNOTATION, "-1", `"-1" is not a whole number`],
    [MED_ANNOTATION, "4294967296", "4294967296 is outside 0-4294967295"],
    [MED_ANNOTATION, "1.5", `"1.5" is not a whole number`],
    [MED_ANNOTATION, "", `"" is not a whole number`],
  ];
  for (const [key, value, want] of cases) {
    const r = parsePathControl({ [key]: value });
    assertEquals(r.errors.length, 1, `${key}=${value}`);
    assertEquals(r.errors[0].field, `metadata.annotations["${key}"]`);
    assertEquals(r.errors[0].reason.startsWith(want), true, r.errors[0].reason);
    assertEquals(r.control, {});
  }
});

Deno.test("path control: merged values do not depend on order, the backup-ish value wins", () => {
  const a = { asPathPrepend: 2 }, b = { asPathPrepend: 5, med: 10 }, c = { med: 300 };
  assertEquals(mergePathControl([a, b, c]), { asPathPrepend: 5, med: 300 });
  assertEquals(mergePathControl([c, b, a]), { asPathPrepend: 5, med: 300 });
  assertEquals(mergePathControl([{}, {}]), {});
});

const NS = "metallb-system";
const BASE = `---
apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p}
spec: {addresses: [10.0.0.0/24]}
`;

function adWith(annotations: Record<string, string>): string {
  return `---
apiVersion: metallb.io/v1beta1
kind: BGPAdvertisement
metadata:
  name: backup
  annotations: ${JSON.stringify(annotations)}
spec: {ipAddressPools: [p]}
`;
}

function build(yaml: string) {
  const r = parseManifests(yaml, { installNamespace: NS });
  if (!r.ok) throw new Error(r.reason);
  return buildConfig(r.objects, { namespace: NS });
}

Deno.test("path control: a MetalLB BGPAdvertisement with the annotations builds a config", () => {
  const r = build(BASE + adWith({ [AS_PATH_PREPEND_ANNOTATION]: "2", [MED_ANNOTATION]: "150" }));
  assertEquals(r.ok, true, JSON.stringify(!r.ok && r.errors));
  if (!r.ok) return;
  assertEquals(r.config.advertisements[0].asPathPrepend, 2);
  assertEquals(r.config.advertisements[0].med, 150);
});

Deno.test("path control: a bad annotation fails the config, naming object, annotation, reason", () => {
  const r = build(BASE + adWith({ [AS_PATH_PREPEND_ANNOTATION]: "12", [MED_ANNOTATION]: "x" }));
  assertEquals(r.ok, false);
  if (r.ok) return;
  assertEquals(r.errors.map(formatConfigError), [
    `BGPAdvertisement metallb-system/backup: metadata.annotations["ferrolb.io/as-path-prepend"]: ` +
    `12 is outside 1-10 (how many more times to repeat our AS, 1-10)`,
    `BGPAdvertisement metallb-system/backup: metadata.annotations["ferrolb.io/med"]: ` +
    `"x" is not a whole number (MULTI_EXIT_DISC, 0-4294967295)`,
  ]);
});
