/** BGPPeers: timers, passwords from Secrets, BFD profiles (accepted, unsupported), duplicates. */
import type { KubeObject } from "./kube_object.ts";
import { type BGPPeerObject, canonicalJson, secretSchema, selectorKey } from "./schemas.ts";
import { resolveTimers } from "./timers.ts";
import {
  type BFDProfileConfig,
  cmp,
  type Parsed,
  type PeerConfig,
  type Reporter,
  type UnsupportedFeature,
} from "./config_types.ts";

/** What peers refer to. */
export interface PeerContext {
  ns: string;
  report: Reporter;
  bfds: Map<string, BFDProfileConfig>;
  secrets: Map<string, KubeObject>;
  invalidNames: Map<string, Set<string>>;
}

/** A BFD profile with FRR's defaults for unset fields. */
export function bfdConfig(data: { metadata: { name: string }; spec: Record<string, unknown> }) {
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

/** Builds every peer; problems go to `ctx.report`. */
export function buildPeers(parsed: Parsed[], ctx: PeerContext): PeerConfig[] {
  const identities = new Map<string, string>();
  return [...parsed].sort((a, b) => cmp(a.data.metadata.name, b.data.metadata.name))
    .flatMap((p) => {
      const peer = buildPeer(p, ctx);
      if (peer) checkDuplicate(p, identities, ctx);
      return peer ? [peer] : [];
    });
}

function checkDuplicate(p: Parsed, identities: Map<string, string>, ctx: PeerContext): void {
  const spec = p.data.spec as BGPPeerObject["spec"];
  // Two sessions to the same router from the same nodes cannot coexist (MetalLB's FRR
  // mode refuses them too).
  const identity = canonicalJson([
    spec.peerAddress ?? `iface:${spec.interface}`,
    spec.peerPort,
    spec.vrf ?? "",
    [...(spec.nodeSelectors ?? [])].map(selectorKey).sort(),
  ]);
  const dup = identities.get(identity);
  if (!dup) {
    identities.set(identity, p.data.metadata.name);
    return;
  }
  ctx.report.err(
    p,
    spec.peerAddress ? "spec.peerAddress" : "spec.interface",
    `duplicate of BGPPeer ${ctx.ns}/${dup} (same address, port, vrf and nodeSelectors)`,
  );
}

function buildPeer(p: Parsed, ctx: PeerContext): PeerConfig | undefined {
  const spec = p.data.spec as BGPPeerObject["spec"];
  const timers = resolveTimers(spec);
  if (!timers.ok) return undefined; // reported by the schema
  if (spec.disableMP) ctx.report.warn(p, "spec.disableMP", "deprecated and has no effect");
  const password = spec.passwordSecret ? resolveSecret(p, spec.passwordSecret, ctx) : spec.password;
  const bfdProfile = spec.bfdProfile ? resolveBfd(p, spec.bfdProfile, ctx) : undefined;
  const unsupported: UnsupportedFeature[] = spec.bfdProfile ? ["BFD"] : [];
  const peerASN = spec.peerASN || undefined;
  return {
    name: p.data.metadata.name,
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
    unsupported,
  };
}

function resolveBfd(p: Parsed, name: string, ctx: PeerContext): BFDProfileConfig | undefined {
  const profile = ctx.bfds.get(name);
  if (profile) {
    ctx.report.warn(
      p,
      "spec.bfdProfile",
      `unsupported: BFD (BFDProfile ${ctx.ns}/${name} accepted; the session runs without BFD)`,
    );
    return profile;
  }
  if (ctx.invalidNames.get("BFDProfile")?.has(name)) {
    ctx.report.err(p, "spec.bfdProfile", `BFDProfile ${ctx.ns}/${name} is invalid`);
  } else {
    ctx.report.err(p, "spec.bfdProfile", `BFDProfile ${ctx.ns}/${name} not found`, true);
  }
  return undefined;
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

/**
 * The `password` of the referenced Secret. Like MetalLB, the Secret is looked up by name
 * among the install namespace's Secrets (the only ones the components may read), whatever
 * namespace the reference names.
 */
function resolveSecret(
  p: Parsed,
  ref: { name: string; namespace?: string },
  ctx: PeerContext,
): string | undefined {
  const { ns, report } = ctx;
  const at = `Secret ${ns}/${ref.name}`;
  if (ref.namespace && ref.namespace !== ns) {
    report.warn(
      p,
      "spec.passwordSecret.namespace",
      `"${ref.namespace}" is not the install namespace; ${at} is used, as MetalLB does`,
    );
  }
  const raw = ctx.secrets.get(ref.name);
  if (!raw) {
    report.err(p, "spec.passwordSecret", `${at} not found`, true);
    return undefined;
  }
  const r = secretSchema.safeParse(raw);
  if (!r.success) {
    report.err(p, "spec.passwordSecret", `${at} is malformed`);
    return undefined;
  }
  const secret = r.data;
  if (secret.type !== "kubernetes.io/basic-auth") {
    const type = secret.type ?? "Opaque";
    report.err(p, "spec.passwordSecret", `${at} has type "${type}", want kubernetes.io/basic-auth`);
    return undefined;
  }
  const b64 = secret.data?.password;
  const password = secret.stringData?.password ??
    (b64 === undefined ? undefined : decodeBase64(b64));
  if (b64 === undefined && password === undefined) {
    report.err(p, "spec.passwordSecret", `${at} has no key "password"`);
  } else if (password === undefined) {
    report.err(p, "spec.passwordSecret", `${at} key "password" is not valid base64 of UTF-8 text`);
  } else if (/[\r\n]/.test(password)) {
    report.err(p, "spec.passwordSecret", `${at} key "password" must not contain a line break`);
    return undefined;
  }
  return password;
}
