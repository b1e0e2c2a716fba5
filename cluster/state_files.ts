/**
 * The file operations a durable save is made of: write and fsync a temporary file, keep the
 * current generation as the previous one, rename into place, sync the directory.
 */

/** Reads `path`, or undefined when it does not exist. */
export function readIfExists(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** {@linkcode readIfExists} without blocking the event loop while the bytes come in. */
export async function readIfExistsAsync(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Removes `path`; a file already gone is fine. */
export function removeIfExists(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

/**
 * Writes `content` to `path` and fsyncs it before resolving; a new file gets `mode` (0600
 * unless given, before the umask).
 */
export async function writeDurably(
  path: string,
  content: Uint8Array | AsyncIterable<string>,
  options: { mode?: number } = {},
): Promise<void> {
  const file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
    mode: options.mode ?? 0o600,
  });
  try {
    if (content instanceof Uint8Array) await writeAll(file, content);
    else await writePieces(file, content);
    await file.sync();
  } finally {
    file.close();
  }
}

/** Bytes of the buffer text pieces are encoded into, one after another. */
const ENCODE_BUFFER = 64 * 1024;

/**
 * Writes text pieces as UTF-8 through one buffer: a new array per piece (the state file of
 * 100,000 Services is ~17 MB) was a malloc'd chunk each, freed only when collected.
 */
async function writePieces(file: Deno.FsFile, pieces: AsyncIterable<string>): Promise<void> {
  const encoder = new TextEncoder();
  const buffer = new Uint8Array(ENCODE_BUFFER);
  for await (let piece of pieces) {
    while (piece.length > 0) {
      // Stops before a character that does not fit whole: the rest goes in the next round.
      const { read, written } = encoder.encodeInto(piece, buffer);
      await writeAll(file, buffer.subarray(0, written));
      piece = piece.slice(read);
    }
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

/** Makes renames in `dir` durable; some platforms cannot open a directory, which is fine. */
export async function syncDir(dir: string): Promise<void> {
  let f: Deno.FsFile | undefined;
  try {
    f = await Deno.open(dir, { read: true });
    await f.sync();
  } catch {
    // Best effort: without it a power cut may lose the rename, never corrupt a file.
  } finally {
    f?.close();
  }
}

/**
 * Makes `prev` a complete copy of `current` before `current` is replaced, through
 * `scratch`; nothing happens when `current` does not exist.
 */
export async function keepPrevious(
  current: string,
  paths: { prev: string; scratch: string },
): Promise<void> {
  const { prev, scratch } = paths;
  try {
    // A hard link makes .prev a complete copy in one step, and current never vanishes.
    await Deno.link(current, scratch);
    await Deno.rename(scratch, prev);
  } catch (err) {
    removeIfExists(scratch);
    if (err instanceof Deno.errors.NotFound) return;
    // No hard links here: copy instead, durably, before replacing current.
    await writeDurably(scratch, await Deno.readFile(current));
    await Deno.rename(scratch, prev);
  }
}
