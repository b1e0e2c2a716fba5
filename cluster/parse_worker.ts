/**
 * Worker side of cluster/manifest_parser.ts: parses one manifest text per request with
 * {@linkcode parseManifestObjects} and sends the objects back in chunks (as JSON text), one chunk per request
 * of the main thread, so it never deserializes one huge message (structured clone of 100,000
 * Services at once takes ~0.6 s) nor a queue of chunks back to back (Deno hands queued worker
 * messages over without returning to the event loop, so timers would starve just the same).
 * The text is parsed as it is sent: one chunk ahead of the main thread, never all of it, so
 * the worker's heap holds one chunk of objects, not a whole file of them.
 */
import { parseManifestObjects } from "./manifest_text.ts";
import type { KubeObject } from "./types.ts";
import type { ParseReply, ParseRequest, WorkerRequest } from "./manifest_parser.ts";

/** Objects per message: a few ms of deserialization each on the main thread. */
const CHUNK = 500;

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(reply: ParseReply): void;
};

/** The request being answered: its parse, and the next chunk, parsed ahead. */
let current:
  | {
    id: number;
    objects: Generator<KubeObject, string | undefined>;
    ahead: ParseReply;
  }
  | undefined;

/** The next reply of `objects`: a chunk, or `done` (ok or with the reason). */
function nextReply(id: number, objects: Generator<KubeObject, string | undefined>): ParseReply {
  const chunk: KubeObject[] = [];
  try {
    while (chunk.length < CHUNK) {
      const r = objects.next();
      if (r.done) {
        if (r.value !== undefined) return { id, type: "done", ok: false, reason: r.value };
        break;
      }
      chunk.push(r.value);
    }
  } catch (err) {
    // The parse returns its errors; anything thrown is a parser bug or exhaustion.
    return { id, type: "done", ok: false, reason: `parser failed: ${err}` };
  }
  // As JSON text: the objects are plain data already (the expansion budget copies them
  // through JSON), and JSON.parse on the main thread is faster than structured clone and
  // makes objects sized to their fields (a structured clone's have room for more).
  return chunk.length > 0
    ? { id, type: "chunk", json: JSON.stringify(chunk) }
    : { id, type: "done", ok: true };
}

/** Sends the reply parsed ahead and parses the one after it while the main thread reads. */
function sendNext(id: number): void {
  if (!current || current.id !== id) return;
  const reply = current.ahead;
  scope.postMessage(reply);
  if (reply.type === "done") {
    current = undefined;
    return;
  }
  current.ahead = nextReply(id, current.objects);
  // A refused text: the main thread drops what it got; nothing more is parsed for it.
  if (current.ahead.type === "done" && !current.ahead.ok) {
    scope.postMessage(current.ahead);
    current = undefined;
  }
}

scope.onmessage = (e) => {
  if ("next" in e.data) {
    sendNext(e.data.id);
    return;
  }
  parse(e.data);
};

function parse(request: ParseRequest): void {
  const { id, text, options } = request;
  const objects = parseManifestObjects(text, options);
  current = { id, objects, ahead: nextReply(id, objects) };
  sendNext(id);
}
