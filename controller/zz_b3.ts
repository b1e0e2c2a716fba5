import * as k8s from "@kubernetes/client-node";
import { kubeRequest } from "/work/main/cluster/kube_config.ts";
import { startFakeApiServer } from "/work/main/tests/fake_apiserver/mod.ts";
import { serviceObject } from "/work/main/controller/testing.ts";
const server = await startFakeApiServer({ historyLimit: 100000 });
const kc = new k8s.KubeConfig(); kc.loadFromFile(server.kubeconfigPath);
const N = 2000;
for (let i = 0; i < N; i++) server.objects.put("services", serviceObject("default", `s${i}`) as never);
for (const conc of [1, 8, 32]) {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: conc }, async () => {
    while (next < N) {
      const i = next++;
      await kubeRequest(kc, "GET", `/api/v1/namespaces/default/services/s${i}`);
    }
  }));
  console.log("GET conc", conc, ((performance.now() - t0) / N).toFixed(2), "ms/req");
}
let next = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: 32 }, async () => {
  while (next < N) {
    const i = next++;
    await kubeRequest(kc, "PATCH", `/api/v1/namespaces/default/services/s${i}/status`, { body: { status: { loadBalancer: { ingress: [{ ip: "1.2.3.4" }] } } }, contentType: "application/merge-patch+json" });
  }
}));
console.log("PATCH conc 32", ((performance.now() - t0) / N).toFixed(2), "ms/req");
await server.close();
