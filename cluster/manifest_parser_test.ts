import assert from "node:assert/strict";
import { parseManifests } from "./file_source.ts";
import { createManifestParser } from "./manifest_parser.ts";
import { documentsWithin } from "./manifest_text.ts";
import { aliasBomb, manyServices } from "../tests/soak/hostile_files.ts";

Deno.test("the worker parses 100,000 Services while the main thread keeps running", async () => {
  const parser = createManifestParser({ inline: parseManifests });
  assert.equal(parser.mode, "worker");
  const text = manyServices(100_000);
  let ticks = 0;
  let worstGapMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    worstGapMs = Math.max(worstGapMs, now - last);
    last = now;
    ticks++;
  }, 10);
  try {
    const ticksBefore = ticks;
    const r = await parser.parse(text);
    assert.ok(r.ok, r.ok ? "" : r.reason);
    assert.equal(r.objects.length, 100_000);
    assert.equal(r.objects[12_345].metadata.name, "svc-12345");
    // Timers fired during the parse: with an inline parse of seconds none could.
    assert.ok(ticks - ticksBefore >= 2, `only ${ticks - ticksBefore} timer ticks during the parse`);
    console.log(`worst timer gap while parsing 27 MB: ${worstGapMs.toFixed(0)} ms`);
  } finally {
    clearInterval(timer);
    parser.close();
  }
});

Deno.test("a bomb is an error naming the limit; the same parser then parses good input", async () => {
  const parser = createManifestParser({ inline: parseManifests });
  try {
    const bomb = await parser.parse(aliasBomb(9));
    assert.equal(bomb.ok, false);
    assert.match((bomb as { reason: string }).reason, /alias expansion reaches .* \(limit/);
    const good = await parser.parse(manyServices(3));
    assert.ok(good.ok);
    assert.deepEqual(good.objects.map((o) => o.metadata.name), ["svc-0", "svc-1", "svc-2"]);
  } finally {
    parser.close();
  }
});

Deno.test("a parse past its deadline stops the worker and names the limit; the next works", async () => {
  // 1 ms cannot hold 100,000 Services on any machine: the deadline always fires first.
  const parser = createManifestParser({ inline: parseManifests, deadlineMs: 1 });
  try {
    const r = await parser.parse(manyServices(100_000));
    assert.deepEqual(r, {
      ok: false,
      reason: "parsing did not finish within 0.001 s (limit 0.001 s); the parser was stopped",
      transient: true,
    });
  } finally {
    parser.close();
  }
  const fresh = createManifestParser({ inline: parseManifests, deadlineMs: 60_000 });
  try {
    const r = await fresh.parse(manyServices(2));
    assert.ok(r.ok);
  } finally {
    fresh.close();
  }
});

Deno.test("close() ends a parse in progress with an error instead of waiting", async () => {
  const parser = createManifestParser({ inline: parseManifests });
  const pending = parser.parse(manyServices(50_000));
  parser.close();
  assert.deepEqual(await pending, { ok: false, reason: "parser closed", transient: true });
  assert.deepEqual(await parser.parse("a: 1"), {
    ok: false,
    reason: "parser closed",
    transient: true,
  });
});

for (const [where, mainThreadMaxChars] of [["worker", 0], ["main thread", undefined]] as const) {
  Deno.test(`keep is applied to every object a parse gives, chunk by chunk (${where})`, async () => {
    const seen: string[] = [];
    const parser = createManifestParser({
      inline: parseManifests,
      mainThreadMaxChars,
      keep: (o) => {
        seen.push(o.metadata.name);
        return { ...o, metadata: { ...o.metadata, labels: { kept: "yes" } } };
      },
    });
    try {
      // More Services than one chunk of the worker's replies.
      const r = await parser.parse(manyServices(1_201));
      assert.ok(r.ok);
      assert.equal(r.objects.length, 1_201);
      assert.ok(r.objects.every((o) => o.metadata.labels?.kept === "yes"));
      assert.equal(seen.length, 1_201, "each object kept once");
    } finally {
      parser.close();
    }
  });
}

Deno.test("a small text parsed on the main thread gives what the worker gives", async () => {
  const texts = [
    manyServices(40),
    `apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: a}}\n`,
    `apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkind: Service\n  bad: [\n`,
    `apiVersion: v1\nkind: Service\nmetadata: {name: a}\n---\nkind: Service\nmetadata: {name: b}\n`,
    `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: ${"[".repeat(200)}${
      "]".repeat(200)
    }\n`,
  ];
  const worker = createManifestParser({ inline: parseManifests, mainThreadMaxChars: 0 });
  const here = createManifestParser({ inline: parseManifests });
  try {
    for (const text of texts) {
      const options = { namespace: "ns1", slimServices: true };
      assert.deepEqual(await here.parse(text, options), await worker.parse(text, options));
    }
  } finally {
    worker.close();
    here.close();
  }
});

Deno.test("the main thread parses 10,000 Services in slices: timers run between them", async () => {
  const parser = createManifestParser({ inline: parseManifests });
  const text = manyServices(10_000);
  let ticks = 0;
  const timer = setInterval(() => ticks++, 1);
  try {
    const r = await parser.parse(text);
    assert.ok(r.ok, r.ok ? "" : r.reason);
    assert.equal(r.objects.length, 10_000);
    assert.equal(r.objects[1_234].metadata.name, "svc-1234");
    // ~150 ms of parsing in slices of 8 ms: an unsliced parse lets no timer fire.
    assert.ok(ticks >= 2, `only ${ticks} timer ticks during the parse`);
  } finally {
    clearInterval(timer);
    parser.close();
  }
});

Deno.test("a main-thread parse past its deadline stops and names the limit", async () => {
  const parser = createManifestParser({ inline: parseManifests, deadlineMs: 1 });
  try {
    assert.deepEqual(await parser.parse(manyServices(10_000)), {
      ok: false,
      reason: "parsing did not finish within 0.001 s (limit 0.001 s); the parser was stopped",
      transient: true,
    });
  } finally {
    parser.close();
  }
});

Deno.test("close() ends a main-thread parse in progress", async () => {
  const parser = createManifestParser({ inline: parseManifests });
  const pending = parser.parse(manyServices(10_000));
  // The first slice runs before close(): the parse is under way, not still queued.
  await new Promise((r) => setTimeout(r, 0));
  parser.close();
  assert.deepEqual(await pending, { ok: false, reason: "parser closed", transient: true });
});

Deno.test("documentsWithin bounds each document of a text, separators excluded", () => {
  const doc = "a: 1\n"; // 5 characters
  assert.equal(documentsWithin(`${doc}---\n${doc}--- # c\n${doc}`, 5), true);
  assert.equal(documentsWithin(`${doc}---\n${doc}${doc}`, 5), false);
  assert.equal(documentsWithin(`${doc}${doc}---\n${doc}`, 5), false);
  assert.equal(documentsWithin("", 0), true);
});
