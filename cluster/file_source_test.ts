import assert from "node:assert/strict";
import { createFileSource, parseManifests } from "./file_source.ts";
import { silentLogger } from "../api/log.ts";
import type { ReadKind } from "./types.ts";
import { writeAtomically } from "../tests/e2e_helpers.ts";

const POOL = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata:
  name: pool-a
spec:
  addresses: [10.0.0.0/24]
`;

/** Resolves with the next set of changed kinds a subscriber sees. */
function nextChange(source: { subscribe: (l: (c: ReadonlySet<ReadKind>) => void) => () => void }) {
  return new Promise<ReadonlySet<ReadKind>>((resolve) => {
    const off = source.subscribe((changed) => {
      off();
      resolve(changed);
    });
  });
}

/** Resolves once `cond` holds after a change notification (every change is a chance). */
function untilChanged(
  source: { subscribe: (l: (c: ReadonlySet<ReadKind>) => void) => () => void },
  cond: () => boolean,
): Promise<void> {
  return new Promise<void>((resolve) => {
    const off = source.subscribe(() => {
      if (!cond()) return;
      off();
      resolve();
    });
  });
}

Deno.test("parseManifests: multi-doc, empty docs, List, namespace defaults, JSON", () => {
  const r = parseManifests(
    `# leading comment
---
${POOL}---
# only a comment
---
apiVersion: v1
kind: List
items:
- {apiVersion: v1, kind: Service, metadata: {name: s}, spec: {type: LoadBalancer}}
- {apiVersion: v1, kind: Node, metadata: {name: n1, namespace: bogus}}
---
`,
    { installNamespace: "lb" },
  );
  assert.ok(r.ok);
  assert.deepEqual(
    r.objects.map((o) => [o.kind, o.metadata.namespace, o.metadata.name]),
    [["IPAddressPool", "lb", "pool-a"], ["Service", "default", "s"], ["Node", undefined, "n1"]],
  );
  const json = parseManifests(JSON.stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "x" },
    type: "kubernetes.io/basic-auth",
  }));
  assert.ok(json.ok);
  assert.equal(json.objects[0].metadata.namespace, "default");
});

Deno.test("parseManifests reports the line of a YAML error and missing names", () => {
  const r = parseManifests(`${POOL}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a: b\n`);
  assert.ok(!r.ok);
  assert.match(r.reason, /^line 11, column 10: bad indentation of a mapping entry$/);
  const noName = parseManifests(`${POOL}---\napiVersion: v1\nkind: Service\nmetadata: {}\n`);
  assert.deepEqual(noName, {
    ok: false,
    reason: "document at line 8: Service is missing metadata.name",
  });
});

Deno.test("file source sees new files, edits, deletes; a broken file keeps its last good objects", async () => {
  const dir = await Deno.makeTempDir();
  // Polling is slow here on purpose: changes must arrive through the watcher or refresh().
  const source = createFileSource(dir, { logger: silentLogger, pollMs: 60_000, debounceMs: 20 });
  try {
    await Deno.mkdir(`${dir}/sub`);
    await Deno.writeTextFile(`${dir}/sub/pool.yaml`, POOL);
    await Deno.writeTextFile(`${dir}/ignored.txt`, "not: a manifest");
    await source.start();
    const pools = () => source.snapshot().objects.get("IPAddressPool");
    assert.deepEqual([...pools()!.keys()], ["metallb-system/pool-a"]);
    const rev0 = source.snapshot().revision;

    // A new file shows up via the watcher.
    let change = nextChange(source);
    await Deno.writeTextFile(
      `${dir}/svc.yml`,
      "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: LoadBalancer}\n",
    );
    assert.deepEqual([...await change], ["Service"]);
    assert.ok(source.snapshot().objects.get("Service")?.has("default/web"));
    assert.ok(source.snapshot().revision > rev0);

    // Breaking the pool file keeps pool-a and reports the file with its line. Renamed into
    // place: written in place, the watcher may read it empty between truncate and write on a
    // busy machine, and the empty file would become the last good one.
    await writeAtomically(`${dir}/sub/pool.yaml`, POOL + "  autoAssign: [\n");
    await source.refresh();
    assert.deepEqual([...pools()!.keys()], ["metallb-system/pool-a"]);
    const errs = source.fileErrors();
    assert.equal(errs.length, 1);
    assert.equal(errs[0].file, `${dir}/sub/pool.yaml`);
    assert.match(errs[0].reason, /^line \d+, column \d+: /);

    // Restoring exactly the last good text clears the error (the objects never left).
    await writeAtomically(`${dir}/sub/pool.yaml`, POOL);
    await source.refresh();
    assert.deepEqual(source.fileErrors(), []);
    assert.deepEqual([...pools()!.keys()], ["metallb-system/pool-a"]);
    await writeAtomically(`${dir}/sub/pool.yaml`, POOL + "  autoAssign: [\n");
    await source.refresh();
    assert.equal(source.fileErrors().length, 1);

    // Fixing it updates the pool and clears the error. writeTextFile truncates before it
    // writes, so on a busy machine the watcher may first see the file empty: wait for the
    // change that brings pool-b rather than taking the first one.
    const fixed = untilChanged(source, () => pools()?.has("metallb-system/pool-b") === true);
    await Deno.writeTextFile(`${dir}/sub/pool.yaml`, POOL.replace("pool-a", "pool-b"));
    await fixed;
    assert.deepEqual([...pools()!.keys()], ["metallb-system/pool-b"]);
    assert.deepEqual(source.fileErrors(), []);

    // Deleting a file removes its objects.
    change = nextChange(source);
    await Deno.remove(`${dir}/svc.yml`);
    assert.deepEqual([...await change], ["Service"]);
    assert.equal(source.snapshot().objects.get("Service"), undefined);

    // An unchanged rescan is not a change.
    const rev = source.snapshot().revision;
    await source.refresh();
    assert.equal(source.snapshot().revision, rev);
  } finally {
    await source.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file source polls when nothing else triggers a rescan", async () => {
  const dir = await Deno.makeTempDir();
  const source = createFileSource(dir, { logger: silentLogger, pollMs: 30, debounceMs: 60_000 });
  try {
    await source.start();
    const change = nextChange(source);
    await Deno.writeTextFile(
      `${dir}/pool.json`,
      JSON.stringify({
        apiVersion: "metallb.io/v1beta1",
        kind: "IPAddressPool",
        metadata: { name: "p" },
        spec: { addresses: ["10.0.0.0/24"] },
      }),
    );
    assert.deepEqual([...await change], ["IPAddressPool"]);
  } finally {
    await source.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file source: a mistyped kind is listed with the file errors (did-you-mean), not dropped silently", async () => {
  const dir = await Deno.makeTempDir();
  const source = createFileSource(dir, { logger: silentLogger, pollMs: 60_000, debounceMs: 20 });
  try {
    await Deno.writeTextFile(`${dir}/pool.yaml`, POOL.replace("IPAddressPool", "IPAdressPool"));
    await source.start();
    assert.equal(source.snapshot().objects.get("IPAddressPool")?.size ?? 0, 0);
    const errs = source.fileErrors();
    assert.equal(errs.length, 1, JSON.stringify(errs));
    assert.ok(errs[0].file.endsWith("pool.yaml"));
    assert.match(errs[0].reason, /IPAdressPool .*pool-a: kind: .*did you mean IPAddressPool\?/);
    // Fixed: the error goes and the pool arrives.
    const change = nextChange(source);
    await Deno.writeTextFile(`${dir}/pool.yaml`, POOL);
    await source.refresh();
    await change;
    assert.deepEqual(source.fileErrors(), []);
    assert.equal(source.snapshot().objects.get("IPAddressPool")?.size, 1);
  } finally {
    source.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("slimServices keeps of a Service what the schema reads; other kinds stay whole", () => {
  const text = `apiVersion: v1
kind: Service
metadata:
  name: web
  labels: {app: web}
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"huge": true}'
    keep: "yes"
  managedFields: [{manager: kubectl}]
spec:
  type: LoadBalancer
  sessionAffinity: None
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: 8080, protocol: TCP, appProtocol: http}
status:
  loadBalancer:
    ingress: [{ip: 192.0.2.1, ports: [{port: 80}]}]
  conditions: []
---
apiVersion: v1
kind: Secret
metadata: {name: s, managedFields: []}
data: {password: eA==}
`;
  const full = parseManifests(text);
  const slim = parseManifests(text, { slimServices: true });
  assert.ok(full.ok && slim.ok);
  assert.deepEqual(slim.objects[0], {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: "web",
      namespace: "default",
      labels: { app: "web" },
      annotations: { keep: "yes" },
    },
    spec: {
      type: "LoadBalancer",
      selector: { app: "web" },
      ports: [{ name: "http", protocol: "TCP", port: 80, targetPort: 8080 }],
    },
    status: { loadBalancer: { ingress: [{ ip: "192.0.2.1" }] } },
  });
  assert.deepEqual(slim.objects[1], full.objects[1]);
  // Fields of an unexpected type stay for the schema to report.
  const odd = parseManifests(
    "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: [1]\nstatus: 3\n",
    { slimServices: true },
  );
  assert.ok(odd.ok);
  assert.deepEqual(odd.objects[0].spec, [1]);
  assert.equal(odd.objects[0].status, 3);
});

Deno.test("file source: Services share one frozen list of equal ports", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const svc = (name: string, port: number) =>
      `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}}\n` +
      `spec: {type: LoadBalancer, ports: [{protocol: TCP, port: ${port}}]}\n`;
    await Deno.writeTextFile(
      `${dir}/svc.yaml`,
      [svc("a", 80), svc("b", 80), svc("c", 443)].join("---\n"),
    );
    const source = createFileSource(dir, { logger: silentLogger, pollMs: 60_000 });
    await source.start();
    try {
      const services = source.snapshot().objects.get("Service")!;
      const ports = (key: string) => (services.get(key)!.spec as { ports: unknown }).ports;
      assert.equal(ports("default/a"), ports("default/b"));
      assert.notEqual(ports("default/a"), ports("default/c"));
      assert.ok(Object.isFrozen(ports("default/a")));
      assert.deepEqual(ports("default/c"), [{ protocol: "TCP", port: 443 }]);
    } finally {
      await source.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("file source: a file read empty once keeps its objects; empty at the next scan, they go", async () => {
  const dir = await Deno.makeTempDir();
  // Scans come from refresh() only: no watcher events (debounce) or polls in between.
  const source = createFileSource(dir, {
    logger: silentLogger,
    pollMs: 60_000,
    debounceMs: 60_000,
  });
  const svc = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {type: LoadBalancer}\n";
  const services = () => [...source.snapshot().objects.get("Service")?.keys() ?? []];
  try {
    await Deno.writeTextFile(`${dir}/svc.yaml`, svc);
    await source.start();
    assert.deepEqual(services(), ["default/web"]);

    // The moment between the truncate and the write of an in-place edit.
    await writeAtomically(`${dir}/svc.yaml`, "");
    await source.refresh();
    assert.deepEqual(services(), ["default/web"], "one empty read deletes nothing");
    await writeAtomically(
      `${dir}/svc.yaml`,
      svc.replace("{type: LoadBalancer}", "{type: LoadBalancer, ports: [{port: 80}]}"),
    );
    await source.refresh();
    assert.deepEqual(services(), ["default/web"]);

    // Emptied for real: read empty at two scans in a row.
    await writeAtomically(`${dir}/svc.yaml`, "\n");
    await source.refresh();
    assert.deepEqual(services(), ["default/web"]);
    await source.refresh();
    assert.deepEqual(services(), [], "empty at the next scan: its objects go");
  } finally {
    await source.close();
    await Deno.remove(dir, { recursive: true });
  }
});
