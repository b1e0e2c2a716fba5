/**
 * Worker side of cluster/manifest_parser.ts: parses one manifest text per request with
 * {@linkcode parseManifests} and sends the objects back in chunks, so the main thread never
 * deserializes one huge message (structured clone of 100,000 Services at once takes ~0.6 s).
 */
import { parseManifests } from "./file_source.ts";
import type { ParseReply, ParseRequest } from "./manifest_parser.ts";

/** Objects per message: about 1 ms of deserialization each on the main thread. */
const CHUNK = 250;

const scope = self as unknown as {
  onmessage: ((e: MessageEvent<ParseRequest>) => void) | null;
  postMessage(reply: ParseReply): void;
};

scope.onmessage = (e) => {
  const { id, text, options } = e.data;
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
  for (let i = 0; i < r.objects.length; i += CHUNK) {
    scope.postMessage({ id, type: "chunk", objects: r.objects.slice(i, i + CHUNK) });
  }
  scope.postMessage({ id, type: "done", ok: true });
};
