/**
 * IP history as users read it in file mode: `ferrolb status --history [IP|SERVICE]` and
 * `/status?history=`, from a directory of unchanged MetalLB manifests; kept in the state
 * directory across a restart.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { startFileMode } from "./all.ts";
import { parseCommandLine } from "./args.ts";
import { EXIT_OK, formatStatus, runStatus, type StatusDocument } from "./status.ts";
import { writeAtomically } from "../tests/e2e_helpers.ts";

const POOL = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p, namespace: metallb-system}
spec: {addresses: [192.0.2.10-192.0.2.11]}
`;

function service(name: string, type = "LoadBalancer", created = "2026-01-01T00:00:00Z"): string {
  return `apiVersion: v1
kind: Service
metadata: {name: ${name}, namespace: default, creationTimestamp: "${created}"}
spec: {type: ${type}, ports: [{port: 80}]}
`;
}

async function historyOf(addr: string, what = ""): Promise<Record<string, string>[]> {
  const r = await fetch(`http://${addr}/status?history=${encodeURIComponent(what)}`);
  return (await r.json()).history ?? [];
}

async function until<T>(what: string, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function statusHistory(addr: string, what?: string): Promise<string> {
  let out = "";
  const args = ["status", "--addr", addr, "--history", ...(what ? [what] : [])];
  const code = await runStatus(parseCommandLine(args), {
    stdout: (t) => out += t,
    stderr: () => {},
  });
  assert.ok(code === EXIT_OK || code === 1, `exit ${code}`);
  return out;
}

Deno.test("file mode: ferrolb status --history shows tenures, reuse and why they ended", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferrolb-history-" });
  await Deno.mkdir(`${dir}/cfg`);
  await Deno.writeTextFile(`${dir}/cfg/pool.yaml`, POOL);
  await Deno.writeTextFile(`${dir}/cfg/web.yaml`, service("web"));
  const start = () =>
    startFileMode({
      configDir: `${dir}/cfg`,
      stateDir: `${dir}/state`,
      nodeName: "n1",
      namespace: "metallb-system",
      adminAddr: "127.0.0.1:0",
      logger: silentLogger,
      pollMs: 50,
    });
  let mode = await start();
  try {
    const addr = () => mode.adminAddr;
    await until("web assigned", async () => (await historyOf(addr())).length === 1 || undefined);
    // Renamed into place: a rewrite in place is seen empty first on a busy machine (the
    // poll lands between truncate and write), and web would end as deleted, not NodePort.
    await writeAtomically(`${dir}/cfg/web.yaml`, service("web", "NodePort"));
    await until("web released", async () => (await historyOf(addr()))[0]?.to ? true : undefined);
    await writeAtomically(
      `${dir}/cfg/api.yaml`,
      service("api", "LoadBalancer", "2026-01-02T00:00:00Z"),
    );
    await until(
      "api assigned",
      async () => (await historyOf(addr(), "default/api")).length === 1 || undefined,
    );
    await writeAtomically(
      `${dir}/cfg/db.yaml`,
      service("db", "LoadBalancer", "2026-01-03T00:00:00Z"),
    );
    await until(
      "db assigned",
      async () => (await historyOf(addr(), "default/db")).length === 1 || undefined,
    );
    await Deno.remove(`${dir}/cfg/api.yaml`);
    await until(
      "api released",
      async () => (await historyOf(addr(), "default/api"))[0]?.to ? true : undefined,
    );

    // Not asked for: /status stays as it was.
    const plain = await (await fetch(`http://${addr()}/status`)).json();
    assert.equal(plain.history, undefined);

    const byIp = await statusHistory(addr(), "192.0.2.10");
    const lines = byIp.trim().split("\n");
    assert.match(lines[0], /^IP\s+SERVICE\s+POOL\s+FROM\s+TO\s+HOW\s+WHY IT ENDED$/);
    assert.equal(lines.length, 3, byIp);
    assert.match(
      lines[1],
      /^192\.0\.2\.10\s+default\/web\s+p\s+\S+\s+\S+\s+assigned\s+type changed: NodePort$/,
    );
    assert.match(
      lines[2],
      /^192\.0\.2\.10\s+default\/db\s+p\s+\S+\s+\(holds it\)\s+re-assigned\s+-$/,
    );
    const api = await statusHistory(addr(), "default/api");
    assert.match(
      api.trim().split("\n")[1],
      /^192\.0\.2\.11\s+default\/api\s+.*assigned\s+Service deleted$/,
    );
    assert.equal((await statusHistory(addr())).trim().split("\n").length, 4);
    assert.equal(await statusHistory(addr(), "198.51.100.1"), "no history for 198.51.100.1\n");

    // Kept in the state directory across a restart; what changed while it was down (db
    // deleted) ends at the start.
    await mode.close();
    await Deno.remove(`${dir}/cfg/db.yaml`);
    mode = await start();
    const after = await historyOf(mode.adminAddr);
    assert.equal(after.length, 3);
    assert.equal(after[2].service, "default/db");
    assert.equal(after[2].ended, "released while not recorded");
  } finally {
    await mode.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ferrolb status shows the prepend and MED a Service's routes carry", () => {
  const doc: StatusDocument = {
    role: "speaker",
    config: { valid: true, errors: [], warnings: [] },
    sessions: [],
    pools: [],
    services: [
      {
        namespace: "default",
        name: "web",
        ips: ["192.0.2.10"],
        peers: ["192.0.2.1:179"],
        path: { asPathPrepend: 3, med: 200 },
      },
      { namespace: "default", name: "api", ips: ["192.0.2.11"], peers: ["192.0.2.1:179"] },
    ],
  };
  const text = formatStatus(doc);
  assert.match(
    text,
    /default\/web\s+192\.0\.2\.10\s+-\s+192\.0\.2\.1:179 \(prepend 3, med 200\)\n/,
  );
  assert.match(text, /default\/api\s+192\.0\.2\.11\s+-\s+192\.0\.2\.1:179\n/);
});
