/**
 * Lets go of the executable's read-only pages (`madvise(2)` `MADV_DONTNEED` over the segments
 * the loader never writes), once the program has loaded and then every
 * {@linkcode TEXT_RELEASE_INTERVAL_MS}. A Deno process touches ~45 MiB of its binary: the
 * module graph, the npm resolver, the config and permission parsing and the V8 startup
 * snapshot run once at start and are never read again, yet their pages stay resident and
 * count in the process's RSS. The work after that does the same on a smaller scale: each
 * phase of a start (the parse, the first passes, the UPDATEs) touches code the next phase
 * does not, and at 10,000 Services ~23 MiB of text was resident at the peak while the code
 * in use at any moment fits in ~12 MiB. Dropped, a page the program reads again comes back
 * from the page cache on its next touch (a minor fault: the file is unchanged, so the
 * content is the same), and pages no one touches again leave the process for good.
 *
 * Only segments that are clean copies of the file qualify: `PT_LOAD` without `PF_W`, outside
 * `PT_GNU_RELRO` (the loader wrote relocations there before making it read-only: dropping
 * those would read back unrelocated bytes), and only when the executable has no text
 * relocations. Without `--allow-ffi` to a glibc nothing is done.
 */
import { LIBC_CANDIDATES } from "../bgp/libc_paths.mjs";
import { openGrantedLibc } from "./libc_open.ts";

const SYMBOLS = {
  getauxval: { parameters: ["u64"], result: "u64" },
  getpagesize: { parameters: [], result: "i32" },
  // Addresses as integers: making pointer objects would take `--allow-ffi` without a path.
  madvise: { parameters: ["usize", "usize", "i32"], result: "i32" },
  memcpy: { parameters: ["buffer", "usize", "usize"], result: "pointer" },
} as const;

const AT_PHDR = 3n;
const AT_PHNUM = 5n;
const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_PHDR = 6;
const PT_GNU_RELRO = 0x6474e552;
const PF_W = 2;
const DT_NULL = 0n;
const DT_TEXTREL = 22n;
const DT_FLAGS = 30n;
const DF_TEXTREL = 4n;
const MADV_DONTNEED = 4;
/** Most entries read from the dynamic section. */
const MAX_DYNAMIC = 4096;
/** Size of an `Elf64_Phdr`. */
const PHDR_SIZE = 56;

/** One program header, as far as this module reads it. */
export interface ProgramHeader {
  type: number;
  flags: number;
  vaddr: bigint;
  memsz: bigint;
}

/** A half-open address range `[start, end)`. */
export interface AddressRange {
  start: bigint;
  end: bigint;
}

/**
 * The ranges of a loaded executable that are clean copies of its file, whole pages only:
 * the non-writable `PT_LOAD` segments less `PT_GNU_RELRO`. `bias` is the load address of
 * vaddr 0. Empty when `textRelocations` (the loader then wrote into text too).
 */
export function cleanRanges(
  headers: readonly ProgramHeader[],
  options: { bias: bigint; pageSize: bigint; textRelocations: boolean },
): AddressRange[] {
  if (options.textRelocations) return [];
  const { bias, pageSize } = options;
  const relro = headers.filter((h) => h.type === PT_GNU_RELRO).map((h) => ({
    start: bias + h.vaddr,
    end: bias + h.vaddr + h.memsz,
  }));
  const out: AddressRange[] = [];
  for (const h of headers) {
    if (h.type !== PT_LOAD || (h.flags & PF_W) !== 0) continue;
    let parts = [{ start: bias + h.vaddr, end: bias + h.vaddr + h.memsz }];
    for (const r of relro) parts = parts.flatMap((p) => without(p, r));
    for (const p of parts) {
      // Inward to whole pages: a page shared with anything else is left alone.
      const start = (p.start + pageSize - 1n) / pageSize * pageSize;
      const end = p.end / pageSize * pageSize;
      if (end > start) out.push({ start, end });
    }
  }
  return out;
}

/** `p` less `r`: none, one or two ranges. */
function without(p: AddressRange, r: AddressRange): AddressRange[] {
  if (r.end <= p.start || r.start >= p.end) return [p];
  const out: AddressRange[] = [];
  if (r.start > p.start) out.push({ start: p.start, end: r.start });
  if (r.end < p.end) out.push({ start: r.end, end: p.end });
  return out;
}

/** Releases the executable's clean pages. */
export interface TextReleaser {
  /** Drops the pages now; returns the bytes of address range advised. */
  release(): number;
}

/** A releaser through libc, or undefined without `--allow-ffi` to a glibc. */
export function libcTextReleaser(
  candidates: readonly string[] = LIBC_CANDIDATES,
): TextReleaser | undefined {
  const lib = openGrantedLibc(SYMBOLS, candidates);
  if (!lib) return undefined;
  const ranges = executableCleanRanges(lib.symbols);
  if (ranges.length === 0) return undefined;
  return {
    release() {
      let advised = 0;
      for (const r of ranges) {
        const len = r.end - r.start;
        // A refusal (an old kernel, a locked mapping) leaves the pages as they were.
        if (lib.symbols.madvise(r.start, len, MADV_DONTNEED) === 0) {
          advised += Number(len);
        }
      }
      return advised;
    },
  };
}

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** The clean ranges of this process's executable, read from its program headers in memory. */
function executableCleanRanges(libc: Libc): AddressRange[] {
  const phdr = libc.getauxval(AT_PHDR);
  const count = Number(libc.getauxval(AT_PHNUM));
  if (phdr === 0n || count === 0) return [];
  const view = read(libc, phdr, count * PHDR_SIZE);
  const headers: ProgramHeader[] = [];
  for (let i = 0; i < count; i++) {
    const o = i * PHDR_SIZE;
    headers.push({
      type: view.getUint32(o, true),
      flags: view.getUint32(o + 4, true),
      vaddr: view.getBigUint64(o + 16, true),
      memsz: view.getBigUint64(o + 40, true),
    });
  }
  const self = headers.find((h) => h.type === PT_PHDR);
  // Without PT_PHDR the load address is unknown: leave everything as it is.
  if (!self) return [];
  const bias = phdr - self.vaddr;
  const dynamic = headers.find((h) => h.type === PT_DYNAMIC);
  return cleanRanges(headers, {
    bias,
    pageSize: BigInt(libc.getpagesize()),
    textRelocations: dynamic ? hasTextRelocations(libc, bias + dynamic.vaddr) : false,
  });
}

/** `length` bytes of this process's memory at `address` (little-endian: x86-64, arm64). */
function read(libc: Libc, address: bigint, length: number): DataView {
  const bytes = new Uint8Array(length);
  libc.memcpy(bytes, address, BigInt(length));
  return new DataView(bytes.buffer);
}

/** Whether the dynamic section at `address` asks for text relocations. */
function hasTextRelocations(libc: Libc, address: bigint): boolean {
  // One read per entry: the section's length is only known by its DT_NULL.
  for (let i = 0; i < MAX_DYNAMIC; i++) {
    const entry = read(libc, address + BigInt(i * 16), 16);
    const tag = entry.getBigInt64(0, true);
    if (tag === DT_NULL) return false;
    if (tag === DT_TEXTREL) return true;
    if (tag === DT_FLAGS && (entry.getBigUint64(8, true) & DF_TEXTREL) !== 0n) return true;
  }
  return true;
}

/**
 * Release period. Measured with the real program (in-repo collectors): the 10,000-Service
 * peak went from 90-102 MiB (one release after loading) to 76-85 MiB at 100 ms, 82-88 at
 * 250 ms and 85-89 at 500 ms, with the same time to routes; settled, 57-68 MiB instead of 90.
 * Idle, the refaults cost ~0.25 % of one core (0.10 against 0.05 CPU seconds in 20 s).
 */
export const TEXT_RELEASE_INTERVAL_MS = 100;

/** Options for {@linkcode startTextRelease}. */
export interface TextReleaseOptions {
  /** The releaser; default {@linkcode libcTextReleaser} (none without the grant). */
  releaser?: TextReleaser;
  /** Period in ms. Default {@linkcode TEXT_RELEASE_INTERVAL_MS}. */
  intervalMs?: number;
}

/**
 * Releases now and then every `intervalMs`, on a timer that does not keep the process alive,
 * until the returned stop is called; without a releaser nothing is scheduled.
 */
export function startTextRelease(options: TextReleaseOptions = {}): () => void {
  const releaser = "releaser" in options ? options.releaser : libcTextReleaser();
  if (!releaser) return () => {};
  releaser.release();
  const id = setInterval(() => releaser.release(), options.intervalMs ?? TEXT_RELEASE_INTERVAL_MS);
  Deno.unrefTimer(id);
  return () => clearInterval(id);
}
