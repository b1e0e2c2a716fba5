/**
 * The logging shape the BGP layer needs. bgp/ is pure and imports nothing of ours, so it
 * owns this interface; api/log.ts's Logger has the same shape, so the program's JSON-line
 * logger is passed in as is.
 */

/** Key/value context attached to a log line. */
export type LogContext = Record<string, unknown>;

/** What a session, the FSM and the collector log through. */
export interface Logger {
  debug(msg: string, ctx?: LogContext): void;
  info(msg: string, ctx?: LogContext): void;
  warn(msg: string, ctx?: LogContext): void;
  error(msg: string, ctx?: LogContext): void;
  /** A logger that adds `ctx` to every line. */
  child(ctx: LogContext): Logger;
  /**
   * Whether lines at `level` are written: a caller with 100,000s of lines to drop need not
   * build their context. Absent means every level may be written.
   */
  enabled?(level: "debug" | "info" | "warn" | "error"): boolean;
}

/** A logger that drops everything: the default when the caller gives none. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
  enabled: () => false,
};
