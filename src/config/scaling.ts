/** An app's scaling settings as one plain object with every default filled in, for the scheduler. */
import type { AppYaml } from "./app-yaml-schema.js";
import { formatPath } from "./config-issue.js";
import { parseDuration } from "./duration.js";
import { defaultInstanceClass, type InstanceClass, type ScalingKind } from "./instance-class.js";
import { scalingKindOf, scalingProblems } from "./scaling-problems.js";
import { StrataError } from "../errors.js";

export interface ScalingPolicy {
  kind: ScalingKind;
  /** app.yaml's instance_class, or App Engine's default for the scaling kind (F1 automatic, B2 otherwise). */
  instanceClass: InstanceClass;
  minInstances: number;
  maxInstances: number;
  /** Requests one instance serves at once before another is wanted (max_concurrent_requests). */
  targetConcurrency: number;
  targetCpuUtilization: number;
  targetThroughputUtilization: number;
  minIdleInstances: number;
  /** null: "automatic", no cap. */
  maxIdleInstances: number | null;
  /** null: "automatic", the autoscaler decides. */
  minPendingLatencyMs: number | null;
  maxPendingLatencyMs: number | null;
  /** How long an instance may serve nothing before it is stopped; null: never (manual scaling). */
  idleTimeoutMs: number | null;
  /** manual_scaling.instances; null for the other kinds. */
  instances: number | null;
}

/** App Engine's documented defaults. */
const DEFAULT_MAX_CONCURRENT_REQUESTS = 10;
const DEFAULT_TARGET_UTILIZATION = 0.6;
const DEFAULT_BASIC_IDLE_TIMEOUT = "5m";
/**
 * Strata's own defaults. App Engine's automatic max_instances is unbounded; on one self-hosted
 * machine Strata caps it at 20 unless app.yaml says otherwise (raised to min_instances if that is
 * higher). An automatic-scaling instance that served nothing for 15 minutes is stopped (App Engine
 * decides that itself and documents no figure; `automatic_scaling.idle_timeout` overrides it).
 */
export const STRATA_DEFAULT_MAX_INSTANCES = 20;
const STRATA_DEFAULT_AUTOMATIC_IDLE_TIMEOUT = "15m";

function latencyMs(value: string | undefined): number | null {
  return value === undefined || value === "automatic" ? null : parseDuration(value);
}

function idleCount(value: number | "automatic" | undefined): number | null {
  return typeof value === "number" ? value : null;
}

export function normalizeScaling(spec: AppYaml): ScalingPolicy {
  const problems = scalingProblems(spec);
  if (problems.length > 0) {
    const issues = problems.map((p) => ({ path: formatPath(p.path), message: p.message }));
    throw new StrataError("INVALID_CONFIG", issues.map((i) => `${i.path}: ${i.message}`).join("\n"), {
      path: issues[0]?.path,
      issues,
    });
  }
  const kind = scalingKindOf(spec);
  const common = {
    kind,
    instanceClass: spec.instance_class ?? defaultInstanceClass(kind),
    targetCpuUtilization: DEFAULT_TARGET_UTILIZATION,
    targetThroughputUtilization: DEFAULT_TARGET_UTILIZATION,
    minIdleInstances: 0,
    maxIdleInstances: null,
    minPendingLatencyMs: null,
    maxPendingLatencyMs: null,
  };
  if (kind === "manual") {
    const instances = (spec.manual_scaling as { instances: number }).instances;
    return {
      ...common,
      minInstances: instances,
      maxInstances: instances,
      targetConcurrency: DEFAULT_MAX_CONCURRENT_REQUESTS,
      idleTimeoutMs: null,
      instances,
    };
  }
  if (kind === "basic") {
    const basic = spec.basic_scaling as { max_instances: number; idle_timeout?: string };
    return {
      ...common,
      minInstances: 0,
      maxInstances: basic.max_instances,
      targetConcurrency: DEFAULT_MAX_CONCURRENT_REQUESTS,
      idleTimeoutMs: parseDuration(basic.idle_timeout ?? DEFAULT_BASIC_IDLE_TIMEOUT),
      instances: null,
    };
  }
  const auto = spec.automatic_scaling ?? {};
  // `runtime: os` is a machine, not a function: one instance stays up unless app.yaml says otherwise.
  const minInstances = auto.min_instances ?? (spec.runtime === "os" ? 1 : 0);
  // max_instances 0 means "not set" on App Engine.
  const maxInstances = auto.max_instances || Math.max(STRATA_DEFAULT_MAX_INSTANCES, minInstances);
  return {
    ...common,
    minInstances,
    maxInstances,
    targetConcurrency: auto.max_concurrent_requests ?? DEFAULT_MAX_CONCURRENT_REQUESTS,
    targetCpuUtilization: auto.target_cpu_utilization ?? DEFAULT_TARGET_UTILIZATION,
    targetThroughputUtilization: auto.target_throughput_utilization ?? DEFAULT_TARGET_UTILIZATION,
    minIdleInstances: idleCount(auto.min_idle_instances) ?? 0,
    maxIdleInstances: idleCount(auto.max_idle_instances),
    minPendingLatencyMs: latencyMs(auto.min_pending_latency),
    maxPendingLatencyMs: latencyMs(auto.max_pending_latency),
    idleTimeoutMs: parseDuration(auto.idle_timeout ?? STRATA_DEFAULT_AUTOMATIC_IDLE_TIMEOUT),
    instances: null,
  };
}
