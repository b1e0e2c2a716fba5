/**
 * soak_bad_config: the standalone `ferrolb all` announcing to a BGP collector while its
 * config directory takes a stream of random invalid edits (bad CIDRs, ASNs, addresses,
 * ports, communities, aggregation lengths, broken YAML, garbage bytes, new bad files) mixed
 * with valid ones (Services added and removed, communities changed). An invalid edit must
 * show up in /status as a configuration error, must not replace the running configuration,
 * and must never withdraw a route; valid edits must still take effect.
 */
import { type Collector, startCollector } from "../../bgp/mod.ts";
import {
  advertisementYaml,
  type FerrolbProcess,
  fetchStatus,
  onFreeBgpPort,
  peerYaml,
  poolYaml,
  serviceIn,
  serviceYaml,
  spawnFerrolb,
  writeAtomically,
} from "../e2e_helpers.ts";
import { figure, pollUntil, Rng, type Soak, type SoakContext } from "./types.ts";

const OUR_ASN = 64512;
const COLLECTOR_ASN = 65010;
const POOL = "soak-pool";

function announced(c: Collector): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const p of c.routes()) for (const r of p.routes) out.set(r.prefix, r.communities);
  return out;
}

/** The soak. */
export const soak: Soak = {
  name: "soak_bad_config",
  async *run(ctx: SoakContext) {
    const edits = ctx.short ? 24 : 200;
    const g = new Rng(ctx.seed ^ 0xbadc);
    const collector = await onFreeBgpPort((port) =>
      startCollector({ listen: `127.0.0.1:${port}`, asn: COLLECTOR_ASN, routerId: "127.0.0.2" })
    );
    const root = await Deno.makeTempDir({ prefix: "ferrolb-soak-config-" });
    const dir = `${root}/config`;
    await Deno.mkdir(dir);
    let community = 1;
    const good: Record<string, string> = {
      "pool.yaml": poolYaml(POOL, ["198.51.100.0/24"]),
      "peer.yaml": peerYaml("router", {
        myASN: OUR_ASN,
        peerASN: COLLECTOR_ASN,
        peerAddress: "127.0.0.1",
        peerPort: collector.addr.port,
      }),
      "adv.yaml": advertisementYaml("soak-adv", [POOL], [`${OUR_ASN}:${community}`]),
    };
    const services = new Set<string>();
    let nextSvc = 0;
    for (let i = 0; i < 8; i++) {
      const name = `svc-${nextSvc++}`;
      good[`${name}.yaml`] = serviceYaml(name);
      services.add(name);
    }
    for (const [f, text] of Object.entries(good)) await Deno.writeTextFile(`${dir}/${f}`, text);

    // Every route that disappears, with the edit in force when it did.
    let editLabel = "start";
    const expectedGone = new Set<string>();
    const wrongWithdrawals: string[] = [];
    let last = new Set<string>();
    const unwatch = collector.onChange(() => {
      const now = new Set(announced(collector).keys());
      for (const p of last) {
        if (!now.has(p) && !expectedGone.has(p)) {
          wrongWithdrawals.push(`${p} withdrawn during "${editLabel}"`);
        }
      }
      last = now;
    });

    const argv = [
      "all",
      "--config-dir",
      dir,
      "--state-dir",
      `${root}/state`,
      "--node-name",
      "soak-node",
      "--admin-addr",
      "127.0.0.1:0",
    ];
    const broken: string[] = [];
    const notReported: string[] = [];
    const notApplied: string[] = [];
    const kept: string[] = [];
    const note = (list: string[], text: string) => {
      list.push(text);
      ctx.log("promise broken", { text });
    };
    let invalid = 0;
    let valid = 0;
    let exitedEarly: string | undefined;
    let cleanExit: number | null = null;
    let proc: FerrolbProcess | undefined;
    try {
      const p = spawnFerrolb(argv, { cwd: root });
      proc = p;
      p.exited.then((st) => {
        if (cleanExit === null) exitedEarly = `exited with ${st.code}: ${p.tail(5)}`;
      });
      const addr = await p.adminAddr();
      const status = () => fetchStatus(addr);
      const ipOf = async (name: string) => serviceIn(await status(), name)?.ips[0];
      const allAnnounced = async () => {
        const a = announced(collector);
        for (const name of services) {
          const ip = await ipOf(name);
          if (!ip || !a.has(`${ip}/32`)) return false;
        }
        return true;
      };
      if (!(await pollUntil(allAnnounced, { timeoutMs: 60_000 }))) {
        throw new Error(`the first Services were never announced; ${p.tail(10)}`);
      }
      for (let e = 0; e < edits && !exitedEarly; e++) {
        if (g.chance(0.4)) {
          valid++;
          const kind = services.size > 4 ? g.pick(["add", "remove", "community"]) : "add";
          editLabel = `valid ${kind} (#${e})`;
          if (kind === "add") {
            const name = `svc-${nextSvc++}`;
            good[`${name}.yaml`] = serviceYaml(name);
            services.add(name);
            await writeAtomically(`${dir}/${name}.yaml`, good[`${name}.yaml`]);
            const ok = await pollUntil(async () => {
              const ip = await ipOf(name);
              return ip !== undefined && announced(collector).has(`${ip}/32`);
            }, { timeoutMs: 20_000 });
            if (!ok) note(notApplied, `${editLabel}: ${name} not announced in 20 s`);
          } else if (kind === "remove") {
            const name = g.pick([...services]);
            const ip = await ipOf(name);
            if (ip) expectedGone.add(`${ip}/32`);
            services.delete(name);
            delete good[`${name}.yaml`];
            await Deno.remove(`${dir}/${name}.yaml`);
            const ok = await pollUntil(() => !ip || !announced(collector).has(`${ip}/32`), {
              timeoutMs: 20_000,
            });
            if (!ok) note(notApplied, `${editLabel}: ${name}'s ${ip} still announced after 20 s`);
            // Its address may go to a later Service; from then on it must stay.
            await pollUntil(async () => !(await status()).services.some((s) => s.name === name), {
              timeoutMs: 10_000,
            });
            if (ip) expectedGone.delete(`${ip}/32`);
          } else {
            community++;
            good["adv.yaml"] = advertisementYaml("soak-adv", [POOL], [`${OUR_ASN}:${community}`]);
            await writeAtomically(`${dir}/adv.yaml`, good["adv.yaml"]);
            const want = `${OUR_ASN}:${community}`;
            const ok = await pollUntil(() => {
              const a = announced(collector);
              return a.size > 0 && [...a.values()].every((c) => c.includes(want));
            }, { timeoutMs: 20_000 });
            if (!ok) note(notApplied, `${editLabel}: community ${want} not on every route in 20 s`);
          }
          continue;
        }
        invalid++;
        const bad = invalidEdit(g, {
          good,
          services: [...services],
          peerPort: collector.addr.port,
        });
        editLabel = `invalid ${bad.kind} (#${e})`;
        const before = announced(collector);
        await writeAtomically(`${dir}/${bad.file}`, bad.text);
        const reported = await pollUntil(async () => {
          const doc = await status();
          return !doc.config.valid && doc.config.errors.length > 0 ? doc : undefined;
        }, { timeoutMs: 15_000, intervalMs: 50 });
        if (!reported) note(notReported, `${editLabel}: /status still says valid after 15 s`);
        await new Promise((r) => setTimeout(r, 300 + g.int(700)));
        // The running configuration stays: same routes, same communities.
        const after = announced(collector);
        for (const [prefix, comms] of before) {
          const now = after.get(prefix);
          if (now && now.join(",") !== comms.join(",")) {
            note(kept, `${editLabel}: ${prefix} communities ${comms} became ${now}`);
          }
        }
        editLabel = `revert of ${bad.kind} (#${e})`;
        if (bad.file in good) await writeAtomically(`${dir}/${bad.file}`, good[bad.file]);
        else await Deno.remove(`${dir}/${bad.file}`);
        const isValid = async () => (await status()).config.valid;
        let back = await pollUntil(isValid, { timeoutMs: 8_000, intervalMs: 50 });
        if (!back) {
          const errors = (await status()).config.errors;
          note(
            notApplied,
            `${editLabel}: the file is back to its last good text but /status still reports ` +
              `it invalid after 8 s: ${JSON.stringify(errors)}`,
          );
          // Past the stuck error with a text that differs, so the rest of the run still tests.
          if (bad.file in good) {
            await writeAtomically(`${dir}/${bad.file}`, `${good[bad.file]}# revert ${e}\n`);
            back = await pollUntil(isValid, { timeoutMs: 15_000, intervalMs: 50 });
            if (!back) note(notApplied, `${editLabel}: not valid even after a changed revert`);
          }
        }
        if ((e + 1) % 50 === 0) ctx.log("bad config progress", { edits: e + 1 });
      }
      if (!(await pollUntil(allAnnounced, { timeoutMs: 20_000 }))) {
        broken.push("at the end not every Service was announced");
      }
      // A clean stop withdraws everything by design: stop counting first.
      unwatch();
      cleanExit = -1;
      cleanExit = (await p.stop("SIGTERM")).code;
    } finally {
      unwatch();
      await proc?.stop("SIGKILL");
      await collector.close();
      await Deno.remove(root, { recursive: true }).catch(() => {});
    }
    if (exitedEarly) broken.push(`ferrolb exited during the edits: ${exitedEarly}`);
    if (wrongWithdrawals.length) {
      broken.push(
        `${wrongWithdrawals.length} route(s) withdrawn: ${wrongWithdrawals.slice(0, 3).join("; ")}`,
      );
    }
    if (notReported.length) {
      broken.push(
        `${notReported.length} invalid edit(s) not shown in /status: ${
          notReported.slice(0, 3).join("; ")
        }`,
      );
    }
    if (kept.length) broken.push(`invalid edits changed routes: ${kept.slice(0, 3).join("; ")}`);
    if (notApplied.length) {
      broken.push(
        `${notApplied.length} valid edit(s) not applied: ${notApplied.slice(0, 3).join("; ")}`,
      );
    }
    if (cleanExit !== 0) broken.push(`SIGTERM did not end ferrolb cleanly (exit ${cleanExit})`);
    yield figure("soak_bad_config", invalid + valid, "edits", {
      broken,
      extra: {
        invalid_edits: invalid,
        valid_edits: valid,
        wrong_withdrawals: wrongWithdrawals.length,
        invalid_not_reported: notReported.length,
        valid_not_applied: notApplied.length,
      },
    });
  },
};

/** One invalid edit: which file gets what. */
function invalidEdit(
  g: Rng,
  ctx: { good: Record<string, string>; services: string[]; peerPort: number },
): { kind: string; file: string; text: string } {
  const peer = (spec: Record<string, unknown>) =>
    peerYaml("router", {
      myASN: OUR_ASN,
      peerASN: COLLECTOR_ASN,
      peerAddress: "127.0.0.1",
      peerPort: ctx.peerPort,
      ...spec,
    } as never);
  const garbage = () => {
    const b = new Uint8Array(1 + g.int(200));
    for (let i = 0; i < b.length; i++) b[i] = g.int(256);
    return "\u0000" + new TextDecoder().decode(b);
  };
  const cases: (() => { kind: string; file: string; text: string })[] = [
    () => ({ kind: "pool bad CIDR", file: "pool.yaml", text: poolYaml(POOL, ["198.51.100.0/33"]) }),
    () => ({
      kind: "pool bad range",
      file: "pool.yaml",
      text: poolYaml(POOL, ["198.51.100.9-198.51.100.1"]),
    }),
    () => ({ kind: "pool not an address", file: "pool.yaml", text: poolYaml(POOL, ["banana"]) }),
    () => ({
      kind: "pool broken YAML",
      file: "pool.yaml",
      text: ctx.good["pool.yaml"].replace("addresses:", "addresses: [\n  - {"),
    }),
    () => ({ kind: "pool garbage bytes", file: "pool.yaml", text: garbage() }),
    () => ({
      kind: "peer bad ASN",
      file: "peer.yaml",
      text: peer({ myASN: g.pick([0, -5, 4294967296]) }),
    }),
    () => ({
      kind: "peer bad address",
      file: "peer.yaml",
      text: peer({ peerAddress: "999.1.1.1" }),
    }),
    () => ({ kind: "peer bad port", file: "peer.yaml", text: peer({ peerPort: 70000 }) }),
    () => ({
      kind: "advertisement bad community",
      file: "adv.yaml",
      text: advertisementYaml("soak-adv", [POOL], [`${OUR_ASN}:abc`]),
    }),
    () => ({
      kind: "advertisement bad aggregation",
      file: "adv.yaml",
      text: ctx.good["adv.yaml"].replace("spec:", "spec:\n  aggregationLength: 99"),
    }),
    () => ({
      kind: "new file with a bad pool",
      file: `extra-${g.int(1000)}.yaml`,
      text: poolYaml(`bad-${g.int(1000)}`, ["10.0.0.0/99"]),
    }),
    () => {
      const name = g.pick(ctx.services);
      return {
        kind: "Service broken YAML",
        file: `${name}.yaml`,
        text: ctx.good[`${name}.yaml`].replace("ports:", "ports: [ {"),
      };
    },
  ];
  return g.pick(cases)();
}
