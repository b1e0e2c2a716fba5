import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { parseEnvelope } from "./state_format.ts";
import { openStateStore, type StateData } from "./state_store.ts";
import { parseEnvelopeInSlices } from "./state_text.ts";
import { setTurnClockForTest } from "../addr/turn_budget.ts";

/** The text the store writes for `data`. */
async function written(data: StateData): Promise<string> {
  const dir = await Deno.makeTempDir();
  try {
    await openStateStore(dir, { logger: silentLogger }).save(data);
    return await Deno.readTextFile(`${dir}/state.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function services(n: number): StateData["services"] {
  const out: StateData["services"] = {};
  for (let i = 0; i < n; i++) {
    out[`ns/svc-${i}`] = {
      ingress: i % 7 === 0 ? [`10.0.${i >> 8}.${i & 255}`, `fd00::${i.toString(16)}`] : [
        `10.0.${i >> 8}.${i & 255}`,
      ],
      annotations: i % 3 === 0 ? { "metallb.io/ip-allocated-from-pool": "a" } : {},
    };
  }
  return out;
}

Deno.test("state text in slices: what the store writes reads as one parse reads it", async () => {
  for (const n of [0, 1, 2, 5000]) {
    const text = await written({ version: 1, services: services(n), extra: { keep: [1, "x"] } });
    const sliced = await parseEnvelopeInSlices(text);
    assert.notEqual(typeof sliced, "string", `${n} Services: ${sliced}`);
    assert.deepEqual(sliced, parseEnvelope(text));
    assert.equal(Object.keys((sliced as { data: StateData }).data.services).length, n);
  }
});

Deno.test("state text in slices: other layouts and damaged files get the same answer", async () => {
  const text = await written({ version: 1, services: services(3) });
  const env = JSON.parse(text);
  const line = (key: string, value: unknown) => `${JSON.stringify(key)}:${JSON.stringify(value)}`;
  const ok = { ingress: ["10.9.9.9"], annotations: {} };
  const head = text.slice(0, text.indexOf("\n"));
  const variants: Record<string, string> = {
    "pretty-printed": JSON.stringify(env, null, 2),
    "one line": JSON.stringify(env),
    "no final newline": text.trimEnd(),
    "truncated": text.slice(0, text.length - 10),
    "a malformed Service": `${head}\n${line("ns/a", { ingress: "x", annotations: {} })}}}}\n`,
    // JSON.parse keeps a repeated key's last value: a malformed first one does not count.
    "a repeated key, last one good": `${head}\n${line("ns/a", { ingress: 1 })},\n${
      line("ns/a", ok)
    }}}}\n`,
    "a repeated key, last one bad": `${head}\n${line("ns/a", ok)},\n${
      line("ns/a", { ingress: 1 })
    }}}}\n`,
    "an own __proto__": `${head}\n${line("__proto__", ok)}}}}\n`,
    "two members a line": `${head}\n${line("ns/a", ok)},${line("ns/b", ok)}}}}\n`,
    "services not last in data": text.replace('"services":{', '"services":{}, "x":{'),
    "the lines' object not data.services": `${
      head.replace('"services":{', '"services":{}},"other":{"services":{')
    }\n${line("ns/a", ok)}}}}\n`,
    "a newer version": text.replace('"version":1', '"version":2'),
    "not a state file": text.replace("ferrolb-state", "other"),
    "a line cut in two": text.replace('"annotations"', '\n"annotations"'),
  };
  for (const [what, t] of Object.entries(variants)) {
    assert.deepEqual(await parseEnvelopeInSlices(t), parseEnvelope(t), what);
  }
  assert.equal(
    typeof await parseEnvelopeInSlices(variants["a repeated key, last one bad"]),
    "string",
  );
});

Deno.test("a preloaded store loads what a store without preload loads", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const data: StateData = { version: 1, services: services(3000) };
    const store = openStateStore(dir, { logger: silentLogger });
    await store.save(data);
    await store.save({ version: 1, services: services(10) });
    const pre = openStateStore(dir, { logger: silentLogger });
    await pre.preload?.();
    const plain = openStateStore(dir, { logger: silentLogger });
    assert.deepEqual(pre.load(), plain.load());
    assert.equal(pre.generation(), 2);
    assert.equal(Object.keys(pre.load().services).length, 10);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state text in slices: the store's layout is read in turns, not in one go", async () => {
  const text = await written({ version: 1, services: services(50) });
  let t = 0;
  // Every slice is over at once: each line waits for a turn of its own.
  const restore = setTurnClockForTest(() => (t += 1000));
  try {
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    const env = await parseEnvelopeInSlices(text);
    clearInterval(ticker);
    assert.deepEqual(env, parseEnvelope(text));
    assert.ok(turns > 0, "timers ran while the file was parsed");
  } finally {
    restore();
  }
});
