/**
 * `ferrolb validate PATH...`: checks manifests offline with exactly the rules the controller
 * applies, printing every problem as `file: Kind ns/name: field: reason`.
 */
import {
  buildConfig,
  type ConfigError,
  type ConfigWarning,
  formatConfigError,
} from "../api/config.ts";
import { checkServiceAnnotations } from "../api/service_checks.ts";
import { parseEndpointSlice, parseNode, parseService } from "../api/objects.ts";
import type { KubeObject } from "../cluster/types.ts";
import { listManifestFiles, parseManifests } from "../cluster/file_source.ts";
import { createManifestParser } from "../cluster/manifest_parser.ts";
import { readTextBounded, resolveLimits } from "../cluster/safe_yaml.ts";

/** Options for {@linkcode runValidate}. */
export interface ValidateOptions {
  /** The install namespace (metallb.io objects elsewhere are ignored). */
  namespace: string;
  /** Receives each output line (no trailing newline). */
  write: (line: string) => void;
}

/** Exit code: configuration valid. */
export const EXIT_VALID = 0;
/** Exit code: at least one problem found. */
export const EXIT_INVALID = 1;
/** Exit code: a path could not be read. */
export const EXIT_UNREADABLE = 2;

/** Validates the manifests in `paths` (files or directories); resolves to the exit code. */
export async function runValidate(paths: string[], options: ValidateOptions): Promise<number> {
  const tally: Tally = { write: options.write, unreadable: false, problems: 0 };
  const files = await expandPaths(paths, tally);
  const sources = await readSources(files, { tally, namespace: options.namespace });
  const report = reporter(sources, tally);
  checkCoreObjects(sources, report);
  const result = checkConfig(sources, { report, namespace: options.namespace });
  writeSummary(result, {
    tally,
    summary: `${sources.length} object(s) in ${files.length} file(s)`,
  });
  if (tally.unreadable) return EXIT_UNREADABLE;
  return tally.problems > 0 ? EXIT_INVALID : EXIT_VALID;
}

/** What the steps of one run write and count. */
interface Tally {
  write: (line: string) => void;
  unreadable: boolean;
  problems: number;
}

/** One object read, with the file it came from. */
type Source = { file: string; obj: KubeObject };

/** Reports a problem under the file of the object it names. */
type Report = {
  (e: ConfigError): void;
  warn(w: ConfigWarning): void;
};

/** The manifest files of `paths`: directories listed, files as given. */
async function expandPaths(paths: string[], tally: Tally): Promise<string[]> {
  const files: string[] = [];
  for (const path of paths) {
    try {
      const info = await Deno.stat(path);
      if (info.isDirectory) files.push(...await listManifestFiles(path));
      else files.push(path);
    } catch (e) {
      tally.write(`${path}: cannot read: ${e instanceof Error ? e.message : e}`);
      tally.unreadable = true;
    }
  }
  return files;
}

/** Every object of `files`, parsed as the running program parses them. */
async function readSources(
  files: string[],
  { tally, namespace }: { tally: Tally; namespace: string },
): Promise<Source[]> {
  const sources: Source[] = [];
  // The same bounded, deadline-guarded parse as the running program: a bomb is an error here.
  const parser = createManifestParser({ inline: parseManifests });
  for (const file of files) {
    let text: string;
    try {
      text = await readTextBounded(file, resolveLimits());
    } catch (e) {
      tally.write(`${file}: cannot read: ${e instanceof Error ? e.message : e}`);
      tally.unreadable = true;
      continue;
    }
    const r = await parser.parse(text, { installNamespace: namespace });
    if (!r.ok) {
      tally.write(`${file}: ${r.reason}`);
      tally.problems++;
      continue;
    }
    for (const obj of r.objects) sources.push({ file, obj });
  }
  parser.close();
  return sources;
}

/** Reports problems and warnings under the file that holds the object they name. */
function reporter(sources: readonly Source[], tally: Tally): Report {
  const fileOf = (e: { kind: string; namespace: string; name: string }, last: boolean) => {
    const hits = sources.filter(({ obj }) =>
      obj.kind === e.kind && obj.metadata.name === e.name &&
      (obj.metadata.namespace ?? "") === e.namespace
    );
    const hit = last ? hits[hits.length - 1] : hits[0];
    return hit?.file ?? "-";
  };
  // A duplicate name is reported at the later object, which is the one that collides.
  const report = (e: ConfigError) => {
    tally.write(`${fileOf(e, e.field === "metadata.name")}: ${formatConfigError(e)}`);
    tally.problems++;
  };
  report.warn = (w: ConfigWarning) =>
    tally.write(`${fileOf(w, false)}: warning: ${formatConfigError(w)}`);
  return report;
}

/** Services, EndpointSlices and Nodes through the views the controller and speaker read. */
function checkCoreObjects(sources: readonly Source[], report: Report): void {
  for (const { obj } of sources) {
    const parse = obj.kind === "Service" && obj.apiVersion === "v1"
      ? parseService
      : obj.kind === "EndpointSlice"
      ? parseEndpointSlice
      : obj.kind === "Node" && obj.apiVersion === "v1"
      ? parseNode
      : undefined;
    const r = parse?.(obj);
    if (r && !r.ok) r.errors.forEach(report);
  }
}

/** The configuration as `buildConfig` builds it, then the Services' annotations against it. */
function checkConfig(
  sources: readonly Source[],
  { report, namespace }: { report: Report; namespace: string },
): ReturnType<typeof buildConfig> {
  const result = buildConfig(sources.map((s) => s.obj), { namespace });
  result.warnings.forEach(report.warn);
  if (!result.ok) result.errors.forEach(report);
  const services = checkServiceAnnotations(
    sources.map((s) => s.obj),
    result.ok ? { config: result.config } : {},
  );
  services.warnings.forEach(report.warn);
  services.errors.forEach(report);
  return result;
}

/** The last line: invalid, not checked, or valid with what the configuration holds. */
function writeSummary(
  result: ReturnType<typeof buildConfig>,
  { tally, summary }: { tally: Tally; summary: string },
): void {
  if (tally.problems > 0) {
    tally.write(`invalid: ${tally.problems} problem(s) in ${summary}`);
  } else if (tally.unreadable) {
    // What could be read may be fine, but the configuration as a whole was not checked.
    tally.write(`not checked: some paths could not be read (${summary} read)`);
  } else if (result.ok) {
    const c = result.config;
    tally.write(
      `valid: ${summary}: ${c.pools.length} pool(s), ${c.peers.length} peer(s), ${c.advertisements.length} advertisement(s)`,
    );
  }
}
