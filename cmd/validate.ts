/**
 * `ferrolb validate PATH...`: checks manifests offline with exactly the rules the controller
 * applies, printing every problem as `file: Kind ns/name: field: reason`.
 */
import { buildConfig, type ConfigError, formatConfigError } from "../api/config.ts";
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
  const { write, namespace } = options;
  let unreadable = false;
  let problems = 0;
  const files: string[] = [];
  for (const path of paths) {
    try {
      const info = await Deno.stat(path);
      if (info.isDirectory) files.push(...await listManifestFiles(path));
      else files.push(path);
    } catch (e) {
      write(`${path}: cannot read: ${e instanceof Error ? e.message : e}`);
      unreadable = true;
    }
  }
  const sources: { file: string; obj: KubeObject }[] = [];
  // The same bounded, deadline-guarded parse as the running program: a bomb is an error here.
  const parser = createManifestParser({ inline: parseManifests });
  for (const file of files) {
    let text: string;
    try {
      text = await readTextBounded(file, resolveLimits());
    } catch (e) {
      write(`${file}: cannot read: ${e instanceof Error ? e.message : e}`);
      unreadable = true;
      continue;
    }
    const r = await parser.parse(text, { installNamespace: namespace });
    if (!r.ok) {
      write(`${file}: ${r.reason}`);
      problems++;
      continue;
    }
    for (const obj of r.objects) sources.push({ file, obj });
  }
  parser.close();

  const fileOf = (e: { kind: string; namespace: string; name: string }, last: boolean) => {
    const hits = sources.filter(({ obj }) =>
      obj.kind === e.kind && obj.metadata.name === e.name &&
      (obj.metadata.namespace ?? "") === e.namespace
    );
    const hit = last ? hits[hits.length - 1] : hits[0];
    return hit?.file ?? "-";
  };
  const report = (e: ConfigError) => {
    write(`${fileOf(e, e.field === "metadata.name")}: ${formatConfigError(e)}`);
    problems++;
  };

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
  const result = buildConfig(sources.map((s) => s.obj), { namespace });
  for (const w of result.warnings) write(`${fileOf(w, false)}: warning: ${formatConfigError(w)}`);
  if (!result.ok) result.errors.forEach(report);
  const services = checkServiceAnnotations(
    sources.map((s) => s.obj),
    result.ok ? { config: result.config } : {},
  );
  for (const w of services.warnings) write(`${fileOf(w, false)}: warning: ${formatConfigError(w)}`);
  services.errors.forEach(report);

  const summary = `${sources.length} object(s) in ${files.length} file(s)`;
  if (problems > 0) {
    write(`invalid: ${problems} problem(s) in ${summary}`);
  } else if (unreadable) {
    // What could be read may be fine, but the configuration as a whole was not checked.
    write(`not checked: some paths could not be read (${summary} read)`);
  } else if (result.ok) {
    const c = result.config;
    write(
      `valid: ${summary}: ${c.pools.length} pool(s), ${c.peers.length} peer(s), ${c.advertisements.length} advertisement(s)`,
    );
  }
  if (unreadable) return EXIT_UNREADABLE;
  return problems > 0 ? EXIT_INVALID : EXIT_VALID;
}
