import assert from "node:assert/strict";
import { runValidate } from "./validate.ts";

const DATA = new URL("../tests/testdata/config/", import.meta.url).pathname;

async function run(paths: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runValidate(paths, {
    namespace: "metallb-system",
    write: (l) => lines.push(l),
  });
  return { code, lines };
}

Deno.test("validate: the seed manifests are valid", async () => {
  const { code, lines } = await run([`${DATA}seed`]);
  assert.equal(code, 0);
  assert.deepEqual(lines, [
    // The seed Service uses MetalLB's older annotation prefix: valid, with a warning.
    `${DATA}seed/svc.yaml: warning: Service default/example-service: metadata.annotations.metallb.universe.tf/address-pool: deprecated, use metallb.io/address-pool`,
    "valid: 4 object(s) in 4 file(s): 1 pool(s), 1 peer(s), 1 advertisement(s)",
  ]);
});

Deno.test("validate: prints every problem with its file, then a summary, exit 1", async () => {
  const dir = `${DATA}invalid`;
  const { code, lines } = await run([dir]);
  assert.equal(code, 1);
  assert.deepEqual(
    lines.sort(),
    [
      `${dir}/broken.yaml: line 5, column 14: bad indentation of a mapping entry`,
      `${dir}/peers.yaml: BGPAdvertisement metallb-system/adv: spec.communities[0]: unknown community alias "no-such-alias" (not defined in any Community object)`,
      `${dir}/peers.yaml: BGPPeer metallb-system/router: spec.holdTime: hold time 1s must be 0 or at least 3s`,
      `${dir}/peers.yaml: BGPPeer metallb-system/router: spec.myASN: must not be 0`,
      `${dir}/peers.yaml: warning: L2Advertisement metallb-system/l2: L2 mode is not supported; this L2Advertisement has no effect`,
      `${dir}/pools.yaml: IPAddressPool metallb-system/a: spec.addresses[1]: invalid range "10.0.1.20-10.0.1.10": start is after end`,
      `${dir}/pools.yaml: IPAddressPool metallb-system/b: spec.addresses[0]: 10.0.0.128/25 overlaps 10.0.0.0/24 (IPAddressPool metallb-system/a spec.addresses[0])`,
      "invalid: 6 problem(s) in 5 object(s) in 3 file(s)",
    ].sort(),
  );
  assert.match(lines[lines.length - 1], /^invalid: 6 problem/);
});

Deno.test("validate: an unreadable path exits 2 and never claims the rest valid", async () => {
  const missing = `${DATA}does-not-exist.yaml`;
  const { code, lines } = await run([missing, `${DATA}seed/ip.yaml`]);
  assert.equal(code, 2);
  assert.match(lines[0], new RegExp(`^${missing}: cannot read: `));
  assert.ok(!lines.some((l) => l.startsWith("valid:")), lines.join("\n"));
  assert.equal(
    lines[lines.length - 1],
    "not checked: some paths could not be read (1 object(s) in 1 file(s) read)",
  );
});

Deno.test("validate: an unreadable path and a problem: both reported, exit 2", async () => {
  const missing = `${DATA}does-not-exist.yaml`;
  const { code, lines } = await run([missing, `${DATA}invalid/pools.yaml`]);
  assert.equal(code, 2);
  assert.match(lines[0], /cannot read/);
  assert.match(lines[lines.length - 1], /^invalid: \d+ problem\(s\)/);
});
