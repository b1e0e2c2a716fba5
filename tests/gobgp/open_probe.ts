/**
 * `deno run --allow-net tests/gobgp/open_probe.ts HOST [PORT]`: connects to a BGP speaker,
 * reads its first message and prints it as JSON ({"type":1,"version":4,"asn":…,"bgpId":…}).
 * Exits 1 when the first message is not a well-formed OPEN. Run inside a namespace with
 * `ip netns exec`, it shows a Deno process there reaching a gobgpd in the other namespace.
 */

/** What the probe learned from the first message. */
export interface OpenSummary {
  type: number;
  length: number;
  version?: number;
  asn?: number;
  holdTime?: number;
  bgpId?: string;
}

/** Parses the 19-byte BGP header (and an OPEN body) of `buf`; errors name the bad field. */
export function parseFirstMessage(buf: Uint8Array): OpenSummary | Error {
  if (buf.length < 19) return new Error(`short read: ${buf.length} bytes`);
  if (!buf.subarray(0, 16).every((b) => b === 0xff)) return new Error("marker is not 16 x 0xff");
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const length = view.getUint16(16);
  const type = buf[18];
  if (type !== 1) return { type, length };
  if (buf.length < 29) return new Error(`OPEN truncated: ${buf.length} bytes`);
  return {
    type,
    length,
    version: buf[19],
    asn: view.getUint16(20),
    holdTime: view.getUint16(22),
    bgpId: Array.from(buf.subarray(24, 28)).join("."),
  };
}

async function readAtLeast(conn: Deno.Conn, n: number, timeoutMs: number): Promise<Uint8Array> {
  const out: number[] = [];
  const buf = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), timeoutMs);
  try {
    while (out.length < n) {
      const got = await conn.read(buf);
      if (got === null) break;
      out.push(...buf.subarray(0, got));
      // Once the header is in, read exactly the announced message.
      if (out.length >= 18) n = Math.max(n, (out[16] << 8) | out[17]);
    }
  } catch {
    // closed by the timer: return what arrived
  } finally {
    clearTimeout(timer);
  }
  return new Uint8Array(out);
}

async function main(args: string[]): Promise<number> {
  const hostname = args[0];
  const port = Number(args[1] ?? 179);
  if (!hostname) {
    console.error("usage: open_probe.ts HOST [PORT]");
    return 2;
  }
  const conn = await Deno.connect({ hostname, port });
  const local = conn.localAddr as Deno.NetAddr;
  const buf = await readAtLeast(conn, 19, 5_000);
  try {
    conn.close();
  } catch {
    // already closed by the timeout
  }
  const msg = parseFirstMessage(buf);
  if (msg instanceof Error) {
    console.error(JSON.stringify({ error: msg.message, from: local.hostname }));
    return 1;
  }
  console.log(JSON.stringify({ ...msg, from: local.hostname }));
  return msg.type === 1 ? 0 : 1;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
