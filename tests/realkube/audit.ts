/**
 * Reading the API server's audit log (JSON lines, audit.k8s.io/v1 Events): an account of
 * every request by identity that the components under test cannot influence.
 */

/** The fields of an audit event the tests look at. */
export interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string; groups?: string[] };
  objectRef?: {
    resource?: string;
    subresource?: string;
    namespace?: string;
    name?: string;
    apiGroup?: string;
  };
  responseStatus?: { code?: number; reason?: string };
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
}

/** Verbs that change something. */
export const WRITE_VERBS: ReadonlySet<string> = new Set([
  "create",
  "update",
  "patch",
  "delete",
  "deletecollection",
]);

/** The completed requests in the audit log `file`. */
export async function readAuditLog(file: string): Promise<AuditEvent[]> {
  const text = await Deno.readTextFile(file);
  const events: AuditEvent[] = [];
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    let e: AuditEvent;
    try {
      e = JSON.parse(line);
    } catch {
      continue; // the last line may be half-written
    }
    if (e.stage === "ResponseComplete" || e.stage === "Panic") events.push(e);
  }
  return events;
}

/** `verb resource[/sub] ns/name -> code`, for failure messages. */
export function describeAudit(e: AuditEvent): string {
  const r = e.objectRef ?? {};
  const res = `${r.apiGroup || "core"}/${r.resource ?? "?"}${
    r.subresource ? `/${r.subresource}` : ""
  }`;
  const obj = r.name ? ` ${r.namespace ? `${r.namespace}/` : ""}${r.name}` : "";
  return `${e.user.username} ${e.verb} ${res}${obj} -> ${e.responseStatus?.code ?? "?"}`;
}
