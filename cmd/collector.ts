/**
 * `ferrolb collector`: a passive BGP receiver that logs every route it is sent and serves
 * them as JSON; the mock peer for demos and tests. Runs until SIGINT/SIGTERM.
 */
import { waitForSignal } from "./signals.ts";
import type { ParsedArgs } from "./args.ts";
import { createLogger, parseLogLevel } from "../api/log.ts";
import { startCollector } from "../bgp/collector.ts";

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** Runs the collector role; resolves to the exit code (2 for bad flags). */
export async function runCollector(args: ParsedArgs): Promise<number> {
  const f = args.flags;
  const levelText = String(f["log-level"] ?? "info");
  const level = parseLogLevel(levelText);
  const asn = Number(f.asn ?? "65001");
  const routerId = String(f["router-id"] ?? "127.0.0.1");
  const problems: string[] = [];
  if (!level) problems.push(`--log-level: "${levelText}" is not debug, info, warn or error`);
  if (!Number.isInteger(asn) || asn < 1 || asn > 0xffffffff) {
    problems.push(`--asn: "${f.asn}" is not an AS number (1-4294967295)`);
  }
  if (!IPV4.test(routerId)) problems.push(`--router-id: "${routerId}" is not a dotted quad`);
  if (problems.length > 0) {
    for (const p of problems) console.error(`ferrolb collector: ${p}`);
    return 2;
  }
  const logger = createLogger({ level, component: "collector" });
  let collector;
  try {
    collector = await startCollector({
      listen: String(f.listen ?? "127.0.0.1:1179"),
      asn,
      routerId,
      logger,
      acceptAnyAs: true,
      httpAddr: typeof f["http-addr"] === "string" ? f["http-addr"] : undefined,
    });
  } catch (err) {
    console.error(`ferrolb collector: cannot start: ${(err as Error).message}`);
    return err instanceof TypeError ? 2 : 1;
  }
  const sig = await waitForSignal().promise;
  logger.info("stopping collector", { signal: sig });
  await collector.close();
  return 0;
}
