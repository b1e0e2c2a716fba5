/** The parsed view of a Node. */
import type { KubeObject } from "./kube_object.ts";
import { issuesToErrors } from "./config.ts";
import { nodeSchema } from "./schemas.ts";
import type { ParseResult } from "./view_parts.ts";

/** The Node fields ferrolb uses. */
export interface NodeView {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** Condition `NetworkUnavailable` is `True`. */
  networkUnavailable: boolean;
  addresses: readonly { type: string; address: string }[];
}

/** Parses a Node object. */
export function parseNode(obj: KubeObject): ParseResult<NodeView> {
  const r = nodeSchema.safeParse(obj);
  if (!r.success) return { ok: false, errors: issuesToErrors(obj, r.error.issues) };
  const conditions = r.data.status?.conditions ?? [];
  return {
    ok: true,
    value: {
      name: r.data.metadata.name,
      labels: r.data.metadata.labels ?? {},
      networkUnavailable: conditions.some((c) =>
        c.type === "NetworkUnavailable" && c.status === "True"
      ),
      addresses: r.data.status?.addresses ?? [],
    },
  };
}
