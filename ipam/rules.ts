/** Rules about one Service request on its own: families, policy, refusals as values. */
import { type Family, formatIP, formatKeep, type IP, parseIP } from "./addr.ts";
import type { Refusal, RefusalCode, ServiceRequest } from "./types.ts";

/** A refusal naming the reason (and the address or pool concerned, when one is). */
export function refuse(
  code: RefusalCode,
  reason: string,
  extra: { ip?: string; pool?: string } = {},
): Refusal {
  return { ok: false, code, reason, ...extra };
}

/** The family of canonical address text. */
export function familyOf(ip: string): Family {
  return ip.includes(":") ? 6 : 4;
}

/** Why a request is malformed (families, policy), or null. */
export function checkRequest(req: ServiceRequest): string | null {
  if (!req.key) return "service key is empty";
  if (req.families.length === 0 || req.families.length > 2) {
    return `${req.key}: ipFamilies must list one or two families`;
  }
  if (req.families.some((f) => f !== 4 && f !== 6)) return `${req.key}: unknown IP family`;
  if (req.families.length === 2 && req.families[0] === req.families[1]) {
    return `${req.key}: ipFamilies lists a family twice`;
  }
  if (!["SingleStack", "PreferDualStack", "RequireDualStack"].includes(req.policy)) {
    return `${req.key}: unknown ipFamilyPolicy "${req.policy}"`;
  }
  if (req.policy === "RequireDualStack" && req.families.length !== 2) {
    return `${req.key}: RequireDualStack needs both IP families`;
  }
  return null;
}

/** The families the Service should get addresses of, primary first. */
export function wantedFamilies(req: ServiceRequest): Family[] {
  return req.policy === "SingleStack" ? [req.families[0]] : req.families.slice(0, 2);
}

/**
 * The family MetalLB adds to a PreferDualStack Service listing one family (a single-stack
 * cluster's Services list one): the other, from the pool of the one it holds. Not for
 * requested addresses, whose held set must stay what was asked (else it would flap).
 */
export function additionalFamily(req: ServiceRequest): Family | undefined {
  if (req.policy !== "PreferDualStack" || req.families.length !== 1) return undefined;
  if (hasRequestedIPs(req)) return undefined;
  return req.families[0] === 4 ? 6 : 4;
}

/** The families a Service may hold: the wanted ones, then the additional one if any. */
export function allowedFamilies(req: ServiceRequest): Family[] {
  const extra = additionalFamily(req);
  return extra === undefined ? wantedFamilies(req) : [req.families[0], extra];
}

/** The addresses in the order of the Service's ipFamilies (an additional family last). */
export function orderByFamilies(ips: string[], families: Family[]): string[] {
  if (ips.length < 2) return ips;
  const rank = (ip: string) => {
    const i = families.indexOf(familyOf(ip));
    return i < 0 ? families.length : i;
  };
  return [...ips].sort((a, b) => rank(a) - rank(b));
}

/** Whether the Service asks for specific addresses. */
export function hasRequestedIPs(req: ServiceRequest): boolean {
  return req.requestedIPs !== undefined && req.requestedIPs.length > 0;
}

/**
 * Reads the addresses of a claim (requested or restored): at most one per family and,
 * unless `lenient` (restore), of the Service's families and as many as its policy wants.
 */
export function parseClaim(
  request: ServiceRequest,
  options: { texts: string[]; lenient: boolean },
): { ok: true; parsed: IP[]; ips: string[] } | Refusal {
  const { texts, lenient } = options;
  const parsed: IP[] = [];
  const ips: string[] = [];
  for (const text of texts) {
    const ip = parseIP(text.trim());
    if (!ip) return refuse("bad-request", `invalid ip "${text}"`);
    if (parsed.some((p) => p.family === ip.family)) {
      return refuse("bad-request", `at most one ip per family: ${texts.join(",")}`);
    }
    if (!lenient && !request.families.includes(ip.family)) {
      const ipText = formatIP(ip);
      return refuse("bad-request", `ip ${ipText} is not of the service's families`, {
        ip: ipText,
      });
    }
    parsed.push(ip);
    // Restored addresses are the status's strings: keep those, not new copies.
    ips.push(formatKeep(ip, text));
  }
  if (!lenient && request.policy === "SingleStack" && ips.length !== 1) {
    return refuse("bad-request", `SingleStack service requests ${ips.length} ips`);
  }
  if (!lenient && request.policy === "RequireDualStack" && ips.length !== 2) {
    return refuse("bad-request", "RequireDualStack needs one requested ip of each family");
  }
  return { ok: true, parsed, ips };
}

/** Why the requested IPs no longer match the held ones, or null. */
export function requestedChanged(request: ServiceRequest, held: readonly string[]): string | null {
  if (!hasRequestedIPs(request)) return null;
  const want = request.requestedIPs!.map((t) => {
    const p = parseIP(t);
    return p ? formatIP(p) : t;
  }).sort().join(",");
  return want !== [...held].sort().join(",") ? "requested ips changed" : null;
}

/** Why the held addresses no longer fit the Service's families and policy, or null. */
export function familiesChanged(request: ServiceRequest, held: readonly string[]): string | null {
  const wanted = wantedFamilies(request);
  const allowed = allowedFamilies(request);
  const families = held.map(familyOf);
  if (families.some((f) => !allowed.includes(f))) return "ip families changed";
  // An additional family is held only beside the one the Service lists.
  if (!families.some((f) => wanted.includes(f))) return "ip families changed";
  if (request.policy === "RequireDualStack" && families.length !== 2) {
    return "RequireDualStack needs both families";
  }
  return null;
}
