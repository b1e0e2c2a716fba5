/**
 * A BGP router's network namespace joined to the host by a veth pair. The components under
 * test stay in the host namespace, where the API server listens on loopback; GoBGP, which
 * drops routes whose next hop is in 127/8, sits behind the veth. Named `flb-<pid>-…` so the
 * GoBGP harness's `cleanupStaleNetns` removes one a crashed run left behind.
 */

/** The router's namespace and the two veth addresses. */
export interface PeerNetns {
  /** Namespace of the router (`ip netns exec`). */
  name: string;
  /** Address of the host's end (the speaker's source address). */
  hostAddr: string;
  /** Address of the router's end. */
  peerAddr: string;
  close(): Promise<void>;
}

async function ip(...args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", { args, stdout: "null", stderr: "piped" }).output();
  if (!out.success) {
    throw new Error(`ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

/**
 * Creates the namespace and the veth pair with a /30 from 198.18.0.0/15 (benchmarking
 * addresses, never routed), picked at random so parallel test files do not collide.
 */
export async function createPeerNetns(): Promise<PeerNetns> {
  const tag = crypto.getRandomValues(new Uint32Array(1))[0].toString(36).slice(0, 6);
  const name = `flb-${Deno.pid}-rk${tag}`;
  const hostIf = `flbrk${tag}h`;
  const peerIf = `flbrk${tag}p`;
  const n = crypto.getRandomValues(new Uint16Array(1))[0] % 16_384;
  const base = `198.${18 + (n >> 14)}.${(n >> 6) & 0xff}.${(n & 0x3f) * 4}`;
  const [a, b, c] = base.split(".").map(Number);
  const d = Number(base.split(".")[3]);
  const hostAddr = `${a}.${b}.${c}.${d + 1}`;
  const peerAddr = `${a}.${b}.${c}.${d + 2}`;
  const close = async () => {
    await new Deno.Command("ip", { args: ["link", "del", hostIf], stderr: "null" }).output();
    await new Deno.Command("ip", { args: ["netns", "del", name], stderr: "null" }).output();
  };
  try {
    await ip("netns", "add", name);
    await ip("link", "add", hostIf, "type", "veth", "peer", "name", peerIf);
    await ip("link", "set", peerIf, "netns", name);
    await ip("addr", "add", `${hostAddr}/30`, "dev", hostIf);
    await ip("link", "set", hostIf, "up");
    await ip("-n", name, "addr", "add", `${peerAddr}/30`, "dev", peerIf);
    await ip("-n", name, "link", "set", "lo", "up");
    await ip("-n", name, "link", "set", peerIf, "up");
  } catch (err) {
    await close();
    throw err;
  }
  return { name, hostAddr, peerAddr, close };
}
