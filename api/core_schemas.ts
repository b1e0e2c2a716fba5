/**
 * zod schemas for the parts of core Kubernetes objects ferrolb reads (Service,
 * EndpointSlice, Node, Namespace, Secret) and the object metadata every kind shares.
 */
import { z } from "zod";

/** `metadata` (the subset ferrolb reads). */
export const objectMeta = z.object({
  name: z.string().min(1, "must not be empty"),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
});

/** `Service` (core/v1), the fields ferrolb reads. */
export const serviceSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Service"),
  metadata: objectMeta,
  spec: z.object({
    type: z.string().default("ClusterIP"),
    loadBalancerClass: z.string().optional(),
    loadBalancerIP: z.string().optional(),
    ipFamilies: z.array(z.enum(["IPv4", "IPv6"])).optional(),
    ipFamilyPolicy: z.enum(["SingleStack", "PreferDualStack", "RequireDualStack"]).optional(),
    clusterIP: z.string().optional(),
    clusterIPs: z.array(z.string()).optional(),
    externalTrafficPolicy: z.enum(["Cluster", "Local"]).optional(),
    selector: z.record(z.string(), z.string()).optional(),
    ports: z.array(z.object({
      name: z.string().optional(),
      protocol: z.enum(["TCP", "UDP", "SCTP"]).default("TCP"),
      port: z.number().int().min(1, "must be between 1 and 65535")
        .max(65535, "must be between 1 and 65535"),
      targetPort: z.union([z.number(), z.string()]).optional(),
      nodePort: z.number().optional(),
    })).optional(),
  }).default({ type: "ClusterIP" }),
  status: z.object({
    loadBalancer: z.object({
      ingress: z.array(z.object({
        ip: z.string().optional(),
        hostname: z.string().optional(),
        ipMode: z.string().optional(),
      })).optional(),
    }).optional(),
  }).optional(),
});

/** `EndpointSlice` (discovery.k8s.io/v1), the fields ferrolb reads. */
export const endpointSliceSchema = z.object({
  apiVersion: z.literal("discovery.k8s.io/v1"),
  kind: z.literal("EndpointSlice"),
  metadata: objectMeta,
  addressType: z.string().optional(),
  endpoints: z.array(z.object({
    addresses: z.array(z.string()),
    conditions: z.object({
      ready: z.boolean().optional(),
      serving: z.boolean().optional(),
      terminating: z.boolean().optional(),
    }).optional(),
    nodeName: z.string().optional(),
  })).nullish(),
  ports: z.array(z.object({
    name: z.string().optional(),
    protocol: z.string().optional(),
    port: z.number().optional(),
  })).nullish(),
});

/** `Node` (core/v1), the fields ferrolb reads. */
export const nodeSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Node"),
  metadata: objectMeta,
  status: z.object({
    conditions: z.array(z.object({ type: z.string(), status: z.string() })).optional(),
    addresses: z.array(z.object({ type: z.string(), address: z.string() })).optional(),
  }).optional(),
});

/** `Namespace` (core/v1): only labels matter. */
export const namespaceSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Namespace"),
  metadata: objectMeta,
});

/** `Secret` (core/v1): type and data (base64) or stringData (plain, manifests only). */
export const secretSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Secret"),
  metadata: objectMeta,
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
});

/** Parsed `Service` object. */
export type ServiceObject = z.infer<typeof serviceSchema>;
/** Parsed `EndpointSlice` object. */
export type EndpointSliceObject = z.infer<typeof endpointSliceSchema>;
/** Parsed `Node` object. */
export type NodeObject = z.infer<typeof nodeSchema>;
/** Parsed `Secret` object. */
export type SecretObject = z.infer<typeof secretSchema>;
