/**
 * The peers selecting this node, checked before any session runs: sessions to run, peers
 * rejected and why, warnings, and peers without an IPv6 next hop. Each rejection and warning
 * is logged once per change.
 */
import type { Config, PeerConfig } from "../api/config.ts";
import type { Logger } from "../api/log.ts";
import type { NodeView } from "../api/objects.ts";
import { matchesAnySelector } from "../api/selectors.ts";
import type { Snapshot } from "../cluster/types.ts";
import {
  connectorFor,
  NEXT_HOP_V6_ANNOTATION,
  nextHopV6For,
  peerProblems,
  routerIdFor,
  sessionConfigOf,
  transportKeyOf,
} from "./peer_checks.ts";
import type { WantedSession } from "./peer_set.ts";

/** Peers of this node after the checks: sessions to run, and what the planner must skip. */
export interface PeerPlan {
  sessions: WantedSession[];
  rejected: Map<string, string>;
  warnings: string[];
  noNextHopV6: Map<string, string>;
}

/** Options of {@linkcode PeerPlanner}. */
export interface PeerPlannerOptions {
  namespace: string;
  nodeName: string;
  log: Logger;
  /** Router ID when neither BGPPeer `routerID` nor an IPv4 InternalIP gives one. */
  defaultRouterId?: string;
}

/** Checks this node's peers on every reconcile and remembers the last errors and warnings. */
export class PeerPlanner {
  readonly #o: PeerPlannerOptions;
  /** Rejected peers by name, with the reason (last check). */
  errors = new Map<string, string>();
  /** Warnings of the last check. */
  warnings: string[] = [];

  /** A planner with nothing checked yet. */
  constructor(options: PeerPlannerOptions) {
    this.#o = options;
  }

  /** The peers of `config` selecting this node, checked. */
  check(config: Config | undefined, at: { snap: Snapshot; node: NodeView | undefined }): PeerPlan {
    const plan: PeerPlan = {
      sessions: [],
      rejected: new Map(),
      warnings: [],
      noNextHopV6: new Map(),
    };
    for (const p of config?.peers ?? []) {
      if (!matchesAnySelector(p.nodeSelectors, at.node?.labels ?? {})) continue;
      this.#checkPeer(p, { ...at, plan });
    }
    for (const [name, reason] of plan.rejected) {
      if (this.errors.get(name) !== reason) {
        this.#o.log.error("BGPPeer rejected", { peer: name, reason });
      }
    }
    for (const w of plan.warnings) {
      if (!this.warnings.includes(w)) this.#o.log.warn("BGPPeer", { warning: w });
    }
    for (const [name, reason] of plan.noNextHopV6) {
      plan.warnings.push(`BGPPeer ${this.#o.namespace}/${name}: no IPv6 routes: ${reason}`);
    }
    this.errors = plan.rejected;
    this.warnings = plan.warnings;
    return plan;
  }

  #checkPeer(
    p: PeerConfig,
    at: { snap: Snapshot; node: NodeView | undefined; plan: PeerPlan },
  ): void {
    const { plan, node } = at;
    const ns = this.#o.namespace;
    const probs = peerProblems(p);
    const routerId = routerIdFor(p, node, this.#o.defaultRouterId);
    if (!routerId) {
      probs.errors.push(
        "spec.routerID: no router ID: set it or give the Node an IPv4 InternalIP address",
      );
    }
    for (const w of probs.warnings) plan.warnings.push(`BGPPeer ${ns}/${p.name}: ${w}`);
    if (probs.errors.length || !routerId) {
      plan.rejected.set(p.name, `BGPPeer ${ns}/${p.name}: ${probs.errors.join("; ")}`);
      return;
    }
    const raw = at.snap.objects.get("BGPPeer")?.get(`${ns}/${p.name}`);
    const hop = nextHopV6For(p, node, {
      annotation: raw?.metadata.annotations?.[NEXT_HOP_V6_ANNOTATION],
      nodeName: this.#o.nodeName,
    });
    if (!hop.ok) plan.noNextHopV6.set(p.name, hop.reason);
    const connector = connectorFor(p);
    plan.sessions.push({
      name: p.name,
      config: sessionConfigOf(p, {
        routerId,
        ...(hop.ok && hop.address ? { nextHopV6: hop.address } : {}),
      }),
      transportKey: transportKeyOf(p),
      ...(connector ? { connector } : {}),
      unsupported: probs.unsupported,
    });
  }
}
