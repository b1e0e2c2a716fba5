/**
 * Offline checks of what LoadBalancer Services ask of MetalLB through annotations and
 * `spec.loadBalancerIP`, against a built configuration: what `ferrolb validate` reports so a
 * Service does not sit pending for a reason a file check could have named.
 */
import type { KubeObject } from "./kube_object.ts";
import { parseService, type ServiceView } from "./objects.ts";
import { parseIP } from "./ip.ts";
import type { Config, ConfigError, ConfigWarning } from "./config_types.ts";

const PREFIX = "metallb.io/";
const LEGACY = "metallb.universe.tf/";

/** Options for {@linkcode checkServiceAnnotations}. */
export interface ServiceCheckOptions {
  /** The built configuration; without it (invalid config) pool references are not checked. */
  config?: Config;
}

/** Problems found in Services' requests. */
export interface ServiceCheckResult {
  errors: ConfigError[];
  warnings: ConfigWarning[];
}

interface Ctx extends ServiceCheckResult {
  view: ServiceView;
  config?: Config;
}

function at(view: ServiceView) {
  return { kind: "Service", namespace: view.namespace, name: view.name };
}

/** The value of a request annotation (newer key first) and the key it came from. */
function read(ctx: Ctx, name: string): { key: string; value: string } | undefined {
  const a = ctx.view.annotations;
  const hasNew = Object.hasOwn(a, PREFIX + name);
  if (Object.hasOwn(a, LEGACY + name)) {
    ctx.warnings.push({
      ...at(ctx.view),
      field: `metadata.annotations.${LEGACY}${name}`,
      reason: hasNew
        ? `deprecated and ignored because ${PREFIX}${name} is also set`
        : `deprecated, use ${PREFIX}${name}`,
    });
  }
  if (hasNew) return { key: PREFIX + name, value: a[PREFIX + name] };
  return Object.hasOwn(a, LEGACY + name)
    ? { key: LEGACY + name, value: a[LEGACY + name] }
    : undefined;
}

function fail(ctx: Ctx, field: string, reason: string): void {
  ctx.errors.push({ ...at(ctx.view), field, reason });
}

/** The requested addresses, each checked as an IP, at most one per family. */
function requestedIPs(ctx: Ctx): { field: string; ip: string; family: 4 | 6 }[] {
  const ips = read(ctx, "loadBalancerIPs");
  const spec = ctx.view.loadBalancerIP;
  if (ips && ips.value.trim() !== "" && spec) {
    fail(ctx, "spec.loadBalancerIP", `must not be set together with annotation ${ips.key}`);
  }
  const field = ips && ips.value.trim() !== ""
    ? `metadata.annotations.${ips.key}`
    : "spec.loadBalancerIP";
  const texts = ips && ips.value.trim() !== ""
    ? ips.value.split(",").map((s) => s.trim()).filter((s) => s !== "")
    : spec
    ? [spec]
    : [];
  const out: { field: string; ip: string; family: 4 | 6 }[] = [];
  for (const text of texts) {
    const r = parseIP(text);
    if (!r.ok) {
      fail(ctx, field, `"${text}" is not an IP address`);
    } else if (out.some((o) => o.family === r.value.family)) {
      fail(ctx, field, `at most one address per IP family ("${texts.join(",")}")`);
    } else out.push({ field, ip: text, family: r.value.family });
  }
  return out;
}

function checkPools(ctx: Ctx, ips: { field: string; ip: string; family: 4 | 6 }[]): void {
  const named = read(ctx, "address-pool");
  const config = ctx.config;
  if (!config) return;
  const poolName = named?.value.trim();
  const pool = poolName ? config.pools.find((p) => p.name === poolName) : undefined;
  if (named && poolName && !pool) {
    fail(
      ctx,
      `metadata.annotations.${named.key}`,
      `IPAddressPool "${poolName}" does not exist (pools: ${
        config.pools.map((p) => p.name).join(", ") || "none"
      })`,
    );
  }
  for (const { field, ip } of ips) {
    const value = parseIP(ip);
    if (!value.ok) continue;
    const inside = (p: Config["pools"][number]) =>
      p.ranges.some((r) =>
        r.family === value.value.family && r.start <= value.value.value &&
        value.value.value <= r.end
      );
    if (pool && !inside(pool)) {
      fail(ctx, field, `${ip} is not in the requested IPAddressPool "${pool.name}"`);
    } else if (!pool && !config.pools.some(inside)) {
      fail(ctx, field, `${ip} is not in any IPAddressPool`);
    }
  }
}

/**
 * Checks every LoadBalancer Service's requests (`metallb.io/` and `metallb.universe.tf/`
 * annotations, `spec.loadBalancerIP`): addresses that are not IPs or two of one family,
 * both ways of asking at once, a pool that does not exist, an address outside the
 * requested pool or outside every pool. Objects that are not Services are skipped.
 */
export function checkServiceAnnotations(
  objects: readonly KubeObject[],
  options: ServiceCheckOptions = {},
): ServiceCheckResult {
  const result: ServiceCheckResult = { errors: [], warnings: [] };
  for (const obj of objects) {
    if (obj.kind !== "Service" || obj.apiVersion !== "v1") continue;
    const parsed = parseService(obj);
    // Another class belongs to another load balancer (ferrolb's default: classless only).
    if (!parsed.ok || parsed.value.type !== "LoadBalancer" || parsed.value.loadBalancerClass) {
      continue;
    }
    const ctx: Ctx = { ...result, view: parsed.value, config: options.config };
    checkPools(ctx, requestedIPs(ctx));
  }
  return result;
}
