import assert from "node:assert/strict";
import { createLogger, silentLogger } from "../api/log.ts";
import { openStateStore, type StateData, StateStoreError } from "./state_store.ts";

function withService(data: StateData, key: string, ip: string): StateData {
  return {
    ...data,
    services: { ...data.services, [key]: { ingress: [ip], annotations: { a: key } } },
  };
}

Deno.test("missing directory or file loads as empty state; saves round-trip", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = openStateStore(`${dir}/sub/state`, { logger: silentLogger });
    assert.deepEqual(store.load(), { version: 1, services: {} });
    const data = withService(
      { version: 1, services: {}, extra: { keep: true } },
      "ns/a",
      "1.2.3.4",
    );
    await store.save(data);
    const again = openStateStore(`${dir}/sub/state`, { logger: silentLogger });
    assert.deepEqual(again.load(), data);
    assert.equal(again.generation(), 1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a Map of Services saves the same, copied at the call or read as it is written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const services = new Map(
      Array.from({ length: 7000 }, (_, i) => [
        `ns/s${i}`,
        { ingress: [`10.0.${i >> 8}.${i & 255}`], annotations: { a: `${i}` } },
      ]),
    );
    const want: StateData = { version: 1, services: Object.fromEntries(services), x: 1 };
    for (const unchanged of [false, true]) {
      const store = openStateStore(`${dir}/${unchanged}`, { logger: silentLogger });
      await store.save({ version: 1, services, x: 1 }, { unchanged });
      assert.deepEqual(
        openStateStore(`${dir}/${unchanged}`, { logger: silentLogger }).load(),
        want,
      );
    }
    const empty = openStateStore(`${dir}/empty`, { logger: silentLogger });
    await empty.save({ version: 1, services: new Map() }, { unchanged: true });
    assert.deepEqual(openStateStore(`${dir}/empty`, { logger: silentLogger }).load(), {
      version: 1,
      services: {},
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("text beyond ASCII saves the same across pieces and the encoding buffer", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Long values of two-, three- and four-byte characters: a piece's bytes outgrow the
    // buffer it is encoded through, so a piece is written in rounds, split between characters.
    const services = new Map(
      Array.from({ length: 2000 }, (_, i) => [
        `ns/é${i}`,
        {
          ingress: [`10.0.${i >> 8}.${i & 255}`],
          annotations: { a: `${i}:ü${"€€😀".repeat(60)}` },
        },
      ]),
    );
    const store = openStateStore(dir, { logger: silentLogger });
    await store.save({ version: 1, services }, { unchanged: true });
    assert.deepEqual(openStateStore(dir, { logger: silentLogger }).load(), {
      version: 1,
      services: Object.fromEntries(services),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("concurrent saves land in call order and the caller's later edits do not leak", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const store = openStateStore(dir, { logger: silentLogger });
    const data: StateData = { version: 1, services: {} };
    const saves: Promise<void>[] = [];
    for (let i = 0; i < 10; i++) {
      data.services[`ns/s${i}`] = { ingress: [`10.0.0.${i}`], annotations: {} };
      saves.push(store.save(data));
    }
    data.services["ns/unsaved"] = { ingress: ["10.0.0.99"], annotations: {} };
    await Promise.all(saves);
    const loaded = openStateStore(dir, { logger: silentLogger }).load();
    assert.equal(Object.keys(loaded.services).length, 10);
    assert.equal(loaded.services["ns/unsaved"], undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("crash mid-write: leftover temp file and truncated target fall back to last good", async () => {
  const dir = await Deno.makeTempDir();
  const lines: string[] = [];
  const logger = createLogger({ write: (l) => lines.push(l) });
  try {
    const store = openStateStore(dir, { logger });
    store.load();
    const g1 = withService({ version: 1, services: {} }, "ns/a", "192.0.2.1");
    const g2 = withService(g1, "ns/b", "192.0.2.2");
    await store.save(g1);
    await store.save(g2);
    // Crash while writing generation 3: a partial temp file, never renamed.
    await Deno.writeTextFile(`${dir}/.state.json.tmp-4242-1`, '{"format":"ferrolb-state","gen');
    assert.deepEqual(openStateStore(dir, { logger }).load(), g2);
    assert.equal(
      [...Deno.readDirSync(dir)].some((e) => e.name.includes(".tmp-")),
      false,
      "leftover temp file is cleaned up on open",
    );
    // The target itself got truncated (e.g. a filesystem without ordered writes).
    const full = await Deno.readTextFile(`${dir}/state.json`);
    await Deno.writeTextFile(`${dir}/state.json`, full.slice(0, Math.floor(full.length / 2)));
    lines.length = 0;
    const reopened = openStateStore(dir, { logger });
    assert.deepEqual(reopened.load(), g1);
    assert.ok(lines.some((l) => l.includes("state.json.prev") && l.includes("loaded state")));
    assert.ok(lines.some((l) => l.includes("ignoring unreadable state file")));
    // Saving after that must not rotate the corrupt file over the good .prev.
    const g3 = withService(g1, "ns/c", "192.0.2.3");
    await reopened.save(g3);
    await Deno.writeTextFile(`${dir}/state.json`, "");
    assert.deepEqual(openStateStore(dir, { logger: silentLogger }).load(), g1);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("both generations corrupt is an error, not a silent empty state", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/state.json`, "{");
    await Deno.writeTextFile(`${dir}/state.json.prev`, "garbage");
    const store = openStateStore(dir, { logger: silentLogger });
    assert.throws(() => store.load(), StateStoreError);
    await assert.rejects(() => store.save({ version: 1, services: {} }), StateStoreError);
    assert.equal(await Deno.readTextFile(`${dir}/state.json`), "{", "nothing overwritten");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a state file from a newer format version is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/state.json`,
      JSON.stringify({
        format: "ferrolb-state",
        generation: 1,
        data: { version: 2, services: {} },
      }),
    );
    assert.throws(
      () => openStateStore(dir, { logger: silentLogger }).load(),
      /unsupported version 2/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const CHILD = `
import { openStateStore } from ${JSON.stringify(new URL("./state_store.ts", import.meta.url).href)};
import { silentLogger } from ${JSON.stringify(new URL("../api/log.ts", import.meta.url).href)};
const store = openStateStore(Deno.args[0], { logger: silentLogger });
const data = store.load();
let n = Number(data.last ?? 0);
const enc = new TextEncoder();
for (;;) {
  n++;
  data.services["ns/svc-" + n] = { ingress: ["10." + (n >> 16 & 255) + "." + (n >> 8 & 255) + "." + (n & 255)], annotations: { gen: String(n) } };
  data.last = n;
  await store.save(data);
  Deno.stdout.writeSync(enc.encode("committed " + n + "\\n"));
}
`;

Deno.test("SIGKILL at random points never breaks load() nor loses a committed save", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/child.ts`;
    await Deno.writeTextFile(script, CHILD);
    const stateDir = `${dir}/state`;
    let lastCommitted = 0;
    for (let round = 0; round < 20; round++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "--quiet", "--allow-read", "--allow-write", script, stateDir],
        stdout: "piped",
        stderr: "null",
        cwd: dir,
      }).spawn();
      const want = 1 + Math.floor(Math.random() * 15);
      let seen = 0;
      let buf = "";
      const reader = child.stdout.getReader();
      const decoder = new TextDecoder();
      while (seen < want) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
        const parts = buf.split("\n");
        buf = parts.pop()!;
        for (const p of parts) {
          const m = p.match(/^committed (\d+)$/);
          if (m) {
            seen++;
            lastCommitted = Math.max(lastCommitted, Number(m[1]));
          }
        }
      }
      // Land the kill anywhere in the next save: before, during or after its fsync/rename.
      const delayUs = Math.floor(Math.random() * 3000);
      if (delayUs > 1500) await new Promise((r) => setTimeout(r, Math.floor(delayUs / 1000)));
      child.kill("SIGKILL");
      // Lines printed before the kill are commits too.
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += decoder.decode(value, { stream: true });
      }
      for (const p of buf.split("\n")) {
        const m = p.match(/^committed (\d+)$/);
        if (m) lastCommitted = Math.max(lastCommitted, Number(m[1]));
      }
      const status = await child.status;
      assert.equal(status.signal, "SIGKILL", `round ${round}: child died on its own`);

      const loaded = openStateStore(stateDir, { logger: silentLogger }).load();
      const last = Number(loaded.last);
      assert.ok(last >= lastCommitted, `round ${round}: lost commit ${lastCommitted}, got ${last}`);
      for (let i = 1; i <= last; i++) {
        const s = loaded.services[`ns/svc-${i}`];
        assert.ok(s, `round ${round}: service ${i} missing`);
        assert.equal(s.annotations.gen, String(i));
      }
      assert.equal(Object.keys(loaded.services).length, last);
    }
    assert.ok(lastCommitted >= 20);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
