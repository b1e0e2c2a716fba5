/**
 * The non-CRD part of the install manifest: namespace, service accounts, least-privilege
 * RBAC, the controller Deployment and the speaker DaemonSet.
 */
import type { YamlValue } from "./yaml.ts";

/** A Kubernetes object as plain data. */
export type Doc = { [key: string]: YamlValue | undefined };

/** Settings of the generated install. */
export interface InstallOptions {
  /** Install namespace (where the metallb.io objects, Secrets and Leases live). */
  namespace: string;
  /** Container image of both components. */
  image: string;
  /** Version written into the `app.kubernetes.io/version` label. */
  version: string;
  /**
   * Pass `--weighted-ecmp` to the speaker (link-bandwidth communities on
   * `externalTrafficPolicy: Local` routes). Off unless asked for: routers that do not expect
   * the extended community may treat the routes differently.
   */
  weightedEcmp?: boolean;
}

/** Port of /metrics, /healthz and /readyz in both components (MetalLB's `monitoring`). */
export const ADMIN_PORT = 7472;

/** The metallb.io kinds users write and both components read. */
export const CONFIG_RESOURCES = [
  "bfdprofiles",
  "bgpadvertisements",
  "bgppeers",
  "communities",
  "ipaddresspools",
  "l2advertisements",
];

function labels(component: string, opts: InstallOptions): Doc {
  return {
    "app.kubernetes.io/name": "ferrolb",
    "app.kubernetes.io/component": component,
    "app.kubernetes.io/version": opts.version,
  };
}

function selectorLabels(component: string): Doc {
  return { "app.kubernetes.io/name": "ferrolb", "app.kubernetes.io/component": component };
}

function rule(apiGroup: string, resources: string[], verbs: string[]): Doc {
  return { apiGroups: [apiGroup], resources, verbs };
}

/** RBAC objects: what each component's code calls, and nothing more. */
export function buildRbac(opts: InstallOptions): Doc[] {
  return [
    clusterRoleDoc("controller", { opts, rules: controllerClusterRules() }),
    clusterRoleDoc("speaker", { opts, rules: speakerClusterRules() }),
    roleDoc("controller", { opts, rules: controllerRoleRules() }),
    roleDoc("speaker", { opts, rules: speakerRoleRules() }),
    clusterBindingDoc("controller", opts),
    clusterBindingDoc("speaker", opts),
    roleBindingDoc("controller", opts),
    roleBindingDoc("speaker", opts),
  ];
}

// Services and Events live in every namespace, so these need cluster scope. Service status
// and annotations are merge patches without a resourceVersion, which the API server never
// rejects with 409, so neither update nor get is needed for them. Events: create, and
// patch to count up a repeat of the same Event.
function controllerClusterRules(): Doc[] {
  return [
    rule("", ["services"], ["list", "watch", "patch"]),
    rule("", ["services/status"], ["patch"]),
    rule("", ["namespaces"], ["list", "watch"]),
    rule("", ["events"], ["create", "patch"]),
  ];
}

function speakerClusterRules(): Doc[] {
  return [
    rule("", ["services", "nodes", "namespaces"], ["list", "watch"]),
    rule("discovery.k8s.io", ["endpointslices"], ["list", "watch"]),
    rule("", ["events"], ["create", "patch"]),
  ];
}

// Configuration, Secrets and Leases: only in the install namespace. Both components read
// through list and watch caches, never a single get. ConfigurationState and
// ServiceBGPStatus are written as get, create when missing, then update of /status.
function controllerRoleRules(): Doc[] {
  return [
    rule("metallb.io", CONFIG_RESOURCES, ["list", "watch"]),
    // A BGPPeer's passwordSecret that cannot be read makes the whole configuration invalid.
    rule("", ["secrets"], ["list", "watch"]),
    rule("metallb.io", ["ipaddresspools/status"], ["patch"]),
    rule("metallb.io", ["configurationstates"], ["get", "create"]),
    rule("metallb.io", ["configurationstates/status"], ["update"]),
    rule("coordination.k8s.io", ["leases"], ["get", "create", "update"]),
    // The IP history (ConfigMap ferrolb-ip-history): read at start, created once, then
    // replaced in batches. create names no object, so only get/update can be pinned.
    rule("", ["configmaps"], ["create"]),
    { ...rule("", ["configmaps"], ["get", "update"]), resourceNames: ["ferrolb-ip-history"] },
  ];
}

function speakerRoleRules(): Doc[] {
  return [
    rule("metallb.io", CONFIG_RESOURCES, ["list", "watch"]),
    // BGPPeer passwordSecret: MetalLB requires the Secret in the install namespace too.
    rule("", ["secrets"], ["list", "watch"]),
    // Listed and watched (its own node's only) to delete leftovers after a restart; updated
    // when someone edited one by hand.
    rule("metallb.io", ["servicebgpstatuses"], [
      "list",
      "watch",
      "get",
      "create",
      "update",
      "delete",
    ]),
    rule("metallb.io", ["servicebgpstatuses/status"], ["update"]),
    rule("metallb.io", ["configurationstates"], ["get", "create"]),
    rule("metallb.io", ["configurationstates/status"], ["update"]),
  ];
}

function clusterRoleDoc(
  name: string,
  { opts, rules }: { opts: InstallOptions; rules: Doc[] },
): Doc {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: { name: `ferrolb:${name}`, labels: labels(name, opts) },
    rules,
  };
}

function roleDoc(name: string, { opts, rules }: { opts: InstallOptions; rules: Doc[] }): Doc {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name, namespace: opts.namespace, labels: labels(name, opts) },
    rules,
  };
}

function saSubjects(name: string, opts: InstallOptions): Doc[] {
  return [{ kind: "ServiceAccount", name, namespace: opts.namespace }];
}

function clusterBindingDoc(name: string, opts: InstallOptions): Doc {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: `ferrolb:${name}`, labels: labels(name, opts) },
    roleRef: {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: `ferrolb:${name}`,
    },
    subjects: saSubjects(name, opts),
  };
}

function roleBindingDoc(name: string, opts: InstallOptions): Doc {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name, namespace: opts.namespace, labels: labels(name, opts) },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
    subjects: saSubjects(name, opts),
  };
}

// Both containers: nothing but the binary runs, as a fixed non-root user, with a read-only
// root, no capabilities and the runtime's default seccomp profile.
function containerSecurity(): Doc {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    // The speaker only dials out to port 179 from an ephemeral port, which needs no
    // capability (CAP_NET_BIND_SERVICE is for binding ports below 1024; CAP_NET_RAW for raw
    // sockets, which BGP over TCP does not use). TCP MD5 (RFC 2385) would be set with
    // setsockopt(TCP_MD5SIG); Linux's tcp_v4_parse_md5_keys/tcp_v6_parse_md5_keys check no
    // capability, so the socket's owner may set it (Deno offers no setsockopt today anyway).
    capabilities: { drop: ["ALL"] },
  };
}

function podSecurity(): Doc {
  return {
    runAsNonRoot: true,
    // 65532 is the `nonroot` user of the distroless base image (see Containerfile).
    runAsUser: 65532,
    runAsGroup: 65532,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

function probes(): Doc {
  const get = (path: string) => ({ path, port: "monitoring" });
  return {
    livenessProbe: {
      httpGet: get("/healthz"),
      initialDelaySeconds: 10,
      periodSeconds: 10,
      failureThreshold: 3,
    },
    readinessProbe: {
      httpGet: get("/readyz"),
      initialDelaySeconds: 5,
      periodSeconds: 10,
      failureThreshold: 3,
    },
  };
}

function env(nodeName: boolean): Doc[] {
  const fieldRef = (fieldPath: string) => ({ valueFrom: { fieldRef: { fieldPath } } });
  return [
    // The install namespace follows wherever the manifest is applied (kustomize overlays).
    { name: "FERROLB_NAMESPACE", ...fieldRef("metadata.namespace") },
    ...(nodeName ? [{ name: "NODE_NAME", ...fieldRef("spec.nodeName") }] : []),
  ];
}

function podTemplate(component: string, args: string[], opts: InstallOptions, extra: Doc): Doc {
  return {
    metadata: {
      labels: labels(component, opts),
      annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(ADMIN_PORT) },
    },
    spec: {
      serviceAccountName: component,
      automountServiceAccountToken: true,
      securityContext: podSecurity(),
      nodeSelector: { "kubernetes.io/os": "linux" },
      ...extra,
      containers: [{
        name: component,
        image: opts.image,
        imagePullPolicy: "IfNotPresent",
        args,
        env: env(component === "speaker"),
        ports: [{ name: "monitoring", containerPort: ADMIN_PORT, protocol: "TCP" }],
        ...probes(),
        resources: { requests: { cpu: "10m", memory: "64Mi" } },
        securityContext: containerSecurity(),
        // Deno may keep a V8 code cache in the temporary directory; give it a writable
        // scratch volume rather than a writable root.
        volumeMounts: [{ name: "tmp", mountPath: "/tmp" }],
      }],
      volumes: [{ name: "tmp", emptyDir: { medium: "Memory", sizeLimit: "16Mi" } }],
    },
  };
}

/** The controller Deployment: two replicas, one active through a Lease. */
export function buildController(opts: InstallOptions): Doc {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "controller", namespace: opts.namespace, labels: labels("controller", opts) },
    spec: {
      replicas: 2,
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorLabels("controller") },
      template: podTemplate(
        "controller",
        // Probes come from the kubelet over the pod network, so the admin port must not be
        // bound to loopback (the flag's default).
        ["controller", `--admin-addr=0.0.0.0:${ADMIN_PORT}`, "--log-level=info"],
        opts,
        {},
      ),
    },
  };
}

/** The speaker DaemonSet: one per node, in the host's network namespace. */
export function buildSpeaker(opts: InstallOptions): Doc {
  return {
    apiVersion: "apps/v1",
    kind: "DaemonSet",
    metadata: { name: "speaker", namespace: opts.namespace, labels: labels("speaker", opts) },
    spec: {
      revisionHistoryLimit: 3,
      selector: { matchLabels: selectorLabels("speaker") },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 1 } },
      template: podTemplate(
        "speaker",
        [
          "speaker",
          `--admin-addr=0.0.0.0:${ADMIN_PORT}`,
          "--log-level=info",
          ...(opts.weightedEcmp ? ["--weighted-ecmp"] : []),
        ],
        opts,
        {
          // BGP sessions must leave from the node's own addresses, which peers are set up for.
          hostNetwork: true,
          dnsPolicy: "ClusterFirstWithHostNet",
          terminationGracePeriodSeconds: 10,
          tolerations: [
            {
              key: "node-role.kubernetes.io/control-plane",
              operator: "Exists",
              effect: "NoSchedule",
            },
            { key: "node-role.kubernetes.io/master", operator: "Exists", effect: "NoSchedule" },
          ],
        },
      ),
    },
  };
}

/** Namespace, service accounts, RBAC and workloads, in apply order. */
export function buildInstall(opts: InstallOptions): Doc[] {
  const sa = (name: string): Doc => ({
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, namespace: opts.namespace, labels: labels(name, opts) },
  });
  return [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: {
        name: opts.namespace,
        // The speaker needs hostNetwork, which the "restricted" level forbids.
        labels: {
          "pod-security.kubernetes.io/enforce": "privileged",
          "pod-security.kubernetes.io/audit": "privileged",
          "pod-security.kubernetes.io/warn": "privileged",
        },
      },
    },
    sa("controller"),
    sa("speaker"),
    ...buildRbac(opts),
    buildController(opts),
    buildSpeaker(opts),
  ];
}
