/**
 * The 100,000-Service runs of the end-to-end suite, in the order that lets one run's state
 * serve the next: a 1-Service start (the lag reference), the references, a cold start on an
 * empty state dir, a restart on the state it wrote, then a start with four peers.
 */
import { createLogger } from "../../api/log.ts";
import { openStateStore, type StateData } from "../../cluster/state_store.ts";
import { hostPrefix } from "../gobgp/mod.ts";
import { type BenchNet, loadAverage, SENDER_ASN, waitReceiversIdle } from "./e2e_env.ts";
import { type OurStart, type OurStop, startOurs, stopOurs } from "./e2e_ours.ts";
import { BENCH_POOL, serviceName, writeManifestDir } from "./gen_manifests.ts";
import { measureRefs, type Refs, TABLE_BASE } from "./e2e_refs.ts";

/** A working directory for one ferrolb: the manifests and the state dir inside it. */
export interface OurWorkdir {
  cwd: string;
  configDir: string;
  stateDir: string;
  remove(): Promise<void>;
}

/** Makes a temp working directory with `n` Services and one BGPPeer per receiver. */
export async function ourWorkdir(
  net: BenchNet,
  options: { n: number; receivers: number },
): Promise<OurWorkdir> {
  const cwd = await Deno.makeTempDir({ prefix: "flb-bench-e2e-" });
  const configDir = `${cwd}/config`;
  const stateDir = `${cwd}/state`;
  await net.ensureReceivers(options.receivers);
  await writeManifestDir(configDir, {
    services: options.n,
    peers: net.receivers.slice(0, options.receivers).map((r) => ({
      address: r.address,
      asn: 65002,
    })),
    myAsn: SENDER_ASN,
    routerId: net.senderAddress,
  });
  return {
    cwd,
    configDir,
    stateDir,
    remove: () => Deno.remove(cwd, { recursive: true }).catch(() => {}),
  };
}

/**
 * Writes, through the program's own state store, the state a finished cold start would
 * leave: Service i holds the pool's address i+1. Used only when the cold run did not finish.
 */
export async function seedState(stateDir: string, n: number): Promise<void> {
  const store = openStateStore(stateDir, { logger: createLogger({ level: "error" }) });
  const data: StateData = { version: 1, services: {} };
  for (let i = 0; i < n; i++) {
    data.services[`default/${serviceName(i)}`] = {
      ingress: [hostPrefix(i + 1, TABLE_BASE).replace("/32", "")],
      annotations: { "metallb.io/ip-allocated-from-pool": BENCH_POOL },
    };
  }
  await store.save(data);
}

/** Everything the large figures are made of. */
export interface LargeRuns {
  n: number;
  capS: number;
  load: string;
  refs: Refs;
  cold: OurStart;
  coldStop: OurStop;
  /** Where the restart's state came from. */
  stateFrom: string;
  restart?: OurStart;
  restartStop?: OurStop;
  /** Worst loop lag of the same program starting with 1 Service. */
  idleLagSeconds: number | null;
  x4?: OurStart;
  /** The four-peer run's stop, with the default drain. */
  x4Stop?: OurStop;
  refsX4?: Refs;
}

/**
 * Starts the program once with 1 Service: the worst loop lag of a start with nothing to do
 * (the lag figure's reference), and it leaves Deno's transpile cache warm, as a user's second
 * start finds it, so the first measured start does not pay for compiling the sources.
 */
export async function idleLag(net: BenchNet): Promise<number | null> {
  const work = await ourWorkdir(net, { n: 1, receivers: 1 });
  try {
    const run = await startOurs({ net, ...work, n: 1, receivers: 1, capMs: 60_000 });
    await stopOurs({ proc: run.proc, net, receivers: 1 });
    await waitReceiversIdle(net.receivers.slice(0, 1), net.senderAddress);
    return run.maxLoopLagSeconds;
  } finally {
    await work.remove();
  }
}

/** Starts ferrolb on `work`, stops it with SIGTERM, waits for the receivers to empty. */
async function startStop(
  net: BenchNet,
  work: OurWorkdir,
  options: { n: number; receivers: number; capMs: number; settle?: boolean; drain?: boolean },
): Promise<{ start: OurStart; stop: OurStop }> {
  const start = await startOurs({ net, ...work, ...options });
  const stop = await stopOurs({ proc: start.proc, net, receivers: options.receivers });
  await waitReceiversIdle(net.receivers.slice(0, options.receivers), net.senderAddress);
  return { start, stop };
}

/** Runs every large-size measurement; `x4` adds the four-peer runs. */
export async function largeRuns(
  net: BenchNet,
  options: { n: number; capS: number; x4: boolean; idleLagSeconds: number | null },
): Promise<LargeRuns> {
  const { n, capS, idleLagSeconds } = options;
  const capMs = capS * 1000;
  const refs = await measureRefs(net, { n, receivers: 1, capMs });
  const work = await ourWorkdir(net, { n, receivers: 1 });
  try {
    const load = await loadAverage();
    const cold = await startStop(net, work, { n, receivers: 1, capMs });
    let stateFrom = "the cold run above";
    if (!cold.start.reached) {
      await Deno.remove(work.stateDir, { recursive: true }).catch(() => {});
      await seedState(work.stateDir, n);
      stateFrom = "seeded through the state store (the cold run did not finish)";
    }
    const restart = await startStop(net, work, { n, receivers: 1, capMs });
    const out: LargeRuns = {
      n,
      capS,
      load,
      refs,
      cold: cold.start,
      coldStop: cold.stop,
      stateFrom,
      restart: restart.start,
      restartStop: restart.stop,
      idleLagSeconds,
    };
    if (options.x4) {
      await net.ensureReceivers(4);
      out.refsX4 = await measureRefs(net, { n, receivers: 4, capMs });
      const work4 = await ourWorkdir(net, { n, receivers: 4 });
      try {
        await copyDir(work.stateDir, work4.stateDir);
        // Settled: the RSS figure's peak covers the writes after the routes too, and the
        // stop with the default drain, as users run it.
        const x4 = await startStop(net, work4, {
          n,
          receivers: 4,
          capMs,
          settle: true,
          drain: true,
        });
        out.x4 = x4.start;
        out.x4Stop = x4.stop;
      } finally {
        await work4.remove();
        await net.trimReceivers(1);
      }
    }
    return out;
  } finally {
    await work.remove();
  }
}

/** Copies a state directory, whatever files and subdirectories the store keeps in it. */
async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else if (e.isFile) await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}
