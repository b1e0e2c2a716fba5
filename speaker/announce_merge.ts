/**
 * Merges per-Service decisions into one Route per prefix and peer, from scratch or by
 * patching only the prefixes whose contributions changed; unchanged routes keep their
 * identity so that the sessions' Adj-RIB-Out skips them.
 */
import type { PeerConfig } from "../api/config.ts";
import { comparePrefix, prefixKey, type Route } from "../bgp/mod.ts";
import { routeAt, routesOf } from "./announce_routes.ts";
import {
  type Aggregate,
  type AnnounceCache,
  type Change,
  compareServices,
  contribsOf,
  type Contribution,
  contributionList,
  findPrefix,
  indexOfPrefix,
  isShared,
  NO_ROUTES,
  type PrefixState,
  type ServiceAnnouncement,
  type ServiceRecord,
} from "./announce_types.ts";
import { sortSliced } from "./slicer.ts";

export { localAsnOf } from "./announce_routes.ts";

function comparePrefixStates(a: PrefixState, b: PrefixState): number {
  return comparePrefix(a.prefix, b.prefix);
}

/**
 * Adds `k` to the prefix states by prefix key: alone, or shared with those already asking
 * (then with their Prefix object).
 */
function join(prefixes: Map<string, PrefixState>, k: Contribution): void {
  const key = prefixKey(k.prefix);
  const st = prefixes.get(key);
  if (st === undefined) prefixes.set(key, k);
  else if (isShared(st)) {
    k.prefix = st.prefix;
    st.contribs.push(k);
  } else {
    k.prefix = st.prefix;
    // The shared state takes over the routes, which the next merge may reuse.
    prefixes.set(key, { prefix: st.prefix, contribs: [st, k], routes: st.routes });
  }
}

/** Merges `st` again; a shared prefix's members then keep no routes of their own. */
function merge(
  cache: AnnounceCache,
  st: PrefixState,
  at: { peers: readonly PeerConfig[]; reuse: PrefixState | undefined },
): void {
  st.routes = routesOf(cache, st, { peers: at.peers, reuse: at.reuse?.routes });
  if (isShared(st)) { for (const k of st.contribs) k.routes = NO_ROUTES; }
}

/**
 * The prefix states of every record's contributions, in prefix order: the contributions
 * sorted (stably: a prefix's stay in record order), then runs of one prefix grouped, sharing
 * one Prefix object. No map by key is filled and dropped, 100,000s of entries at a start.
 */
function* sortedStates(records: readonly ServiceRecord[]): Generator<void, PrefixState[]> {
  const all: Contribution[] = [];
  for (let i = 0; i < records.length; i++) {
    // A chance for the caller to let timers and I/O in (see Slicer).
    if ((i & 1023) === 1023) yield;
    const c = contribsOf(records[i]);
    if (c === undefined) continue;
    if (Array.isArray(c)) { for (const k of c) all.push(k); }
    else all.push(c as Contribution);
  }
  yield* sortSliced(all, comparePrefixStates);
  const states: PrefixState[] = [];
  for (let i = 0, n = 0; i < all.length; n++) {
    if ((n & 16383) === 16383) yield;
    const k = all[i];
    let j = i + 1;
    // Those asking for one prefix share its object (decided apart, they may have two).
    while (j < all.length && comparePrefixStates(all[j], k) === 0) all[j++].prefix = k.prefix;
    states.push(
      j === i + 1 ? k : { prefix: k.prefix, contribs: all.slice(i, j), routes: k.routes },
    );
    i = j;
  }
  return states;
}

/**
 * Merges every record's contributions into per-prefix, per-peer routes from scratch; yields
 * now and then so that a caller can slice the work (100,000s of prefixes).
 */
export function* aggregateAll(
  cache: AnnounceCache,
  records: ServiceRecord[],
  at: { epoch: number; peers: readonly PeerConfig[] },
): Generator<void, Aggregate> {
  const { peers } = at;
  const old = cache.aggregate?.sorted ?? [];
  const sorted = yield* sortedStates(records);
  // Both tables are in prefix order: one walk finds each prefix's old state.
  let j = 0;
  for (let i = 0; i < sorted.length; i++) {
    if ((i & 1023) === 1023) yield;
    const st = sorted[i];
    while (j < old.length && comparePrefixStates(old[j], st) < 0) j++;
    const reuse = j < old.length && comparePrefixStates(old[j], st) === 0 ? old[j] : undefined;
    merge(cache, st, { peers, reuse });
  }
  const services = yield* sortSliced(records.map((r) => r.out!), compareServices);
  const routes = yield* perPeerRoutes(sorted, peers);
  return { epoch: at.epoch, peers, records, sorted, services, routes };
}

/** Takes `k` back from its prefix's state (the state goes when `k` stood for it). */
function leave(prefixes: Map<string, PrefixState>, k: Contribution): void {
  const key = prefixKey(k.prefix);
  const st = prefixes.get(key);
  if (st === k) prefixes.delete(key);
  else if (st && isShared(st)) {
    const at = st.contribs.indexOf(k);
    if (at >= 0) st.contribs.splice(at, 1);
    if (st.contribs.length === 1) {
      const [alone] = st.contribs;
      alone.routes = st.routes;
      prefixes.set(key, alone);
    }
  }
}

/**
 * Takes back what the changed records asked for before and adds what they ask for now, in
 * `work` (the touched prefixes' states by key, looked up in `sorted` when first touched);
 * returns each touched prefix's state as it was before (undefined: a new prefix).
 */
function moveContributions(
  sorted: readonly PrefixState[],
  at: { changes: readonly Change[]; work: Map<string, PrefixState> },
): Map<string, PrefixState | undefined> {
  const { changes, work } = at;
  const before = new Map<string, PrefixState | undefined>();
  const touch = (k: Contribution) => {
    const key = prefixKey(k.prefix);
    if (before.has(key)) return;
    const st = findPrefix(sorted, k.prefix);
    before.set(key, st);
    if (st) work.set(key, st);
  };
  for (const c of changes) {
    for (const k of contributionList(c.old)) {
      touch(k);
      leave(work, k);
    }
  }
  for (const c of changes) {
    for (const k of contributionList(contribsOf(c.rec))) {
      touch(k);
      join(work, k);
    }
  }
  return before;
}

/** Where prefix states were replaced, added or removed: the sorted table to patch. */
interface TableEdits {
  replaced: [PrefixState, PrefixState][];
  born: PrefixState[];
  removed: Set<PrefixState>;
}

/** Merges the touched prefixes again; returns which peers' route lists changed. */
function remerge(
  cache: AnnounceCache,
  agg: Aggregate,
  at: {
    before: ReadonlyMap<string, PrefixState | undefined>;
    work: ReadonlyMap<string, PrefixState>;
    edits: TableEdits;
  },
): boolean[] {
  const { peers } = agg;
  const { edits, work: prefixes } = at;
  const peerChanged = new Array<boolean>(peers.length).fill(false);
  for (const [key, was] of at.before) {
    const now = prefixes.get(key);
    const wasRoutes = was?.routes ?? NO_ROUTES;
    if (now) merge(cache, now, { peers, reuse: was });
    for (let pi = 0; pi < peers.length; pi++) {
      if (routeAt(now?.routes ?? NO_ROUTES, pi) !== routeAt(wasRoutes, pi)) peerChanged[pi] = true;
    }
    if (was && !now) edits.removed.add(was);
    else if (!was && now) edits.born.push(now);
    else if (was && now && was !== now) edits.replaced.push([was, now]);
  }
  return peerChanged;
}

/** The sorted table with the edits applied (in place where states were only replaced). */
function patchTable(agg: Aggregate, edits: TableEdits): PrefixState[] {
  let sorted = agg.sorted;
  for (const [was, now] of edits.replaced) {
    const i = indexOfPrefix(sorted, was.prefix);
    if (i >= 0) sorted[i] = now;
  }
  if (edits.removed.size > 0) sorted = sorted.filter((st) => !edits.removed.has(st));
  if (edits.born.length > 0) sorted = mergeSorted(sorted, edits.born.sort(comparePrefixStates));
  return sorted;
}

/** `sorted` with the sorted `more` merged in, in one pass (no sort of the whole table). */
function mergeSorted(sorted: readonly PrefixState[], more: readonly PrefixState[]): PrefixState[] {
  const out: PrefixState[] = [];
  let j = 0;
  for (const st of sorted) {
    while (j < more.length && comparePrefixStates(more[j], st) < 0) out.push(more[j++]);
    out.push(st);
  }
  while (j < more.length) out.push(more[j++]);
  return out;
}

/** The sorted outcomes with the changed ones replaced, or sorted again when many changed. */
function* patchServices(
  agg: Aggregate,
  at: { records: readonly ServiceRecord[]; changes: readonly Change[] },
): Generator<void, ServiceAnnouncement[]> {
  const { records, changes } = at;
  if (changes.length <= 64) {
    const services = agg.services.slice();
    let ok = true;
    for (const { rec, oldOut } of changes) {
      const at = oldOut ? services.indexOf(oldOut) : -1;
      if (at < 0 || compareServices(oldOut!, rec.out!) !== 0) {
        ok = false;
        break;
      }
      services[at] = rec.out!;
    }
    if (ok) return services;
  }
  return yield* sortSliced(records.map((r) => r.out!), compareServices);
}

/**
 * Each peer's routes, in prefix order. When every prefix has one Route for all peers (the
 * usual case), the peers share one list: the planner never changes a list it handed out.
 */
export function* perPeerRoutes(
  sorted: readonly PrefixState[],
  peers: readonly PeerConfig[],
): Generator<void, Map<string, Route[]>> {
  const routes = new Map<string, Route[]>();
  const same = sorted.every((st) => !Array.isArray(st.routes));
  for (let pi = 0; pi < peers.length; pi++) {
    if (same && pi > 0) {
      routes.set(peers[pi].name, routes.get(peers[0].name)!);
      continue;
    }
    const list: Route[] = [];
    for (let i = 0; i < sorted.length; i++) {
      if ((i & 16383) === 16383) yield;
      const r = routeAt(sorted[i].routes, pi);
      if (r !== undefined) list.push(r);
    }
    routes.set(peers[pi].name, list);
  }
  return routes;
}

/**
 * Patches the last aggregate for the records decided again (the same Services in the same
 * order): only the prefixes they ask or asked for are merged again.
 */
export function* aggregateChanges(
  cache: AnnounceCache,
  agg: Aggregate,
  at: { records: ServiceRecord[]; changes: readonly Change[] },
): Generator<void, Aggregate> {
  const { records, changes } = at;
  const work = new Map<string, PrefixState>();
  const before = moveContributions(agg.sorted, { changes, work });
  const edits: TableEdits = { replaced: [], born: [], removed: new Set() };
  const peerChanged = remerge(cache, agg, { before, work, edits });
  const sorted = patchTable(agg, edits);
  const services = yield* patchServices(agg, { records, changes });
  const routes = new Map<string, Route[]>();
  const fresh = peerChanged.some((c) => c) ? yield* perPeerRoutes(sorted, agg.peers) : undefined;
  agg.peers.forEach((p, pi) => {
    routes.set(p.name, peerChanged[pi] ? fresh!.get(p.name)! : agg.routes.get(p.name)!);
  });
  return { ...agg, records, sorted, services, routes };
}
