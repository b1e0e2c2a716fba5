/** zod schemas of `BGPPeer` (v1beta1 and v1beta2) and the refinements they share. */
import { z } from "zod";
import { parseIP } from "./ip.ts";
import { resolveTimers } from "./timers.ts";
import {
  ALWAYS,
  asn,
  bounded,
  checkUnique,
  type Ctx,
  isRecord,
  labelSelectors,
  LIMITS,
  type Path,
} from "./schema_parts.ts";

/** A reference to a Secret: `{name, namespace}`. */
export const secretReference = z.object({
  name: z.string().min(1, "must not be empty"),
  namespace: z.string().optional(),
});

const peerCoreFields = {
  myASN: asn("myASN").min(1, "must not be 0"),
  peerASN: asn("peerASN").optional(),
  peerAddress: bounded(LIMITS.ipText).optional(),
  sourceAddress: bounded(LIMITS.ipText).optional(),
  peerPort: z.number().int().min(1, "must be between 1 and 16384")
    .max(16384, "must be between 1 and 16384").default(179),
  holdTime: z.string().optional(),
  keepaliveTime: z.string().optional(),
  routerID: bounded(LIMITS.ipText).optional(),
  nodeSelectors: labelSelectors.optional(),
  password: bounded(LIMITS.password).optional(),
  bfdProfile: z.string().optional(),
  ebgpMultiHop: z.boolean().default(false),
};

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function refinePeerIdentity(spec: Record<string, unknown>, issue: (p: Path, m: string) => void) {
  const hasPeerASN = typeof spec.peerASN === "number" && spec.peerASN !== 0;
  const hasDynamic = spec.dynamicASN !== undefined;
  if (hasPeerASN === hasDynamic) {
    issue(
      [hasPeerASN ? "dynamicASN" : "peerASN"],
      `exactly one of peerASN or dynamicASN must be set (got ${hasPeerASN ? "both" : "neither"})`,
    );
  }
  const hasAddr = !!spec.peerAddress;
  const hasIface = !!spec.interface;
  if (hasAddr === hasIface) {
    issue(
      [hasAddr ? "interface" : "peerAddress"],
      `exactly one of peerAddress or interface must be set (got ${hasAddr ? "both" : "neither"})`,
    );
  }
  const ibgp = (hasPeerASN && spec.peerASN === spec.myASN) || spec.dynamicASN === "internal";
  if (spec.ebgpMultiHop === true && ibgp) {
    issue(["ebgpMultiHop"], "must not be set on an iBGP peer (peer AS equals myASN)");
  }
}

function refinePeerAddresses(spec: Record<string, unknown>, issue: (p: Path, m: string) => void) {
  for (const f of ["peerAddress", "sourceAddress"] as const) {
    const text = str(spec[f]);
    if (!text) continue;
    const r = parseIP(text);
    if (!r.ok) issue([f], r.error);
  }
  const routerID = str(spec.routerID);
  if (routerID) {
    const r = parseIP(routerID);
    if (!r.ok) issue(["routerID"], r.error);
    // The BGP identifier is four bytes (RFC 4271), so only IPv4 notation can carry it.
    else if (r.value.family !== 4) {
      issue(["routerID"], `must be an IPv4 address, got "${routerID}"`);
    }
  }
}

function refinePeer(spec: unknown, ctx: Ctx): void {
  if (!isRecord(spec)) return;
  const issue = (path: Path, message: string) => ctx.addIssue({ code: "custom", path, message });
  refinePeerIdentity(spec, issue);
  refinePeerAddresses(spec, issue);
  const t = resolveTimers({
    holdTime: str(spec.holdTime),
    keepaliveTime: str(spec.keepaliveTime),
    connectTime: str(spec.connectTime),
  });
  if (!t.ok) { for (const e of t.errors) issue([e.field], e.reason); }
  if (spec.password && spec.passwordSecret) {
    issue(["passwordSecret"], "must not be set together with password");
  }
  // These end up in routing daemon configuration lines in MetalLB, which refuses them.
  for (const f of ["password", "interface", "vrf"] as const) {
    if (/[\r\n]/.test(str(spec[f]) ?? "")) issue([f], "must not contain a line break");
  }
  checkUnique(ctx, spec.nodeSelectors, ["nodeSelectors"]);
}

/** `BGPPeer.spec` of `metallb.io/v1beta1` (deprecated; converted to v1beta2). */
export const bgpPeerV1beta1Spec = z.object(peerCoreFields).superRefine(refinePeer, ALWAYS);

/** `BGPPeer.spec` of `metallb.io/v1beta2` (the storage version). */
export const bgpPeerSpec = z.object({
  ...peerCoreFields,
  dynamicASN: z.enum(["internal", "external"]).optional(),
  localASN: asn("localASN").optional(),
  interface: bounded(LIMITS.ifaceText).optional(),
  connectTime: z.string().optional(),
  passwordSecret: secretReference.optional(),
  vrf: bounded(LIMITS.ifaceText).optional(),
  enableGracefulRestart: z.boolean().default(false),
  disableMP: z.boolean().default(false),
  dualStackAddressFamily: z.boolean().default(false),
}).superRefine(refinePeer, ALWAYS);
