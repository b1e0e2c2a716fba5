/** The IP history on /status (`?history=IP|SERVICE`) and in `ferrolb status --history`. */
import type { HistoryEntry } from "./ip_history.ts";

/** Query parameter of /status that asks for the history (empty value: all of it). */
export const HISTORY_PARAM = "history";

/** The entries /status adds for `query`, or undefined when the history was not asked for. */
export function historyForQuery(
  query: URLSearchParams | undefined,
  history: { query(what?: string): HistoryEntry[] } | undefined,
): HistoryEntry[] | undefined {
  if (!history || !query?.has(HISTORY_PARAM)) return undefined;
  return history.query(query.get(HISTORY_PARAM)?.trim() || undefined);
}

/** A table of entries, oldest first, for people. */
export function formatHistory(entries: readonly HistoryEntry[], what?: string): string {
  if (entries.length === 0) {
    return what ? `no history for ${what}\n` : "no IP history recorded\n";
  }
  const rows = entries.map((e) => [
    e.ip,
    e.service,
    e.pool ?? "-",
    e.from,
    e.to ?? "(holds it)",
    e.why,
    e.ended ?? "-",
  ]);
  const head = ["IP", "SERVICE", "POOL", "FROM", "TO", "HOW", "WHY IT ENDED"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n") + "\n";
}
