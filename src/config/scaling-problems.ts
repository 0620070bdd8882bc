/**
 * Checks across the scaling fields that one field's schema cannot make alone. Used by the app.yaml
 * schema (so the file's line is reported) and by normalizeScaling (for a spec built in code).
 */
import type { AppYaml } from "./app-yaml-schema.js";
import type { Finding } from "./config-issue.js";
import { durationProblem, parseDuration } from "./duration.js";
import { classFitsScaling, INSTANCE_CLASSES, type ScalingKind } from "./instance-class.js";

const SCALING_BLOCKS = ["automatic_scaling", "basic_scaling", "manual_scaling"] as const;

/** The scaling block an app uses; automatic when it sets none, as on App Engine. */
export function scalingKindOf(spec: AppYaml): ScalingKind {
  if (spec.basic_scaling !== undefined) return "basic";
  if (spec.manual_scaling !== undefined) return "manual";
  return "automatic";
}

/**
 * A duration's milliseconds, or undefined for "automatic", absent, or not a duration: the schema runs
 * these checks even when a field failed its own, and reports that failure itself.
 */
function validMs(value: string | undefined): number | undefined {
  return value === undefined || durationProblem(value) !== undefined ? undefined : parseDuration(value);
}

export function scalingProblems(spec: AppYaml): Finding[] {
  const problems: Finding[] = [];
  const blocks = SCALING_BLOCKS.filter((block) => spec[block] !== undefined);
  for (const extra of blocks.slice(1)) {
    problems.push({
      path: [extra],
      atKey: true,
      message: `only one of automatic_scaling, basic_scaling and manual_scaling may be set; this file also sets ${blocks[0]}`,
    });
  }
  const auto = spec.automatic_scaling;
  if (auto !== undefined) {
    const { min_instances: min, max_instances: max } = auto;
    // max_instances 0 means "not set" on App Engine.
    if (typeof min === "number" && typeof max === "number" && max !== 0 && min > max) {
      problems.push({ path: ["automatic_scaling", "min_instances"], message: `${min} is greater than max_instances (${max})` });
    }
    const { min_idle_instances: minIdle, max_idle_instances: maxIdle } = auto;
    if (typeof minIdle === "number" && typeof maxIdle === "number" && minIdle > maxIdle) {
      problems.push({ path: ["automatic_scaling", "min_idle_instances"], message: `${minIdle} is greater than max_idle_instances (${maxIdle})` });
    }
    const minLatency = validMs(auto.min_pending_latency);
    const maxLatency = validMs(auto.max_pending_latency);
    if (minLatency !== undefined && maxLatency !== undefined && minLatency > maxLatency) {
      problems.push({
        path: ["automatic_scaling", "min_pending_latency"],
        message: `${auto.min_pending_latency} is greater than max_pending_latency (${auto.max_pending_latency})`,
      });
    }
  }
  for (const block of ["automatic_scaling", "basic_scaling"] as const) {
    const idle = spec[block]?.idle_timeout;
    if (validMs(idle) === 0) {
      problems.push({ path: [block, "idle_timeout"], message: "must be more than 0 (an instance needs time to serve)" });
    }
  }
  const cls = spec.instance_class;
  const kind = scalingKindOf(spec);
  if (cls !== undefined && !classFitsScaling(cls, kind)) {
    const fitting = INSTANCE_CLASSES.filter((c) => classFitsScaling(c, kind)).join(", ");
    problems.push({
      path: ["instance_class"],
      message: `${cls} is not available with ${kind} scaling; use one of ${fitting} (F classes are for automatic scaling, B classes for basic and manual)`,
      allowed: fitting,
    });
  }
  return problems;
}
