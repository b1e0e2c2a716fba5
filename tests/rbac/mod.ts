/**
 * Least-privilege check of the install manifest's RBAC: given the API calls each service
 * account made (recorded by the fake API server during scenario tests) and the committed
 * Roles, ClusterRoles and bindings, reports calls Kubernetes would forbid and permissions
 * no call used. Authorization follows Kubernetes RBAC: a ClusterRoleBinding grants its
 * ClusterRole everywhere; a RoleBinding grants its Role or ClusterRole in its namespace only.
 */

/** One recorded request, as the API server's authorizer sees it. */
export interface ApiCall {
  /** `namespace/name` of the ServiceAccount that made the call. */
  serviceAccount: string;
  verb: string;
  /** "" for the core group. */
  apiGroup: string;
  resource: string;
  subresource?: string;
  /** Unset for cluster-scoped resources and for lists/watches across all namespaces. */
  namespace?: string;
  /** Object name, when the request names one (get, update, patch, delete). */
  name?: string;
}

/** One permission (a single group, resource and verb) granted by a role's rule. */
export interface Permission {
  /** `ClusterRole/name` or `Role/namespace/name`. */
  role: string;
  rule: number;
  apiGroup: string;
  resource: string;
  verb: string;
}

/** A call no binding allows, with the service account's reach for context. */
export interface DeniedCall {
  call: ApiCall;
  reason: string;
}

/** What {@linkcode checkRbac} found. */
export interface RbacReport {
  denied: DeniedCall[];
  unused: Permission[];
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

interface Grant {
  roleKey: string;
  rules: Rule[];
  /** Namespace the grant is limited to; undefined for cluster-wide grants. */
  namespace?: string;
  binding: string;
}

type Obj = {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  rules?: Rule[];
  roleRef?: { kind?: string; name?: string };
  subjects?: { kind?: string; name?: string; namespace?: string }[];
};

function roleKey(kind: string, name: string, namespace?: string): string {
  return kind === "ClusterRole" ? `ClusterRole/${name}` : `Role/${namespace}/${name}`;
}

function subjectMatches(
  subject: { kind?: string; name?: string; namespace?: string },
  serviceAccount: string,
  bindingNamespace?: string,
): boolean {
  const [ns, name] = serviceAccount.split("/");
  if (subject.kind === "ServiceAccount") {
    // A RoleBinding subject without a namespace means the binding's own namespace.
    return subject.name === name && (subject.namespace ?? bindingNamespace) === ns;
  }
  if (subject.kind === "Group") {
    return subject.name === "system:serviceaccounts" ||
      subject.name === `system:serviceaccounts:${ns}` || subject.name === "system:authenticated";
  }
  if (subject.kind === "User") return subject.name === `system:serviceaccount:${ns}:${name}`;
  return false;
}

/** `resource/subresource` as RBAC rules name it. */
function callResource(call: ApiCall): string {
  return call.subresource ? `${call.resource}/${call.subresource}` : call.resource;
}

function resourceMatches(pattern: string, call: ApiCall): boolean {
  if (pattern === "*") return true;
  const full = callResource(call);
  if (pattern === full) return true;
  const [res, sub] = pattern.split("/");
  if (sub === undefined) return false;
  return (res === "*" && sub === (call.subresource ?? "")) ||
    (sub === "*" && res === call.resource && call.subresource !== undefined);
}

function ruleAllows(rule: Rule, call: ApiCall): boolean {
  if (!rule.apiGroups.includes("*") && !rule.apiGroups.includes(call.apiGroup)) return false;
  if (!rule.resources.some((r) => resourceMatches(r, call))) return false;
  if (!rule.verbs.includes("*") && !rule.verbs.includes(call.verb)) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0) {
    return call.name !== undefined && rule.resourceNames.includes(call.name);
  }
  return true;
}

function collect(docs: readonly unknown[]) {
  const roles = new Map<string, Rule[]>();
  const bindings: Obj[] = [];
  for (const raw of docs) {
    const doc = raw as Obj;
    if (doc?.kind === "ClusterRole" || doc?.kind === "Role") {
      roles.set(
        roleKey(doc.kind, doc.metadata?.name ?? "", doc.metadata?.namespace),
        doc.rules ?? [],
      );
    } else if (doc?.kind === "ClusterRoleBinding" || doc?.kind === "RoleBinding") {
      bindings.push(doc);
    }
  }
  return { roles, bindings };
}

function grantsFor(
  serviceAccount: string,
  roles: Map<string, Rule[]>,
  bindings: Obj[],
): Grant[] {
  const out: Grant[] = [];
  for (const b of bindings) {
    const ns = b.kind === "RoleBinding" ? b.metadata?.namespace : undefined;
    if (!(b.subjects ?? []).some((s) => subjectMatches(s, serviceAccount, ns))) continue;
    const key = roleKey(b.roleRef?.kind ?? "", b.roleRef?.name ?? "", ns);
    const rules = roles.get(key);
    if (!rules) continue;
    out.push({ roleKey: key, rules, namespace: ns, binding: `${b.kind}/${b.metadata?.name}` });
  }
  return out;
}

/**
 * Checks every call against the RBAC objects among `rbacDocs` (other kinds are ignored);
 * returns the calls not allowed and the permissions no allowed call used.
 */
export function checkRbac(calls: readonly ApiCall[], rbacDocs: readonly unknown[]): RbacReport {
  const { roles, bindings } = collect(rbacDocs);
  const used = new Set<string>();
  const denied: DeniedCall[] = [];
  for (const call of calls) {
    const grants = grantsFor(call.serviceAccount, roles, bindings);
    let allowed = false;
    for (const grant of grants) {
      // A namespaced grant never covers cluster-scoped or all-namespace requests.
      if (grant.namespace !== undefined && grant.namespace !== call.namespace) continue;
      grant.rules.forEach((rule, i) => {
        if (!ruleAllows(rule, call)) return;
        allowed = true;
        // Mark the rule's own entries (which may be wildcards) that let this call through.
        for (const g of rule.apiGroups.filter((g) => g === "*" || g === call.apiGroup)) {
          for (const r of rule.resources.filter((r) => resourceMatches(r, call))) {
            for (const v of rule.verbs.filter((v) => v === "*" || v === call.verb)) {
              used.add(`${grant.roleKey}#${i}#${g}#${r}#${v}`);
            }
          }
        }
      });
    }
    if (!allowed) {
      const reach = grants.map((g) => `${g.roleKey}${g.namespace ? ` in ${g.namespace}` : ""}`);
      denied.push({
        call,
        reason: grants.length === 0
          ? `no binding grants ${call.serviceAccount} anything`
          : `not allowed by ${reach.join(", ")}`,
      });
    }
  }
  const unused: Permission[] = [];
  for (const [key, rules] of roles) {
    rules.forEach((rule, i) => {
      for (const apiGroup of rule.apiGroups) {
        for (const resource of rule.resources) {
          for (const verb of rule.verbs) {
            if (!used.has(`${key}#${i}#${apiGroup}#${resource}#${verb}`)) {
              unused.push({ role: key, rule: i, apiGroup, resource, verb });
            }
          }
        }
      }
    });
  }
  return { denied, unused };
}

/** The fields of a fake API server request-log entry this module reads. */
export interface LoggedRequest {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/**
 * Turns the fake API server's `requestLog` of one component into calls made as
 * `serviceAccount` (`namespace/name`). Discovery requests are left out: every authenticated
 * client may make them (the built-in `system:discovery` role).
 */
export function callsFromRequestLog(
  log: readonly LoggedRequest[],
  serviceAccount: string,
): ApiCall[] {
  return log.filter((r) => r.verb !== "discovery" && r.resource !== "").map((r) => ({
    serviceAccount,
    verb: r.verb,
    apiGroup: r.group,
    resource: r.resource,
    subresource: r.subresource,
    namespace: r.namespace,
    // list, watch and create name no object, so RBAC resourceNames cannot apply to them.
    name: r.verb === "list" || r.verb === "watch" || r.verb === "create" ? undefined : r.name,
  }));
}
