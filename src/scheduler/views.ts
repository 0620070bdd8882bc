import type { InstanceState, SandboxDriver } from "../sandbox/index.js";
import type { PoolSnapshot } from "../metrics/index.js";
import type { VersionRecord } from "../store/index.js";
import { within, type Clock } from "./clock.js";
import type { Slot, VersionPool } from "./pool.js";
import { INSPECT_BUDGET_MS } from "./supervisor.js";

/** What the scheduler runs, as `strata instances`, the API and the metrics show it. */
export interface InstanceView {
  id: string;
  version: string;
  driver: string;
  /** How the driver runs it, where it says (gVisor: platform and network stack). */
  detail?: string;
  state: string;
  endpoint: string;
  inflight: number;
  cpuMs?: number;
  memoryBytes?: number;
  peakMemoryBytes?: number;
  startedAt: number;
}

export interface ScalingView {
  version: string;
  current: number;
  desired: number;
  mode: string;
  reason: string;
}

/** One row per instance; each inspect() is bounded, and all run at once, so one slow driver delays no row but its own. */
export function describeInstances(pools: readonly VersionPool[], driverOf: (v: VersionRecord) => SandboxDriver, clock: Clock): Promise<InstanceView[]> {
  const rows = pools.flatMap((pool) => [...pool.slots.values()].map((s) => ({ pool, s })));
  return Promise.all(
    rows.map(async ({ pool, s }) => {
      const driver = driverOf(pool.version);
      const st = s.instance ? await within<InstanceState | undefined>(clock, INSPECT_BUDGET_MS, driver.inspect(s.instance), () => undefined) : undefined;
      const ep = s.instance?.endpoint;
      return {
        id: s.id,
        version: pool.version.version,
        driver: driver.name,
        ...(s.instance?.detail !== undefined && { detail: s.instance.detail }),
        state: pool.crashLooping(clock.now()) ? `${s.state} (crash-looping)` : s.state,
        endpoint: !ep ? "-" : "socket" in ep ? ep.socket : `${ep.host}:${ep.port}`,
        inflight: s.inflight,
        ...(st?.status === "running" && st.cpuMs !== undefined && { cpuMs: st.cpuMs }),
        ...(st?.status === "running" && st.memoryBytes !== undefined && { memoryBytes: st.memoryBytes }),
        ...(st?.status === "running" && st.peakMemoryBytes !== undefined && { peakMemoryBytes: st.peakMemoryBytes }),
        startedAt: s.startedAt,
      };
    }),
  );
}

/** The autoscaler's last decision per version, with its mode and reason. */
export function scalingOf(pools: readonly VersionPool[]): ScalingView[] {
  return pools.map((p) => ({
    version: p.version.version,
    current: p.count(),
    desired: p.decision?.desired ?? p.count(),
    mode: p.decision?.mode ?? "stable",
    reason: p.decision?.reason ?? "not decided yet",
  }));
}

export function snapshotOf(pools: Iterable<VersionPool>): PoolSnapshot[] {
  return [...pools].map((p) => {
    const instances = { starting: 0, ready: 0, draining: 0 };
    let inflight = 0;
    for (const s of p.slots.values()) {
      instances[s.state]++;
      inflight += s.inflight;
    }
    return { app: p.version.app, version: p.version.version, instances, queued: p.waiters.length, inflight, ...(p.decision && { desired: p.decision.desired, mode: p.decision.mode }) };
  });
}

/**
 * A slot's memory high-water mark from the first health check at or after `since` (every instance is
 * inspected each tick anyway), so a caller gets the peak of work that ended at `since` without an inspect()
 * of its own. Undefined when the driver does not tell, or the instance is gone.
 */
export async function peakMemoryAfter(slot: Slot, since: number, tickMs: number, clock: Clock): Promise<number | undefined> {
  const deadline = since + 4 * tickMs;
  while ((slot.sampledAt ?? 0) < since && slot.state === "ready" && clock.now() < deadline) {
    await new Promise<void>((resolve) => clock.timer(tickMs / 5, resolve));
  }
  return slot.peakMemoryBytes;
}
