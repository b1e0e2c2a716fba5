/**
 * The state file read in slices: a restart with 100,000 Services would otherwise parse the
 * whole text in one synchronous `JSON.parse` and then check every Service, a stall of a few
 * hundred milliseconds. The file `serialise` writes has one Service a line, so each line can
 * be parsed on its own, with turns for timers and I/O between slices. Any other text (a file
 * edited by hand, an older layout) gets {@linkcode parseEnvelope}'s single parse; the answer
 * is the same either way.
 */
import { Slice } from "../addr/turn_budget.ts";
import { checkSize, resolveLimits } from "./input_limits.ts";
import { checkEnvelope, type Envelope, isServiceState, parseEnvelope } from "./state_format.ts";

const HEAD_END = '"services":{';
const TAIL = "}}}";

/** {@linkcode parseEnvelope} of `text`, yielding to the event loop between slices. */
export async function parseEnvelopeInSlices(text: string): Promise<Envelope | string> {
  const limits = resolveLimits();
  if (checkSize(text.length, limits)) return parseEnvelope(text);
  const layout = splitLayout(text);
  const doc = layout && parseHead(layout.head);
  if (!layout || !doc) return parseEnvelope(text);
  const checked = checkEnvelope(doc, limits);
  if (typeof checked === "string") return checked;
  const services = checked.services;
  const slice = new Slice();
  let at = layout.bodyStart;
  while (at < layout.bodyEnd) {
    if (slice.due()) await slice.next();
    let end = text.indexOf(",\n", at);
    if (end < 0 || end > layout.bodyEnd) end = layout.bodyEnd;
    const members = parseMembers(text.slice(at, end));
    if (!members) return parseEnvelope(text);
    // Assigned as JSON.parse does: a repeated key keeps its place and takes the last value.
    for (const key in members) services[key] = members[key];
    at = end + 2;
  }
  // Checked once all are in, as a repeated key's last value is the one that counts.
  let n = 0;
  for (const key in services) {
    if ((++n & 1023) === 0 && slice.due()) await slice.next();
    if (!isServiceState(services[key])) return `services["${key}"] is malformed`;
  }
  return doc as unknown as Envelope;
}

/** Where the head line and the Service lines are, or undefined for another layout. */
function splitLayout(
  text: string,
): { head: string; bodyStart: number; bodyEnd: number } | undefined {
  const nl = text.indexOf("\n");
  if (nl < 0) return undefined;
  const head = text.slice(0, nl);
  if (!head.endsWith(HEAD_END)) return undefined;
  const trimmed = text.endsWith("\n") ? text.length - 1 : text.length;
  if (!text.startsWith(TAIL, trimmed - TAIL.length) || trimmed - TAIL.length < nl) {
    return undefined;
  }
  return { head, bodyStart: nl + 1, bodyEnd: trimmed - TAIL.length };
}

/**
 * The head closed by `}}}` parsed, when the braces close exactly the Services, `data` and
 * the envelope: the last member of the envelope is `data` and the last of `data` is
 * `services`, so the lines' members belong to `data.services` and nowhere else.
 */
function parseHead(head: string): Record<string, unknown> | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(head + TAIL);
  } catch {
    return undefined;
  }
  const last = (o: unknown) => {
    if (typeof o !== "object" || o === null || Array.isArray(o)) return undefined;
    const keys = Object.keys(o);
    return keys[keys.length - 1];
  };
  const d = doc as { data?: unknown };
  if (last(doc) !== "data" || last(d.data) !== "services") return undefined;
  return doc as Record<string, unknown>;
}

/** One line's members (`"key":{...}`), or undefined when the line is not whole members. */
function parseMembers(line: string): Record<string, unknown> | undefined {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(`{${line}}`);
  } catch {
    return undefined;
  }
  // An own `__proto__` member would be set as the prototype by assignment: one parse.
  return Object.hasOwn(parsed, "__proto__") ? undefined : parsed;
}
