/**
 * The Events file mode records: a ring of the last ones, and their log lines, with Normal
 * Events rate-limited at info so 100,000 new Services do not write 100,000 log lines.
 */
import type { Logger } from "../api/log.ts";
import { type EventRecord, objectKey } from "./types.ts";

/** How many Events `OverlaySource.events` keeps. */
export const EVENT_RING_SIZE = 200;
/**
 * Normal Events logged at info per second; beyond it they go to debug and one line says how
 * many, so 100,000 new Services do not write 100,000 log lines. Warnings are always logged.
 */
export const NORMAL_EVENTS_LOGGED_PER_SECOND = 100;

/** An Event as recorded, with when. */
export interface RecordedEvent extends EventRecord {
  time: string;
}

/** Options for {@linkcode EventLog}. */
export interface EventLogOptions {
  now: () => Date;
}

/** The recorded Events and their log lines. */
export class EventLog {
  readonly #log: Logger;
  readonly #now: () => Date;
  /** The last Events as given and when each was recorded: made into RecordedEvents when read. */
  readonly #ring: EventRecord[] = [];
  readonly #times: Date[] = [];
  #windowStart = 0;
  #windowCount = 0;
  #windowTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(log: Logger, options: EventLogOptions) {
    this.#log = log;
    this.#now = options.now;
  }

  /** Keeps `event` and logs it. */
  record(event: EventRecord): void {
    const ring = this.#ring;
    ring.push(event);
    this.#times.push(this.#now());
    // Trimmed by half a ring at a time, not one Event each.
    if (ring.length > EVENT_RING_SIZE * 2) {
      ring.splice(0, ring.length - EVENT_RING_SIZE);
      this.#times.splice(0, this.#times.length - EVENT_RING_SIZE);
    }
    let level: "warn" | "info" | "debug" = "warn";
    if (event.type !== "Warning") level = this.#normalBudget() ? "info" : "debug";
    // A start of 100,000 Services records 200,000 Events, nearly all at debug: a line that
    // is not written needs no context.
    if (this.#log.enabled?.(level) === false) return;
    const ctx = {
      object: `${event.involved.kind}/${objectKey(event.involved)}`,
      type: event.type,
      reason: event.reason,
      message: event.message,
      source: event.component,
    };
    this.#log[level]("event", ctx);
  }

  /** The last {@linkcode EVENT_RING_SIZE} Events, oldest first. */
  events(): RecordedEvent[] {
    const from = Math.max(0, this.#ring.length - EVENT_RING_SIZE);
    return this.#ring.slice(from).map((e, i) => ({
      ...e,
      time: this.#times[from + i].toISOString(),
    }));
  }

  /** Stops the pending count line's timer. */
  close(): void {
    clearTimeout(this.#windowTimer);
    this.#windowTimer = undefined;
  }

  /** Whether this Normal Event may be logged at info; counts the ones that may not. */
  #normalBudget(): boolean {
    const t = performance.now();
    if (t - this.#windowStart >= 1000 && this.#windowTimer === undefined) {
      this.#windowStart = t;
      this.#windowCount = 0;
    }
    this.#windowCount++;
    if (this.#windowCount <= NORMAL_EVENTS_LOGGED_PER_SECOND) return true;
    this.#windowTimer ??= setTimeout(() => this.#logQuiet(), 1000);
    return false;
  }

  /** One line for the Events of the window logged at debug only. */
  #logQuiet(): void {
    this.#windowTimer = undefined;
    const quiet = this.#windowCount - NORMAL_EVENTS_LOGGED_PER_SECOND;
    this.#windowStart = performance.now();
    this.#windowCount = 0;
    this.#log.info("more events recorded (logged at debug level)", { events: quiet });
  }
}
