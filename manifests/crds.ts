/**
 * CustomResourceDefinitions for the `metallb.io` kinds, with OpenAPI schemas generated from
 * the zod schemas in api/schemas.ts. Kubernetes accepts only "structural" schemas, so the
 * JSON Schema zod emits is post-processed: no `$ref`, no `additionalProperties: false`
 * (unknown fields are pruned instead), a `type` on every node, unions of string and number
 * as `x-kubernetes-int-or-string`. Per-object rules MetalLB checks in its admission webhook
 * become CEL `x-kubernetes-validations`, so no webhook (and no webhook certificate) is needed.
 */
import { z } from "zod";
import { crdSpecs, METALLB_GROUP } from "../api/schemas.ts";
import {
  type CelRule,
  FIELD_EXTRAS,
  markSelectors,
  nodeAt,
  type SchemaNode,
  SPEC_RULES,
} from "./cel_rules.ts";
import type { YamlValue } from "./yaml.ts";

export type { CelRule, SchemaNode } from "./cel_rules.ts";

/** A schema zod emitted that has no structural equivalent; names the path. */
export class StructuralSchemaError extends Error {
  override name = "StructuralSchemaError";
}

// zod writes these bounds for every unbounded `.int()`; they carry no meaning for users.
const SAFE_INT_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

function isIntOrString(variants: SchemaNode[]): boolean {
  const types = variants.map((v) => v.type).sort();
  return variants.length === 2 &&
    ((types[0] === "integer" || types[0] === "number") && types[1] === "string");
}

/** Converts zod's OpenAPI 3.0 output into the structural subset Kubernetes accepts. */
export function toStructural(node: SchemaNode, path = "spec"): SchemaNode {
  if (Array.isArray(node.anyOf) || Array.isArray(node.oneOf)) {
    const variants = (node.anyOf ?? node.oneOf) as SchemaNode[];
    if (!isIntOrString(variants)) {
      throw new StructuralSchemaError(`${path}: union has no structural form`);
    }
    const out: SchemaNode = { "x-kubernetes-int-or-string": true };
    if (node.description !== undefined) out.description = node.description;
    return out;
  }
  if (node.$ref !== undefined) throw new StructuralSchemaError(`${path}: $ref is not allowed`);
  if (node.type === undefined) {
    // z.unknown() / z.any(): keep the value as written rather than pruning it.
    if (Object.keys(node).length === 0) return { "x-kubernetes-preserve-unknown-fields": true };
    throw new StructuralSchemaError(`${path}: schema node without a type`);
  }
  const out: SchemaNode = {};
  for (const [key, value] of Object.entries(node)) {
    if (value === undefined || key === "$schema" || key === "id" || key === "$id") continue;
    if ((key === "minimum" || key === "maximum") && SAFE_INT_BOUNDS.has(value as number)) continue;
    if (key === "additionalProperties") {
      if (value === false || value === true) continue;
      out[key] = toStructural(value as SchemaNode, `${path}.*`);
    } else if (key === "properties") {
      const props: SchemaNode = {};
      for (const [name, child] of Object.entries(value as Record<string, SchemaNode>)) {
        props[name] = toStructural(child, `${path}.${name}`);
      }
      out[key] = props;
    } else if (key === "items") {
      out[key] = toStructural(value as SchemaNode, `${path}[]`);
    } else if (key === "required") {
      if ((value as string[]).length > 0) out[key] = value;
    } else if (key === "const") {
      out.enum = [value as YamlValue];
    } else {
      out[key] = value;
    }
  }
  return out;
}

// Go's time.ParseDuration grammar, which both api/duration.ts and CEL's duration() follow.
const GO_DURATION = "^[+]?(0|(([0-9]+(\\.[0-9]*)?|\\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$";

const DURATION_FIELDS: Record<string, SchemaNode> = {
  holdTime: { pattern: GO_DURATION },
  keepaliveTime: { pattern: GO_DURATION },
  connectTime: { pattern: GO_DURATION },
};

function versionsOf(kind: keyof typeof crdSpecs): string[] {
  return Object.keys(crdSpecs[kind]).filter((k) => /^v\d/.test(k)).sort();
}

/** Per-object CEL rules on the whole spec, for each kind and version that has some. */
export const CEL_RULES: Record<string, Record<string, CelRule[]>> = Object.fromEntries(
  Object.entries(SPEC_RULES).map(([kind, byVersion]) => [
    kind,
    Object.fromEntries(
      versionsOf(kind as keyof typeof crdSpecs)
        .map((v) => [v, byVersion[v] ?? byVersion["*"]] as const)
        .filter(([, rules]) => rules !== undefined),
    ),
  ]),
);

/** `kubectl get` columns per kind (MetalLB's, plus age). */
const PRINTER_COLUMNS: Record<string, SchemaNode[]> = {
  IPAddressPool: [
    col("Auto Assign", "boolean", ".spec.autoAssign"),
    col("Avoid Buggy IPs", "boolean", ".spec.avoidBuggyIPs"),
    col("Addresses", "string", ".spec.addresses"),
  ],
  BGPAdvertisement: [
    col("IPAddressPools", "string", ".spec.ipAddressPools"),
    col("IPAddressPool Selectors", "string", ".spec.ipAddressPoolSelectors"),
    col("Peers", "string", ".spec.peers"),
    col("Node Selectors", "string", ".spec.nodeSelectors", 10),
  ],
  // MetalLB's columns: `ASN` is the peer's AS (what `kubectl get bgppeers` users read).
  BGPPeer: [
    col("Address", "string", ".spec.peerAddress"),
    col("ASN", "string", ".spec.peerASN"),
    col("BFD Profile", "string", ".spec.bfdProfile"),
    col("Multi Hops", "string", ".spec.ebgpMultiHop"),
  ],
  BFDProfile: [
    col("Passive Mode", "boolean", ".spec.passiveMode"),
    col("Transmit Interval", "integer", ".spec.transmitInterval"),
    col("Receive Interval", "integer", ".spec.receiveInterval"),
    col("Multiplier", "integer", ".spec.detectMultiplier"),
  ],
  L2Advertisement: [
    col("IPAddressPools", "string", ".spec.ipAddressPools"),
    col("IPAddressPool Selectors", "string", ".spec.ipAddressPoolSelectors"),
    col("Interfaces", "string", ".spec.interfaces"),
    col("Node Selectors", "string", ".spec.nodeSelectors", 10),
  ],
  ServiceBGPStatus: [
    col("Node", "string", ".status.node"),
    col("Service Name", "string", ".status.serviceName"),
    col("Service Namespace", "string", ".status.serviceNamespace"),
  ],
  ConfigurationState: [
    col("Result", "string", ".status.result"),
    col("Errors", "string", ".status.errorSummary", 10),
  ],
};

function col(name: string, type: string, jsonPath: string, priority?: number): SchemaNode {
  return { name, type, jsonPath, priority };
}

const AGE_COLUMN: SchemaNode = {
  name: "Age",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
};

const DESCRIPTIONS: Record<string, string> = {
  IPAddressPool: "A pool of addresses the controller assigns to LoadBalancer Services.",
  BGPAdvertisement: "How Service addresses from selected pools are announced over BGP.",
  BGPPeer: "A BGP router the speakers on selected nodes open sessions to.",
  Community: "Names for BGP community values, usable in BGPAdvertisements.",
  BFDProfile: "BFD settings a BGPPeer may refer to.",
  L2Advertisement: "Layer 2 announcement (accepted; layer 2 mode is not supported).",
  ServiceBGPStatus: "Which peers a node announces a Service to; written by the speaker.",
  ConfigurationState: "Whether the configuration a component read is valid.",
};

function plural(kind: string): string {
  const lower = kind.toLowerCase();
  if (lower.endsWith("y")) return `${lower.slice(0, -1)}ies`;
  return lower.endsWith("s") ? `${lower}es` : `${lower}s`;
}

function specSchema(kind: string, version: string, schema: z.ZodType): SchemaNode {
  const json = z.toJSONSchema(schema, { target: "openapi-3.0", io: "input" }) as SchemaNode;
  const spec = toStructural(json);
  markSelectors(spec);
  const extras = { ...(kind === "BGPPeer" ? DURATION_FIELDS : {}), ...FIELD_EXTRAS[kind] };
  for (const [path, extra] of Object.entries(extras)) {
    const target = nodeAt(spec, path);
    if (target) Object.assign(target, extra);
  }
  const rules = CEL_RULES[kind]?.[version];
  if (rules) spec["x-kubernetes-validations"] = rules as unknown as YamlValue;
  return spec;
}

function statusSchema(schema: z.ZodType | undefined): SchemaNode {
  if (!schema) return { type: "object" };
  return toStructural(
    z.toJSONSchema(schema, { target: "openapi-3.0", io: "input" }) as SchemaNode,
    "status",
  );
}

/** Builds the CustomResourceDefinition of one kind from api/schemas.ts `crdSpecs`. */
export function buildCrd(kind: keyof typeof crdSpecs): SchemaNode {
  const entry = crdSpecs[kind] as {
    storage: string;
    status?: z.ZodType;
    [version: string]: unknown;
  };
  const versions = Object.keys(entry).filter((k) => /^v\d/.test(k)).sort();
  const status = statusSchema(entry.status);
  const columns = [...(PRINTER_COLUMNS[kind] ?? []), AGE_COLUMN];
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural(kind)}.${METALLB_GROUP}` },
    spec: {
      group: METALLB_GROUP,
      names: {
        kind,
        listKind: `${kind}List`,
        plural: plural(kind),
        singular: kind.toLowerCase(),
      },
      scope: "Namespaced",
      // BGPPeer v1beta1 fields are a subset of v1beta2's with the same names and meanings
      // (nodeSelectors has the same JSON shape in both), so the API server converts by
      // rewriting apiVersion alone; fields a v1beta1 reader does not know are pruned.
      conversion: { strategy: "None" },
      versions: versions.map((version) => {
        const spec = specSchema(kind, version, entry[version] as z.ZodType);
        const needsSpec = Array.isArray(spec.required) && spec.required.length > 0;
        return {
          name: version,
          served: true,
          storage: version === entry.storage,
          deprecated: versions.length > 1 && version !== entry.storage ? true : undefined,
          deprecationWarning: versions.length > 1 && version !== entry.storage
            ? `${METALLB_GROUP}/${version} ${kind} is deprecated; use ${METALLB_GROUP}/${entry.storage}`
            : undefined,
          schema: {
            openAPIV3Schema: {
              description: DESCRIPTIONS[kind],
              type: "object",
              properties: {
                apiVersion: { type: "string" },
                kind: { type: "string" },
                metadata: { type: "object" },
                spec,
                status,
              },
              required: needsSpec ? ["spec"] : undefined,
            },
          },
          subresources: { status: {} },
          additionalPrinterColumns: columns,
        };
      }),
    },
  };
}

/** The order CRDs appear in the manifest (MetalLB's kinds first, status kinds last). */
export const CRD_KINDS = [
  "BFDProfile",
  "BGPAdvertisement",
  "BGPPeer",
  "Community",
  "IPAddressPool",
  "L2Advertisement",
  "ServiceBGPStatus",
  "ConfigurationState",
] as const satisfies readonly (keyof typeof crdSpecs)[];

/** Every CRD, in manifest order. */
export function buildCrds(): SchemaNode[] {
  return CRD_KINDS.map((kind) => buildCrd(kind));
}
