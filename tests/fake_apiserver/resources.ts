/** The resource table the fake API server serves. */

/** One served resource at one group/version. */
export interface ResourceDef {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Whether `/status` is a separate subresource (main writes ignore `.status`). */
  statusSubresource: boolean;
  /** Versions of one group/plural share storage. */
  storageKey: string;
}

function def(
  group: string,
  version: string,
  plural: string,
  kind: string,
  namespaced: boolean,
  statusSubresource: boolean,
): ResourceDef {
  return {
    group,
    version,
    plural,
    kind,
    namespaced,
    statusSubresource,
    storageKey: `${group || "core"}/${plural}`,
  };
}

const METALLB_V1BETA1: [string, string][] = [
  ["ipaddresspools", "IPAddressPool"],
  ["bgpadvertisements", "BGPAdvertisement"],
  ["bgppeers", "BGPPeer"],
  ["communities", "Community"],
  ["bfdprofiles", "BFDProfile"],
  ["l2advertisements", "L2Advertisement"],
  ["servicebgpstatuses", "ServiceBGPStatus"],
  ["configurationstates", "ConfigurationState"],
];

/** Every resource served, by group/version. */
export const RESOURCES: readonly ResourceDef[] = [
  def("", "v1", "services", "Service", true, true),
  def("", "v1", "endpoints", "Endpoints", true, false),
  def("", "v1", "nodes", "Node", false, true),
  def("", "v1", "namespaces", "Namespace", false, true),
  def("", "v1", "secrets", "Secret", true, false),
  def("", "v1", "configmaps", "ConfigMap", true, false),
  def("", "v1", "events", "Event", true, false),
  def("", "v1", "pods", "Pod", true, true),
  def("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, false),
  def("coordination.k8s.io", "v1", "leases", "Lease", true, false),
  def("events.k8s.io", "v1", "events", "Event", true, false),
  ...METALLB_V1BETA1.map(([plural, kind]) =>
    def("metallb.io", "v1beta1", plural, kind, true, true)
  ),
  def("metallb.io", "v1beta2", "bgppeers", "BGPPeer", true, true),
];

/** `apiVersion` string of a resource definition. */
export function apiVersionOf(r: Pick<ResourceDef, "group" | "version">): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** Finds the definition for a group/version/plural, if served. */
export function findResource(
  group: string,
  version: string,
  plural: string,
): ResourceDef | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** The group/versions served, grouped by group (core excluded). */
export function servedGroups(): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const r of RESOURCES) {
    if (!r.group) continue;
    const versions = groups.get(r.group) ?? [];
    if (!versions.includes(r.version)) versions.push(r.version);
    groups.set(r.group, versions);
  }
  return groups;
}
