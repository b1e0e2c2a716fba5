import assert, { deepStrictEqual } from "node:assert/strict";
import {
  cleanRanges,
  libcTextReleaser,
  type ProgramHeader,
  startTextRelease,
  type TextReleaser,
} from "./text_release.ts";

const PAGE = 4096n;
const LOAD = 1;
const RELRO = 0x6474e552;
const R = 4;
const RX = 5;
const RW = 6;

/** The usual layout of a PIE linked with separate code: R, RX, RW (RELRO first), RW. */
const HEADERS: ProgramHeader[] = [
  { type: 6, flags: R, vaddr: 0x40n, memsz: 0x2a0n }, // PT_PHDR
  { type: LOAD, flags: R, vaddr: 0n, memsz: 0x5000n + 123n },
  { type: LOAD, flags: RX, vaddr: 0x6000n + 16n, memsz: 0x8000n },
  { type: LOAD, flags: RW, vaddr: 0x10000n, memsz: 0x3000n },
  { type: RELRO, flags: R, vaddr: 0x10000n, memsz: 0x2000n },
];

Deno.test("cleanRanges: the read-only segments, inward to whole pages, at the load address", () => {
  const bias = 0x7f0000000000n;
  deepStrictEqual(cleanRanges(HEADERS, { bias, pageSize: PAGE, textRelocations: false }), [
    { start: bias, end: bias + 0x5000n },
    // Starts 16 bytes into a page: that page may hold bytes of another segment.
    { start: bias + 0x7000n, end: bias + 0xe000n },
  ]);
});

Deno.test("cleanRanges: nothing the loader wrote (RELRO, text relocations)", () => {
  const relroInText: ProgramHeader[] = [
    { type: LOAD, flags: RX, vaddr: 0n, memsz: 0x10000n },
    { type: RELRO, flags: R, vaddr: 0x4000n, memsz: 0x2000n },
  ];
  deepStrictEqual(cleanRanges(relroInText, { bias: 0n, pageSize: PAGE, textRelocations: false }), [
    { start: 0n, end: 0x4000n },
    { start: 0x6000n, end: 0x10000n },
  ]);
  deepStrictEqual(cleanRanges(HEADERS, { bias: 0n, pageSize: PAGE, textRelocations: true }), []);
});

Deno.test("libcTextReleaser: this process gives back resident pages of its binary and runs on", () => {
  const releaser = libcTextReleaser();
  // The test task grants --allow-ffi to glibc's path on this machine, as the roles' flags do.
  assert(releaser, "no releaser: libc FFI not granted or no clean segments found");
  const before = Deno.memoryUsage().rss;
  const advised = releaser.release();
  const after = Deno.memoryUsage().rss;
  assert(advised > 1 << 20, `advised only ${advised} bytes`);
  assert(before - after > 1 << 20, `RSS ${before} -> ${after}: nothing given back`);
  // Code whose pages were dropped runs again from the file: a JSON round trip and a regexp
  // run through the binary's text.
  deepStrictEqual(JSON.parse(JSON.stringify({ a: [1, "b"] })), { a: [1, "b"] });
  assert(/^x+$/u.test("xxx"));
});

Deno.test("startTextRelease: releases at once, then on its period until stopped", async () => {
  let calls = 0;
  const releaser: TextReleaser = { release: () => (calls++, 4096) };
  const stop = startTextRelease({ releaser, intervalMs: 5 });
  assert.equal(calls, 1, "the first release is not left to the timer");
  // A busy machine may fire the interval late: wait for the third release, not for a duration.
  for (let i = 0; i < 2000 && calls < 3; i++) await new Promise((r) => setTimeout(r, 5));
  stop();
  const seen = calls;
  assert.ok(seen >= 3, `released ${seen} times`);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(calls, seen, "no release after stop");
});

Deno.test("startTextRelease: nothing scheduled without a releaser", async () => {
  // A timer calling a missing releaser would throw in its callback and fail this test.
  const stop = startTextRelease({ releaser: undefined, intervalMs: 1 });
  await new Promise((r) => setTimeout(r, 10));
  stop();
});
