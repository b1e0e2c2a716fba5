/**
 * A speaker process for tests that must run it elsewhere (inside a network namespace with
 * `ip netns exec`): it builds an in-memory source and takes changes as JSON lines on stdin:
 * `{"put": KubeObject}`, `{"remove": {"kind": K, "key": "ns/name"}}`, `{"status": true}`,
 * `{"start": true}`. It answers each line with one JSON line on stdout once the speaker has
 * settled, and sends Cease to its peers on SIGTERM or when stdin closes.
 *
 * With `--defer-start` the speaker starts only at `{"start": true}`, on the objects put so
 * far, as it would on a synced cluster cache after a restart (its first sessions then carry
 * the graceful-restart R bit).
 *
 * Usage: deno run -A tests/speaker/netns_driver.ts NODE_NAME [NAMESPACE] [--weighted-ecmp]
 *   [--defer-start] [--graceful-shutdown-ms=N]
 */
import { createLogger } from "../../api/log.ts";
import { createDiscardWriter, createMemorySource } from "../../cluster/memory_source.ts";
import type { KubeObject, ReadKind } from "../../cluster/types.ts";
import { createSpeaker } from "../../speaker/speaker.ts";

async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  if (buf) yield buf;
}

async function main(args: string[]): Promise<number> {
  const positional = args.filter((a) => !a.startsWith("--"));
  const nodeName = positional[0];
  if (!nodeName) {
    console.error("usage: netns_driver.ts NODE_NAME [NAMESPACE] [--weighted-ecmp]");
    return 2;
  }
  const source = createMemorySource();
  const speaker = createSpeaker(source, createDiscardWriter(), {
    nodeName,
    namespace: positional[1] ?? "metallb-system",
    logger: createLogger({ level: "info", component: "netns-driver" }),
    weightedEcmp: args.includes("--weighted-ecmp"),
    defaultRouterId: "192.0.2.1",
    gracefulShutdownMs: Number(
      args.find((a) => a.startsWith("--graceful-shutdown-ms="))?.split("=")[1] ?? 0,
    ),
  });
  let started = false;
  if (!args.includes("--defer-start")) {
    await speaker.start();
    started = true;
  }
  const stop = async () => {
    await speaker.stop();
    Deno.exit(0);
  };
  Deno.addSignalListener("SIGTERM", stop);
  const out = (v: unknown) => console.log(JSON.stringify(v));
  out({ ready: true });
  for await (const line of lines(Deno.stdin.readable)) {
    if (!line.trim()) continue;
    try {
      const cmd = JSON.parse(line) as {
        put?: KubeObject;
        remove?: { kind: ReadKind; key: string };
        status?: boolean;
        start?: boolean;
      };
      if (cmd.put) source.put(cmd.put);
      if (cmd.remove) source.remove(cmd.remove.kind, cmd.remove.key);
      if (cmd.start && !started) {
        await speaker.start();
        started = true;
      }
      if (started) await speaker.settled();
      out(
        cmd.status
          ? { ok: true, status: speaker.status(), config: speaker.configStatus() }
          : { ok: true },
      );
    } catch (err) {
      out({ ok: false, error: (err as Error).message });
    }
  }
  await speaker.stop();
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
