import assert from "node:assert/strict";
import { type ApiCall, callsFromRequestLog, checkRbac } from "./mod.ts";

const NS = "metallb-system";

function sa(name: string) {
  return `${NS}/${name}`;
}

const docs = [
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: "lb:controller" },
    rules: [
      { apiGroups: [""], resources: ["services"], verbs: ["list", "watch"] },
      { apiGroups: [""], resources: ["services/status"], verbs: ["update"] },
    ],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name: "controller", namespace: NS },
    rules: [
      { apiGroups: [""], resources: ["secrets"], verbs: ["get"] },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        verbs: ["get", "update"],
        resourceNames: ["ferrolb-controller"],
      },
    ],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: "lb:controller" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "lb:controller" },
    subjects: [{ kind: "ServiceAccount", name: "controller", namespace: NS }],
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: "controller", namespace: NS },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "controller" },
    subjects: [{ kind: "ServiceAccount", name: "controller" }],
  },
  { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "controller", namespace: NS } },
];

function call(c: Partial<ApiCall> & Pick<ApiCall, "verb" | "resource">): ApiCall {
  return { serviceAccount: sa("controller"), apiGroup: "", ...c };
}

const allUsed: ApiCall[] = [
  call({ verb: "list", resource: "services" }),
  call({ verb: "watch", resource: "services" }),
  call({ verb: "update", resource: "services", subresource: "status", namespace: "default" }),
  call({ verb: "get", resource: "secrets", namespace: NS, name: "bgp-pass" }),
  call({
    verb: "get",
    apiGroup: "coordination.k8s.io",
    resource: "leases",
    namespace: NS,
    name: "ferrolb-controller",
  }),
  call({
    verb: "update",
    apiGroup: "coordination.k8s.io",
    resource: "leases",
    namespace: NS,
    name: "ferrolb-controller",
  }),
];

Deno.test("checkRbac: a log that uses every permission is clean", () => {
  assert.deepEqual(checkRbac(allUsed, docs), { denied: [], unused: [] });
});

Deno.test("checkRbac: unused permissions are listed one verb at a time", () => {
  const report = checkRbac(allUsed.filter((c) => c.verb !== "watch"), docs);
  assert.deepEqual(report.denied, []);
  assert.deepEqual(report.unused, [
    {
      role: "ClusterRole/lb:controller",
      rule: 0,
      apiGroup: "",
      resource: "services",
      verb: "watch",
    },
  ]);
});

Deno.test("checkRbac: a namespaced Role does not reach other namespaces or cluster scope", () => {
  const report = checkRbac([
    ...allUsed,
    call({ verb: "get", resource: "secrets", namespace: "default", name: "x" }),
    call({ verb: "list", resource: "secrets" }),
  ], docs);
  assert.equal(report.denied.length, 2);
  assert.deepEqual(report.denied.map((d) => d.call.namespace), ["default", undefined]);
  assert.match(report.denied[0].reason, /not allowed by .*Role\/metallb-system\/controller/);
});

Deno.test("checkRbac: subresources, groups, verbs and resourceNames must all match", () => {
  const report = checkRbac([
    ...allUsed,
    // patch is not update; services (main resource) is not services/status.
    call({ verb: "patch", resource: "services", subresource: "status", namespace: "default" }),
    call({ verb: "update", resource: "services", namespace: "default" }),
    // Right resource, wrong group.
    call({ verb: "list", apiGroup: "discovery.k8s.io", resource: "services" }),
    // resourceNames: another lease name, and a create (which has no name).
    call({
      verb: "get",
      apiGroup: "coordination.k8s.io",
      resource: "leases",
      namespace: NS,
      name: "other",
    }),
  ], docs);
  assert.equal(report.denied.length, 4);
  assert.deepEqual(report.unused, []);
});

Deno.test("checkRbac: another service account gets nothing from these bindings", () => {
  const report = checkRbac([{ ...allUsed[0], serviceAccount: sa("speaker") }], docs);
  assert.equal(report.denied.length, 1);
  assert.match(report.denied[0].reason, /no binding grants metallb-system\/speaker/);
  // The controller made no call, so every permission shows as unused.
  assert.equal(report.unused.length, 6);
});

Deno.test("checkRbac: a Role without a binding grants nothing and all of it is unused", () => {
  const unbound = [...docs.filter((d) => d.kind !== "RoleBinding")];
  const report = checkRbac(allUsed, unbound);
  assert.equal(report.denied.length, 3);
  assert.deepEqual(
    report.unused.map((p) => `${p.role} ${p.resource} ${p.verb}`),
    [
      "Role/metallb-system/controller secrets get",
      "Role/metallb-system/controller leases get",
      "Role/metallb-system/controller leases update",
    ],
  );
});

Deno.test("checkRbac: wildcard rules allow calls and count as used through the wildcard", () => {
  const wide = [
    {
      kind: "ClusterRole",
      metadata: { name: "all" },
      rules: [{ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }],
    },
    {
      kind: "ClusterRoleBinding",
      metadata: { name: "all" },
      roleRef: { kind: "ClusterRole", name: "all" },
      subjects: [{ kind: "Group", name: `system:serviceaccounts:${NS}` }],
    },
  ];
  const report = checkRbac([call({ verb: "delete", resource: "nodes", name: "n1" })], wide);
  assert.deepEqual(report, { denied: [], unused: [] });
});

Deno.test("callsFromRequestLog: drops discovery and unnamed verbs' names", () => {
  const calls = callsFromRequestLog([
    { verb: "discovery", group: "", resource: "" },
    { verb: "list", group: "", resource: "services", name: "ignored" },
    {
      verb: "update",
      group: "",
      resource: "services",
      subresource: "status",
      name: "web",
      namespace: "default",
    },
  ], sa("controller"));
  assert.deepEqual(calls, [
    {
      serviceAccount: sa("controller"),
      verb: "list",
      apiGroup: "",
      resource: "services",
      subresource: undefined,
      namespace: undefined,
      name: undefined,
    },
    {
      serviceAccount: sa("controller"),
      verb: "update",
      apiGroup: "",
      resource: "services",
      subresource: "status",
      namespace: "default",
      name: "web",
    },
  ]);
});
