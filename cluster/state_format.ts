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
/** Most Services in one piece of the text (fewer when the turn's budget runs out first). */
const SERIALISE_SLICE = 5000;

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
 * The envelope as JSON text, one Service per line, in pieces of a few thousand Services:
 * written as they are made (the whole text of 100,000 Services is never held, nor its
 * bytes), yielding to the event loop between pieces so that a large state never stalls
 * timers, sockets or signals.
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
    // A piece ends at SERIALISE_SLICE Services or where the slice runs out.
    let piece = "";
    for (let n = 0; !next.done && n < SERIALISE_SLICE; n++, next = entries.next()) {
      if (n % 64 === 63 && slice.due()) break;
      const [key, s] = next.value;
      piece += `${first ? "" : ","}\n${JSON.stringify(key)}:${JSON.stringify(s)}`;
      first = false;
    }
    yield piece;
    // The piece was written meanwhile: this resumes after I/O, in a macrotask of its own.
    slice.restart();
  }
  yield "}}}\n";
}
