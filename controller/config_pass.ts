/**
 * The configuration step of a pass: build the `Config` when a config kind changed, hand
 * changed pools to the allocator, and report an invalid configuration (log, Events,
 * ConfigurationState) while the last valid one stays in force.
 */
import { buildConfig, type ConfigError, formatConfigError } from "../api/config.ts";
import { CONFIG_KINDS, type KubeObject, type Snapshot } from "../cluster/types.ts";
import { EventReason } from "./events.ts";
import { bigintJson, poolSpecOf } from "./pools.ts";
import type { ControllerState } from "./state.ts";

/** Name of the controller's ConfigurationState object. */
export const CONFIGURATION_STATE_NAME = "controller";

const NO_OBJECTS: ReadonlyMap<string, KubeObject> = new Map();

/** Brings the configuration in force up to the snapshot's config objects. */
export function updateConfig(s: ControllerState, snap: Snapshot): void {
  const inputs = CONFIG_KINDS.map((k) => snap.objects.get(k) ?? NO_OBJECTS);
  let build = s.lastBuild;
  if (!build || inputs.some((m, i) => m !== s.configInputs[i])) {
    build = buildConfig({ objects: new Map(CONFIG_KINDS.map((k, i) => [k, inputs[i]])) }, {
      namespace: s.opts.namespace,
    });
    s.lastBuild = build;
    s.configInputs = inputs;
  }
  const m = s.opts.metrics;
  s.configWarnings = build.warnings;
  if (!build.ok) {
    s.configErrors = build.errors;
    reportInvalid(s, build.errors);
    m?.configStale.set({}, 1);
    return;
  }
  if (!updatePools(s, build.config)) return;
  const wasInvalid = s.configErrors.length > 0 || s.config === null;
  s.config = build.config;
  s.configErrors = [];
  if (wasInvalid) {
    s.log.info("configuration loaded", {
      pools: build.config.pools.length,
      warnings: build.warnings.map(formatConfigError),
    });
    // Forget reported errors so a later recurrence is reported again.
    s.events.forget("config");
  }
  m?.configLoaded.set({}, 1);
  m?.configStale.set({}, 0);
  setConfigurationState(s, {
    result: "Valid",
    errorSummary: "",
    conditions: [{
      type: "Valid",
      status: "True",
      reason: "ConfigurationValid",
      message: build.warnings.length
        ? build.warnings.map(formatConfigError).join("; ")
        : "configuration is valid",
    }],
  });
}

/** Hands changed pools to the allocator; false when it refused them (reported here). */
function updatePools(s: ControllerState, config: NonNullable<ControllerState["config"]>): boolean {
  const specs = config.pools.map(poolSpecOf);
  const key = JSON.stringify(specs, bigintJson);
  if (key === s.poolsKey) return true;
  const report = s.allocator.setPools(specs);
  if (!report.ok) {
    // buildConfig should have caught it; still never drop the running pools for it.
    const err: ConfigError = {
      kind: "IPAddressPool",
      namespace: s.opts.namespace,
      name: "",
      field: "spec.addresses",
      reason: report.reason,
    };
    s.configErrors = [err];
    reportInvalid(s, [err]);
    // A load the handler refused: MetalLB counts it (SyncStateError), unlike a parse error.
    s.opts.metrics?.k8sUpdateErrors.inc();
    s.opts.metrics?.configStale.set({}, 1);
    return false;
  }
  if (s.poolsKey !== null || s.restored) {
    s.log.info("address pools changed", {
      pools: specs.map((p) => p.name),
      invalidated: report.invalid.length,
    });
  }
  for (const d of report.invalid) s.cleared.set(d.key, d.reason);
  s.poolsKey = key;
  s.fullNext = true;
  return true;
}

function reportInvalid(s: ControllerState, errors: ConfigError[]): void {
  const summary = errors.map(formatConfigError).join("; ");
  const transient = errors.every((e) => e.transient);
  if (s.events.last({ owner: "config", slot: "summary" }) !== summary) {
    s.events.remember({ owner: "config", slot: "summary" }, summary);
    s.log.error(
      s.config
        ? "configuration invalid; keeping the running configuration"
        : "configuration invalid; allocating nothing until it is valid",
      { errors: errors.map(formatConfigError), transient },
    );
  }
  for (const [k, errs] of groupByObject(errors)) {
    const first = errs[0];
    const message = errs.map(formatConfigError).join("; ");
    s.events.record(s.ops, {
      involved: {
        kind: first.kind,
        apiVersion: first.kind === "BGPPeer" ? "metallb.io/v1beta2" : "metallb.io/v1beta1",
        namespace: first.namespace || s.opts.namespace,
        name: first.name,
      },
      type: "Warning",
      reason: EventReason.InvalidConfiguration,
      message: s.config ? `${message} (the previous valid configuration stays in force)` : message,
    }, { owner: "config", slot: k, message });
  }
  setConfigurationState(s, {
    result: "Invalid",
    errorSummary: summary,
    conditions: [{
      type: "Valid",
      status: "False",
      reason: transient ? "MissingReference" : "ConfigurationInvalid",
      message: summary,
    }],
  });
}

function groupByObject(errors: ConfigError[]): Map<string, ConfigError[]> {
  const byObject = new Map<string, ConfigError[]>();
  for (const e of errors) {
    const k = `${e.kind}|${e.namespace}|${e.name}`;
    byObject.set(k, [...(byObject.get(k) ?? []), e]);
  }
  return byObject;
}

type ConfigurationStatus = {
  result: string;
  errorSummary: string;
  conditions: Record<string, string>[];
};

function setConfigurationState(s: ControllerState, status: ConfigurationStatus): void {
  const key = JSON.stringify(status);
  if (key === s.configStateKey) return;
  s.configStateKey = key;
  // No lastTransitionTime (optional in our CRD): the status is then a pure function of the
  // configuration, so after a restart the writer finds it equal and sends nothing.
  const full = structuredClone(status);
  const ns = s.opts.namespace;
  const writer = s.writer;
  s.ops.push({
    key: `ConfigurationState|${ns}/${CONFIGURATION_STATE_NAME}`,
    what: "setConfigurationState",
    run: async () => {
      try {
        await writer.setConfigurationState(ns, CONFIGURATION_STATE_NAME, full);
      } catch (err) {
        s.configStateKey = null;
        throw err;
      }
    },
  });
}
