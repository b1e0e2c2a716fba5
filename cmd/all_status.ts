/**
 * What /status shows for `ferrolb all`: the controller's and the speaker's documents merged, and
 * every configuration problem with the file it is in.
 */
import type { ServiceStatus, StatusDocument } from "./status.ts";

/** Configuration validity as /status shows it. */
export interface ConfigReport {
  valid: boolean;
  errors: string[];
  warnings: string[];
}

/** Where `Kind ns/name` is defined: the file source's index, or any map of it. */
export interface FileIndex {
  get(object: string): string | undefined;
}

/** Prefixes a `Kind ns/name: …` problem with the file that defines the object. */
export function attributeToFile(problem: string, index: FileIndex): string {
  const m = problem.match(/^(\S+ \S+?):/);
  const file = m ? index.get(m[1]) : undefined;
  return file ? `${file}: ${problem}` : problem;
}

/** Parts of {@linkcode mergeStatus}'s input. */
export interface StatusParts {
  node: string;
  controller: StatusDocument;
  speaker: { sessions: StatusDocument["sessions"]; services: ServiceStatus[] };
  /** Speaker's view of the configuration (peer problems the controller does not see). */
  speakerConfig: ConfigReport;
  /** Files that do not parse. */
  fileErrors: { file: string; reason: string }[];
  /** `Kind ns/name` → file. */
  fileIndex: FileIndex;
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/**
 * One /status document for `all`: the controller's pools and addresses, the speaker's
 * sessions and peers, and every configuration problem with the file it is in.
 */
export function mergeStatus(parts: StatusParts): StatusDocument {
  const c = parts.controller;
  const spoken = new Map<string, ServiceStatus>();
  for (const s of parts.speaker.services) spoken.set(`${s.namespace}/${s.name}`, s);
  const services = c.services.map((s) => {
    const sp = spoken.get(`${s.namespace}/${s.name}`);
    // The speaker's reason for announcing to no peer (its `pending` before notAnnounced).
    const why = sp?.notAnnounced ?? sp?.pending;
    const path = sp?.path ? { path: sp.path } : {};
    return { ...s, peers: sp?.peers ?? s.peers, ...(why ? { notAnnounced: why } : {}), ...path };
  });
  return {
    role: "all",
    node: parts.node,
    config: configOf(parts),
    sessions: parts.speaker.sessions,
    pools: c.pools,
    services,
  };
}

/** Input of {@linkcode configOf}: the config-related parts of {@linkcode StatusParts}. */
export type ConfigParts = Omit<StatusParts, "speaker" | "node" | "controller"> & {
  controller: Pick<StatusDocument, "config">;
};

/** The config part of {@linkcode mergeStatus}, without the per-Service work. */
export function configOf(parts: ConfigParts): ConfigReport {
  const c = parts.controller;
  const errors = unique([
    ...parts.fileErrors.map((e) => `${e.file}: ${e.reason}`),
    ...c.config.errors.map((e) => attributeToFile(e, parts.fileIndex)),
    ...parts.speakerConfig.errors.map((e) => attributeToFile(e, parts.fileIndex)),
  ]);
  const warnings = unique([
    ...c.config.warnings.map((e) => attributeToFile(e, parts.fileIndex)),
    ...parts.speakerConfig.warnings.map((e) => attributeToFile(e, parts.fileIndex)),
  ]);
  return {
    valid: errors.length === 0 && c.config.valid && parts.speakerConfig.valid,
    errors,
    warnings,
  };
}
