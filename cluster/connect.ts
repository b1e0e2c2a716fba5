/**
 * One way for every role to reach the Kubernetes API: the kubeconfig (file or in-cluster),
 * an object source and a writer on it. Roles import this lazily, so `--help`, flag errors
 * and file mode never load the Kubernetes client.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "../api/log.ts";
import { loadKubeConfig } from "./kube_config.ts";
import { createKubeSource, type KubeSource, type KubeSourceOptions } from "./kube_source.ts";
import { createKubeWriter, type KubeWriter } from "./kube_writer.ts";
import { createLeaderElector, type LeaderElector } from "./lease.ts";

/** A role's connection to the API server. */
export interface ClusterConnection {
  kc: KubeConfig;
  source: KubeSource;
  writer: KubeWriter;
  /** A leader elector on the Lease `name` in the install namespace. */
  elector(name: string, identity: string): LeaderElector;
}

/** What {@linkcode connectCluster} needs besides the kubeconfig path. */
export interface ConnectOptions {
  namespace: string;
  logger: Logger;
  kinds?: KubeSourceOptions["kinds"];
  labelSelectors?: KubeSourceOptions["labelSelectors"];
}

/**
 * Loads the kubeconfig (`kubeconfig` path, else the in-cluster service account) and creates
 * the source and writer. Throws `KubeConfigError` naming what was tried when neither works.
 */
export function connectCluster(
  kubeconfig: string | undefined,
  options: ConnectOptions,
): ClusterConnection {
  const kc = loadKubeConfig(kubeconfig ? { kubeconfig } : {});
  const { namespace, logger } = options;
  return {
    kc,
    source: createKubeSource(kc, {
      namespace,
      logger,
      ...(options.kinds ? { kinds: options.kinds } : {}),
      ...(options.labelSelectors ? { labelSelectors: options.labelSelectors } : {}),
    }),
    writer: createKubeWriter(kc, { namespace, logger }),
    elector: (name, identity) => createLeaderElector(kc, { namespace, name, identity, logger }),
  };
}
