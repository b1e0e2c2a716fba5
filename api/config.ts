/**
 * The cross-object step: validated metallb.io objects in, one typed, deeply frozen
 * `Config` out, or every problem as a `ConfigError` naming kind, object, field and reason.
 */
import type { z } from "zod";
import type { KubeObject } from "../cluster/types.ts";
import { type CommunityValue, isCommunityLiteral, parseCommunity } from "./community.ts";
import { type AddressRange, describeRange, parseAddressEntry, rangePrefixes } from "./ip.ts";
import {
  bfdProfileSchema,
  bfdProfileSpec,
  bgpAdvertisementSchema,
  bgpAdvertisementSpec,
  type BGPPeerObject,
  bgpPeerSchema,
  bgpPeerSpec,
  bgpPeerV1beta1Schema,
  bgpPeerV1beta1Spec,
  canonicalJson,
  communitySchema,
  communitySpec,
  formatPath,
  ipAddressPoolSchema,
  ipAddressPoolSpec,
  l2AdvertisementSchema,
  type LabelSelector,
  METALLB_GROUP,
  secretSchema,
} from "./schemas.ts";
import { matchesAnySelector } from "./selectors.ts";
import { resolveTimers } from "./timers.ts";

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
}

/** A BGP advertisement with pools and communities resolved. */
export interface AdvertisementConfig {
  name: string;
  aggregationLength: number;
  aggregationLengthV6: number;
  localPref?: number;
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

/** Result of {@linkcode buildConfig}. */
export type BuildResult =
  | { ok: true; config: Config; warnings: ConfigWarning[] }
  | { ok: false; errors: ConfigError[]; warnings: ConfigWarning[] };

/** Anything holding objects: an array or a Snapshot-like map of maps. */
export type ConfigInput =
  | readonly KubeObject[]
  | { objects: ReadonlyMap<string, ReadonlyMap<string, KubeObject>> };

/** Options for {@linkcode buildConfig}. */
export interface BuildConfigOptions {
  /** The install namespace; metallb.io objects elsewhere are ignored. */
  namespace: string;
}

/** Turns zod issues for `obj` into ConfigErrors with the field path. */
export function issuesToErrors(
  obj: Pick<KubeObject, "kind" | "metadata">,
  issues: readonly z.core.$ZodIssue[],
  options: { namespace?: string } = {},
): ConfigError[] {
  return issues.map((iss) => ({
    kind: obj.kind,
    namespace: obj.metadata?.namespace ?? options.namespace ?? "",
    name: obj.metadata?.name ?? "",
    field: formatPath(iss.path),
    reason: iss.code === "invalid_type" && /received undefined$/.test(iss.message)
      ? "required"
      : iss.message,
  }));
}

/** Converts a `metallb.io/v1beta1` BGPPeer into the `v1beta2` shape (same core fields). */
export function convertBGPPeerV1beta1(obj: KubeObject): KubeObject {
  return {
    ...structuredClone(obj),
    apiVersion: `${METALLB_GROUP}/v1beta2`,
  };
}

/** Deep-freezes a plain data structure. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

function flatten(input: ConfigInput): KubeObject[] {
  if (Array.isArray(input)) return [...input];
  const out: KubeObject[] = [];
  for (
    const byKey of (input as { objects: ReadonlyMap<string, ReadonlyMap<string, KubeObject>> })
      .objects.values()
  ) {
    out.push(...byKey.values());
  }
  return out;
}

const SCHEMAS: Record<string, Record<string, z.ZodType>> = {
  IPAddressPool: { v1beta1: ipAddressPoolSchema },
  BGPAdvertisement: { v1beta1: bgpAdvertisementSchema },
  BGPPeer: { v1beta1: bgpPeerV1beta1Schema, v1beta2: bgpPeerSchema },
  Community: { v1beta1: communitySchema },
  BFDProfile: { v1beta1: bfdProfileSchema },
  L2Advertisement: { v1beta1: l2AdvertisementSchema },
};

const SPEC_FIELDS: Record<string, Record<string, ReadonlySet<string>>> = {
  IPAddressPool: { v1beta1: new Set(Object.keys(ipAddressPoolSpec.shape)) },
  BGPAdvertisement: { v1beta1: new Set(Object.keys(bgpAdvertisementSpec.shape)) },
  BGPPeer: {
    v1beta1: new Set(Object.keys(bgpPeerV1beta1Spec.shape)),
    v1beta2: new Set(Object.keys(bgpPeerSpec.shape)),
  },
  Community: { v1beta1: new Set(Object.keys(communitySpec.shape)) },
  BFDProfile: { v1beta1: new Set(Object.keys(bfdProfileSpec.shape)) },
};

/** Kinds that are status-only and carry no configuration. */
const STATUS_KINDS = new Set(["ServiceBGPStatus", "ConfigurationState"]);

// deno-lint-ignore no-explicit-any
type Parsed = { obj: KubeObject; data: any };

/**
 * Validates every metallb.io object in the install namespace (schema, then cross-object
 * rules) and resolves references into a {@linkcode Config}.
 */
export function buildConfig(input: ConfigInput, options: BuildConfigOptions): BuildResult {
  const ns = options.namespace;
  const errors: ConfigError[] = [];
  const warnings: ConfigWarning[] = [];
  const valid = new Map<string, Parsed[]>();
  /** Names of objects present but rejected, so references to them are not "not found". */
  const invalidNames = new Map<string, Set<string>>();
  const secrets = new Map<string, KubeObject>();
  const partialPools: Parsed[] = [];

  const objects = flatten(input).sort((a, b) =>
    cmp(a.kind, b.kind) || cmp(a.metadata?.name ?? "", b.metadata?.name ?? "")
  );
  for (const raw of objects) {
    if (!raw || typeof raw !== "object") continue;
    const obj: KubeObject = raw.metadata ? raw : { ...raw, metadata: { name: "" } };
    const [group, version] = splitApiVersion(obj.apiVersion);
    if (obj.kind === "Secret" && group === "") {
      if ((obj.metadata.namespace ?? "default") === ns) secrets.set(obj.metadata.name, obj);
      continue;
    }
    if (group !== METALLB_GROUP) continue;
    const objNs = obj.metadata.namespace ?? ns;
    const at = { kind: obj.kind, namespace: objNs, name: obj.metadata.name };
    if (STATUS_KINDS.has(obj.kind)) continue;
    const byVersion = SCHEMAS[obj.kind];
    if (!byVersion) {
      warnings.push({ ...at, reason: `unknown kind ${obj.kind} in ${METALLB_GROUP}; ignored` });
      continue;
    }
    if (objNs !== ns) {
      warnings.push({
        ...at,
        reason: `ignored: not in the install namespace "${ns}"`,
      });
      continue;
    }
    if (obj.kind === "L2Advertisement") {
      // Never let an unsupported mode fail the BGP configuration, however it is written.
      warnings.push({
        ...at,
        reason: "L2 mode is not supported; this L2Advertisement has no effect",
      });
      continue;
    }
    const schema = byVersion[version];
    if (!schema) {
      errors.push({
        ...at,
        field: "apiVersion",
        reason: `unsupported version "${obj.apiVersion}" (served: ${
          Object.keys(byVersion).map((v) => `${METALLB_GROUP}/${v}`).join(", ")
        })`,
      });
      continue;
    }
    const r = schema.safeParse({ ...obj, metadata: { ...obj.metadata, namespace: objNs } });
    if (!r.success) {
      errors.push(...issuesToErrors(obj, r.error.issues, { namespace: ns }));
      let set = invalidNames.get(obj.kind);
      if (!set) invalidNames.set(obj.kind, set = new Set());
      set.add(obj.metadata.name);
      const addresses = (obj.spec as { addresses?: unknown } | undefined)?.addresses;
      if (obj.kind === "IPAddressPool" && Array.isArray(addresses)) {
        // Its good entries still take part in the overlap check, so one run shows every
        // problem rather than revealing overlaps only after the first fix.
        partialPools.push({
          obj,
          data: {
            metadata: { name: obj.metadata.name, namespace: objNs },
            spec: { addresses: addresses.map((a) => (typeof a === "string" ? a : "")) },
          },
        });
      }
      continue;
    }
    const known = SPEC_FIELDS[obj.kind]?.[version];
    if (known && obj.spec && typeof obj.spec === "object") {
      // zod drops unknown keys; say so, since a typo such as `autoassign` would otherwise
      // silently fall back to the default.
      for (const key of Object.keys(obj.spec)) {
        if (known.has(key)) continue;
        const hint = obj.kind === "BGPPeer" && version === "v1beta1" &&
            bgpPeerSpec.shape[key as keyof typeof bgpPeerSpec.shape]
          ? ` (only in ${METALLB_GROUP}/v1beta2)`
          : "";
        warnings.push({ ...at, field: `spec.${key}`, reason: `unknown field ignored${hint}` });
      }
    }
    let data = r.data as { apiVersion: string; metadata: { name: string } };
    if (obj.kind === "BGPPeer" && version === "v1beta1") {
      data = convertBGPPeerV1beta1(data as unknown as KubeObject) as typeof data;
    }
    const list = valid.get(obj.kind) ?? [];
    if (list.some((p) => p.data.metadata.name === data.metadata.name)) {
      errors.push({
        ...at,
        field: "metadata.name",
        reason: `duplicate ${obj.kind} "${data.metadata.name}" (defined more than once)`,
      });
      continue;
    }
    list.push({ obj, data });
    valid.set(obj.kind, list);
  }
  const of = (kind: string) => valid.get(kind) ?? [];
  const err = (p: Parsed, field: string, reason: string, transient?: boolean) =>
    errors.push({
      kind: p.obj.kind,
      namespace: ns,
      name: p.data.metadata.name,
      field,
      reason,
      ...(transient ? { transient: true } : {}),
    });
  const warn = (p: Parsed, field: string | undefined, reason: string) =>
    warnings.push({
      kind: p.obj.kind,
      namespace: ns,
      name: p.data.metadata.name,
      ...(field ? { field } : {}),
      reason,
    });

  const pools = buildPools(of("IPAddressPool"), partialPools, err);
  const poolsByName = new Map(pools.map((p) => [p.name, p]));
  const aliases = buildAliases(of("Community"), err);
  const bfds = new Map<string, BFDProfileConfig>();
  for (const p of of("BFDProfile")) bfds.set(p.data.metadata.name, bfdConfig(p.data));
  const peers = buildPeers(of("BGPPeer"), {
    ns,
    err,
    warn,
    bfds,
    secrets,
    invalidNames,
  });
  const peerNames = new Set(peers.map((p) => p.name));
  const ads = buildAdvertisements(of("BGPAdvertisement"), {
    err,
    warn,
    pools,
    poolsByName,
    aliases,
    peerNames,
    invalidNames,
  });

  if (errors.length > 0) return { ok: false, errors, warnings };
  const config: Config = {
    namespace: ns,
    pools,
    peers,
    advertisements: ads,
    bfdProfiles: [...bfds.values()].sort((a, b) => cmp(a.name, b.name)),
    communities: Object.fromEntries([...aliases].map(([k, v]) => [k, v.value])),
  };
  return { ok: true, config: deepFreeze(config), warnings };
}

type ErrFn = (p: Parsed, field: string, reason: string, transient?: boolean) => void;
type WarnFn = (p: Parsed, field: string | undefined, reason: string) => void;

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function splitApiVersion(apiVersion: unknown): [string, string] {
  if (typeof apiVersion !== "string") return ["", ""];
  const i = apiVersion.lastIndexOf("/");
  return i < 0 ? ["", apiVersion] : [apiVersion.slice(0, i), apiVersion.slice(i + 1)];
}

function buildPools(parsed: Parsed[], partial: Parsed[], err: ErrFn): PoolConfig[] {
  const pools: PoolConfig[] = [];
  const entries: { p: Parsed; index: number; range: AddressRange; order: number }[] = [];
  const partialSet = new Set(partial);
  const all = [...parsed, ...partial].sort((a, b) =>
    cmp(a.data.metadata.name, b.data.metadata.name)
  );
  for (const p of all) {
    const spec = p.data.spec;
    const ranges: AddressRange[] = [];
    spec.addresses.forEach((text: string, index: number) => {
      const r = parseAddressEntry(text);
      if (!r.ok) return; // the schema already reported it
      ranges.push(r.value);
      entries.push({ p, index, range: r.value, order: entries.length });
    });
    if (partialSet.has(p)) continue;
    const sa = spec.serviceAllocation;
    pools.push({
      name: p.data.metadata.name,
      labels: { ...(p.data.metadata.labels ?? {}) },
      ranges,
      autoAssign: spec.autoAssign,
      avoidBuggyIPs: spec.avoidBuggyIPs,
      ...(sa
        ? {
          serviceAllocation: {
            priority: sa.priority ?? 0,
            namespaces: sa.namespaces ?? [],
            namespaceSelectors: sa.namespaceSelectors ?? [],
            serviceSelectors: sa.serviceSelectors ?? [],
          },
        }
        : {}),
    });
  }
  // Sweep by start address: each entry is compared with the earlier one reaching furthest.
  for (const family of [4, 6] as const) {
    const fam = entries.filter((e) => e.range.family === family)
      .sort((a, b) =>
        a.range.start < b.range.start ? -1 : a.range.start > b.range.start ? 1 : a.order - b.order
      );
    let reach: (typeof fam)[number] | undefined;
    for (const e of fam) {
      if (reach && e.range.start <= reach.range.end) {
        const [later, earlier] = e.order > reach.order ? [e, reach] : [reach, e];
        const where = later.p === earlier.p
          ? `spec.addresses[${earlier.index}]`
          : `IPAddressPool ${earlier.p.data.metadata.namespace}/${earlier.p.data.metadata.name} spec.addresses[${earlier.index}]`;
        const same = later.range.start === earlier.range.start &&
          later.range.end === earlier.range.end;
        err(
          later.p,
          `spec.addresses[${later.index}]`,
          same
            ? `duplicate of ${describeRange(earlier.range)} (${where})`
            : `${describeRange(later.range)} overlaps ${describeRange(earlier.range)} (${where})`,
        );
      }
      if (!reach || e.range.end > reach.range.end) reach = e;
    }
  }
  return pools;
}

function buildAliases(
  parsed: Parsed[],
  err: ErrFn,
): Map<string, { value: CommunityValue; owner: string }> {
  const aliases = new Map<string, { value: CommunityValue; owner: string }>();
  parsed.sort((a, b) => cmp(a.data.metadata.name, b.data.metadata.name));
  for (const p of parsed) {
    const owner = `${p.data.metadata.namespace}/${p.data.metadata.name}`;
    (p.data.spec.communities ?? []).forEach((c: { name: string; value: string }, i: number) => {
      const prev = aliases.get(c.name);
      if (prev && prev.owner !== owner) {
        err(
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

function bfdConfig(data: { metadata: { name: string }; spec: Record<string, unknown> }) {
  const s = data.spec as Record<string, number | boolean | undefined>;
  return {
    name: data.metadata.name,
    receiveIntervalMs: (s.receiveInterval as number) ?? 300,
    transmitIntervalMs: (s.transmitInterval as number) ?? 300,
    echoIntervalMs: (s.echoInterval as number) ?? 50,
    detectMultiplier: (s.detectMultiplier as number) ?? 3,
    minimumTtl: (s.minimumTtl as number) ?? 254,
    echoMode: (s.echoMode as boolean) ?? false,
    passiveMode: (s.passiveMode as boolean) ?? false,
  };
}

function decodeBase64(text: string): string | undefined {
  try {
    const bin = atob(text);
    const bytes = Uint8Array.from(bin, (ch) => ch.charCodeAt(0));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

function buildPeers(
  parsed: Parsed[],
  ctx: {
    ns: string;
    err: ErrFn;
    warn: WarnFn;
    bfds: Map<string, BFDProfileConfig>;
    secrets: Map<string, KubeObject>;
    invalidNames: Map<string, Set<string>>;
  },
): PeerConfig[] {
  const { ns, err, warn } = ctx;
  const peers: PeerConfig[] = [];
  const identities = new Map<string, string>();
  parsed.sort((a, b) => cmp(a.data.metadata.name, b.data.metadata.name));
  for (const p of parsed) {
    const spec = p.data.spec as BGPPeerObject["spec"];
    const name = p.data.metadata.name;
    const timers = resolveTimers(spec);
    if (!timers.ok) continue; // reported by the schema
    if (spec.disableMP) warn(p, "spec.disableMP", "deprecated and has no effect");
    let password = spec.password;
    if (spec.passwordSecret) {
      password = resolveSecret(p, spec.passwordSecret, ctx);
    }
    let bfdProfile: BFDProfileConfig | undefined;
    if (spec.bfdProfile) {
      bfdProfile = ctx.bfds.get(spec.bfdProfile);
      if (!bfdProfile) {
        if (ctx.invalidNames.get("BFDProfile")?.has(spec.bfdProfile)) {
          err(p, "spec.bfdProfile", `BFDProfile ${ns}/${spec.bfdProfile} is invalid`);
        } else {
          err(p, "spec.bfdProfile", `BFDProfile ${ns}/${spec.bfdProfile} not found`, true);
        }
      }
    }
    const identity = canonicalJson([
      spec.peerAddress ?? `iface:${spec.interface}`,
      spec.peerPort,
      spec.vrf ?? "",
      [...(spec.nodeSelectors ?? [])].map(canonicalJson).sort(),
    ]);
    const dup = identities.get(identity);
    if (dup) {
      err(
        p,
        spec.peerAddress ? "spec.peerAddress" : "spec.interface",
        `duplicate of BGPPeer ${ns}/${dup} (same address, port, vrf and nodeSelectors)`,
      );
    } else identities.set(identity, name);
    const peerASN = spec.peerASN || undefined;
    peers.push({
      name,
      myASN: spec.myASN,
      ...(peerASN !== undefined ? { peerASN } : {}),
      ...(spec.dynamicASN ? { dynamicASN: spec.dynamicASN } : {}),
      ...(spec.localASN ? { localASN: spec.localASN } : {}),
      ...(spec.peerAddress ? { address: spec.peerAddress.trim() } : {}),
      ...(spec.interface ? { interface: spec.interface } : {}),
      ...(spec.sourceAddress ? { sourceAddress: spec.sourceAddress.trim() } : {}),
      port: spec.peerPort,
      holdTimeMs: timers.holdMs,
      keepaliveTimeMs: timers.keepaliveMs,
      ...(timers.connectMs !== undefined ? { connectTimeMs: timers.connectMs } : {}),
      ...(spec.routerID ? { routerID: spec.routerID.trim() } : {}),
      nodeSelectors: spec.nodeSelectors ?? [],
      ...(password !== undefined ? { password } : {}),
      ...(bfdProfile ? { bfdProfile } : {}),
      ebgpMultiHop: spec.ebgpMultiHop ?? false,
      ...(spec.vrf ? { vrf: spec.vrf } : {}),
      enableGracefulRestart: spec.enableGracefulRestart ?? false,
      dualStackAddressFamily: spec.dualStackAddressFamily ?? false,
      disableMP: spec.disableMP ?? false,
    });
  }
  return peers;
}

function resolveSecret(
  p: Parsed,
  ref: { name: string; namespace?: string },
  ctx: { ns: string; err: ErrFn; secrets: Map<string, KubeObject> },
): string | undefined {
  const { ns, err } = ctx;
  if (ref.namespace && ref.namespace !== ns) {
    err(
      p,
      "spec.passwordSecret.namespace",
      `must be the install namespace "${ns}", got "${ref.namespace}"`,
    );
    return undefined;
  }
  const raw = ctx.secrets.get(ref.name);
  if (!raw) {
    err(p, "spec.passwordSecret", `Secret ${ns}/${ref.name} not found`, true);
    return undefined;
  }
  const r = secretSchema.safeParse(raw);
  if (!r.success) {
    err(p, "spec.passwordSecret", `Secret ${ns}/${ref.name} is malformed`);
    return undefined;
  }
  const secret = r.data;
  if (secret.type !== "kubernetes.io/basic-auth") {
    err(
      p,
      "spec.passwordSecret",
      `Secret ${ns}/${ref.name} has type "${
        secret.type ?? "Opaque"
      }", want kubernetes.io/basic-auth`,
    );
    return undefined;
  }
  if (secret.stringData?.password !== undefined) return secret.stringData.password;
  const b64 = secret.data?.password;
  if (b64 === undefined) {
    err(p, "spec.passwordSecret", `Secret ${ns}/${ref.name} has no key "password"`);
    return undefined;
  }
  const decoded = decodeBase64(b64);
  if (decoded === undefined) {
    err(p, "spec.passwordSecret", `Secret ${ns}/${ref.name} key "password" is not valid base64`);
  }
  return decoded;
}

function buildAdvertisements(
  parsed: Parsed[],
  ctx: {
    err: ErrFn;
    warn: WarnFn;
    pools: PoolConfig[];
    poolsByName: Map<string, PoolConfig>;
    aliases: Map<string, { value: CommunityValue; owner: string }>;
    peerNames: Set<string>;
    invalidNames: Map<string, Set<string>>;
  },
): AdvertisementConfig[] {
  const { err, warn } = ctx;
  const ads: (AdvertisementConfig & { p: Parsed })[] = [];
  parsed.sort((a, b) => cmp(a.data.metadata.name, b.data.metadata.name));
  for (const p of parsed) {
    const spec = p.data.spec;
    const names: string[] = spec.ipAddressPools ?? [];
    const selectors: LabelSelector[] = spec.ipAddressPoolSelectors ?? [];
    const selected = new Set<string>();
    if (names.length === 0 && selectors.length === 0) {
      for (const pool of ctx.pools) selected.add(pool.name);
    } else {
      names.forEach((n, i) => {
        if (ctx.poolsByName.has(n)) selected.add(n);
        else if (!ctx.invalidNames.get("IPAddressPool")?.has(n)) {
          warn(p, `spec.ipAddressPools[${i}]`, `IPAddressPool "${n}" not found`);
        }
      });
      for (const pool of ctx.pools) {
        if (selectors.some((s) => matchesAnySelector([s], pool.labels))) selected.add(pool.name);
      }
    }
    (spec.peers ?? []).forEach((n: string, i: number) => {
      if (!ctx.peerNames.has(n)) warn(p, `spec.peers[${i}]`, `BGPPeer "${n}" not found`);
    });
    const communities: CommunityValue[] = [];
    (spec.communities ?? []).forEach((c: string, i: number) => {
      if (isCommunityLiteral(c)) {
        const r = parseCommunity(c);
        if (r.ok) communities.push(r.value);
        return;
      }
      const alias = ctx.aliases.get(c);
      if (alias) communities.push(alias.value);
      else {
        err(
          p,
          `spec.communities[${i}]`,
          `unknown community alias "${c}" (not defined in any Community object)`,
          true,
        );
      }
    });
    // A route is `ip/aggregationLength`; it must not be more specific than the pool itself.
    for (const poolName of selected) {
      const pool = ctx.poolsByName.get(poolName)!;
      for (const range of pool.ranges) {
        const agg = range.family === 4 ? spec.aggregationLength : spec.aggregationLengthV6;
        const field = range.family === 4 ? "spec.aggregationLength" : "spec.aggregationLengthV6";
        const prefix = Math.max(...rangePrefixes(range));
        if (agg < prefix) {
          err(
            p,
            field,
            `${agg} is shorter than the /${prefix} prefix of ${
              describeRange(range)
            } in IPAddressPool ${poolName}`,
          );
          break;
        }
      }
    }
    ads.push({
      p,
      name: p.data.metadata.name,
      aggregationLength: spec.aggregationLength,
      aggregationLengthV6: spec.aggregationLengthV6,
      ...(spec.localPref !== undefined ? { localPref: spec.localPref } : {}),
      communities,
      pools: [...selected].sort(),
      nodeSelectors: spec.nodeSelectors ?? [],
      peers: spec.peers ?? [],
      serviceSelectors: spec.serviceSelectors ?? [],
    });
  }
  // Two advertisements sending the same pool to the same peers from the same nodes must
  // agree on LOCAL_PREF, else the route attribute would depend on evaluation order.
  for (let i = 0; i < ads.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = ads[j];
      const b = ads[i];
      if (a.localPref === undefined || b.localPref === undefined) continue;
      if (a.localPref === b.localPref) continue;
      const pool = a.pools.find((x) => b.pools.includes(x));
      if (pool === undefined) continue;
      const peersOverlap = a.peers.length === 0 || b.peers.length === 0 ||
        a.peers.some((x) => b.peers.includes(x));
      if (!peersOverlap) continue;
      const nodesOverlap = a.nodeSelectors.length === 0 || b.nodeSelectors.length === 0 ||
        canonicalJson([...a.nodeSelectors].map(canonicalJson).sort()) ===
          canonicalJson([...b.nodeSelectors].map(canonicalJson).sort());
      if (!nodesOverlap) continue;
      err(
        b.p,
        "spec.localPref",
        `${b.localPref} conflicts with localPref ${a.localPref} of BGPAdvertisement ${a.p.data.metadata.namespace}/${a.name} for pool "${pool}" on the same nodes and peers`,
      );
    }
  }
  return ads.map(({ p: _p, ...rest }) => rest);
}
