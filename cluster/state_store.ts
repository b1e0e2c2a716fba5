/**
 * File mode's persistence: what a cluster would keep in Service status and annotations.
 * Losing it would move users' addresses on restart, so every save is atomic and durable,
 * and the previous good generation is kept beside the current one so that a corrupt or
 * partial file is never the only copy.
 */
import type { Logger } from "../api/log.ts";
import { parseJsonBounded, resolveLimits } from "./input_limits.ts";

/** What the controller wrote for one Service. */
export interface ServiceState {
  ingress: string[];
  annotations: Record<string, string>;
}

/** The persisted state; extra top-level fields are kept as they are. */
export interface StateData {
  version: 1;
  /** By `namespace/name`. */
  services: Record<string, ServiceState>;
  [extra: string]: unknown;
}

/**
 * What {@linkcode StateStore.save} takes: {@linkcode StateData}, or the same with the
 * Services as a Map (what the overlay keeps), which is serialised in slices.
 */
export type StateToSave = StateData | {
  version: 1;
  services: ReadonlyMap<string, ServiceState>;
  [extra: string]: unknown;
};

/** Loads and saves {@linkcode StateData} in one directory. */
export interface StateStore {
  /** The newest generation that parses; empty state when none was ever saved. */
  load(): StateData;
  /**
   * Resolves once `data` is durably on disk; concurrent saves are applied in call order.
   * The caller may change `data` afterwards: its entries are taken at the call.
   */
  save(data: StateToSave): Promise<void>;
  /** The generation number of the last load or save (0 when nothing was saved). */
  generation(): number;
}

/** Options for {@linkcode openStateStore}. */
export interface StateStoreOptions {
  logger: Logger;
  /** File name inside the directory; `state.json` by default. */
  fileName?: string;
}

/** No generation could be read although files exist, or one is from a newer ferrolb. */
export class StateStoreError extends Error {
  override name = "StateStoreError";
}

/** The on-disk envelope around {@linkcode StateData}. */
interface Envelope {
  format: "ferrolb-state";
  generation: number;
  savedAt: string;
  data: StateData;
}

const FORMAT = "ferrolb-state";
/** Services serialised between two yields to the event loop while saving. */
const SERIALISE_SLICE = 5000;

/** An empty state. */
export function emptyState(): StateData {
  return { version: 1, services: {} };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Returns the envelope, or a reason why this file is not a usable generation. */
function parseEnvelope(text: string): Envelope | string {
  // Bounded like every input (size, depth, nodes): a planted file gets an error, not a hang.
  const parsed = parseJsonBounded(text, resolveLimits());
  if (!parsed.ok) return parsed.reason;
  const doc = parsed.value;
  if (!isRecord(doc) || doc.format !== FORMAT) return "not a ferrolb state file";
  if (typeof doc.generation !== "number" || !Number.isSafeInteger(doc.generation)) {
    return "missing generation";
  }
  const data = doc.data;
  if (!isRecord(data)) return "missing data";
  if (data.version !== 1) return `unsupported version ${JSON.stringify(data.version)}`;
  if (!isRecord(data.services)) return "services is not an object";
  for (const [key, s] of Object.entries(data.services)) {
    if (
      !isRecord(s) || !Array.isArray(s.ingress) || !s.ingress.every((x) => typeof x === "string") ||
      !isRecord(s.annotations) ||
      !Object.values(s.annotations).every((x) => typeof x === "string")
    ) {
      return `services["${key}"] is malformed`;
    }
  }
  return doc as unknown as Envelope;
}

function readIfExists(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

function removeIfExists(path: string): void {
  try {
    Deno.removeSync(path);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}

async function writeDurably(
  path: string,
  content: Uint8Array | AsyncIterable<string>,
): Promise<void> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true, mode: 0o600 });
  try {
    if (content instanceof Uint8Array) await writeAll(file, content);
    else {
      const encoder = new TextEncoder();
      for await (const piece of content) await writeAll(file, encoder.encode(piece));
    }
    await file.sync();
  } finally {
    file.close();
  }
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await file.write(bytes.subarray(off));
}

/** Makes renames in `dir` durable; some platforms cannot open a directory, which is fine. */
async function syncDir(dir: string): Promise<void> {
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
 * The envelope as JSON text, one Service per line, in pieces of a few thousand Services:
 * written as they are made (the whole text of 100,000 Services is never held, nor its
 * bytes), yielding to the event loop between pieces so that a large state never stalls
 * timers, sockets or signals.
 */
async function* serialise(parts: {
  generation: number;
  savedAt: string;
  head: string;
  entries: [string, ServiceState][];
}): AsyncGenerator<string> {
  yield `{"format":"${FORMAT}","generation":${parts.generation},"savedAt":"${parts.savedAt}",` +
    `"data":${parts.head},"services":{`;
  const { entries } = parts;
  for (let i = 0; i < entries.length; i += SERIALISE_SLICE) {
    if (i > 0) await new Promise((r) => setTimeout(r, 0));
    const end = Math.min(entries.length, i + SERIALISE_SLICE);
    let piece = i > 0 ? "," : "";
    for (let j = i; j < end; j++) {
      const [key, s] = entries[j];
      piece += `${j > i ? "," : ""}\n${JSON.stringify(key)}:${JSON.stringify(s)}`;
    }
    yield piece;
  }
  yield "}}}\n";
}

/** Opens (creating if needed) the state directory `dir`. */
export function openStateStore(dir: string, options: StateStoreOptions): StateStore {
  const log = options.logger.child({ component: "state-store" });
  const name = options.fileName ?? "state.json";
  const current = `${dir}/${name}`;
  const prev = `${dir}/${name}.prev`;
  const tmpPrefix = `.${name}.tmp-`;
  Deno.mkdirSync(dir, { recursive: true });
  removeLeftovers();

  let gen = 0;
  let lastIssued = 0;
  let loaded = false;
  // Rotating a corrupt current file into .prev would destroy the one good copy.
  let currentIsGood = false;
  let queue: Promise<void> = Promise.resolve();
  let tmpSeq = 0;

  function removeLeftovers(): void {
    for (const entry of Deno.readDirSync(dir)) {
      if (entry.isFile && entry.name.startsWith(tmpPrefix)) {
        log.info("removing unfinished write from an earlier run", { file: entry.name });
        removeIfExists(`${dir}/${entry.name}`);
      }
    }
  }

  function load(): StateData {
    const candidates: { path: string; env: Envelope }[] = [];
    const problems: string[] = [];
    let found = 0;
    currentIsGood = false;
    for (const path of [current, prev]) {
      const text = readIfExists(path);
      if (text === undefined) continue;
      found++;
      const env = parseEnvelope(text);
      if (typeof env === "string") {
        if (env.startsWith("unsupported version")) {
          throw new StateStoreError(`${path}: ${env}; written by a newer ferrolb?`);
        }
        problems.push(`${path}: ${env}`);
        log.warn("ignoring unreadable state file", { file: path, reason: env });
        continue;
      }
      if (path === current) currentIsGood = true;
      candidates.push({ path, env });
    }
    if (found === 0) {
      log.info("no saved state, starting empty", { dir });
      gen = 0;
      lastIssued = Math.max(lastIssued, gen);
      loaded = true;
      return emptyState();
    }
    if (candidates.length === 0) {
      throw new StateStoreError(`no readable state in ${dir}: ${problems.join("; ")}`);
    }
    candidates.sort((a, b) => b.env.generation - a.env.generation);
    const best = candidates[0];
    gen = best.env.generation;
    lastIssued = Math.max(lastIssued, gen);
    loaded = true;
    log.info("loaded state", {
      file: best.path,
      generation: gen,
      savedAt: best.env.savedAt,
      services: Object.keys(best.env.data.services).length,
    });
    return best.env.data;
  }

  async function write(text: AsyncIterable<string>, generation: number): Promise<void> {
    const tmp = `${dir}/${tmpPrefix}${Deno.pid}-${++tmpSeq}`;
    try {
      await writeDurably(tmp, text);
      if (currentIsGood) {
        // A hard link makes .prev a complete copy in one step, and current never vanishes.
        const prevTmp = `${tmp}.prev`;
        try {
          await Deno.link(current, prevTmp);
          await Deno.rename(prevTmp, prev);
        } catch (err) {
          removeIfExists(prevTmp);
          if (!(err instanceof Deno.errors.NotFound)) {
            // No hard links here: copy instead, durably, before replacing current.
            await writeDurably(prevTmp, await Deno.readFile(current));
            await Deno.rename(prevTmp, prev);
          }
        }
      }
      await Deno.rename(tmp, current);
      await syncDir(dir);
      currentIsGood = true;
      gen = generation;
    } catch (err) {
      removeIfExists(tmp);
      throw new StateStoreError(`saving state in ${dir}: ${(err as Error).message}`);
    }
  }

  function save(data: StateToSave): Promise<void> {
    // Generations must grow past what is on disk, else load() would prefer a stale .prev.
    if (!loaded) {
      try {
        load();
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const generation = ++lastIssued;
    // Taken now, so later changes by the caller cannot leak into this generation; the
    // entries themselves are never mutated by their owners (they are replaced).
    const { services, ...rest } = data;
    const entries = services instanceof Map
      ? [...services]
      : Object.entries(services as Record<string, ServiceState>);
    const head = JSON.stringify({ ...rest, version: 1 }).slice(0, -1);
    const savedAt = new Date().toISOString();
    const run = queue.then(async () => {
      await write(serialise({ generation, savedAt, head, entries }), generation);
    });
    queue = run.catch(() => {});
    return run;
  }

  return { load, save, generation: () => gen };
}
