import { test } from "node:test";
import assert from "node:assert/strict";
import { decide, type ConcurrencySample, type ScalingTargets } from "../../../src/scheduler/autoscaler.js";

const T: ScalingTargets = { minInstances: 0, maxInstances: 10, targetPerInstance: 6, stableWindowMs: 60_000, panicWindowMs: 6_000, panicThreshold: 2 };

/** One sample a second for `seconds` seconds ending at `now`, each of `concurrency`. */
function steady(now: number, seconds: number, concurrency: number): ConcurrencySample[] {
  return Array.from({ length: seconds }, (_, i) => ({ at: now - (seconds - 1 - i) * 1000, concurrency }));
}

const NOW = 1_000_000;

const cases: Array<{ name: string; samples: ConcurrencySample[]; current: number; panicSince?: number; targets?: Partial<ScalingTargets>; desired: number; mode: "stable" | "panic" }> = [
  { name: "no samples keeps the current count", samples: [], current: 3, desired: 3, mode: "stable" },
  { name: "idle for a whole window scales to zero", samples: steady(NOW, 60, 0), current: 2, desired: 0, mode: "stable" },
  { name: "idle with min_instances keeps the minimum", samples: steady(NOW, 60, 0), current: 2, targets: { minInstances: 1 }, desired: 1, mode: "stable" },
  { name: "steady 12 concurrent at 6 per instance wants 2", samples: steady(NOW, 60, 12), current: 2, desired: 2, mode: "stable" },
  { name: "steady 13 concurrent rounds up to 3", samples: steady(NOW, 60, 13), current: 3, desired: 3, mode: "stable" },
  { name: "a load above max_instances is held at max", samples: steady(NOW, 60, 600), current: 10, desired: 10, mode: "stable" },
  {
    name: "a burst in the panic window panics and scales up at once",
    samples: [...steady(NOW - 6000, 54, 6), ...steady(NOW, 6, 50)],
    current: 1,
    desired: 9,
    mode: "panic",
  },
  {
    name: "from zero, 50 concurrent requests start ceil(50/6) = 9 instances",
    samples: steady(NOW, 1, 50),
    current: 0,
    desired: 9,
    mode: "panic",
  },
  {
    name: "in panic the count never shrinks while the window lasts",
    samples: [...steady(NOW - 6000, 54, 30), ...steady(NOW, 6, 6)],
    current: 8,
    panicSince: NOW - 10_000,
    desired: 8,
    mode: "panic",
  },
  {
    name: "panic ends a stable window after it began",
    samples: steady(NOW, 60, 6),
    current: 8,
    panicSince: NOW - 61_000,
    desired: 1,
    mode: "stable",
  },
];

for (const c of cases) {
  test(`decide: ${c.name}`, () => {
    const r = decide({ samples: c.samples, current: c.current, ...(c.panicSince !== undefined && { panicSince: c.panicSince }) }, NOW, { ...T, ...c.targets });
    assert.equal(r.desired, c.desired, r.reason);
    assert.equal(r.mode, c.mode, r.reason);
    assert.ok(r.reason.length > 0);
  });
}

test("decide: samples older than the stable window do not count", () => {
  const old = steady(NOW - 120_000, 60, 60);
  const r = decide({ samples: [...old, ...steady(NOW, 60, 6)], current: 1 }, NOW, T);
  assert.equal(r.desired, 1);
});
