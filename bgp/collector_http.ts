/** The collector's JSON looking glass: GET /routes and GET /peers. */
import type { NetAddr } from "./transport.ts";
import { parseHostPort } from "./transport.ts";
import type { CollectorPeer, PeerRoutes } from "./collector_types.ts";

/** What the looking glass shows. */
export interface LookingGlassSource {
  routes(): PeerRoutes[];
  peers(): CollectorPeer[];
}

/** Serves `source` on "HOST:PORT" (port 0 picks one); `addr` is where it listens. */
export function serveLookingGlass(
  hostPort: string,
  source: LookingGlassSource,
): { server: Deno.HttpServer<Deno.NetAddr>; addr: NetAddr } {
  const h = parseHostPort(hostPort);
  const server = Deno.serve({ hostname: h.hostname, port: h.port, onListen: () => {} }, (req) => {
    const url = new URL(req.url);
    if (req.method !== "GET") return new Response("method not allowed\n", { status: 405 });
    if (url.pathname === "/routes") return Response.json(source.routes());
    if (url.pathname === "/peers") return Response.json(source.peers());
    return new Response("not found: try /routes or /peers\n", { status: 404 });
  });
  return { server, addr: { hostname: server.addr.hostname, port: server.addr.port } };
}
