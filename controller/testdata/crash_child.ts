/**
 * Child of cold_start_crash_test.ts: the controller on N Services over the file-mode overlay
 * and a state dir. Prints `seen KEY IP` for every assignment as soon as a reader (the
 * speaker, in `ferrolb all`) could see it, `go` when the controller starts, and `done` once
 * every Service has an address.
 */
import { createLogger } from "../../api/log.ts";
import { createMemorySource } from "../../cluster/memory_source.ts";
import { createOverlaySource } from "../../cluster/overlay_source.ts";
import { openStateStore } from "../../cluster/state_store.ts";
import { createController } from "../controller.ts";
import { poolObject, serviceObject, TEST_NAMESPACE } from "../../tests/controller/testing.ts";

const [stateDir, nText] = Deno.args;
const n = Number(nText);
const objects = [poolObject("p", ["10.0.0.0/16"])];
for (let i = 0; i < n; i++) objects.push(serviceObject(`ns${i % 7}`, `svc-${i}`));
const logger = createLogger({ level: "error" });
const overlay = createOverlaySource(
  createMemorySource(objects),
  openStateStore(stateDir, { logger }),
  { logger },
);
const printed = new Map<string, string>();
const encoder = new TextEncoder();
function report(): void {
  const lines: string[] = [];
  for (const [key, obj] of overlay.snapshot().objects.get("Service") ?? []) {
    const ip = (obj.status as { loadBalancer?: { ingress?: { ip: string }[] } } | undefined)
      ?.loadBalancer?.ingress?.[0]?.ip;
    if (!ip || printed.get(key) === ip) continue;
    printed.set(key, ip);
    lines.push(`seen ${key} ${ip}\n`);
  }
  if (printed.size === n) lines.push("done\n");
  // Synchronous, so that what is printed is out before a SIGKILL can land after it.
  if (lines.length > 0) Deno.stdout.writeSync(encoder.encode(lines.join("")));
  if (printed.size === n) Deno.exit(0);
}
overlay.subscribe(() => report());
const controller = createController(overlay, overlay, { namespace: TEST_NAMESPACE, logger });
Deno.stdout.writeSync(encoder.encode("go\n"));
await controller.start();
report();
