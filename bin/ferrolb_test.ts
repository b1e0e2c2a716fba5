/**
 * The `ferrolb` command as a user runs it after `npm ci`: the Node launcher, from a working
 * directory outside the repository, on a config dir, a state dir and a kubeconfig elsewhere,
 * with only the permissions the launcher grants. One test per message and exit code.
 */
import assert from "node:assert/strict";

const BIN = new URL("./ferrolb.mjs", import.meta.url).pathname;
const QUICKSTART = new URL("../examples/quickstart/", import.meta.url).pathname;
/** Node by absolute path: one test clears the environment, PATH included. */
const NODE = ["/usr/bin/node", "/usr/local/bin/node"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
}) ?? "node";

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `node bin/ferrolb.mjs ...args` in `cwd` to completion. */
async function ferrolb(
  cwd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Run> {
  const out = await new Deno.Command(NODE, {
    args: [BIN, ...args],
    cwd,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A free port a BGPPeer may name (MetalLB's CRD allows 1-16384). */
function freePeerPort(): number {
  for (;;) {
    const port = 10_000 + Math.floor(Math.random() * 6_000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // taken: try another
    }
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A temp tree: `cwd/` (where commands run), `cfg/` (the quickstart with its BGPPeer moved
 * to `peerPort`), and room for state dirs and a home. The repository is elsewhere.
 */
async function makeTree(peerPort: number): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "ferrolb-cli-" });
  await Deno.mkdir(`${root}/cwd`);
  await Deno.mkdir(`${root}/cfg`);
  for await (const e of Deno.readDir(QUICKSTART)) {
    const text = await Deno.readTextFile(`${QUICKSTART}${e.name}`);
    await Deno.writeTextFile(
      `${root}/cfg/${e.name}`,
      text.replace(/peerPort: \d+/, `peerPort: ${peerPort}`),
    );
  }
  return root;
}

Deno.test("--version and -h work from any directory", async () => {
  const root = await makeTree(1179);
  try {
    const v = await ferrolb(`${root}/cwd`, ["--version"]);
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /^ferrolb \d+\.\d+\.\d+ \(deno 2\./);
    const h = await ferrolb(`${root}/cwd`, ["status", "-h"]);
    assert.equal(h.code, 0);
    assert.match(h.stdout, /^usage: ferrolb status/);
    assert.match(h.stdout, /--json/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("validate: relative paths from another directory; exit 0, 1, 2; misplaced flag 2", async () => {
  const root = await makeTree(1179);
  const cwd = `${root}/cwd`;
  try {
    const ok = await ferrolb(cwd, ["validate", "../cfg"]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(
      ok.stdout,
      /(^|\n)valid: 4 object\(s\) in 4 file\(s\): 1 pool\(s\), 1 peer\(s\), 1 advertisement\(s\)\n$/,
    );

    await Deno.mkdir(`${root}/bad`);
    await Deno.writeTextFile(
      `${root}/bad/pool.yaml`,
      "apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: {name: p, namespace: metallb-system}\nspec: {addresses: [10.0.0.9-10.0.0.1]}\n",
    );
    const bad = await ferrolb(cwd, ["validate", "../bad"]);
    assert.equal(bad.code, 1);
    assert.match(
      bad.stdout,
      /^\.\.\/bad\/pool\.yaml: IPAddressPool metallb-system\/p: spec\.addresses\[0\]/m,
    );
    assert.match(bad.stdout, /^invalid: 1 problem\(s\)/m);

    const missing = await ferrolb(cwd, ["validate", "../nope.yaml"]);
    assert.equal(missing.code, 2);
    assert.match(missing.stdout, /^\.\.\/nope\.yaml: cannot read: /);
    assert.doesNotMatch(missing.stdout, /valid:/);

    const misplaced = await ferrolb(cwd, ["validate", "--weighted-ecmp", "../cfg"]);
    assert.equal(misplaced.code, 2);
    assert.equal(misplaced.stdout, "");
    assert.match(
      misplaced.stderr,
      /^ferrolb validate: --weighted-ecmp does not apply to validate \(it is for speaker, all, demo\)\n/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("status: connection refused names the address and --addr, exit 3", async () => {
  const root = await makeTree(1179);
  try {
    const addr = `127.0.0.1:${freePort()}`;
    const r = await ferrolb(`${root}/cwd`, ["status", "--addr", addr]);
    assert.equal(r.code, 3);
    assert.equal(
      r.stderr,
      `ferrolb status: connection refused at ${addr}: is ferrolb running? (--addr)\n`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("all: a bad --admin-addr (2) or a port in use (1) creates no state directory", async () => {
  const root = await makeTree(1179);
  const cwd = `${root}/cwd`;
  const held = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const base = ["all", "--config-dir", "../cfg", "--state-dir", "../state", "--node-name", "n1"];
    const bad = await ferrolb(cwd, [...base, "--admin-addr", "localhost"]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^ferrolb all: --admin-addr: invalid address "localhost"/);
    const port = (held.addr as Deno.NetAddr).port;
    const busy = await ferrolb(cwd, [...base, "--admin-addr", `127.0.0.1:${port}`]);
    assert.equal(busy.code, 1);
    assert.equal(
      busy.stderr,
      `ferrolb all: --admin-addr 127.0.0.1:${port}: address in use (another ferrolb running? choose another with --admin-addr)\n`,
    );
    assert.equal(await exists(`${root}/state`), false);
    assert.equal(await exists(`${cwd}/.ferrolb-state`), false);
  } finally {
    held.close();
    await Deno.remove(root, { recursive: true });
  }
});

/** Reads JSON log lines from a child's stderr until one matches; keeps draining after. */
function watchLog(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  const waiters: { match: (l: string) => boolean; resolve: (l: string) => void }[] = [];
  const done = (async () => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        for (const w of [...waiters]) {
          if (w.match(line)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(line);
          }
        }
      }
    }
  })();
  return {
    lines,
    done,
    waitFor(match: (l: string) => boolean, timeoutMs = 60_000): Promise<string> {
      const hit = lines.find(match);
      if (hit) return Promise.resolve(hit);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`no matching log line in ${timeoutMs} ms:\n${lines.join("\n")}`)),
          timeoutMs,
        );
        waiters.push({
          match,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
      });
    },
  };
}

Deno.test({
  name:
    "all on a config dir and state dir elsewhere: status text/--json exit 1 while the session is down; SIGTERM stops it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await makeTree(freePeerPort());
    const cwd = `${root}/cwd`;
    const child = new Deno.Command(NODE, {
      args: [
        BIN,
        "all",
        "--config-dir",
        "../cfg",
        "--state-dir",
        "../state",
        "--node-name",
        "n1",
        "--admin-addr",
        "127.0.0.1:0",
        "--weighted-ecmp",
      ],
      cwd,
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log = watchLog(child.stderr);
    try {
      const listening = JSON.parse(
        await log.waitFor((l) => l.includes('"admin server listening"')),
      );
      const addr: string = listening.addr;
      await log.waitFor((l) => l.includes('"controller and speaker running"'));
      assert.ok(await exists(`${root}/state`), "state dir created where --state-dir says");
      assert.equal(await exists(`${cwd}/.ferrolb-state`), false);

      const text = await ferrolb(cwd, ["status", "--addr", addr]);
      assert.equal(text.code, 1, text.stderr);
      assert.match(text.stdout, /^ferrolb all on node n1\n\nConfig: valid\n/);
      assert.match(text.stdout, /default\/example-service\s+172\.19\.0\.\d+\s+example-pool/);
      assert.match(
        text.stderr,
        /^ferrolb status: not healthy: session example is (Idle|Connect|Active)\n$/,
      );

      const json = await ferrolb(cwd, ["status", "--addr", addr, "--json"]);
      assert.equal(json.code, 1);
      const doc = JSON.parse(json.stdout);
      assert.equal(doc.role, "all");
      assert.equal(doc.config.valid, true);
      assert.equal(doc.services[0].pool, "example-pool");
      assert.notEqual(doc.sessions[0].state, "Established");

      // Process metrics under the launcher's permissions: what Deno allows without -A.
      const metrics = await (await fetch(`http://${addr}/metrics`)).text();
      const value = (name: string) =>
        Number(metrics.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
      assert.ok(value("process_cpu_seconds_total") > 0, metrics);
      assert.ok(value("process_resident_memory_bytes") > 1_000_000, metrics);
      assert.ok(value("process_start_time_seconds") > Date.now() / 1000 - 600, metrics);
      // `all` holds --allow-ffi to libc, so descriptors are counted through it.
      assert.ok(value("process_open_fds") >= 3, metrics);
      assert.ok(value("process_max_fds") >= value("process_open_fds"), metrics);
      assert.equal(value("metallb_k8s_client_config_stale_bool"), 0);
    } finally {
      child.kill("SIGTERM");
      const status = await child.status;
      await log.done;
      await Deno.remove(root, { recursive: true });
      assert.equal(status.code, 0, log.lines.join("\n"));
    }
  },
});

Deno.test({
  name: "demo on a directory elsewhere converges (exit 0) with its throwaway state in the temp dir",
  sanitizeResources: false,
  fn: async () => {
    const root = await makeTree(freePeerPort());
    try {
      const r = await ferrolb(`${root}/cwd`, [
        "demo",
        "../cfg",
        "--admin-addr",
        "127.0.0.1:0",
        "--exit-when-converged",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        /default\/example-service\s+172\.19\.0\.\d+\s+pool example-pool\s+announced to/,
      );
      assert.match(r.stdout, /\nconverged\n$/);
      assert.deepEqual([...Deno.readDirSync(`${root}/cwd`)], []);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

Deno.test({
  name: "controller finds ~/.kube/config through HOME and reads the files it names",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const root = await makeTree(1179);
    const kube = `${root}/home/.kube`;
    await Deno.mkdir(kube, { recursive: true });
    const apiPort = freePort();
    // Referenced by a relative path, as kubectl resolves it: next to the kubeconfig.
    const ca = await new Deno.Command("openssl", {
      args: [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        `${kube}/ca.key`,
        "-out",
        `${kube}/ca.crt`,
        "-days",
        "1",
        "-subj",
        "/CN=ferrolb-test-ca",
      ],
      stdout: "null",
      stderr: "null",
    }).output();
    assert.ok(ca.success, "openssl made the test CA");
    await Deno.writeTextFile(
      `${kube}/config`,
      `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:${apiPort}", certificate-authority: ca.crt}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
users:
- name: u
  user: {token: t0ken}
`,
    );
    try {
      // ~/.kube/config through HOME, then the same file named with a path relative to the cwd.
      await dialsApiServer(root, apiPort, [], { HOME: `${root}/home` });
      await dialsApiServer(root, apiPort, ["--kubeconfig", "../home/.kube/config"], {});
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  },
});

/** Runs `controller` in `root/cwd` until it dials the API server at `apiPort`, then stops it. */
async function dialsApiServer(
  root: string,
  apiPort: number,
  extra: string[],
  env: Record<string, string>,
): Promise<void> {
  const child = new Deno.Command(NODE, {
    args: [BIN, "controller", "--admin-addr", "127.0.0.1:0", ...extra],
    cwd: `${root}/cwd`,
    env,
    clearEnv: true,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = watchLog(child.stderr);
  try {
    // The only place this port is written is the kubeconfig.
    const line = await log.waitFor((l) => l.includes(`127.0.0.1:${apiPort}`));
    assert.match(line, /ECONNREFUSED|refused/i);
    assert.ok(
      !log.lines.some((l) => /NotCapable|Requires read access|--allow-/.test(l)),
      log.lines.join("\n"),
    );
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await log.done;
  }
}
