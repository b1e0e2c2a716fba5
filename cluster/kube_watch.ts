/**
 * One watch of one kind from a resourceVersion, until it ends: the server closes it (its
 * timeout), it goes quiet for too long, the resourceVersion is too old (410 Gone), or it
 * fails. The caller's list/watch loop decides what comes next from the {@linkcode WatchEnd}.
 */
// First: process.env is confined before client-node and its dependencies load.
import "./process_env.ts";
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
  return new Promise((resolve) => new WatchRun(target, { hooks, options, resolve }).open(kc));
}

/** The state of one watch while it runs, ended once through {@linkcode WatchRun.finish}. */
class WatchRun {
  readonly #target: WatchTarget;
  readonly #hooks: WatchHooks;
  readonly #options: WatchOptions;
  readonly #resolve: (end: WatchEnd) => void;
  readonly #startedAt = Date.now();
  #events = 0;
  #connected = false;
  #settled = false;
  #ctl: AbortController | undefined;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #hardBound: ReturnType<typeof setTimeout> | undefined;

  constructor(
    target: WatchTarget,
    run: { hooks: WatchHooks; options: WatchOptions; resolve: (end: WatchEnd) => void },
  ) {
    this.#target = target;
    this.#hooks = run.hooks;
    this.#options = run.options;
    this.#resolve = run.resolve;
  }

  /** Arms the bounds and opens the watch. */
  open(kc: k8s.KubeConfig): void {
    const { timeoutSeconds } = this.#options;
    const w = new k8s.Watch(kc);
    // Inactivity bound; the server ends the stream at timeoutSeconds, bookmarks keep it busy.
    (w as unknown as { requestTimeoutMs: number }).requestTimeoutMs = timeoutSeconds * 1000 +
      30_000;
    this.#hooks.setStop((end) => this.finish(end));
    // Aborting undici's stream does not always reach the client's done callback under Deno
    // (idle timeout included), so the bound is enforced here as well.
    this.#hardBound = setTimeout(
      () => this.finish({ outcome: "error", error: new Error("watch exceeded its time bound") }),
      timeoutSeconds * 1000 + 60_000,
    );
    this.#touch();
    this.#start(w);
  }

  // The client reports events and the end through callbacks; the abort handle comes later.
  #start(w: k8s.Watch): void {
    const target = this.#target;
    const { timeoutSeconds } = this.#options;
    w.watch(
      target.path,
      {
        resourceVersion: target.resourceVersion || undefined,
        allowWatchBookmarks: true,
        timeoutSeconds,
        ...(target.labelSelector ? { labelSelector: target.labelSelector } : {}),
      },
      (type: string, obj: unknown) => this.#onEvent(type, obj),
      (err: unknown) => this.#onDone(err),
    ).then((c) => {
      this.#ctl = c;
      if (this.#settled || this.#options.closing.aborted) return c.abort();
      this.#connected = true;
      this.#hooks.connected();
    }, (err) => this.finish({ outcome: "error", error: err }));
  }

  /** Ends the watch with `end`; later calls do nothing. */
  finish(end: WatchEnd): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#hardBound);
    clearTimeout(this.#idle);
    this.#hooks.setStop(undefined);
    this.#ctl?.abort();
    this.#resolve(end);
  }

  #ended(): WatchEnd {
    return {
      outcome: "ended",
      connected: this.#connected,
      events: this.#events,
      durationMs: Date.now() - this.#startedAt,
    };
  }

  // Under Deno a connection cut under the client surfaces neither as an error nor as an
  // end, so a watch that delivers nothing for too long is reopened (cheap: no relist).
  #touch(): void {
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => {
      this.#options.log.debug("watch quiet; reopening", { kind: this.#target.kind });
      this.finish(this.#ended());
    }, this.#options.idleTimeoutMs);
  }

  #onEvent(type: string, obj: unknown): void {
    if (this.#settled) return;
    this.#touch();
    if (type === "ERROR") return this.finish(errorEnd(this.#target, obj));
    const o = obj as KubeObject;
    const rv = o?.metadata?.resourceVersion;
    if (type === "BOOKMARK") return rv ? this.#hooks.progress(rv) : undefined;
    if (!o?.metadata?.name) return;
    if (type !== "ADDED" && type !== "MODIFIED" && type !== "DELETED") return;
    const admitted = admitObject(this.#target.kind, o);
    if (typeof admitted === "string") {
      this.#options.log.error("object over the input limits", { reason: admitted });
    } else this.#hooks.change(type, admitted);
    if (rv) this.#hooks.progress(rv);
    this.#events++;
  }

  #onDone(err: unknown): void {
    if (!err) return this.finish(this.#ended());
    const gone = (err as { statusCode?: number }).statusCode === 410;
    this.finish(gone ? { outcome: "gone" } : { outcome: "error", error: err });
  }
}
