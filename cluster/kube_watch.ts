/**
 * One watch of one kind from a resourceVersion, until it ends: the server closes it (its
 * timeout), it goes quiet for too long, the resourceVersion is too old (410 Gone), or it
 * fails. The caller's list/watch loop decides what comes next from the {@linkcode WatchEnd}.
 */
import * as k8s from "@kubernetes/client-node";
import type { Logger } from "../api/log.ts";
import { KubeApiError } from "./kube_config.ts";
import { admitObject } from "./kube_kinds.ts";
import type { KubeObject, ReadKind } from "./types.ts";

/** How a watch ended. */
export type WatchEnd =
  | { outcome: "gone" }
  | { outcome: "ended"; connected: boolean; events: number; durationMs: number }
  | { outcome: "error"; error: unknown };

/** What is watched. */
export interface WatchTarget {
  kind: ReadKind;
  path: string;
  labelSelector?: string;
  /** Watch from here ("" = from now, with the current objects as ADDED). */
  resourceVersion: string;
}

/** Where the watch reports to. */
export interface WatchHooks {
  /** An object added, modified or deleted (already slimmed). */
  change(type: "ADDED" | "MODIFIED" | "DELETED", obj: KubeObject): void;
  /** The server's progress mark (bookmark) or the resourceVersion of a change. */
  progress(resourceVersion: string): void;
  /** The server accepted the watch (200). */
  connected(): void;
  /** Hands over a function ending this watch now (undefined once it ended). */
  setStop(stop: ((end: WatchEnd) => void) | undefined): void;
}

/** Options for {@linkcode watchKind}. */
export interface WatchOptions {
  /** Server-side timeout asked for. */
  timeoutSeconds: number;
  /** Reopen after this long without any line (bookmarks included). */
  idleTimeoutMs: number;
  log: Logger;
  /** Aborted when the source closes. */
  closing: AbortSignal;
}

/** The ERROR event of a watch as a WatchEnd (410 = gone). */
function errorEnd(target: WatchTarget, obj: unknown): WatchEnd {
  const status = obj as { code?: number; message?: string; reason?: string };
  if (status?.code === 410) return { outcome: "gone" };
  return {
    outcome: "error",
    error: new KubeApiError(
      status?.code ?? 0,
      status?.reason ?? "WatchError",
      "WATCH",
      target.path,
      status?.message ?? "",
    ),
  };
}

/** Watches `target` once; resolves with how the watch ended. */
export function watchKind(
  kc: k8s.KubeConfig,
  target: WatchTarget,
  hooks: WatchHooks,
  options: WatchOptions,
): Promise<WatchEnd> {
  return new Promise((resolve) => {
    const { timeoutSeconds, log } = options;
    const w = new k8s.Watch(kc);
    // Inactivity bound; the server ends the stream at timeoutSeconds, bookmarks keep it busy.
    (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = timeoutSeconds * 1000 +
      30_000;
    const startedAt = Date.now();
    let events = 0;
    let connected = false;
    let settled = false;
    let ctl: AbortController | undefined;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const ended = () => ({
      outcome: "ended" as const,
      connected,
      events,
      durationMs: Date.now() - startedAt,
    });
    const finish = (end: WatchEnd) => {
      if (settled) return;
      settled = true;
      clearTimeout(hardBound);
      clearTimeout(idle);
      hooks.setStop(undefined);
      ctl?.abort();
      resolve(end);
    };
    hooks.setStop(finish);
    // Aborting undici's stream does not always reach the client's done callback under Deno
    // (idle timeout included), so the bound is enforced here as well.
    const hardBound = setTimeout(
      () => finish({ outcome: "error", error: new Error("watch exceeded its time bound") }),
      timeoutSeconds * 1000 + 60_000,
    );
    // Under Deno a connection cut under the client surfaces neither as an error nor as an
    // end, so a watch that delivers nothing for too long is reopened (cheap: no relist).
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        log.debug("watch quiet; reopening", { kind: target.kind });
        finish(ended());
      }, options.idleTimeoutMs);
    };
    touch();
    const onEvent = (type: string, obj: unknown) => {
      if (settled) return;
      touch();
      if (type === "ERROR") return finish(errorEnd(target, obj));
      const o = obj as KubeObject;
      const rv = o?.metadata?.resourceVersion;
      if (type === "BOOKMARK") return rv ? hooks.progress(rv) : undefined;
      if (!o?.metadata?.name) return;
      if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED") return;
      const admitted = admitObject(target.kind, o);
      if (typeof admitted === "string") {
        log.error("object over the input limits", { reason: admitted });
      } else hooks.change(type, admitted);
      if (rv) hooks.progress(rv);
      events++;
    };
    const onDone = (err: unknown) => {
      if (!err) return finish(ended());
      const gone = (err as { statusCode?: number }).statusCode === 410;
      finish(gone ? { outcome: "gone" } : { outcome: "error", error: err });
    };
    w.watch(
      target.path,
      {
        resourceVersion: target.resourceVersion || undefined,
        allowWatchBookmarks: true,
        timeoutSeconds,
        ...(target.labelSelector ? { labelSelector: target.labelSelector } : {}),
      },
      onEvent,
      onDone,
    ).then((c) => {
      ctl = c;
      if (settled || options.closing.aborted) return c.abort();
      connected = true;
      hooks.connected();
    }, (err) => finish({ outcome: "error", error: err }));
  });
}
