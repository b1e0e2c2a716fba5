/**
 * Hostile and huge manifest texts, shared by the parser tests and the hostile-input soak:
 * alias bombs, deep nesting, binary garbage and a generated file of many Services.
 */

/** "Billion laughs": `levels` anchors, each a sequence of 9 aliases of the previous one. */
export function aliasBomb(levels = 9): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < levels; i++) {
    lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(",")}]`);
  }
  return lines.join("\n") + "\n";
}

/** The same bomb inside a Service's `spec.ports` (the variant that crashed on a long string). */
export function serviceAliasBomb(levels = 8): string {
  const anchors = ['x0: &p0 {name: "http", port: 80, protocol: "TCP"}'];
  for (let i = 1; i < levels; i++) {
    anchors.push(`x${i}: &p${i} [${Array(9).fill(`*p${i - 1}`).join(",")}]`);
  }
  return `apiVersion: v1
kind: Service
metadata:
  name: bomb
  annotations: {${anchors.join(", ")}}
spec:
  type: LoadBalancer
  ports: *p${levels - 1}
`;
}

/** A flow sequence nested `depth` deep: `[[[...]]]`. */
export function deepNesting(depth = 100_000): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: ${"[".repeat(depth)}${
    "]".repeat(depth)
  }\n`;
}

/** Deterministic bytes that are not text: NULs, invalid UTF-8, control characters. */
export function binaryGarbage(size = 64 * 1024, seed = 17): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** One Service as a generated manifest writes it (about 270 bytes). */
export function serviceManifest(i: number, pool?: string): string {
  const annotations = pool ? `\n  annotations:\n    metallb.io/address-pool: ${pool}` : "";
  return `apiVersion: v1
kind: Service
metadata:
  name: svc-${i}
  namespace: team-${i % 50}${annotations}
  labels:
    app: app-${i}
    tier: backend
spec:
  type: LoadBalancer
  selector:
    app: app-${i}
  ports:
    - name: http
      protocol: TCP
      port: 80
      targetPort: 8080
`;
}

/** `count` Services in one multi-document text: 100,000 make about 27 MB. */
export function manyServices(count: number, pool?: string): string {
  const parts: string[] = [];
  for (let i = 0; i < count; i++) parts.push(serviceManifest(i, pool));
  return parts.join("---\n");
}
