import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { decide } from "../../../src/scheduler/autoscaler.js";
import { Scheduler } from "../../../src/scheduler/scheduler.js";
import type { Lease } from "../../../src/router/backend.js";
import { FakeClock, FakeDriver, FakeReadiness, nullLogs, readyVersion, tempStore } from "./fakes.js";

test("a driver whose inspect() hangs 10 s does not delay another app's scale-up", { timeout: 30_000 }, async (t) => {
  const store = await tempStore(t);
  const hanging = new FakeDriver({ name: "crun", inspectDelayMs: 10_000 });
  const healthy = new FakeDriver({ name: "runc" });
  const drivers = { get: (n: string) => [hanging, healthy].find((d) => d.name === n), sweep: async () => undefined };
  const scheduler = new Scheduler({ store, drivers, logs: nullLogs, readiness: new FakeReadiness(), drainGraceMs: 0 });
  const leases: Lease[] = [];
  try {
    // The hanging app comes first, so a tick that went version by version would wait on it before the other.
    const slow = readyVersion(store, "slow", "crun");
    const busy = readyVersion(store, "busy", "runc");
    await scheduler.warm(slow, () => undefined);
    await scheduler.warm(busy, () => undefined);
    scheduler.start();
    // 8 requests on one instance (it takes up to 10): none waits, so only the autoscaler's tick can add one.
    leases.push(...(await Promise.all(Array.from({ length: 8 }, () => scheduler.acquire("busy", "v1")))));
    const began = Date.now();
    while (healthy.states.size < 2 && Date.now() - began < 10_000) await sleep(20);
    const tookMs = Date.now() - began;
    assert.equal(healthy.states.size, 2, "the busy app got its second instance");
    assert.ok(tookMs < 2_000, `the busy app scaled up after ${tookMs} ms`);
    const why = scheduler.scaling("busy")[0]!;
    assert.equal(why.desired, 2);
    assert.match(why.reason, /wants 2/);
  } finally {
    // Before the store closes (the test context's after hook): the stops write to it.
    for (const l of leases) l.release();
    await scheduler.shutdown();
  }
});

test("a driver whose inspect() hangs 10 s does not delay another instance's replacement", { timeout: 30_000 }, async (t) => {
  const store = await tempStore(t);
  const hanging = new FakeDriver({ name: "crun", inspectDelayMs: 10_000 });
  const healthy = new FakeDriver({ name: "runc" });
  const drivers = { get: (n: string) => [hanging, healthy].find((d) => d.name === n), sweep: async () => undefined };
  const scheduler = new Scheduler({ store, drivers, logs: nullLogs, readiness: new FakeReadiness(), drainGraceMs: 0 });
  try {
    const one = { automatic_scaling: { min_instances: 1 } };
    await scheduler.warm(readyVersion(store, "slow", "crun", one), () => undefined);
    await scheduler.warm(readyVersion(store, "steady", "runc", one), () => undefined);
    scheduler.start();
    // Its exit is not pushed: only the health check finds it, in the same tick as the hanging inspects.
    const [first] = [...healthy.states.keys()];
    healthy.exit(first!, { status: "exited", code: 1, reason: "exited" }, false);
    const began = Date.now();
    const running = () => [...healthy.states].filter(([id, s]) => id !== first && s.status === "running").length;
    while (running() < 1 && Date.now() - began < 10_000) await sleep(20);
    const tookMs = Date.now() - began;
    assert.equal(running(), 1, "the steady app got a new instance");
    // Two ticks (find, then start); a wait on the hanging inspects would take 10 s.
    assert.ok(tookMs < 5_000, `the exited instance was replaced after ${tookMs} ms`);
    assert.deepEqual(healthy.stopped, [first]);
  } finally {
    await scheduler.shutdown();
  }
});

test("release: a version without traffic is released once its last instance idles out; one with traffic keeps its preparation; a drained one is released", { timeout: 30_000 }, async (t) => {
  const store = await tempStore(t);
  const driver = new FakeDriver();
  const drivers = { get: (n: string) => (n === driver.name ? driver : undefined), sweep: async () => undefined };
  const scheduler = new Scheduler({ store, drivers, logs: nullLogs, readiness: new FakeReadiness(), drainGraceMs: 0 });
  try {
    const idle = { automatic_scaling: { min_instances: 0, idle_timeout: "1s" } };
    readyVersion(store, "pinned", "runc", idle); // reached only at v1-dot-pinned: no traffic
    readyVersion(store, "served", "runc", idle);
    store.setTraffic({ app: "served", splitBy: "random", allocations: { v1: 1 } });
    scheduler.start();
    for (const app of ["pinned", "served"]) (await scheduler.acquire(app, "v1")).release();
    const began = Date.now();
    while (driver.stopped.length < 2 && Date.now() - began < 10_000) await sleep(50);
    assert.equal(driver.stopped.length, 2, "both idled out to zero instances");
    await sleep(1_200); // the tick after the last stop
    assert.deepEqual(driver.releasedKeys, ["pinned/v1"]);
    assert.deepEqual(scheduler.scaling("pinned"), [], "the unused version's pool is gone");

    // The next request at its own URL prepares it again; the served version's preparation was kept.
    (await scheduler.acquire("pinned", "v1")).release();
    (await scheduler.acquire("served", "v1")).release();
    assert.deepEqual(driver.preparedKeys.sort(), ["pinned/v1", "pinned/v1", "served/v1"]);

    // Traffic moved away (or the version deleted): drain stops it and releases its preparation.
    await scheduler.drain("served", "v1");
    assert.deepEqual(driver.releasedKeys, ["pinned/v1", "served/v1"]);
  } finally {
    await scheduler.shutdown();
  }
});

const T = { minInstances: 0, maxInstances: 10, targetPerInstance: 6, stableWindowMs: 60_000, panicWindowMs: 6_000, panicThreshold: 2 };

const demandCases = [
  { name: "requests waiting on a cold version want what they need", waiting: 13, inflight: 0, current: 0, desired: 3, mode: "demand" },
  { name: "waiting plus in-flight requests count together", waiting: 2, inflight: 10, current: 1, desired: 2, mode: "demand" },
  { name: "demand is held within max_instances", waiting: 100, inflight: 0, current: 0, desired: 10, mode: "demand" },
  { name: "no request waiting: the windows decide", waiting: 0, inflight: 10, current: 1, desired: 1, mode: "stable" },
] as const;

for (const c of demandCases) {
  test(`autoscaler demand: ${c.name}`, () => {
    const d = decide({ samples: [], current: c.current, demand: { waiting: c.waiting, inflight: c.inflight } }, 1_000_000, T);
    assert.equal(d.desired, c.desired);
    assert.equal(d.mode, c.mode);
    assert.ok(d.reason.length > 0);
  });
}

test("an idle version keeps its last instance until its idle timeout, though the autoscaler's window wants none after a short request", { timeout: 30_000 }, async (t) => {
  const store = await tempStore(t);
  const driver = new FakeDriver();
  const drivers = { get: (n: string) => (n === driver.name ? driver : undefined), sweep: async () => undefined };
  const clock = new FakeClock();
  const scheduler = new Scheduler({ store, drivers, logs: nullLogs, readiness: new FakeReadiness(), drainGraceMs: 0, clock });
  /** Moves the clock, then lets the real 500 ms ticks see the new time. */
  const after = async (ms: number) => {
    await clock.advance(ms);
    await sleep(1_200);
  };
  try {
    readyVersion(store, "quiet", "runc", { automatic_scaling: { min_instances: 0, idle_timeout: "5m" } });
    scheduler.start();
    // A request shorter than a tick: no sample sees it, so the window's average is 0 and the autoscaler wants 0.
    (await scheduler.acquire("quiet", "v1")).release();
    await after(70_000); // past the 60 s window and the 10 s scale-down delay
    assert.equal(scheduler.scaling("quiet")[0]?.desired, 0);
    assert.deepEqual(driver.stopped, [], "the last instance stays for the idle timeout");
    await after(240_000); // 5 min 10 s idle
    assert.equal(driver.stopped.length, 1, "past its idle timeout the version goes to zero");
  } finally {
    await scheduler.shutdown();
  }
});
