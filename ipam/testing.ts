/** Test helpers shared by the allocator's tests. */
import type { ServiceRequest } from "./types.ts";

/**
 * A request for Service `key` (`namespace/name`): single-stack IPv4, one TCP port, the
 * namespace taken from the key; `extra` overrides any field.
 */
export function serviceRequest(key: string, extra: Partial<ServiceRequest> = {}): ServiceRequest {
  return {
    key,
    namespace: key.split("/")[0],
    families: [4],
    policy: "SingleStack",
    ports: [{ protocol: "TCP", port: 80 }],
    backendKey: "Cluster",
    ...extra,
  };
}
