/**
 * The speaker as a subprocess inside a network namespace (`netns_driver.ts`), fed changes as
 * JSON lines: for interop tests against real routers.
 */
import type { KubeObject, ReadKind } from "../../cluster/types.ts";
import { spawnInNetns } from "../gobgp/netns.ts";

const DRIVER = new URL("./netns_driver.ts", import.meta.url).pathname;
const ROOT = new URL("../..", import.meta.url).pathname;

/** The speaker subprocess, fed changes as JSON lines. */
export class SpeakerProcess {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncGenerator<string>;
  /** The last 20,000 characters the process wrote to stderr (its JSON log). */
  stderr = "";

  /** Starts the driver for node `node` in namespace `ns`. */
  constructor(ns: string, node: string, args: string[] = []) {
    this.#child = spawnInNetns(ns, Deno.execPath(), {
      args: ["run", "--allow-all", DRIVER, node, "metallb-system", ...args],
      cwd: ROOT,
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    });
    this.#writer = this.#child.stdin.getWriter();
    this.#lines = readLines(this.#child.stdout);
    const stderr = this.#child.stderr;
    (async () => {
      for await (const chunk of stderr.pipeThrough(new TextDecoderStream())) {
        this.stderr = (this.stderr + chunk).slice(-20_000);
      }
    })();
  }

  /** The next JSON line the driver writes. */
  async next(): Promise<Record<string, unknown>> {
    const r = await this.#lines.next();
    if (r.done) throw new Error(`speaker process ended; stderr:\n${this.stderr}`);
    return JSON.parse(r.value);
  }

  /** Sends one command and returns the driver's answer (after the speaker settled). */
  async send(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    await this.#writer.write(new TextEncoder().encode(JSON.stringify(cmd) + "\n"));
    const reply = await this.next();
    if (!reply.ok) throw new Error(`speaker refused ${JSON.stringify(cmd)}: ${reply.error}`);
    return reply;
  }

  /** Adds or replaces an object. */
  put(obj: KubeObject): Promise<Record<string, unknown>> {
    return this.send({ put: obj });
  }

  /** Removes an object. */
  remove(kind: ReadKind, key: string): Promise<Record<string, unknown>> {
    return this.send({ remove: { kind, key } });
  }

  /** The speaker's /status (and whatever else the driver reports with it). */
  async status(): Promise<
    Record<string, unknown> & {
      sessions: Record<string, unknown>[];
      services: Record<string, unknown>[];
    }
  > {
    const reply = await this.send({ status: true });
    return reply.status as Record<string, unknown> & {
      sessions: Record<string, unknown>[];
      services: Record<string, unknown>[];
    };
  }

  /** The speaker's /status sessions. */
  async sessions(): Promise<Record<string, unknown>[]> {
    return (await this.status()).sessions;
  }

  /** SIGTERM; resolves with the exit code and how long the process took to end. */
  async terminate(): Promise<{ code: number; ms: number }> {
    const t0 = performance.now();
    this.#child.kill("SIGTERM");
    const st = await this.#child.status;
    await this.#writer.close().catch(() => {});
    return { code: st.code, ms: performance.now() - t0 };
  }

  /** Sends SIGTERM and waits for the process to end. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await this.#writer.close().catch(() => {});
    await this.#child.status;
  }
}

/** The lines of a text stream, as they complete. */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buf = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
}
