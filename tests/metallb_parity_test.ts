/**
 * ferrolb gives MetalLB's verdicts: MetalLB's own configuration tables (restated in
 * tests/metallb_parity/cases.ts), the configurations printed in MetalLB's docs
 * (tests/testdata/metallb_docs), and the single-object CRD cases (tests/testdata/crd_cases,
 * also applied to a real API server by tests/realkube/crd_rules_test.ts).
 */
import assert from "node:assert/strict";
import { buildConfig, formatConfigError } from "../api/config.ts";
import type { KubeObject } from "../api/kube_object.ts";
import { EXIT_VALID, runValidate } from "../cmd/validate.ts";
import { createFileSource, parseManifests } from "../cluster/file_source.ts";
import { silentLogger } from "../api/log.ts";
import { METALLB_VERDICTS } from "./metallb_parity/cases.ts";
import { adv, cidrs, peer } from "./metallb_parity/builders.ts";

const NS = "metallb-system";
const TESTDATA = new URL("./testdata/", import.meta.url).pathname;

function verdict(objects: readonly KubeObject[]): { accept: boolean; detail: string } {
  const r = buildConfig(objects, { namespace: NS });
  return { accept: r.ok, detail: r.ok ? "" : r.errors.map(formatConfigError).join("; ") };
}

Deno.test("MetalLB's configuration tables: every verdict is MetalLB's", async (t) => {
  const wrong: string[] = [];
  for (const c of METALLB_VERDICTS) {
    await t.step(`${c.verdict}: ${c.desc}`, () => {
      const got = verdict(c.objects);
      const ok = got.accept === (c.verdict === "accept");
      if (!ok) {
        wrong.push(`${c.desc}: want ${c.verdict}, got ${got.accept ? "accept" : got.detail}`);
      }
      assert.ok(ok, `want ${c.verdict}, got ${got.accept ? "accept" : got.detail}`);
    });
  }
  const n = METALLB_VERDICTS.length;
  console.log(`MetalLB verdicts matched: ${n - wrong.length} of ${n}`);
  assert.deepEqual(wrong, []);
});

Deno.test("every refusal names kind, namespace/name, field and reason", () => {
  for (const c of METALLB_VERDICTS.filter((x) => x.verdict === "refuse")) {
    const r = buildConfig(c.objects, { namespace: NS });
    assert.equal(r.ok, false, c.desc);
    for (const e of r.ok ? [] : r.errors) {
      assert.ok(e.kind && e.namespace && e.reason, `${c.desc}: ${JSON.stringify(e)}`);
      // Only an object without a name (MetalLB's "no pool name") may lack one.
      if (c.desc !== "no pool name") assert.ok(e.name, `${c.desc}: ${JSON.stringify(e)}`);
      assert.ok(e.field, `${c.desc}: ${formatConfigError(e)} has no field`);
    }
  }
});

Deno.test("MetalLB's documented configurations are each valid for `ferrolb validate`", async () => {
  const dir = `${TESTDATA}metallb_docs/`;
  const files = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".yaml"));
  assert.ok(files.length >= 10, "the docs fixtures are there");
  for (const f of files) {
    const lines: string[] = [];
    const code = await runValidate([`${dir}${f.name}`], {
      namespace: NS,
      write: (l) => lines.push(l),
    });
    assert.equal(code, EXIT_VALID, `${f.name}:\n${lines.join("\n")}`);
    assert.match(lines.at(-1) ?? "", /^valid: /, f.name);
  }
});

Deno.test("MetalLB's documented configurations load through the file source (file mode)", async () => {
  const dir = `${TESTDATA}metallb_docs/`;
  for (const f of [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".yaml"))) {
    const tmp = await Deno.makeTempDir();
    try {
      await Deno.copyFile(`${dir}${f.name}`, `${tmp}/${f.name}`);
      const source = createFileSource(tmp, {
        logger: silentLogger,
        defaults: { installNamespace: NS },
      });
      await source.start();
      try {
        assert.deepEqual(source.fileErrors(), [], f.name);
        const r = buildConfig(source.snapshot(), { namespace: NS });
        assert.ok(r.ok, `${f.name}: ${r.ok ? "" : r.errors.map(formatConfigError).join("; ")}`);
      } finally {
        await source.close();
      }
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  }
});

Deno.test("a documented BFD peer is accepted and its view says BFD is unsupported", async () => {
  const text = await Deno.readTextFile(`${TESTDATA}metallb_docs/bfd.yaml`);
  const parsed = parseManifests(text, { installNamespace: NS });
  assert.ok(parsed.ok);
  const r = buildConfig(parsed.objects, { namespace: NS });
  assert.ok(r.ok);
  const p = r.config.peers.find((x) => x.name === "peersample");
  assert.deepEqual(p?.unsupported, ["BFD"]);
  assert.ok(r.warnings.some((w) => w.name === "peersample" && /unsupported: BFD/.test(w.reason)));
});

Deno.test("crd_cases: each .accept is valid and each .reject refused, without the API server", () => {
  const dir = `${TESTDATA}crd_cases/`;
  const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".yaml"));
  assert.ok(files.some((f) => f.includes(".accept.")) && files.some((f) => f.includes(".reject.")));
  const wrong: string[] = [];
  for (const f of files.sort()) {
    const parsed = parseManifests(Deno.readTextFileSync(`${dir}${f}`), { installNamespace: NS });
    assert.ok(parsed.ok, f);
    assert.equal(parsed.objects.length, 1, `${f}: one object per file`);
    const r = buildConfig(parsed.objects, { namespace: NS });
    const accepted = r.ok;
    // A reject case is refused for what the object says, not for something missing.
    const permanent = !r.ok && r.errors.some((e) => !e.transient);
    if (f.includes(".accept.") && !accepted) {
      wrong.push(`${f}: ${r.ok ? "" : r.errors.map(formatConfigError).join("; ")}`);
    }
    if (f.includes(".reject.") && !permanent) wrong.push(`${f}: accepted`);
  }
  assert.deepEqual(wrong, []);
});

Deno.test("a type error in one field does not hide the object's other errors", () => {
  const r = buildConfig([
    peer("p", { myASN: "64512", peerASN: 65001, peerAddress: "1.2.3.400", holdTime: "1s" }),
  ], { namespace: NS });
  assert.equal(r.ok, false);
  const fields = r.ok ? [] : r.errors.map((e) => e.field).sort();
  assert.deepEqual(fields, ["spec.holdTime", "spec.myASN", "spec.peerAddress"]);
});

Deno.test("cross-object rules still run on the objects that parsed", () => {
  const r = buildConfig([
    cidrs("a", "10.0.0.0/24"),
    cidrs("b", "10.0.0.0/25", "not-an-ip"),
    adv("bad", { aggregationLength: "32" }),
    adv("x", { localPref: 100, ipAddressPools: ["a"] }),
    adv("y", { localPref: 200, ipAddressPools: ["a"] }),
  ], { namespace: NS });
  assert.equal(r.ok, false);
  const got = r.ok ? [] : r.errors.map((e) => `${e.name} ${e.field}`).sort();
  assert.deepEqual(got, [
    "b spec.addresses[0]",
    "b spec.addresses[1]",
    "bad spec.aggregationLength",
    "y spec.localPref",
  ]);
});

Deno.test("a real MetalLB kind ferrolb does not use is only a warning", () => {
  const l2status = { ...cidrs("s", "10.9.0.0/24"), kind: "ServiceL2Status", spec: undefined };
  const r = buildConfig([l2status, cidrs("p", "10.0.0.0/24")], { namespace: NS });
  assert.ok(r.ok);
  assert.deepEqual(r.warnings.map(formatConfigError), [
    "ServiceL2Status metallb-system/s: ServiceL2Status is a MetalLB kind ferrolb does not use; ignored",
  ]);
});

Deno.test("a mistyped kind or group is an error with a did-you-mean", () => {
  const typo = { ...cidrs("p", "10.0.0.0/24"), kind: "IPAdressPool" };
  const group = { ...cidrs("q", "10.1.0.0/24"), apiVersion: "metalb.io/v1beta1" };
  const r = buildConfig([typo, group], { namespace: NS });
  assert.equal(r.ok, false);
  assert.deepEqual(r.ok ? [] : r.errors.map(formatConfigError), [
    'IPAddressPool metallb-system/q: apiVersion: unknown group "metalb.io" (did you mean metallb.io?)',
    'IPAdressPool metallb-system/p: kind: unknown kind "IPAdressPool" in metallb.io (did you mean IPAddressPool?)',
  ]);
});
