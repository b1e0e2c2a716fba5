/** Waiting for the signals that end a role: SIGINT (Ctrl-C) and SIGTERM (Kubernetes). */

/** Resolves with the first of SIGINT/SIGTERM received, removing the listeners. */
export function waitForSignal(): { promise: Promise<Deno.Signal>; cancel(): void } {
  const { promise, resolve } = Promise.withResolvers<Deno.Signal>();
  const handlers = (["SIGINT", "SIGTERM"] as const).map((sig) => {
    const fn = () => resolve(sig);
    Deno.addSignalListener(sig, fn);
    return [sig, fn] as const;
  });
  const cancel = () => {
    for (const [s, fn] of handlers) Deno.removeSignalListener(s, fn);
  };
  return { promise: promise.finally(cancel), cancel };
}
