import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { decide } from "../../../src/scheduler/autoscaler.js";
import { Scheduler } from "../../../src/scheduler/scheduler.js";
import type { Lease } from "../../../src/router/backend.js";
import { FakeClock, FakeDriver, FakeReadiness, nullLogs, readyVersion, settle, tempStore } from "./fakes.js";

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

test("a slow starter: a request queued longer than the activator's wait gets the clear refusal, the start goes on within the app's budget, and the next request gets the instance", async (t) => {
  const store = await tempStore(t);
  const clock = new FakeClock();
  const driver = new FakeDriver();
  const readiness = new FakeReadiness();
  const drivers = { get: (n: string) => (n === driver.name ? driver : undefined), sweep: async () => undefined };
  const scheduler = new Scheduler({ store, drivers, logs: nullLogs, readiness, clock, drainGraceMs: 0, maxWaitMs: 30_000, readyTimeoutMs: 5_000 });
  try {
    readyVersion(store, "slow", "runc", { readiness_check: { app_start_timeout_sec: 300 } });
    let open!: () => void;
    readiness.gate = new Promise<void>((r) => (open = r));
    const first = scheduler.acquire("slow", "v1").then(() => "served", (e: Error) => e.message);
    await settle();
    assert.deepEqual(readiness.budgets.map((b) => b.timeoutMs), [300_000], "the start got the app's budget, not the daemon's 5 s");
    await clock.advance(30_000);
    assert.equal(await first, "no instance of slow/v1 became ready within 30000 ms; an instance is still starting, try again shortly");
    assert.equal(driver.stopped.length, 0, "the instance still starts");
    open(); // the app listens, 30 s in: within its 300 s
    await settle();
    const lease = await scheduler.acquire("slow", "v1");
    assert.equal(driver.states.size, 1, "served by the instance that was starting, not a new one");
    assert.ok(driver.states.has(lease.instanceId));
    lease.release();
  } finally {
    await scheduler.shutdown();
  }
});

test("a deploy's warm-up waits for a start already under way (a request at the version's own URL began it) instead of calling the version ready", async (t) => {
  const store = await tempStore(t);
  const clock = new FakeClock();
  const driver = new FakeDriver();
  const readiness = new FakeReadiness();
  const drivers = { get: (n: string) => (n === driver.name ? driver : undefined), sweep: async () => undefined };
  const scheduler = new Scheduler({ store, drivers, logs: nullLogs, readiness, clock, drainGraceMs: 0 });
  try {
    const v = readyVersion(store, "early", "runc", { readiness_check: { app_start_timeout_sec: 300 } });
    let open!: () => void;
    readiness.gate = new Promise<void>((r) => (open = r));
    const request = scheduler.acquire("early", "v1");
    await settle();
    let warmed = false;
    const warming = scheduler.warm(v, () => undefined).then(() => void (warmed = true));
    await clock.advance(20_000); // within the request's 30 s in the activator
    assert.equal(warmed, false, "not ready while its one instance still starts");
    assert.equal(driver.states.size, 1, "no second instance for the deploy");
    open();
    await warming;
    (await request).release();
  } finally {
    await scheduler.shutdown();
  }
});

/** A scheduler on a fake clock whose one driver's start is held at readiness until the test opens it. */
async function warmHarness(t: import("node:test").TestContext, driverOpts: { snapshots?: boolean }, scaling: Record<string, unknown> = {}) {
  const store = await tempStore(t);
  const clock = new FakeClock();
  const driver = new FakeDriver({ name: "kata", ...driverOpts });
  const readiness = new FakeReadiness();
  const drivers = { get: (n: string) => (n === driver.name ? driver : undefined), sweep: async () => undefined };
  const scheduler = new Scheduler({ store, drivers, logs: nullLogs, readiness, clock, drainGraceMs: 0 });
  const v = readyVersion(store, "java", "kata", { readiness_check: { app_start_timeout_sec: 600 }, ...scaling });
  let open!: () => void;
  readiness.gate = new Promise<void>((r) => (open = r));
  const lines: string[] = [];
  let done = false;
  const warming = scheduler.warm(v, (l) => lines.push(l)).then(() => void (done = true));
  await settle();
  return { scheduler, clock, driver, lines, open, warming, done: () => done };
}

const warmCases: Array<{ name: string; snapshots: boolean; scaling?: Record<string, unknown>; run: (h: Awaited<ReturnType<typeof warmHarness>>) => Promise<void> }> = [
  {
    name: "a slow start streams progress within the app's budget; with snapshots on, the deploy waits for the snapshot and says what it took",
    snapshots: true,
    async run({ clock, driver, lines, open, warming, done }) {
      assert.deepEqual(lines, ["starting 1 instance of java/v1 (kata; up to 600 s to listen: app.yaml readiness_check.app_start_timeout_sec)"]);
      await clock.advance(150_000); // past the kata default of 120 s: the app's own budget holds
      assert.equal(lines.filter((l) => /^still starting \(\d+ s of 600 s\)$/.test(l)).length, 10);
      open();
      await settle();
      assert.match(lines.at(-2) ?? "", /^ready in 150000 ms$/);
      assert.match(lines.at(-1) ?? "", /^snapshot: sending i\w+ its first request, then snapshotting it/);
      assert.equal(done(), false, "the deploy waits for the snapshot");
      driver.snapshot({ kind: "taken", answeredMs: 151_200, tookMs: 4_300, bytes: 300 * 1024 * 1024 });
      await warming;
      assert.equal(lines.at(-1), "snapshot: answered its first request 151.2 s after it started; snapshot taken in 4.3 s (300 MiB): a scale from zero restores it");
    },
  },
  {
    name: "a snapshot that is not written within the budget does not hold the deploy",
    snapshots: true,
    async run({ clock, lines, open, warming }) {
      open();
      await settle();
      await clock.advance(600_000);
      await warming;
      assert.match(lines.at(-1) ?? "", /^snapshot: not written within 600 s; it goes on in the background/);
    },
  },
  {
    name: "the instance being snapshotted is not idled out under a short idle_timeout: its first request is in flight",
    snapshots: true,
    scaling: { automatic_scaling: { min_instances: 0, idle_timeout: "1s" } },
    async run({ scheduler, clock, driver, open, warming }) {
      open();
      await settle();
      scheduler.start();
      await clock.advance(10_000);
      await sleep(1_200); // two ticks of the reconciler (real time), each at the fake clock's 10 s idle
      assert.deepEqual(driver.stopped, [], "kept while its snapshot is under way");
      driver.snapshot({ kind: "taken", answeredMs: 1_000, tookMs: 500, bytes: 1 });
      await warming;
      await clock.advance(10_000);
      const began = Date.now();
      while (driver.stopped.length === 0 && Date.now() - began < 5_000) await sleep(50);
      assert.equal(driver.stopped.length, 1, "idled out once the snapshot was taken");
    },
  },
  {
    name: "a snapshot that failed is said, and the deploy goes on",
    snapshots: true,
    async run({ driver, lines, open, warming }) {
      open();
      await settle();
      driver.snapshot({ kind: "none", reason: "the instance stopped before it answered a first request" });
      await warming;
      assert.equal(lines.at(-1), "snapshot: none taken (the instance stopped before it answered a first request); later starts boot");
    },
  },
  {
    name: "snapshots off: no warm-up beyond the start",
    snapshots: false,
    async run({ lines, open, warming }) {
      open();
      await warming;
      assert.equal(lines.length, 2);
      assert.match(lines[1] ?? "", /^ready in \d+ ms$/);
    },
  },
];

for (const c of warmCases) {
  test(`deploy warm-up: ${c.name}`, async (t) => {
    const h = await warmHarness(t, { snapshots: c.snapshots }, c.scaling);
    try {
      await c.run(h);
    } finally {
      await h.scheduler.shutdown(); // before the store closes (the test context's after hook): the stops write to it
    }
  });
}

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
