/**
 * Parses manifest texts in a Worker with a deadline, so neither a huge file nor a hostile one
 * can starve the main thread: /healthz, BGP keepalives and signal handlers keep running while
 * it parses. A parse that overruns its deadline is stopped by terminating the worker; the next
 * request gets a fresh one. Results come back in chunks (cluster/parse_worker.ts).
 *
 * Small texts whose every step is bounded (see {@linkcode parsesHere}) are parsed on the main
 * thread instead, in slices between which timers and sockets run: a worker, once started,
 * costs the process 10-12 MB of memory for good, more than parsing 10,000 Services takes.
 */
import { nextTurn } from "../addr/turn_budget.ts";
import { documentsWithin, parseManifestObjects } from "./manifest_text.ts";
import type { ParseLimits } from "./safe_yaml.ts";
import type { KubeObject } from "./types.ts";

/** What a parse request carries; the same as manifest_text.ts `NamespaceDefaults`. */
export interface ParseOptions {
  namespace?: string;
  installNamespace?: string;
  limits?: Partial<ParseLimits>;
  slimServices?: boolean;
}

/** Result of a parse; the same shape as file_source.ts `ManifestResult`. */
export type ParseResult =
  | { ok: true; objects: KubeObject[] }
  /** `transient`: the parser, not the text, failed (deadline, worker gone, closed): retry. */
  | { ok: false; reason: string; transient?: true };

/** Message to the worker. */
export interface ParseRequest {
  id: number;
  text: string;
  options: ParseOptions;
}

/** Asks the worker for the next chunk of request `id`. */
export interface NextRequest {
  id: number;
  next: true;
}

/** Any message to the worker. */
export type WorkerRequest = ParseRequest | NextRequest;

/**
 * Message from the worker: chunks of objects, each asked for, then one `done`. A `done` that
 * is not ok may follow chunks unasked: the text was refused after them, they are void.
 */
export type ParseReply =
  /** `json`: the chunk's objects as a JSON array. */
  | { id: number; type: "chunk"; json: string }
  | { id: number; type: "done"; ok: true }
  | { id: number; type: "done"; ok: false; reason: string };

/**
 * Default deadline of one parse: 15 s plus 4 s per MiB of text. 100,000 Services (26 MiB) take
 * ~2.5 s on an idle core and ~20 s with 4 busy loops on 2 cores; the deadline (~2 min for
 * them) stops a parser that is stuck, it must not refuse a big file on a busy machine. The
 * input limits, not the deadline, are what stop bombs (in milliseconds).
 */
export function defaultParseDeadlineMs(textLength: number): number {
  return 15_000 + Math.ceil(4_000 * textLength / (1024 * 1024));
}

/** Options for {@linkcode createManifestParser}. */
export interface ManifestParserOptions {
  /** Wall-clock bound of one parse, in ms. Default {@linkcode defaultParseDeadlineMs}. */
  deadlineMs?: number;
  /**
   * The same parse on the calling thread (file_source.ts `parseManifests`), used when the
   * worker's module may not be read: a worker loads its code under the program's
   * `--allow-read`, which covers it when ferrolb runs from its directory as the `ferrolb` task
   * does, not from elsewhere. The input limits still hold; only the deadline is lost.
   */
  inline: (text: string, options: ParseOptions) => ParseResult;
  /** Told once when the inline fallback is taken, with the reason. */
  onInline?: (reason: string) => void;
  /**
   * What is kept of each object, applied as its chunk arrives: the parsed objects of a chunk
   * then die young instead of all of a file's (100,000 Services) living until the end. The
   * inline fallback's objects are kept the same way, once its parse is done.
   */
  keep?: (o: KubeObject) => KubeObject;
  /**
   * Largest text parsed on the main thread when its steps are bounded; larger ones go to the
   * worker. Default {@linkcode MAIN_THREAD_MAX_CHARS}; 0 sends every text to the worker.
   */
  mainThreadMaxChars?: number;
}

/** A parser that owns (at most) one worker; `close` ends it. */
export interface ManifestParser {
  /** `worker`, or `inline` when the worker's module may not be read. */
  readonly mode: "worker" | "inline";
  /** Parses one text; resolves with the objects or the reason (never rejects). */
  parse(text: string, options?: ParseOptions): Promise<ParseResult>;
  /** Terminates the worker; pending parses resolve with an error. */
  close(): void;
}

/** Texts larger than this get a fresh worker afterwards, so its heap is given back. */
const RECYCLE_AFTER_CHARS = 4 * 1024 * 1024;

/**
 * Default {@linkcode ManifestParserOptions.mainThreadMaxChars}: 10,000 Services are 2.6 MiB
 * (~150-250 ms of parsing in all); beyond that the worker's own heap is the better place for
 * the parse's garbage.
 */
export const MAIN_THREAD_MAX_CHARS = 4 * 1024 * 1024;

/**
 * Longest document parsed on the main thread: one document is one step (~1.5 ms per 36 KiB
 * on an idle core), so this bounds how long a slice can overrun {@linkcode SLICE_MS}.
 */
const MAIN_THREAD_MAX_DOCUMENT_CHARS = 128 * 1024;

/** Main-thread parsing time before the event loop gets a turn. */
const SLICE_MS = 8;

/**
 * Whether `text` may be parsed on the main thread: small, every document short, and no YAML
 * anchor (`&`; an alias needs one), so no document expands beyond a multiple of its own size:
 * each step's time is then bounded by the document's length. A `&` inside a string only
 * sends the text to the worker.
 */
function parsesHere(text: string, maxChars: number): boolean {
  return text.length <= maxChars && !text.includes("&") &&
    documentsWithin(text, MAIN_THREAD_MAX_DOCUMENT_CHARS);
}

interface Pending {
  id: number;
  objects: KubeObject[];
  resolve(r: ParseResult): void;
  timer: ReturnType<typeof setTimeout>;
}

const WORKER_URL = new URL("./parse_worker.ts", import.meta.url);

/** Why the worker's module cannot be loaded, or undefined when it can. */
function workerUnavailable(): string | undefined {
  if (WORKER_URL.protocol !== "file:") return undefined;
  const path = decodeURIComponent(WORKER_URL.pathname);
  const state = Deno.permissions.querySync({ name: "read", path }).state;
  return state === "granted" ? undefined : `no read permission for ${path}`;
}

/** Creates a {@linkcode ManifestParser}; the worker starts on the first parse. */
export function createManifestParser(options: ManifestParserOptions): ManifestParser {
  return new WorkerParser(options);
}

/** What a parse gets once the parser is closed (a fresh object each: callers own results). */
function closedResult(): ParseResult {
  return { ok: false, reason: "parser closed", transient: true };
}

/** One worker at a time, one parse at a time: later parses queue behind the current one. */
class WorkerParser implements ManifestParser {
  readonly mode: "worker" | "inline";
  readonly #options: ManifestParserOptions;
  readonly #unavailable: string | undefined;
  #toldInline = false;
  #worker: Worker | undefined;
  #nextId = 1;
  #queue: Promise<unknown> = Promise.resolve();
  #pending: Pending | undefined;
  #closed = false;

  constructor(options: ManifestParserOptions) {
    this.#options = options;
    this.#unavailable = workerUnavailable();
    this.mode = this.#unavailable ? "inline" : "worker";
    // Callers hand these around detached from the parser.
    this.parse = this.parse.bind(this);
    this.close = this.close.bind(this);
  }

  parse(text: string, opts: ParseOptions = {}): Promise<ParseResult> {
    const result = this.#queue.then(() => this.#run(text, opts));
    this.#queue = result;
    return result;
  }

  close(): void {
    this.#closed = true;
    this.#stopWorker();
    this.#finish(closedResult());
  }

  #run(text: string, opts: ParseOptions): Promise<ParseResult> {
    if (this.#closed) return Promise.resolve(closedResult());
    if (this.#unavailable) {
      if (!this.#toldInline) this.#options.onInline?.(this.#unavailable);
      this.#toldInline = true;
      const r = this.#options.inline(text, opts);
      const keep = this.#options.keep;
      if (r.ok && keep) {
        for (let i = 0; i < r.objects.length; i++) r.objects[i] = keep(r.objects[i]);
      }
      return Promise.resolve(r);
    }
    if (parsesHere(text, this.#options.mainThreadMaxChars ?? MAIN_THREAD_MAX_CHARS)) {
      return this.#parseHere(text, opts);
    }
    const worker = this.#worker ??= this.#startWorker();
    const deadlineMs = this.#options.deadlineMs ?? defaultParseDeadlineMs(text.length);
    const { pending: { id }, done } = this.#pend(deadlineMs);
    worker.postMessage({ id, text, options: opts } satisfies ParseRequest);
    return done.then((r) => {
      if (text.length > RECYCLE_AFTER_CHARS) this.#stopWorker();
      return r;
    });
  }

  /** Parses `text` on this thread, a slice per turn of the event loop. */
  #parseHere(text: string, opts: ParseOptions): Promise<ParseResult> {
    const deadlineMs = this.#options.deadlineMs ?? defaultParseDeadlineMs(text.length);
    const keep = this.#options.keep;
    const { pending, done } = this.#pend(deadlineMs);
    const objects = parseManifestObjects(text, opts);
    const slice = () => {
      // Closed, or past its deadline: the result is given already.
      if (this.#pending !== pending) return;
      const until = performance.now() + SLICE_MS;
      try {
        do {
          const r = objects.next();
          if (r.done) {
            this.#finish(
              r.value === undefined
                ? { ok: true, objects: pending.objects }
                : { ok: false, reason: r.value },
            );
            return;
          }
          pending.objects.push(keep ? keep(r.value) : r.value);
        } while (performance.now() < until);
      } catch (err) {
        // As in the worker: the parse returns its errors, a throw is a bug or exhaustion.
        this.#finish({ ok: false, reason: `parser failed: ${err}` });
        return;
      }
      // In turn with the other slicers (controller, speaker, state saves), not on a timer of
      // its own that could run right after theirs.
      nextTurn().then(slice);
    };
    slice();
    return done;
  }

  /** Makes a new parse the pending one; its deadline ends it unless it finishes before. */
  #pend(deadlineMs: number): { pending: Pending; done: Promise<ParseResult> } {
    const timer = setTimeout(() => this.#overrun(deadlineMs), deadlineMs);
    let resolve!: (r: ParseResult) => void;
    const done = new Promise<ParseResult>((r) => resolve = r);
    const pending: Pending = { id: this.#nextId++, objects: [], resolve, timer };
    this.#pending = pending;
    return { pending, done };
  }

  #overrun(deadlineMs: number): void {
    // The worker may be stuck in a loop that never yields: only terminate() ends it.
    this.#stopWorker();
    this.#finish({
      ok: false,
      reason: `parsing did not finish within ${deadlineMs / 1000} s (limit ${
        deadlineMs / 1000
      } s); the parser was stopped`,
      transient: true,
    });
  }

  #finish(result: ParseResult): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    clearTimeout(p.timer);
    p.resolve(result);
  }

  #stopWorker(): void {
    this.#worker?.terminate();
    this.#worker = undefined;
  }

  #startWorker(): Worker {
    const w = new Worker(WORKER_URL.href, { type: "module" });
    w.onmessage = (e: MessageEvent<ParseReply>) => this.#onReply(w, e.data);
    w.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#stopWorker();
      this.#finish({ ok: false, reason: `parser worker failed: ${e.message}`, transient: true });
    };
    return w;
  }

  #onReply(w: Worker, msg: ParseReply): void {
    const pending = this.#pending;
    if (!pending || msg.id !== pending.id) return;
    if (msg.type === "chunk") {
      const keep = this.#options.keep;
      for (const o of JSON.parse(msg.json) as KubeObject[]) {
        pending.objects.push(keep ? keep(o) : o);
      }
      // Ask for the next chunk from a timer, so that timers, sockets and signals get their
      // turn between two chunks.
      const id = msg.id;
      setTimeout(() => {
        if (this.#worker === w) w.postMessage({ id, next: true } satisfies NextRequest);
      }, 0);
    } else if (msg.ok) {
      this.#finish({ ok: true, objects: pending.objects });
    } else {
      this.#finish({ ok: false, reason: msg.reason });
    }
  }
}
