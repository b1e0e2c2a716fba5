/**
 * Network namespace pairs for the soaks. Named `fsk-<pid>-…`, apart from the GoBGP harness's
 * `flb-<pid>-…`, because that harness's stale-namespace cleanup cannot see other processes
 * under the test permissions (see the soak report) and would tear down a live soak's lab.
 */
import type { NetnsPair } from "../gobgp/mod.ts";

async function run(
  cmd: string,
  args: string[],
): Promise<{ code: number; err: string; out: string }> {
  try {
    const o = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const dec = new TextDecoder();
    return { code: o.code, out: dec.decode(o.stdout), err: dec.decode(o.stderr) };
  } catch (e) {
    return { code: 127, out: "", err: String(e) };
  }
}

async function ip(...args: string[]): Promise<void> {
  const r = await run("ip", args);
  if (r.code !== 0) throw new Error(`ip ${args.join(" ")} exited ${r.code}: ${r.err.trim()}`);
}

/** Whether process `pid` exists, asked of `ps` (Deno cannot stat another /proc entry). */
export async function processAlive(pid: number): Promise<boolean> {
  return (await run("ps", ["-p", String(pid)])).code === 0;
}

async function killAllIn(ns: string): Promise<void> {
  const r = await run("ip", ["netns", "pids", ns]);
  for (const p of r.out.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
    const pid = Number(p);
    if (pid <= 1) continue;
    try {
      Deno.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Deletes soak namespaces left by soak processes that no longer run. */
export async function cleanupSoakNetns(): Promise<void> {
  const r = await run("ip", ["netns", "list"]);
  for (const line of r.out.split("\n")) {
    const name = line.trim().split(/\s+/)[0] ?? "";
    const m = /^fsk-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === Deno.pid || await processAlive(Number(m[1]))) continue;
    await killAllIn(name);
    await run("ip", ["netns", "del", name]);
  }
}

/** Two namespaces joined by a veth pair, 192.0.2.1/30 (a) and 192.0.2.2/30 (b). */
export async function createSoakNetnsPair(): Promise<NetnsPair> {
  const tag = crypto.getRandomValues(new Uint32Array(1))[0].toString(36).slice(0, 5);
  const nameA = `fsk-${Deno.pid}-${tag}a`;
  const nameB = `fsk-${Deno.pid}-${tag}b`;
  const ifA = `fsk${tag}a`;
  const ifB = `fsk${tag}b`;
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
    for (
      const [ns, ifname, v4, v6] of [
        [nameA, ifA, "192.0.2.1", "2001:db8::1"],
        [nameB, ifB, "192.0.2.2", "2001:db8::2"],
      ]
    ) {
      await ip("-n", ns, "addr", "add", `${v4}/30`, "dev", ifname);
      await ip("-n", ns, "addr", "add", `${v6}/64`, "dev", ifname, "nodad");
      await ip("-n", ns, "link", "set", "lo", "up");
      await ip("-n", ns, "link", "set", ifname, "up");
    }
  } catch (e) {
    await close();
    throw e;
  }
  return {
    a: { name: nameA, addr4: "192.0.2.1", addr6: "2001:db8::1", ifname: ifA },
    b: { name: nameB, addr4: "192.0.2.2", addr6: "2001:db8::2", ifname: ifB },
    close,
  };
}
