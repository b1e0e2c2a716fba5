/**
 * The types of a built configuration and of its problems, shared by the config-building
 * steps (config_objects.ts, config_pools.ts, config_peers.ts, config_ads.ts).
 */
import type { z } from "zod";
import type { CommunityValue } from "./community.ts";
import type { AddressRange } from "./ip.ts";
import type { KubeObject } from "./kube_object.ts";
import { formatPath, type LabelSelector } from "./schemas.ts";

/** One configuration problem. `transient` errors heal when a missing object appears. */
export interface ConfigError {
  kind: string;
  namespace: string;
  name: string;
  /** Path inside the object, e.g. `spec.addresses[1]`. */
  field: string;
  reason: string;
  transient?: boolean;
}

/** Something worth telling the user that does not make the configuration invalid. */
export interface ConfigWarning {
  kind: string;
  namespace: string;
  name: string;
  field?: string;
  reason: string;
}

/** `Kind ns/name: field: reason` (the field part omitted when empty). */
export function formatConfigError(e: ConfigError | ConfigWarning): string {
  const obj = e.namespace ? `${e.namespace}/${e.name}` : e.name;
  return e.field ? `${e.kind} ${obj}: ${e.field}: ${e.reason}` : `${e.kind} ${obj}: ${e.reason}`;
}

/** A pool with parsed address ranges. */
export interface PoolConfig {
  name: string;
  labels: Readonly<Record<string, string>>;
  ranges: readonly AddressRange[];
  autoAssign: boolean;
  avoidBuggyIPs: boolean;
  /** Absent when the pool has no `serviceAllocation` (it serves any Service). */
  serviceAllocation?: {
    /** 0 when unset: such pools come last. */
    priority: number;
    namespaces: readonly string[];
    namespaceSelectors: readonly LabelSelector[];
    serviceSelectors: readonly LabelSelector[];
  };
}

/** A BFD profile with defaults applied (FRR's: 300/300 ms, x3, echo 50 ms, TTL 254). */
export interface BFDProfileConfig {
  name: string;
  receiveIntervalMs: number;
  transmitIntervalMs: number;
  echoIntervalMs: number;
  detectMultiplier: number;
  minimumTtl: number;
  echoMode: boolean;
  passiveMode: boolean;
}

/** A feature a peer asks for that ferrolb accepts but does not implement. */
export type UnsupportedFeature = "BFD";

/** A BGP peer with timers in milliseconds and its password resolved. */
export interface PeerConfig {
  name: string;
  myASN: number;
  /** Set unless `dynamicASN` is. */
  peerASN?: number;
  dynamicASN?: "internal" | "external";
  localASN?: number;
  /** Set unless `interface` is. */
  address?: string;
  interface?: string;
  sourceAddress?: string;
  port: number;
  holdTimeMs: number;
  keepaliveTimeMs: number;
  connectTimeMs?: number;
  routerID?: string;
  nodeSelectors: readonly LabelSelector[];
  /** From `password` or the `passwordSecret` Secret's decoded `password` key. */
  password?: string;
  bfdProfile?: BFDProfileConfig;
  ebgpMultiHop: boolean;
  vrf?: string;
  enableGracefulRestart: boolean;
  dualStackAddressFamily: boolean;
  disableMP: boolean;
  /**
   * Features this peer's object asks for that are accepted but not implemented (e.g.
   * `"BFD"` when `bfdProfile` is set): the session runs without them. Show it to users.
   */
  unsupported: readonly UnsupportedFeature[];
}

/** A BGP advertisement with pools and communities resolved. */
export interface AdvertisementConfig {
  name: string;
  aggregationLength: number;
  aggregationLengthV6: number;
  localPref?: number;
  /** `ferrolb.io/as-path-prepend`: our AS this many more times (external peers only). */
  asPathPrepend?: number;
  /** `ferrolb.io/med`: MULTI_EXIT_DISC of the routes. */
  med?: number;
  communities: readonly CommunityValue[];
  /** Concrete pool names this advertisement selects (sorted). */
  pools: readonly string[];
  nodeSelectors: readonly LabelSelector[];
  /** BGPPeer names; empty = all peers. */
  peers: readonly string[];
  serviceSelectors: readonly LabelSelector[];
}

/** The whole validated configuration. Deeply frozen. */
export interface Config {
  namespace: string;
  /** Sorted by name. */
  pools: readonly PoolConfig[];
  peers: readonly PeerConfig[];
  advertisements: readonly AdvertisementConfig[];
  bfdProfiles: readonly BFDProfileConfig[];
  /** Community aliases by name. */
  communities: Readonly<Record<string, CommunityValue>>;
}

/** Result of `buildConfig`. */
export type BuildResult =
  | { ok: true; config: Config; warnings: ConfigWarning[] }
  | { ok: false; errors: ConfigError[]; warnings: ConfigWarning[] };

/** Turns zod issues for `obj` into ConfigErrors with the field path. */
export function issuesToErrors(
  obj: Pick<KubeObject, "kind" | "metadata">,
  issues: readonly z.core.$ZodIssue[],
  options: { namespace?: string } = {},
): ConfigError[] {
  const seen = new Set<string>();
  const out: ConfigError[] = [];
  for (const iss of issues) {
    const field = formatPath(iss.path);
    const reason = iss.code === "invalid_type" && /received undefined$/.test(iss.message)
      ? "required"
      : iss.message;
    // A refinement that always runs may repeat what the type check already said.
    if (seen.has(`${field}\0${reason}`)) continue;
    seen.add(`${field}\0${reason}`);
    out.push({
      kind: obj.kind,
      namespace: obj.metadata?.namespace ?? options.namespace ?? "",
      name: obj.metadata?.name ?? "",
      field,
      reason,
    });
  }
  return out;
}

/** Deep-freezes a plain data structure. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** An object that passed its schema: the raw object and the parsed data. */
// deno-lint-ignore no-explicit-any
export type Parsed = { obj: KubeObject; data: any };

/** Records problems against one parsed object; the install namespace is implied. */
export interface Reporter {
  err(p: Parsed, field: string, reason: string, transient?: boolean): void;
  warn(p: Parsed, field: string | undefined, reason: string): void;
}

/** Plain string order (not locale order), so results do not depend on the machine. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
