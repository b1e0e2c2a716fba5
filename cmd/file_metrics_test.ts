/**
 * MetalLB's config health metrics in file mode, as dashboards and alerts read them: a
 * manifest that fails to load sets `metallb_k8s_client_config_stale_bool` and counts in
 * `metallb_k8s_client_update_errors_total`; fixing it clears stale, the count stays.
 */
import assert from "node:assert/strict";
import { silentLogger } from "../api/log.ts";
import { startFileMode } from "./all.ts";

const POOL = `apiVersion: metallb.io/v1beta1
kind: IPAddressPool
metadata: {name: p, namespace: metallb-system}
spec: {addresses: [192.0.2.0/28]}
`;

async function scrape(addr: string): Promise<{ stale: number; errors: number; loaded: number }> {
  const text = await (await fetch(`http://${addr}/metrics`)).text();
  const v = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, "m"))?.[1]);
  return {
    stale: v("metallb_k8s_client_config_stale_bool"),
    errors: v("metallb_k8s_client_update_errors_total"),
    loaded: v("metallb_k8s_client_config_loaded_bool"),
  };
}

async function until(
  addr: string,
  want: (m: { stale: number; errors: number; loaded: number }) => boolean,
): Promise<{ stale: number; errors: number; loaded: number }> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const m = await scrape(addr);
    if (want(m)) return m;
    if (Date.now() > deadline) throw new Error(`metrics never matched: ${JSON.stringify(m)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("file mode: a YAML parse error sets config_stale_bool and counts update_errors_total", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ferrolb-metrics-" });
  await Deno.mkdir(`${dir}/cfg`);
  await Deno.writeTextFile(`${dir}/cfg/pool.yaml`, POOL);
  const mode = await startFileMode({
    configDir: `${dir}/cfg`,
    stateDir: `${dir}/state`,
    nodeName: "n1",
    namespace: "metallb-system",
    adminAddr: "127.0.0.1:0",
    logger: silentLogger,
    pollMs: 50,
  });
  try {
    assert.deepEqual(await until(mode.adminAddr, (m) => m.loaded === 1), {
      stale: 0,
      errors: 0,
      loaded: 1,
    });
    await Deno.writeTextFile(`${dir}/cfg/pool.yaml`, POOL + "  bad: [unclosed\n");
    assert.deepEqual(await until(mode.adminAddr, (m) => m.stale === 1), {
      stale: 1,
      errors: 1,
      loaded: 1,
    });
    // Fixed: running on the current configuration again; the error stays counted.
    await Deno.writeTextFile(`${dir}/cfg/pool.yaml`, POOL);
    assert.deepEqual(await until(mode.adminAddr, (m) => m.stale === 0), {
      stale: 0,
      errors: 1,
      loaded: 1,
    });
    // Another failed load counts again.
    await Deno.writeTextFile(`${dir}/cfg/pool.yaml`, "kind: [\n");
    assert.equal((await until(mode.adminAddr, (m) => m.errors === 2)).stale, 1);
  } finally {
    await mode.close();
    await Deno.remove(dir, { recursive: true });
  }
});
