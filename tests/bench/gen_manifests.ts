/**
 * Writes a directory of the manifests a MetalLB user would apply for N Services: one
 * IPAddressPool large enough, one BGPPeer per receiver, one BGPAdvertisement, and N
 * `type: LoadBalancer` Services spread over a few multi-document files.
 *
 * `deno run -A tests/bench/gen_manifests.ts DIR N [PEER_ADDRESS...]` writes one.
 */
import { advertisementYaml, peerYaml, poolYaml, serviceYaml } from "../e2e_helpers.ts";

/** RFC 2544 benchmarking space: 131,072 addresses, enough for 100,000 Services. */
export const BENCH_POOL_CIDR = "198.18.0.0/15";
/** Pool name in the generated manifests. */
export const BENCH_POOL = "bench-pool";

/** One BGP receiver the generated BGPPeers point at. */
export interface ManifestPeer {
  address: string;
  asn: number;
  port?: number;
}

/** Options for {@linkcode writeManifestDir}. */
export interface ManifestOptions {
  /** Number of Services. */
  services: number;
  /** One BGPPeer per entry. */
  peers: ManifestPeer[];
  /** ferrolb's AS (`myASN`). */
  myAsn: number;
  /** BGPPeer `routerID`, when the node's address should not be guessed. */
  routerId?: string;
  /** Services per file (default 10,000): large inputs arrive in a few big files. */
  servicesPerFile?: number;
}

/** The `namespace/name` keys of the generated Services, in order. */
export function serviceName(i: number): string {
  return `svc-${String(i).padStart(6, "0")}`;
}

/**
 * Writes the manifests into `dir` (created if missing); returns the files written. The
 * Services are `default/svc-000000` … in files `services-000.yaml` ….
 */
export async function writeManifestDir(dir: string, options: ManifestOptions): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const files: string[] = [];
  const write = async (name: string, text: string) => {
    const path = `${dir}/${name}`;
    await Deno.writeTextFile(path, text);
    files.push(path);
  };
  await write("pool.yaml", poolYaml(BENCH_POOL, [BENCH_POOL_CIDR]));
  await write(
    "peers.yaml",
    options.peers.map((p, i) =>
      peerYaml(`receiver-${i}`, {
        myASN: options.myAsn,
        peerASN: p.asn,
        peerAddress: p.address,
        ...(p.port !== undefined ? { peerPort: p.port } : {}),
        ...(options.routerId ? { routerID: options.routerId } : {}),
      })
    ).join("---\n"),
  );
  await write("advertisement.yaml", advertisementYaml("bench-adv", [BENCH_POOL]));
  const perFile = options.servicesPerFile ?? 10_000;
  for (let start = 0, f = 0; start < options.services; start += perFile, f++) {
    const docs: string[] = [];
    const end = Math.min(options.services, start + perFile);
    for (let i = start; i < end; i++) docs.push(serviceYaml(serviceName(i)));
    await write(`services-${String(f).padStart(3, "0")}.yaml`, docs.join("---\n"));
  }
  return files;
}

if (import.meta.main) {
  const [dir, n, ...addresses] = Deno.args;
  if (!dir || !n) {
    console.error("usage: gen_manifests.ts DIR N [PEER_ADDRESS...]");
    Deno.exit(2);
  }
  const files = await writeManifestDir(dir, {
    services: Number(n),
    peers: (addresses.length ? addresses : ["192.0.2.2"]).map((address) => ({
      address,
      asn: 65002,
    })),
    myAsn: 65001,
  });
  console.log(JSON.stringify({ dir, files: files.length }));
}
