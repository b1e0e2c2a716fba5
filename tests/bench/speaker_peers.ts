/**
 * Child process of the speaker's RSS benchmark: runs N collectors on loopback so their
 * Adj-RIB-In is not counted in the speaker's resident memory. Prints their ports as one JSON
 * line and runs until stdin closes.
 */
import { startTestCollector } from "../speaker/testing.ts";

async function main(n: number): Promise<void> {
  const collectors = [];
  for (let i = 0; i < n; i++) {
    collectors.push(await startTestCollector({ asn: 64501, routerId: `10.255.0.${i + 1}` }));
  }
  console.log(JSON.stringify(collectors.map((c) => c.addr.port)));
  // Drain stdin: its end is the signal to stop.
  for await (const _ of Deno.stdin.readable) { /* wait */ }
  await Promise.all(collectors.map((c) => c.close()));
}

if (import.meta.main) await main(Number(Deno.args[0] ?? "1"));
