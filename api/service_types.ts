/** The parsed view of a Service: the fields ferrolb uses. */

/** The Service fields ferrolb uses. */
export interface ServiceView {
  namespace: string;
  name: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  type: string;
  loadBalancerClass?: string;
  loadBalancerIP?: string;
  ipFamilies: readonly ("IPv4" | "IPv6")[];
  ipFamilyPolicy?: "SingleStack" | "PreferDualStack" | "RequireDualStack";
  clusterIPs: readonly string[];
  /** `Cluster` when unset, as Kubernetes defaults it. */
  externalTrafficPolicy: "Cluster" | "Local";
  selector: Readonly<Record<string, string>>;
  ports: readonly { protocol: "TCP" | "UDP" | "SCTP"; port: number; name?: string }[];
  /** From `status.loadBalancer.ingress[].ip`. */
  ingressIPs: readonly string[];
}
