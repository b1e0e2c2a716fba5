/**
 * The IP history in a cluster: the ConfigMap `ferrolb-ip-history` in the controller's
 * namespace (get, create when missing, update), JSON gzipped into binaryData so 10,000
 * entries stay far below the 1 MiB object limit.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { HISTORY_NAME, type HistoryBackend } from "./ip_history_store.ts";
import { isStatus, kubeRequest } from "./kube_config.ts";

/** Key of the gzipped JSON in the ConfigMap's binaryData. */
export const HISTORY_KEY = "history.json.gz";

async function gzip(text: string): Promise<string> {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

async function gunzip(b64: string): Promise<string> {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

interface ConfigMap {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  binaryData?: Record<string, string>;
}

/** The history kept in the ConfigMap `ferrolb-ip-history` of `namespace`. */
export function configMapHistoryBackend(
  kc: KubeConfig,
  options: { namespace: string; timeoutMs?: number },
): HistoryBackend {
  const ns = options.namespace;
  const collection = `/api/v1/namespaces/${ns}/configmaps`;
  const path = `${collection}/${HISTORY_NAME}`;
  const timeoutMs = options.timeoutMs ?? 5_000;
  const get = async (): Promise<ConfigMap | undefined> => {
    try {
      return await kubeRequest<ConfigMap>(kc, "GET", path, { timeoutMs });
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
  };
  return {
    where: `ConfigMap ${ns}/${HISTORY_NAME}`,
    async load() {
      const cm = await get();
      const data = cm?.binaryData?.[HISTORY_KEY];
      return data ? JSON.parse(await gunzip(data)) : undefined;
    },
    async save(file) {
      const binaryData = { [HISTORY_KEY]: await gzip(JSON.stringify(file)) };
      const current = await get();
      const metadata = {
        name: HISTORY_NAME,
        namespace: ns,
        labels: {
          "app.kubernetes.io/name": "ferrolb",
          "app.kubernetes.io/component": "controller",
        },
      };
      if (!current) {
        await kubeRequest(kc, "POST", collection, {
          timeoutMs,
          body: { apiVersion: "v1", kind: "ConfigMap", metadata, binaryData },
        });
        return;
      }
      await kubeRequest(kc, "PUT", path, {
        timeoutMs,
        body: {
          apiVersion: "v1",
          kind: "ConfigMap",
          metadata: { ...metadata, resourceVersion: current.metadata.resourceVersion },
          binaryData,
        },
      });
    },
  };
}
