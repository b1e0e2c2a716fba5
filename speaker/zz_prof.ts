import { buildConfig } from "../api/config.ts";
import { parseEndpointSlice, parseNode, parseService } from "../api/objects.ts";
import { computeAnnouncements, createAnnounceCache } from "./announce.ts";
const cache = createAnnounceCache();
import { AdjRibOut } from "../bgp/mod.ts";
import * as t from "./testing.ts";
const objs = [
  t.poolObject("bench", ["100.64.0.0/10"]),
  t.advObject("all", { communities: ["64500:100"] }),
  t.peerObject("p", { myASN: 64500, peerASN: 64501, peerAddress: "127.0.0.1", peerPort: 5000 }),
];
const svcs = [], slices = [];
for (let i = 0; i < 10000; i++) {
  const n = (100 << 24) + (64 << 16) + i + 1;
  svcs.push(
    (parseService(
      t.serviceObject(`s${i}`, {
        ips: [`${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`],
        pool: "bench",
        etp: "Local",
      }),
    ) as any).value,
  );
  slices.push((parseEndpointSlice(t.sliceObject(`s${i}`, [{ node: "n1" }])) as any).value);
}
const cfg = (buildConfig(objs, { namespace: t.TEST_NS }) as any).config;
const node = (parseNode(t.nodeObject("n1")) as any).value;
for (let k = 0; k < 30; k++) {
  let t0 = performance.now();
  const a = computeAnnouncements(cfg, {
    nodeName: "n1",
    services: svcs,
    endpointSlices: slices,
    nodes: [node],
  });
  let t1 = performance.now();
  const rib = new AdjRibOut();
  rib.setWanted(a.routes.get("p")!);
  let t2 = performance.now();
  rib.setWanted(a.routes.get("p")!);
  let t3 = performance.now();
  console.log(
    "compute",
    (t1 - t0).toFixed(1),
    "setWanted first",
    (t2 - t1).toFixed(1),
    "again",
    (t3 - t2).toFixed(1),
  );
}
