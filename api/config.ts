/**
 * The cross-object step: metallb.io objects in, one typed, deeply frozen `Config` out, or
 * every problem as a `ConfigError` naming kind, object, field and reason. The steps live
 * in config_objects.ts (per object), config_pools.ts, config_peers.ts and config_ads.ts.
 */
import { type CommunityValue, parseCommunity } from "./community.ts";
import type { KubeObject } from "./kube_object.ts";
import { METALLB_GROUP } from "./schemas.ts";
import { collectObjects, type ObjectSet } from "./config_objects.ts";
import { buildPools } from "./config_pools.ts";
import { bfdConfig, buildPeers } from "./config_peers.ts";
import { buildAdvertisements } from "./config_ads.ts";
import {
  type BFDProfileConfig,
  type BuildResult,
  cmp,
  type Config,
  type ConfigError,
  type ConfigWarning,
  deepFreeze,
  type Parsed,
  type Reporter,
} from "./config_types.ts";

export {
  type AdvertisementConfig,
  type BFDProfileConfig,
  type BuildResult,
  type Config,
  type ConfigError,
  type ConfigWarning,
  deepFreeze,
  formatConfigError,
  issuesToErrors,
  type PeerConfig,
  type PoolConfig,
  type UnsupportedFeature,
} from "./config_types.ts";
export { didYouMean, mistypedKindError } from "./config_objects.ts";

/** Anything holding objects: an array or a Snapshot-like map of maps. */
export type ConfigInput =
  | readonly KubeObject[]
  | { objects: ReadonlyMap<string, ReadonlyMap<string, KubeObject>> };

/** Options for {@linkcode buildConfig}. */
export interface BuildConfigOptions {
  /** The install namespace; metallb.io objects elsewhere are ignored. */
  namespace: string;
}

/** Converts a `metallb.io/v1beta1` BGPPeer into the `v1beta2` shape (same core fields). */
export function convertBGPPeerV1beta1(obj: KubeObject): KubeObject {
  return { ...structuredClone(obj), apiVersion: `${METALLB_GROUP}/v1beta2` };
}

function flatten(input: ConfigInput): KubeObject[] {
  if (Array.isArray(input)) return [...input];
  const out: KubeObject[] = [];
  const maps = (input as { objects: ReadonlyMap<string, ReadonlyMap<string, KubeObject>> })
    .objects;
  for (const byKey of maps.values()) out.push(...byKey.values());
  return out;
}

function reporter(ns: string, errors: ConfigError[], warnings: ConfigWarning[]): Reporter {
  const at = (p: Parsed) => ({ kind: p.obj.kind, namespace: ns, name: p.data.metadata.name });
  return {
    err: (p, field, reason, transient) =>
      errors.push({ ...at(p), field, reason, ...(transient ? { transient: true } : {}) }),
    warn: (p, field, reason) => warnings.push({ ...at(p), ...(field ? { field } : {}), reason }),
  };
}

/** Community aliases across all Community objects; a name defined twice is an error. */
function buildAliases(parsed: Parsed[], report: Reporter) {
  const aliases = new Map<string, { value: CommunityValue; owner: string }>();
  const sorted = [...parsed].sort((a, b) => cmp(a.data.metadata.name, b.data.metadata.name));
  for (const p of sorted) {
    const owner = `${p.data.metadata.namespace}/${p.data.metadata.name}`;
    (p.data.spec.communities ?? []).forEach((c: { name: string; value: string }, i: number) => {
      const prev = aliases.get(c.name);
      if (prev && prev.owner !== owner) {
        report.err(
          p,
          `spec.communities[${i}].name`,
          `alias "${c.name}" is already defined in Community ${prev.owner}`,
        );
        return;
      }
      const r = parseCommunity(c.value);
      if (r.ok && !prev) aliases.set(c.name, { value: r.value, owner });
    });
  }
  return aliases;
}

function warnL2(set: ObjectSet, report: Reporter): void {
  for (const p of set.valid.get("L2Advertisement") ?? []) {
    report.warn(p, undefined, "L2 mode is not supported; this L2Advertisement has no effect");
  }
}

/**
 * Validates every metallb.io object in the install namespace (schema, then cross-object
 * rules, all of them even after a first problem) and resolves references into a
 * {@linkcode Config}.
 */
export function buildConfig(input: ConfigInput, options: BuildConfigOptions): BuildResult {
  const ns = options.namespace;
  const set = collectObjects(flatten(input), ns);
  const { errors, warnings } = set;
  const report = reporter(ns, errors, warnings);
  const of = (kind: string) => set.valid.get(kind) ?? [];
  warnL2(set, report);
  const pools = buildPools(of("IPAddressPool"), set.partialPools, report);
  const aliases = buildAliases(of("Community"), report);
  const bfds = new Map<string, BFDProfileConfig>(
    of("BFDProfile").map((p) => [p.data.metadata.name, bfdConfig(p.data)]),
  );
  const peers = buildPeers(of("BGPPeer"), {
    ns,
    report,
    bfds,
    secrets: set.secrets,
    invalidNames: set.invalidNames,
  });
  const advertisements = buildAdvertisements(of("BGPAdvertisement"), {
    report,
    pools,
    aliases,
    peers,
    nodes: set.nodes,
    invalidNames: set.invalidNames,
  });
  if (errors.length > 0) return { ok: false, errors, warnings };
  const config: Config = {
    namespace: ns,
    pools,
    peers,
    advertisements,
    bfdProfiles: [...bfds.values()].sort((a, b) => cmp(a.name, b.name)),
    communities: Object.fromEntries([...aliases].map(([k, v]) => [k, v.value])),
  };
  return { ok: true, config: deepFreeze(config), warnings };
}
