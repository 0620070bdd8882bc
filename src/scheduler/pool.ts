import type { ScalingPolicy } from "../config/index.js";
import type { Instance } from "../sandbox/index.js";
import type { VersionRecord } from "../store/index.js";
import { DEFAULT_WINDOWS, type ConcurrencySample, type ScalingDecision, type ScalingTargets } from "./autoscaler.js";
import { Signal } from "./clock.js";

export type SlotState = "starting" | "ready" | "draining";

/** One instance as the scheduler tracks it. */
export interface Slot {
  id: string;
  state: SlotState;
  instance: Instance | undefined;
  inflight: number;
  lastActive: number;
  startedAt: number;
  /** OOM kills seen so far inside this instance (a worker process killed while the instance lives on). */
  oomKills: number;
  /** Set once the slot is being stopped, so a drain and a scale-down that pick it both wait on one stop. */
  stopped?: Promise<void>;
  /** A health check (the safety net's inspect()) is under way; the next tick does not start another. */
  checking?: boolean;
  /** The instance's memory high-water mark at the last health check, and when that was (clock ms). */
  peakMemoryBytes?: number;
  sampledAt?: number;
  /** Start → ready, ms, of an instance restored from a snapshot (a function's REPORT shows it as Restore Duration). */
  restoreMs?: number;
}

export interface Waiter {
  resolve: (slot: Slot) => void;
  reject: (err: Error) => void;
  /** Cancels the wait's deadline. */
  cancel: () => void;
}

/** Everything the scheduler knows about one version: its instances, its queued requests, its crashes. */
export class VersionPool {
  readonly slots = new Map<string, Slot>();
  readonly waiters: Waiter[] = [];
  /** Exit times of recent crashes, for backoff and crash-loop detection. */
  crashes: number[] = [];
  nextRestartAt = 0;
  lastError: string | undefined;
  /** In-flight + queued requests, one sample per scheduler tick, over the last stable window. */
  samples: ConcurrencySample[] = [];
  panicSince: number | undefined;
  /** Lost its traffic: its instances finish what is queued for them, and no new one starts. */
  draining = false;
  /** The autoscaler's last decision for this version, with its mode and reason (strata instances, metrics). */
  decision: ScalingDecision | undefined;
  /** Notified when a slot's in-flight count, a slot's state or the queue changes: drains wait on it. */
  readonly changed = new Signal();
  readonly targets: ScalingTargets;

  constructor(
    public version: VersionRecord,
    public policy: ScalingPolicy,
  ) {
    const stableWindowMs = Math.min(DEFAULT_WINDOWS.stableWindowMs, policy.idleTimeoutMs ?? DEFAULT_WINDOWS.stableWindowMs);
    this.targets = {
      minInstances: policy.kind === "manual" ? (policy.instances ?? 1) : policy.minInstances,
      maxInstances: policy.kind === "manual" ? (policy.instances ?? 1) : policy.maxInstances,
      // App Engine aims each instance at max_concurrent_requests × target_throughput_utilization.
      targetPerInstance: Math.max(1, Math.round(policy.targetConcurrency * policy.targetThroughputUtilization)),
      stableWindowMs,
      panicWindowMs: Math.max(1000, Math.round(stableWindowMs / 10)),
      panicThreshold: DEFAULT_WINDOWS.panicThreshold,
    };
  }

  inflightAndQueued(): number {
    let n = this.waiters.length;
    for (const s of this.slots.values()) if (s.state !== "draining") n += s.inflight;
    return n;
  }

  get key(): string {
    return `${this.version.app}/${this.version.version}`;
  }

  count(state?: SlotState): number {
    let n = 0;
    for (const s of this.slots.values()) if (state === undefined ? s.state !== "draining" : s.state === state) n++;
    return n;
  }

  /** The ready instance with the most free capacity below the concurrency target, if any. */
  pickReady(): Slot | undefined {
    let best: Slot | undefined;
    for (const s of this.slots.values()) {
      if (s.state !== "ready" || s.inflight >= this.policy.targetConcurrency) continue;
      if (!best || s.inflight < best.inflight) best = s;
    }
    return best;
  }

  crashLooping(now: number): boolean {
    return this.crashes.filter((t) => now - t < 60_000).length >= 3;
  }
}
