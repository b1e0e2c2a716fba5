/**
 * Network namespaces for GoBGP interop: GoBGP refuses 127/8 next hops, so each BGP end runs in
 * its own namespace joined by a veth pair with TEST-NET addresses.
 */

/** One end of a namespace pair. */
export interface NetnsEnd {
  /** Namespace name, usable with `ip netns exec`. */
  name: string;
  /** IPv4 address of the veth inside this namespace (no prefix length). */
  addr4: string;
  /** IPv6 address of the veth inside this namespace (no prefix length). */
  addr6: string;
  /** veth interface name inside this namespace. */
  ifname: string;
}

/** Two namespaces joined by a veth pair; `close` deletes both. */
export interface NetnsPair {
  a: NetnsEnd;
  b: NetnsEnd;
  close(): Promise<void>;
}

/** Options for `createNetnsPair`. */
export interface NetnsPairOptions {
  /** IPv4 addresses of a and b inside one /30 of TEST-NET (default 192.0.2.1 and 192.0.2.2). */
  addr4?: [string, string];
  /** IPv4 prefix length (default 30). */
  prefix4?: number;
  /** IPv6 addresses of a and b (default 2001:db8::1 and 2001:db8::2, /64). */
  addr6?: [string, string];
}

/** Error from an `ip` command, with the command line and its stderr. */
export class NetnsError extends Error {
  constructor(readonly command: string[], readonly code: number, readonly stderr: string) {
    super(`${command.join(" ")} exited ${code}: ${stderr.trim()}`);
    this.name = "NetnsError";
  }
}

const PREFIX = "flb";
let counter = 0;

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; out: string; err: string }> {
  try {
    const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const dec = new TextDecoder();
    return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
  } catch (e) {
    return { code: 127, out: "", err: String(e) };
  }
}

async function ip(...args: string[]): Promise<string> {
  const r = await run("ip", args);
  if (r.code !== 0) throw new NetnsError(["ip", ...args], r.code, r.err);
  return r.out;
}

/** Tells whether namespaces can be made here (root, `ip netns`, veth), with the reason if not. */
export async function netnsAvailable(): Promise<{ ok: boolean; reason?: string }> {
  if (Deno.build.os !== "linux") return { ok: false, reason: "network namespaces need Linux" };
  if (Deno.uid() !== 0) return { ok: false, reason: "network namespaces need root" };
  const list = await run("ip", ["netns", "list"]);
  if (list.code !== 0) return { ok: false, reason: `\`ip netns\` unavailable: ${list.err.trim()}` };
  const name = `${PREFIX}-${Deno.pid}-probe${counter++}`;
  const add = await run("ip", ["netns", "add", name]);
  if (add.code !== 0) return { ok: false, reason: `cannot add a namespace: ${add.err.trim()}` };
  await run("ip", ["netns", "del", name]);
  return { ok: true };
}

/** Whether a process exists. Asks `ps`: Deno refuses to stat another process's /proc entry
 * without --allow-all, which would make every live run look dead. */
async function pidAlive(pid: number): Promise<boolean> {
  return (await run("ps", ["-p", String(pid)])).code === 0;
}

/**
 * Deletes `flb-<pid>-*` namespaces whose creating process is gone, killing what still runs in
 * them (only harness-made processes live there), so a crashed run leaves nothing behind.
 */
export async function cleanupStaleNetns(): Promise<string[]> {
  const r = await run("ip", ["netns", "list"]);
  if (r.code !== 0) return [];
  const removed: string[] = [];
  for (const line of r.out.split("\n")) {
    const name = line.trim().split(/\s+/)[0];
    const m = /^flb-(\d+)-/.exec(name ?? "");
    if (!m || Number(m[1]) === Deno.pid || await pidAlive(Number(m[1]))) continue;
    await killAllIn(name);
    if ((await run("ip", ["netns", "del", name])).code === 0) removed.push(name);
  }
  return removed;
}

async function killAllIn(ns: string): Promise<void> {
  const pids = await run("ip", ["netns", "pids", ns]);
  for (const p of pids.out.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
    if (Number(p) <= 1) continue; // never signal init or, through -1, every process
    try {
      Deno.kill(Number(p), "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * Creates namespaces `flb-<pid>-<tag>a` and `…b`, a veth pair between them with IPv4 and IPv6
 * TEST-NET addresses, and brings lo and the veth up in both.
 */
export async function createNetnsPair(options: NetnsPairOptions = {}): Promise<NetnsPair> {
  const n = counter++;
  const [a4, b4] = options.addr4 ?? ["192.0.2.1", "192.0.2.2"];
  const [a6, b6] = options.addr6 ?? ["2001:db8::1", "2001:db8::2"];
  const len4 = options.prefix4 ?? 30;
  // Test modules may share a pid (parallel workers), so a random tag keeps names apart.
  const tag = `${crypto.getRandomValues(new Uint32Array(1))[0].toString(36).slice(0, 5)}${n}`;
  const nameA = `${PREFIX}-${Deno.pid}-${tag}a`;
  const nameB = `${PREFIX}-${Deno.pid}-${tag}b`;
  // veth names are limited to 15 bytes and live in the root namespace until moved.
  const ifA = `flb${tag}a`;
  const ifB = `flb${tag}b`;
  const created: string[] = [];
  const close = async () => {
    for (const ns of created) {
      await killAllIn(ns);
      await run("ip", ["netns", "del", ns]);
    }
    created.length = 0;
    await run("ip", ["link", "del", ifA]);
  };
  try {
    await ip("netns", "add", nameA);
    created.push(nameA);
    await ip("netns", "add", nameB);
    created.push(nameB);
    await ip("link", "add", ifA, "type", "veth", "peer", "name", ifB);
    await ip("link", "set", ifA, "netns", nameA);
    await ip("link", "set", ifB, "netns", nameB);
    for (const [ns, ifname, v4, v6] of [[nameA, ifA, a4, a6], [nameB, ifB, b4, b6]]) {
      await ip("-n", ns, "addr", "add", `${v4}/${len4}`, "dev", ifname);
      await ip("-n", ns, "addr", "add", `${v6}/64`, "dev", ifname, "nodad");
      await ip("-n", ns, "link", "set", "lo", "up");
      await ip("-n", ns, "link", "set", ifname, "up");
    }
  } catch (e) {
    await close();
    throw e;
  }
  return {
    a: { name: nameA, addr4: a4, addr6: a6, ifname: ifA },
    b: { name: nameB, addr4: b4, addr6: b6, ifname: ifB },
    close,
  };
}

/** Options for `spawnInNetns`: those of `Deno.Command` except args. */
export type SpawnInNetnsOptions = Omit<Deno.CommandOptions, "args">;

/**
 * Spawns `cmd args` inside namespace `ns` through `ip netns exec` (which execs, so the child's
 * pid is the command's own and signals reach it directly).
 */
export function spawnInNetns(
  ns: string,
  cmd: string,
  options: SpawnInNetnsOptions & { args?: string[] } = {},
): Deno.ChildProcess {
  const { args = [], ...rest } = options;
  return new Deno.Command("ip", { ...rest, args: ["netns", "exec", ns, cmd, ...args] }).spawn();
}

/** Runs `cmd args` to completion inside namespace `ns` (or here when ns is undefined). */
export async function runInNetns(
  ns: string | undefined,
  cmd: string,
  options: { args?: string[]; stdin?: Uint8Array } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const args = options.args ?? [];
  const [bin, full] = ns === undefined ? [cmd, args] : ["ip", ["netns", "exec", ns, cmd, ...args]];
  const child = new Deno.Command(bin, {
    args: full,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin) {
    const w = child.stdin.getWriter();
    await w.write(options.stdin);
    await w.close();
  }
  const o = await child.output();
  const dec = new TextDecoder();
  return { code: o.code, stdout: dec.decode(o.stdout), stderr: dec.decode(o.stderr) };
}
