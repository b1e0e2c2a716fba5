/**
 * Structured logging: one JSON object a line with `ts`, `level`, `component`, `msg` and
 * key/value context, as MetalLB users' log pipelines expect.
 */
// The shape is bgp/log.ts's: the pure BGP layer owns it (it imports nothing of ours), and
// every other room logs through the same interface.
import type { LogContext, Logger } from "../bgp/log.ts";

export type { LogContext, Logger };
export { silentLogger } from "../bgp/log.ts";

/** Log severities in increasing order. */
export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  component?: string;
  /** Where lines go; stderr by default so stdout stays free for command output. */
  write?: (line: string) => void;
  now?: () => Date;
}

/** Parses a `--log-level` value, or returns undefined when it is not a level. */
export function parseLogLevel(value: string): LogLevel | undefined {
  return value in ORDER ? value as LogLevel : undefined;
}

const encoder = new TextEncoder();

function defaultWrite(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

function errorToJson(value: unknown): unknown {
  if (value instanceof Error) {
    return { name: value.name, message: value.message };
  }
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** Creates a JSON-lines logger. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = ORDER[options.level ?? "info"];
  const write = options.write ?? defaultWrite;
  const now = options.now ?? (() => new Date());
  const base: LogContext = options.component ? { component: options.component } : {};
  return make(base);

  function make(bound: LogContext): Logger {
    const emit = (level: LogLevel, msg: string, ctx?: LogContext) => {
      if (ORDER[level] < min) return;
      const line: LogContext = { ts: now().toISOString(), level, ...bound, msg };
      if (ctx) {
        for (const [k, v] of Object.entries(ctx)) line[k] = errorToJson(v);
      }
      write(JSON.stringify(line));
    };
    return {
      debug: (msg, ctx) => emit("debug", msg, ctx),
      info: (msg, ctx) => emit("info", msg, ctx),
      warn: (msg, ctx) => emit("warn", msg, ctx),
      error: (msg, ctx) => emit("error", msg, ctx),
      child: (ctx) => make({ ...bound, ...ctx }),
      enabled: (level) => ORDER[level] >= min,
    };
  }
}
