import assert from "node:assert/strict";
import { netnsAvailable } from "./mod.ts";
import { measureGobgpBaseline } from "./baseline.ts";

async function skipReason(): Promise<string | undefined> {
  const ns = await netnsAvailable();
  if (!ns.ok) return ns.reason;
  try {
    await new Deno.Command("gobgpd", { args: ["--version"], stdout: "null" }).output();
  } catch {
    return "gobgpd not installed (apt-get install gobgpd)";
  }
  return undefined;
}

const reason = await skipReason();
if (reason) console.log(`skipping GoBGP baseline test: ${reason}`);

Deno.test({
  name: "gobgp baseline: a receiver gets every prefix the sender loaded before the session",
  ignore: reason !== undefined,
  async fn() {
    const r = await measureGobgpBaseline({ prefixes: 3000, timeoutMs: 60_000 });
    assert.equal(r.prefixes, 3000);
    assert.equal(r.receiverRibCount, 3000);
    assert.equal(r.runsSeconds.length, 1);
    assert.ok(r.seconds >= 0 && r.seconds <= r.enableToDoneSeconds, JSON.stringify(r));
  },
});
