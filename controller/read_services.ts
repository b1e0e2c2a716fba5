/**
 * The first step of a pass over Services: which ones to look at (every one on a full pass,
 * else the changed and pending ones), skipping our own writes coming back, and what each
 * asks for.
 */
import { drive } from "../addr/turn_budget.ts";
import { sortSliced } from "../addr/sort_sliced.ts";
import { formatConfigError } from "../api/config.ts";
import { forgetSnapshotService, parseSnapshotService, type ServiceView } from "../api/objects.ts";
import type { KubeObject } from "../cluster/types.ts";
import { isOwnEcho } from "./echo.ts";
import { translateService } from "./service_request.ts";
import { Decision } from "./decision.ts";
import type { ControllerState } from "./state.ts";

/** A Service that is not ours (type or class). */
export interface Unhandled {
  key: string;
  view: ServiceView;
}

/** The Services a pass looks at. */
export interface ServicesRead {
  handled: Decision[];
  unhandled: Unhandled[];
  /** Keys of the Services that could not be read (neither handled nor unhandled). */
  unreadable: string[];
}

/** The objects a pass reads Services with. */
export interface ReadInput {
  services: ReadonlyMap<string, KubeObject>;
  namespaces: ReadonlyMap<string, KubeObject>;
  full: boolean;
}

const NO_LABELS: Readonly<Record<string, string>> = Object.freeze({});

/** Reads the Services the pass looks at, oldest first. */
export async function readServices(s: ControllerState, input: ReadInput): Promise<ServicesRead> {
  const { services, namespaces, full } = input;
  const handled: Decision[] = [];
  const unhandled: Unhandled[] = [];
  const unreadable: string[] = [];
  const ages: string[] = [];
  const progress = s.clock.phase("reading services", services.size);
  let n = 0;
  for (const [key, obj] of services) {
    // Checked for skipped Services too: 100,000 echoes of a first pass's writes are skipped
    // one by one, and that walk alone held the event loop ~80 ms.
    if ((++n & 255) === 0 && s.clock.due()) await s.clock.yieldNow();
    const prev = s.lastSeen.get(key);
    if (!full && prev === obj && !s.pending.has(key)) continue;
    if (!full && prev !== undefined && isOwnEcho(s, key, { prev, next: obj })) {
      // Our own write come back: nothing to decide, and 100,000 of them must not cost a
      // second pass over everything just assigned. The older object's view can go.
      s.written.forget(key);
      if (prev !== obj) forgetSnapshotService(prev);
      continue;
    }
    progress.done++;
    if (s.clock.due()) await s.clock.yieldNow();
    const view = parse(s, key, obj);
    if (!view) {
      unreadable.push(key);
      continue;
    }
    const result = translateService(view, {
      lbClass: s.opts.lbClass,
      namespaceLabels: namespaces.get(view.namespace)?.metadata.labels ?? NO_LABELS,
      key,
    });
    if (result.kind === "ignored") unhandled.push({ key, view });
    else {
      handled.push(new Decision({ key, obj, view }, result));
      ages.push(obj.metadata.creationTimestamp ?? "");
    }
  }
  // The writes seen coming back above are let go at once (see WriteLedger.compact).
  s.written.compact();
  return { handled: await oldestFirst(handled, ages), unhandled, unreadable };
}

/**
 * `handled` oldest first, then by key: of two Services claiming one address, the older keeps
 * it. Each age is read once (a file-mode Service builds its metadata when read), and the
 * sort takes turns: 100,000 Services sorted in one call would hold the thread too long.
 */
async function oldestFirst(handled: Decision[], ages: readonly string[]): Promise<Decision[]> {
  const order = handled.map((_, i) => i);
  const byAge = (i: number, j: number) =>
    cmp(ages[i], ages[j]) || cmp(handled[i].key, handled[j].key);
  await drive(sortSliced(order, byAge));
  return order.map((i) => handled[i]);
}

/** Plain string order (not locale order), as the allocator's tie-breaks use. */
export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function parse(s: ControllerState, key: string, obj: KubeObject): ServiceView | undefined {
  // Views are memoized by object (shared with the speaker), so no per-key cache here. An
  // object we moved on from may stay alive (file mode keeps the manifest's object under
  // the overlaid one): its memoized view must not live on with it.
  const before = s.lastSeen.get(key);
  if (before !== undefined && before !== obj) forgetSnapshotService(before);
  const r = parseSnapshotService(obj);
  if (r.ok) return r.value;
  // Unreadable objects keep whatever they hold; nothing here can make them better.
  s.log.debug("service unreadable; left as is", {
    service: key,
    error: r.errors.map(formatConfigError).join("; "),
  });
  return undefined;
}
