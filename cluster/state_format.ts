/**
 * The state file's text: the envelope around {@linkcode StateData}, checked when read and
 * written as a stream, one Service per line.
 */
import { Slice } from "../addr/turn_budget.ts";
import {
  jsonBoundsProblem,
  parseJsonSized,
  type ParseLimits,
  resolveLimits,
} from "./input_limits.ts";

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

/** The on-disk envelope around {@linkcode StateData}. */
export interface Envelope {
  format: "ferrolb-state";
  generation: number;
  savedAt: string;
  data: StateData;
}

const FORMAT = "ferrolb-state";
/**
 * Most characters in one piece of the text (fewer when the turn's budget runs out first): a
 * piece stays a small string of the young generation, which dies at the next scavenge.
 * Pieces of 5,000 Services (~850 KB at 100,000) were each a large object, flattened once
 * more when encoded, held until a full collection: ~35 MB of them in one save.
 */
const SERIALISE_PIECE_CHARS = 32 * 1024;

/** An empty state. */
export function emptyState(): StateData {
  return { version: 1, services: {} };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Whether `s` has the shape of one Service's saved state. */
export function isServiceState(s: unknown): boolean {
  return isRecord(s) && Array.isArray(s.ingress) &&
    s.ingress.every((x) => typeof x === "string") && isRecord(s.annotations) &&
    Object.values(s.annotations).every((x) => typeof x === "string");
}

/**
 * Returns the envelope, or a reason why this file is not a usable generation. Bounded like
 * every input, so a planted file gets an error, not a hang: the size first; then the
 * Services by their fixed shape (strings in a depth of three), which bounds them without
 * walking 100,000s of them twice; whatever else the file holds gets the generic bounds.
 */
export function parseEnvelope(text: string): Envelope | string {
  const limits = resolveLimits();
  const parsed = parseJsonSized(text, limits);
  if (!parsed.ok) return parsed.reason;
  const checked = checkEnvelope(parsed.value, limits);
  if (typeof checked === "string") return checked;
  for (const key in checked.services) {
    if (!isServiceState(checked.services[key])) return `services["${key}"] is malformed`;
  }
  return parsed.value as Envelope;
}

/**
 * Why the parsed `doc` is not an envelope, or its services: everything but the Services
 * themselves is checked (each with {@linkcode isServiceState}, left to the caller).
 */
export function checkEnvelope(
  doc: unknown,
  limits: ParseLimits,
): { services: Record<string, unknown> } | string {
  if (!isRecord(doc) || doc.format !== FORMAT) return "not a ferrolb state file";
  if (typeof doc.generation !== "number" || !Number.isSafeInteger(doc.generation)) {
    return "missing generation";
  }
  const data = doc.data;
  if (!isRecord(data)) return "missing data";
  if (data.version !== 1) return `unsupported version ${JSON.stringify(data.version)}`;
  const services = data.services;
  if (!isRecord(services)) return "services is not an object";
  const rest = jsonBoundsProblem({ ...doc, data: { ...data, services: {} } }, limits);
  if (rest) return rest;
  return { services };
}

/** What one generation's text is made of, taken when the save is asked for. */
export interface EnvelopeParts {
  generation: number;
  savedAt: string;
  /** The data's JSON without its closing brace and without `services`. */
  head: string;
  /** The Services, walked once as they are written. */
  entries: Iterable<[string, ServiceState]>;
}

/**
 * The envelope as JSON text, one Service per line, in pieces of a few hundred Services:
 * written as they are made (the whole text of 100,000 Services is never held, nor its
 * bytes), yielding to the event loop between pieces so that a large state never stalls
 * timers, sockets or signals. A piece is joined from its lines: one flat string, where
 * appending made a rope that the encoder flattened into a copy.
 */
export async function* serialise(parts: EnvelopeParts): AsyncGenerator<string> {
  yield `{"format":"${FORMAT}","generation":${parts.generation},"savedAt":"${parts.savedAt}",` +
    `"data":${parts.head},"services":{`;
  const entries = parts.entries[Symbol.iterator]();
  const slice = new Slice();
  let first = true;
  let next = entries.next();
  while (!next.done) {
    if (slice.due()) await slice.next();
    // A piece ends at SERIALISE_PIECE_CHARS or where the slice runs out.
    const lines: string[] = [];
    let chars = 0;
    for (let n = 0; !next.done && chars < SERIALISE_PIECE_CHARS; n++, next = entries.next()) {
      if (n % 64 === 63 && slice.due()) break;
      const [key, s] = next.value;
      const line = `${first ? "" : ","}\n${JSON.stringify(key)}:${JSON.stringify(s)}`;
      lines.push(line);
      chars += line.length;
      first = false;
    }
    yield lines.join("");
    // The piece was written meanwhile: this resumes after I/O, in a macrotask of its own.
    slice.restart();
  }
  yield "}}}\n";
}
