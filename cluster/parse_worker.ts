/**
 * Worker side of cluster/manifest_parser.ts: parses one manifest text per request with
 * {@linkcode parseManifests} and sends the objects back in chunks, one chunk per request of
 * the main thread, so it never deserializes one huge message (structured clone of 100,000
 * Services at once takes ~0.6 s) nor a queue of chunks back to back (Deno hands queued worker
 * messages over without returning to the event loop, so timers would starve just the same).
 */
import { parseManifests } from "./file_source.ts";
import type { KubeObject } from "./types.ts";
import type { ParseReply, ParseRequest, WorkerRequest } from "./manifest_parser.ts";

/** Objects per message: a few ms of deserialization each on the main thread. */
const CHUNK = 500;

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  postMessage(reply: ParseReply): void;
};

/** The objects of the current request not yet sent. */
let outbox: { id: number; objects: KubeObject[]; at: number } | undefined;

function sendNext(id: number): void {
  if (!outbox || outbox.id !== id) return;
  const { objects, at } = outbox;
  if (at >= objects.length) {
    outbox = undefined;
    scope.postMessage({ id, type: "done", ok: true });
    return;
  }
  outbox.at = at + CHUNK;
  scope.postMessage({ id, type: "chunk", objects: objects.slice(at, at + CHUNK) });
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
  outbox = undefined;
  let r;
  try {
    r = parseManifests(text, options);
  } catch (err) {
    // parseManifests returns its errors; anything thrown is a parser bug or exhaustion.
    scope.postMessage({ id, type: "done", ok: false, reason: `parser failed: ${err}` });
    return;
  }
  if (!r.ok) {
    scope.postMessage({ id, type: "done", ok: false, reason: r.reason });
    return;
  }
  outbox = { id, objects: r.objects, at: 0 };
  sendNext(id);
}
