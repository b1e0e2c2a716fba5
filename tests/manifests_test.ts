/**
 * The install manifest as users meet it: every document parses, the CRDs accept the
 * examples and the seed's objects and reject known-bad ones, the workloads are locked down,
 * their command lines parse, and RBAC grants exactly the documented calls.
 */
import assert from "node:assert/strict";
import { loadAllYaml } from "@kubernetes/client-node";
import { z } from "zod";
import { crdSpecs } from "../api/schemas.ts";
import { FLAGS, parseCommandLine } from "../cmd/args.ts";
import { CEL_RULES, type SchemaNode } from "../manifests/crds.ts";
import { buildDocuments, DEFAULT_INSTALL } from "../manifests/generate.ts";
import { buildSpeaker, type InstallOptions } from "../manifests/install.ts";
import { checkStructural } from "../manifests/schema_check.ts";
import { checkRbac } from "./rbac/mod.ts";

const ROOT = new URL("../", import.meta.url);
const manifestText = await Deno.readTextFile(new URL("manifests/ferrolb.yaml", ROOT));
// Manifests are walked by field name; typing every Kubernetes kind here would buy nothing.
// deno-lint-ignore no-explicit-any
type Loose = any;

// Generated objects; manifests/generate_test.ts proves the committed file is their YAML.
const docs = buildDocuments().map((d) => d.value as Loose);
const crds = docs.filter((d) => d.kind === "CustomResourceDefinition");

function crdOf(kind: string) {
  const crd = crds.find((c) => c.spec.names.kind === kind);
  assert.ok(crd, `no CRD for ${kind}`);
  return crd;
}

function versionOf(kind: string, version: string) {
  const v = crdOf(kind).spec.versions.find((x: { name: string }) => x.name === version);
  assert.ok(v, `${kind} has no version ${version}`);
  return v;
}

function schemaOf(kind: string, version: string): SchemaNode {
  return versionOf(kind, version).schema.openAPIV3Schema;
}

function workload(kind: string) {
  const d = docs.find((x) => x.kind === kind);
  assert.ok(d, `no ${kind}`);
  return d;
}

Deno.test("every document of manifests/ferrolb.yaml parses to the generated object", () => {
  const parsed = loadAllYaml(manifestText);
  // JSON is YAML too: the same objects written as JSON go through the same loader, so any
  // quoting or indentation mistake of the emitter shows up as a difference.
  const viaJson = loadAllYaml(docs.map((d) => JSON.stringify(d)).join("\n---\n"));
  assert.equal(parsed.length, docs.length);
  assert.deepEqual(parsed, viaJson);
  for (const d of parsed) {
    assert.ok(d.apiVersion && d.kind && d.metadata?.name, JSON.stringify(d).slice(0, 80));
  }
  const kinds = parsed.map((d) => d.kind);
  assert.equal(kinds[0], "Namespace", "the namespace must be created first");
  assert.deepEqual(
    crds.map((c) => c.metadata.name).sort(),
    [
      "bfdprofiles.metallb.io",
      "bgpadvertisements.metallb.io",
      "bgppeers.metallb.io",
      "communities.metallb.io",
      "configurationstates.metallb.io",
      "ipaddresspools.metallb.io",
      "l2advertisements.metallb.io",
      "servicebgpstatuses.metallb.io",
    ],
  );
  for (const k of ["ServiceAccount", "ClusterRole", "Role", "Deployment", "DaemonSet"]) {
    assert.ok(kinds.includes(k), `missing ${k}`);
  }
});

function walkSchema(node: SchemaNode, path: string, visit: (n: SchemaNode, p: string) => void) {
  visit(node, path);
  for (
    const [name, child] of Object.entries((node.properties ?? {}) as Record<string, SchemaNode>)
  ) {
    walkSchema(child, `${path}.${name}`, visit);
  }
  if (node.items) walkSchema(node.items as SchemaNode, `${path}[]`, visit);
  if (node.additionalProperties && typeof node.additionalProperties === "object") {
    walkSchema(node.additionalProperties as SchemaNode, `${path}.*`, visit);
  }
}

Deno.test("CRD schemas are structural, with one storage version and a status subresource", () => {
  for (const crd of crds) {
    const name = crd.metadata.name;
    assert.equal(name, `${crd.spec.names.plural}.metallb.io`);
    assert.equal(crd.spec.scope, "Namespaced");
    const versions = crd.spec.versions;
    assert.equal(versions.filter((v: { storage: boolean }) => v.storage).length, 1, name);
    for (const v of versions) {
      assert.equal(v.served, true);
      assert.deepEqual(v.subresources, { status: {} }, `${name} ${v.name}`);
      walkSchema(v.schema.openAPIV3Schema, name, (n, p) => {
        assert.equal(n.$ref, undefined, `${p}: $ref`);
        assert.notEqual(n.additionalProperties, false, `${p}: additionalProperties false`);
        assert.notEqual(n.uniqueItems, true, `${p}: uniqueItems is not allowed`);
        const typed = typeof n.type === "string" || n["x-kubernetes-int-or-string"] === true ||
          n["x-kubernetes-preserve-unknown-fields"] === true;
        assert.ok(typed, `${p}: no type`);
        assert.ok(!(n.properties && n.additionalProperties), `${p}: properties and map at once`);
        for (const bad of ["anyOf", "oneOf", "allOf", "not"]) {
          // Allowed by Kubernetes only under strict conditions; the generator never needs them.
          assert.equal(n[bad], undefined, `${p}: ${bad}`);
        }
      });
    }
  }
  const peer = crdOf("BGPPeer").spec;
  const byName = Object.fromEntries(peer.versions.map((v: { name: string }) => [v.name, v]));
  assert.equal(byName.v1beta1.deprecated, true);
  assert.equal(byName.v1beta1.storage, false);
  assert.equal(byName.v1beta2.storage, true);
  assert.equal(peer.conversion.strategy, "None");
});

Deno.test("BGPPeer v1beta1 fields all exist with the same schema in v1beta2 (conversion None)", () => {
  const old = schemaOf("BGPPeer", "v1beta1").properties as Record<string, SchemaNode>;
  const cur = schemaOf("BGPPeer", "v1beta2").properties as Record<string, SchemaNode>;
  const oldSpec = old.spec.properties as Record<string, SchemaNode>;
  const curSpec = cur.spec.properties as Record<string, SchemaNode>;
  for (const [field, schema] of Object.entries(oldSpec)) {
    assert.deepEqual(curSpec[field], schema, `spec.${field} differs between versions`);
  }
});

Deno.test("CEL rules name only fields their version's schema declares", () => {
  for (const crd of crds) {
    for (const v of crd.spec.versions) {
      const spec = v.schema.openAPIV3Schema.properties.spec as SchemaNode;
      const fields = new Set(Object.keys((spec.properties ?? {}) as object));
      for (const r of (spec["x-kubernetes-validations"] ?? []) as { rule: string }[]) {
        for (const m of r.rule.matchAll(/self\.([A-Za-z_]\w*)/g)) {
          assert.ok(fields.has(m[1]), `${crd.spec.names.kind} ${v.name}: ${m[1]} in ${r.rule}`);
        }
        // Balanced parentheses and quotes: a cheap guard against a broken expression.
        assert.equal(
          [...r.rule].filter((c) => c === "(").length,
          [...r.rule].filter((c) => c === ")").length,
        );
        assert.equal([...r.rule].filter((c) => c === "'").length % 2, 0, r.rule);
      }
    }
  }
});

Deno.test("printer columns show pool addresses and auto-assign, peer address and ASN", () => {
  const columns = (kind: string, version: string) =>
    Object.fromEntries(
      versionOf(kind, version).additionalPrinterColumns.map((
        c: { name: string; jsonPath: string },
      ) => [c.name, c.jsonPath]),
    );
  const pool = columns("IPAddressPool", "v1beta1");
  assert.equal(pool["Addresses"], ".spec.addresses");
  assert.equal(pool["Auto Assign"], ".spec.autoAssign");
  assert.equal(pool["Avoid Buggy IPs"], ".spec.avoidBuggyIPs");
  const peer = columns("BGPPeer", "v1beta2");
  assert.equal(peer["Address"], ".spec.peerAddress");
  // As MetalLB's: `ASN` is the peer's AS.
  assert.equal(peer["ASN"], ".spec.peerASN");
  assert.equal(peer["Age"], ".metadata.creationTimestamp");
  // Every column points at a field the schema has.
  for (const crd of crds) {
    for (const v of crd.spec.versions) {
      for (const c of v.additionalPrinterColumns as { jsonPath: string }[]) {
        const [, top, field] = c.jsonPath.split(".");
        if (top === "metadata") continue;
        const props = v.schema.openAPIV3Schema.properties[top].properties ?? {};
        assert.ok(field in props, `${crd.metadata.name} ${v.name}: column ${c.jsonPath}`);
      }
    }
  }
});

// ---------------------------------------------------------------------------------------
// Users' objects against the CRD schemas

async function yamlFilesUnder(dir: URL): Promise<URL[]> {
  const out: URL[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      const url = new URL(e.name + (e.isDirectory ? "/" : ""), dir);
      if (e.isDirectory) out.push(...await yamlFilesUnder(url));
      else if (/\.ya?ml$/.test(e.name)) out.push(url);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return out.sort((a, b) => a.href.localeCompare(b.href));
}

type Obj = { apiVersion: string; kind: string; metadata: { name: string }; spec?: unknown };

function zodSpec(kind: string, version: string): z.ZodType {
  const entry = crdSpecs[kind as keyof typeof crdSpecs] as Record<string, unknown>;
  return entry[version] as z.ZodType;
}

Deno.test("every metallb.io object in examples/ and the seed passes its CRD schema and zod", async () => {
  const files = [
    ...await yamlFilesUnder(new URL("examples/", ROOT)),
    ...await yamlFilesUnder(new URL("tests/testdata/config/seed/", ROOT)),
  ];
  let checked = 0;
  for (const file of files) {
    for (const obj of loadAllYaml(await Deno.readTextFile(file)) as Obj[]) {
      if (!obj?.apiVersion?.startsWith("metallb.io/")) continue;
      const version = obj.apiVersion.split("/")[1];
      const where = `${file.pathname.slice(ROOT.pathname.length)} ${obj.kind}/${obj.metadata.name}`;
      assert.deepEqual(checkStructural(schemaOf(obj.kind, version), obj), [], where);
      const z = zodSpec(obj.kind, version).safeParse(obj.spec);
      assert.ok(z.success, `${where}: ${z.error?.message}`);
      checked++;
    }
  }
  // quickstart (pool, advertisement, peer), dualstack (4 kinds), seed (3).
  assert.ok(checked >= 10, `only ${checked} objects found`);
});

interface BadCase {
  why: string;
  kind: string;
  version: string;
  spec: Record<string, unknown>;
  /** Path the structural check names. */
  path: RegExp;
  /** Whether zod rejects it too (it ignores unknown fields, as pruning does). */
  zod: boolean;
}

const PEER = { myASN: 64512, peerASN: 65001, peerAddress: "192.0.2.1" };

const BAD: BadCase[] = [
  {
    why: "peerPort above 16384",
    kind: "BGPPeer",
    version: "v1beta2",
    spec: { ...PEER, peerPort: 70000 },
    path: /spec\.peerPort/,
    zod: true,
  },
  {
    why: "peerPort 0",
    kind: "BGPPeer",
    version: "v1beta1",
    spec: { ...PEER, peerPort: 0 },
    path: /spec\.peerPort/,
    zod: true,
  },
  {
    why: "peerPort as a string",
    kind: "BGPPeer",
    version: "v1beta2",
    spec: { ...PEER, peerPort: "179" },
    path: /spec\.peerPort/,
    zod: true,
  },
  {
    why: "myASN missing",
    kind: "BGPPeer",
    version: "v1beta2",
    spec: { peerASN: 1, peerAddress: "192.0.2.1" },
    path: /^spec$/,
    zod: true,
  },
  {
    why: "myASN 0",
    kind: "BGPPeer",
    version: "v1beta2",
    spec: { ...PEER, myASN: 0 },
    path: /spec\.myASN/,
    zod: true,
  },
  {
    why: "myASN above 32 bits",
    kind: "BGPPeer",
    version: "v1beta2",
    spec: { ...PEER, myASN: 4294967296 },
    path: /spec\.myASN/,
    zod: true,
  },
  {
    why: "unknown dynamicASN",
    kind: "BGPPeer",
    version: "v1beta2",
    spec: { myASN: 1, dynamicASN: "both", peerAddress: "192.0.2.1" },
    path: /spec\.dynamicASN/,
    zod: true,
  },
  {
    why: "holdTime without unit",
    kind: "BGPPeer",
    version: "v1beta2",
    spec: { ...PEER, holdTime: "90" },
    path: /spec\.holdTime/,
    zod: true,
  },
  {
    why: "passwordSecret without name",
    kind: "BGPPeer",
    version: "v1beta2",
    spec: { ...PEER, passwordSecret: { namespace: "x" } },
    path: /spec\.passwordSecret/,
    zod: true,
  },
  {
    why: "bad selector operator",
    kind: "BGPPeer",
    version: "v1beta2",
    spec: { ...PEER, nodeSelectors: [{ matchExpressions: [{ key: "a", operator: "Is" }] }] },
    path: /nodeSelectors\[0\]\.matchExpressions\[0\]\.operator/,
    zod: true,
  },
  {
    why: "misspelt field",
    kind: "BGPPeer",
    version: "v1beta2",
    spec: { ...PEER, peerAdress: "192.0.2.2" },
    path: /spec\.peerAdress/,
    zod: false,
  },
  {
    why: "v1beta2-only field in v1beta1",
    kind: "BGPPeer",
    version: "v1beta1",
    spec: { ...PEER, dynamicASN: "external" },
    path: /spec\.dynamicASN/,
    zod: false,
  },
  {
    why: "addresses missing",
    kind: "IPAddressPool",
    version: "v1beta1",
    spec: { autoAssign: true },
    path: /^spec$/,
    zod: true,
  },
  {
    why: "addresses empty",
    kind: "IPAddressPool",
    version: "v1beta1",
    spec: { addresses: [] },
    path: /spec\.addresses/,
    zod: true,
  },
  {
    why: "addresses repeated",
    kind: "IPAddressPool",
    version: "v1beta1",
    spec: { addresses: ["10.0.0.0/24", "10.0.0.0/24"] },
    path: /spec\.addresses\[1\]/,
    zod: false,
  },
  {
    why: "address as a number",
    kind: "IPAddressPool",
    version: "v1beta1",
    spec: { addresses: [10] },
    path: /spec\.addresses\[0\]/,
    zod: true,
  },
  {
    why: "autoAssign as a string",
    kind: "IPAddressPool",
    version: "v1beta1",
    spec: { addresses: ["10.0.0.0/24"], autoAssign: "false" },
    path: /spec\.autoAssign/,
    zod: true,
  },
  {
    why: "negative priority",
    kind: "IPAddressPool",
    version: "v1beta1",
    spec: { addresses: ["10.0.0.0/24"], serviceAllocation: { priority: -1 } },
    path: /serviceAllocation\.priority/,
    zod: true,
  },
  {
    why: "aggregationLength 33",
    kind: "BGPAdvertisement",
    version: "v1beta1",
    spec: { aggregationLength: 33 },
    path: /spec\.aggregationLength/,
    zod: true,
  },
  {
    why: "aggregationLengthV6 129",
    kind: "BGPAdvertisement",
    version: "v1beta1",
    spec: { aggregationLengthV6: 129 },
    path: /spec\.aggregationLengthV6/,
    zod: true,
  },
  {
    why: "negative localPref",
    kind: "BGPAdvertisement",
    version: "v1beta1",
    spec: { localPref: -5 },
    path: /spec\.localPref/,
    zod: true,
  },
  {
    why: "communities repeated",
    kind: "BGPAdvertisement",
    version: "v1beta1",
    spec: { communities: ["1:1", "1:1"] },
    path: /spec\.communities\[1\]/,
    zod: true,
  },
  {
    why: "community alias without value",
    kind: "Community",
    version: "v1beta1",
    spec: { communities: [{ name: "a" }] },
    path: /communities\[0\]/,
    zod: true,
  },
  {
    why: "detectMultiplier 1",
    kind: "BFDProfile",
    version: "v1beta1",
    spec: { detectMultiplier: 1 },
    path: /spec\.detectMultiplier/,
    zod: true,
  },
  {
    why: "receiveInterval above 60000",
    kind: "BFDProfile",
    version: "v1beta1",
    spec: { receiveInterval: 60001 },
    path: /spec\.receiveInterval/,
    zod: true,
  },
];

for (const c of BAD) {
  Deno.test(`CRD schema rejects ${c.kind} ${c.version}: ${c.why}`, () => {
    const obj = {
      apiVersion: `metallb.io/${c.version}`,
      kind: c.kind,
      metadata: { name: "bad", namespace: "metallb-system" },
      spec: c.spec,
    };
    const issues = checkStructural(schemaOf(c.kind, c.version), obj);
    assert.ok(issues.some((i) => c.path.test(i.path)), JSON.stringify(issues));
    if (c.zod) assert.equal(zodSpec(c.kind, c.version).safeParse(c.spec).success, false);
  });
}

Deno.test("an object without spec is rejected where spec has required fields", () => {
  const obj = { apiVersion: "metallb.io/v1beta1", kind: "IPAddressPool", metadata: { name: "x" } };
  const issues = checkStructural(schemaOf("IPAddressPool", "v1beta1"), obj);
  assert.deepEqual(issues.map((i) => i.message), ['required field "spec" is missing']);
});

// Cross-field rules need CEL, which only an API server evaluates: check each such object
// passes the structural schema (so CEL is what must catch it), that a CEL rule with the
// expected message exists, and that zod (which the same rules mirror) rejects it.
const CEL_CASES: {
  why: string;
  version: string;
  spec: Record<string, unknown>;
  message: RegExp;
}[] = [
  {
    why: "both peerASN and dynamicASN",
    version: "v1beta2",
    spec: { ...PEER, dynamicASN: "external" },
    message: /exactly one of peerASN or dynamicASN/,
  },
  {
    why: "neither peerASN nor dynamicASN",
    version: "v1beta2",
    spec: { myASN: 1, peerAddress: "192.0.2.1" },
    message: /exactly one of peerASN or dynamicASN/,
  },
  {
    why: "both peerAddress and interface",
    version: "v1beta2",
    spec: { ...PEER, interface: "eth0" },
    message: /exactly one of peerAddress or interface/,
  },
  {
    why: "neither peerAddress nor interface",
    version: "v1beta2",
    spec: { myASN: 1, peerASN: 2 },
    message: /exactly one of peerAddress or interface/,
  },
  {
    why: "ebgpMultiHop on iBGP",
    version: "v1beta2",
    spec: { ...PEER, peerASN: 64512, ebgpMultiHop: true },
    message: /ebgpMultiHop must not be set on an iBGP peer/,
  },
  {
    why: "ebgpMultiHop on internal dynamic",
    version: "v1beta2",
    spec: { myASN: 1, dynamicASN: "internal", peerAddress: "192.0.2.1", ebgpMultiHop: true },
    message: /ebgpMultiHop must not be set on an iBGP peer/,
  },
  {
    why: "ebgpMultiHop on iBGP (v1beta1)",
    version: "v1beta1",
    spec: { ...PEER, peerASN: 64512, ebgpMultiHop: true },
    message: /ebgpMultiHop must not be set on an iBGP peer/,
  },
  {
    why: "holdTime 2s",
    version: "v1beta2",
    spec: { ...PEER, holdTime: "2s" },
    message: /holdTime must be 0 or at least 3s/,
  },
  {
    why: "keepaliveTime above holdTime",
    version: "v1beta2",
    spec: { ...PEER, holdTime: "30s", keepaliveTime: "1m" },
    message: /keepaliveTime must not exceed holdTime/,
  },
  {
    why: "keepaliveTime alone below 1s",
    version: "v1beta1",
    spec: { ...PEER, keepaliveTime: "500ms" },
    message: /keepaliveTime without holdTime/,
  },
  {
    why: "password and passwordSecret",
    version: "v1beta2",
    spec: { ...PEER, password: "x", passwordSecret: { name: "s" } },
    message: /password and passwordSecret/,
  },
  {
    why: "connectTime 0",
    version: "v1beta2",
    spec: { ...PEER, connectTime: "0s" },
    message: /connectTime must be greater than 0/,
  },
];

for (const c of CEL_CASES) {
  Deno.test(`CEL rule covers BGPPeer ${c.version}: ${c.why}`, () => {
    const obj = {
      apiVersion: `metallb.io/${c.version}`,
      kind: "BGPPeer",
      metadata: { name: "p" },
      spec: c.spec,
    };
    assert.deepEqual(checkStructural(schemaOf("BGPPeer", c.version), obj), []);
    const spec = (schemaOf("BGPPeer", c.version).properties as Record<string, SchemaNode>).spec;
    const rules = spec["x-kubernetes-validations"] as { message: string }[];
    assert.ok(rules.some((r) => c.message.test(r.message)), `no CEL rule for ${c.why}`);
    assert.equal(zodSpec("BGPPeer", c.version).safeParse(c.spec).success, false);
  });
}

Deno.test("CEL rules in the CRD are the ones crds.ts declares", () => {
  for (const [kind, versions] of Object.entries(CEL_RULES)) {
    for (const [version, rules] of Object.entries(versions)) {
      const spec = (schemaOf(kind, version).properties as Record<string, SchemaNode>).spec;
      assert.deepEqual(spec["x-kubernetes-validations"], rules);
    }
  }
});

// ---------------------------------------------------------------------------------------
// Workloads

function podSpec(kind: string) {
  return workload(kind).spec.template.spec;
}

Deno.test("controller: 2 replicas, probes on the admin port, command line parses", () => {
  const d = workload("Deployment");
  assert.equal(d.spec.replicas, 2);
  const c = podSpec("Deployment").containers[0];
  const parsed = parseCommandLine(c.args);
  assert.equal(parsed.role, "controller");
  assert.equal(parsed.flags["admin-addr"], "0.0.0.0:7472");
  assert.deepEqual(c.ports, [{ name: "monitoring", containerPort: 7472, protocol: "TCP" }]);
  assert.equal(c.livenessProbe.httpGet.path, "/healthz");
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  assert.equal(c.livenessProbe.httpGet.port, "monitoring");
  assert.equal(d.spec.template.metadata.labels["app.kubernetes.io/component"], "controller");
  assert.deepEqual(
    d.spec.selector.matchLabels,
    Object.fromEntries(
      Object.entries(d.spec.template.metadata.labels).filter(([k]) =>
        k !== "app.kubernetes.io/version"
      ),
    ),
  );
});

Deno.test("speaker: host network, node name from the downward API, control-plane tolerations", () => {
  const ds = workload("DaemonSet");
  const pod = podSpec("DaemonSet");
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.dnsPolicy, "ClusterFirstWithHostNet");
  const c = pod.containers[0];
  const env = Object.fromEntries(
    c.env.map((e: Loose) => [e.name, e.valueFrom?.fieldRef?.fieldPath]),
  );
  assert.equal(env.NODE_NAME, "spec.nodeName");
  assert.equal(FLAGS["node-name"].env, "NODE_NAME");
  const parsed = parseCommandLine(c.args, (name) => (name === "NODE_NAME" ? "node-1" : undefined));
  assert.equal(parsed.role, "speaker");
  assert.equal(parsed.flags["node-name"], "node-1");
  const tolerated = pod.tolerations.map((t: Loose) => `${t.key}:${t.effect}:${t.operator}`);
  assert.ok(tolerated.includes("node-role.kubernetes.io/control-plane:NoSchedule:Exists"));
  assert.ok(tolerated.includes("node-role.kubernetes.io/master:NoSchedule:Exists"));
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  assert.equal(ds.metadata.namespace, DEFAULT_INSTALL.namespace);
});

Deno.test("speaker: --weighted-ecmp only when the install opts in", () => {
  const speakerArgs = (opts: InstallOptions) =>
    (buildSpeaker(opts) as Loose).spec.template.spec.containers[0].args;
  const off = parseCommandLine(podSpec("DaemonSet").containers[0].args);
  assert.equal(off.flags["weighted-ecmp"], false, "the default install must not enable it");
  const on = parseCommandLine(speakerArgs({ ...DEFAULT_INSTALL, weightedEcmp: true }));
  assert.equal(on.role, "speaker");
  assert.equal(on.flags["weighted-ecmp"], true);
  assert.equal(
    parseCommandLine(speakerArgs({ ...DEFAULT_INSTALL, weightedEcmp: false }))
      .flags["weighted-ecmp"],
    false,
  );
});

Deno.test("both workloads: non-root, read-only root, no capabilities, RuntimeDefault seccomp", () => {
  for (const kind of ["Deployment", "DaemonSet"]) {
    const pod = podSpec(kind);
    assert.equal(pod.securityContext.runAsNonRoot, true, kind);
    assert.ok(pod.securityContext.runAsUser > 0, kind);
    assert.equal(pod.securityContext.seccompProfile.type, "RuntimeDefault", kind);
    for (const c of pod.containers) {
      const sc = c.securityContext;
      assert.equal(sc.readOnlyRootFilesystem, true, kind);
      assert.equal(sc.allowPrivilegeEscalation, false, kind);
      assert.deepEqual(sc.capabilities, { drop: ["ALL"] }, kind);
      assert.equal(sc.privileged, undefined, kind);
      assert.equal(c.image, DEFAULT_INSTALL.image);
    }
  }
});

Deno.test("every environment variable the pods set is one the compiled binary may read", async () => {
  const denoJson = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const compile: string = denoJson.tasks.compile;
  assert.doesNotMatch(compile, /(^|\s)(-A|--allow-all)(\s|$)/);
  const allowed = new Set((/--allow-env=(\S+)/.exec(compile)?.[1] ?? "").split(","));
  const flagEnv = new Set(Object.values(FLAGS).map((f) => f.env).filter(Boolean));
  for (const kind of ["Deployment", "DaemonSet"]) {
    for (const c of podSpec(kind).containers) {
      for (const e of c.env as { name: string }[]) {
        assert.ok(allowed.has(e.name), `${kind} sets ${e.name}, not in compile's --allow-env`);
        assert.ok(flagEnv.has(e.name), `${kind} sets ${e.name}, which no flag reads`);
      }
    }
  }
});

// ---------------------------------------------------------------------------------------
// RBAC

const NS = DEFAULT_INSTALL.namespace;

// That every call the components make is allowed, and every permission is used, is proven on
// recorded traffic of the real controller and speaker in tests/rbac/recorded_test.ts.

Deno.test("RBAC: Secrets only in the install namespace, no wildcards, no cluster-wide writes to config", () => {
  for (const d of docs.filter((x) => x.kind === "ClusterRole" || x.kind === "Role")) {
    for (const r of d.rules) {
      assert.ok(!r.verbs.includes("*") && !r.resources.includes("*") && !r.apiGroups.includes("*"));
      if (d.kind === "ClusterRole") {
        assert.ok(
          !r.resources.includes("secrets"),
          `${d.metadata.name} grants secrets cluster-wide`,
        );
        assert.ok(
          !r.apiGroups.includes("metallb.io"),
          `${d.metadata.name}: metallb.io cluster-wide`,
        );
      } else assert.equal(d.metadata.namespace, NS);
    }
  }
  const secretsElsewhere = checkRbac([
    {
      serviceAccount: `${NS}/speaker`,
      verb: "list",
      apiGroup: "",
      resource: "secrets",
      namespace: "default",
    },
    {
      serviceAccount: `${NS}/controller`,
      verb: "get",
      apiGroup: "",
      resource: "secrets",
      namespace: NS,
    },
  ], docs);
  assert.equal(secretsElsewhere.denied.length, 2);
});

Deno.test("bindings point at roles and service accounts the manifest creates", () => {
  const names = new Set(
    docs.map((d) => `${d.kind}/${d.metadata.namespace ?? ""}/${d.metadata.name}`),
  );
  for (const b of docs.filter((d) => d.kind.endsWith("Binding"))) {
    const ns = b.kind === "RoleBinding" ? b.metadata.namespace : "";
    assert.ok(names.has(`${b.roleRef.kind}/${ns}/${b.roleRef.name}`), b.metadata.name);
    for (const s of b.subjects) assert.ok(names.has(`ServiceAccount/${s.namespace}/${s.name}`));
  }
  for (const kind of ["Deployment", "DaemonSet"]) {
    const sa = podSpec(kind).serviceAccountName;
    assert.ok(names.has(`ServiceAccount/${NS}/${sa}`), `${kind} uses missing SA ${sa}`);
  }
});

Deno.test("README.md documents every flag and environment variable", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  for (const [name, spec] of Object.entries(FLAGS)) {
    assert.ok(readme.includes(`\`--${name}\``), `flag --${name} is not documented`);
    if (spec.env) assert.ok(readme.includes(`\`${spec.env}\``), `${spec.env} is not documented`);
  }
  const compile = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).tasks.compile;
  for (const name of (/--allow-env=(\S+)/.exec(compile)?.[1] ?? "").split(",")) {
    assert.ok(readme.includes(`\`${name}\``), `environment variable ${name} is not documented`);
  }
});

Deno.test("kustomization.yaml parses and includes the install manifest", async () => {
  const text = await Deno.readTextFile(new URL("manifests/kustomization.yaml", ROOT));
  const [k] = loadAllYaml(text);
  assert.equal(k.kind, "Kustomization");
  assert.deepEqual(k.resources, ["ferrolb.yaml"]);
});
