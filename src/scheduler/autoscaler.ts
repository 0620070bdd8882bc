/**
 * The autoscaler's decision, as a pure function (Knative KPA's shape): from observed concurrency over a
 * stable window and a shorter panic window, how many instances a version wants. The scheduler applies it.
 */
export interface ScalingTargets {
  minInstances: number;
  maxInstances: number;
  /** Requests one instance should carry: max_concurrent_requests × target_throughput_utilization. */
  targetPerInstance: number;
  stableWindowMs: number;
  /** Shorter window that reacts to bursts; KPA uses 10% of the stable window. */
  panicWindowMs: number;
  /** Enter panic when the panic window wants this many times the current instances. */
  panicThreshold: number;
}

export interface ConcurrencySample {
  /** When the sample was taken (ms). */
  at: number;
  /** In-flight plus queued requests at that moment. */
  concurrency: number;
}

export interface ScalingStats {
  samples: readonly ConcurrencySample[];
  /** Instances ready or starting now. */
  current: number;
  /** When the version last entered panic mode, if it is in it. */
  panicSince?: number;
  /**
   * Requests the activator holds now for want of an instance, and those in flight beside them. Requests
   * that wait are demand the windows have not seen yet: the count never falls below what they need.
   */
  demand?: { waiting: number; inflight: number };
}

export interface ScalingDecision {
  desired: number;
  /** stable and panic as in Knative's KPA; demand: requests wait now and need more than the windows say. */
  mode: "stable" | "panic" | "demand";
  panicSince?: number;
  /** Why this number: for events and for `strata instances`. */
  reason: string;
}

export const DEFAULT_WINDOWS = { stableWindowMs: 60_000, panicWindowMs: 6_000, panicThreshold: 2 } as const;

function average(samples: readonly ConcurrencySample[], from: number): number | undefined {
  let sum = 0;
  let n = 0;
  for (const s of samples) {
    if (s.at <= from) continue; // a window of N ms holds the samples of the last N ms, not N ms + 1
    sum += s.concurrency;
    n++;
  }
  return n === 0 ? undefined : sum / n;
}

const clamp = (n: number, t: ScalingTargets) => Math.min(t.maxInstances, Math.max(t.minInstances, n));

export function decide(stats: ScalingStats, now: number, t: ScalingTargets): ScalingDecision {
  const windows = fromWindows(stats, now, t);
  const waiting = stats.demand?.waiting ?? 0;
  if (waiting === 0) return windows;
  const concurrent = waiting + stats.demand!.inflight;
  const need = clamp(Math.ceil(concurrent / t.targetPerInstance), t);
  if (need <= windows.desired) return windows;
  return { ...windows, desired: need, mode: "demand", reason: `demand: ${waiting} waiting + ${stats.demand!.inflight} in flight wants ${need}` };
}

function fromWindows(stats: ScalingStats, now: number, t: ScalingTargets): ScalingDecision {
  const stableAvg = average(stats.samples, now - t.stableWindowMs);
  const panicAvg = average(stats.samples, now - t.panicWindowMs);
  if (stableAvg === undefined || panicAvg === undefined) {
    return { desired: clamp(stats.current, t), mode: "stable", reason: "no samples yet: keep the current count" };
  }
  const stableWant = Math.ceil(stableAvg / t.targetPerInstance);
  const panicWant = Math.ceil(panicAvg / t.targetPerInstance);
  const inPanic = stats.panicSince !== undefined;
  // Panic only when it could change something: what the burst wants, within max_instances, is well above
  // what runs now (from zero, any burst that wants several instances).
  const reachable = clamp(panicWant, t);
  const shouldPanic = stats.current > 0 ? reachable >= t.panicThreshold * stats.current : reachable >= t.panicThreshold;
  if (shouldPanic || (inPanic && now - stats.panicSince! < t.stableWindowMs)) {
    // In panic the count only grows, until a whole stable window has passed without a new burst.
    const since = shouldPanic && !inPanic ? now : stats.panicSince!;
    const desired = clamp(Math.max(stats.current, panicWant), t);
    return {
      desired,
      mode: "panic",
      panicSince: shouldPanic ? now : since,
      reason: `panic: ${panicAvg.toFixed(1)} concurrent over the last ${t.panicWindowMs / 1000} s wants ${panicWant}`,
    };
  }
  const desired = clamp(stableWant, t);
  const capped = desired !== stableWant ? ` (held within ${t.minInstances}..${t.maxInstances})` : "";
  return { desired, mode: "stable", reason: `stable: ${stableAvg.toFixed(1)} concurrent over ${t.stableWindowMs / 1000} s wants ${stableWant}${capped}` };
}
