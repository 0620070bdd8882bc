import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { functionVersionSpec, parseFunctionYaml, storedSpec } from "../../../src/config/index.js";
import { policyOf } from "../../../src/scheduler/instance-spec.js";
import { VersionPool } from "../../../src/scheduler/pool.js";
import { recoverInstances } from "../../../src/scheduler/recovery.js";
import { INSPECT_BUDGET_MS, Supervisor } from "../../../src/scheduler/supervisor.js";
import { FakeClock, FakeDriver, FakeReadiness, nullLogs, readyVersion, settle, tempStore, type FakeDriverOptions } from "./fakes.js";

async function harness(t: TestContext, driverOpts: FakeDriverOptions = {}, extra: { spec?: Record<string, unknown>; readyTimeoutMs?: number } = {}) {
  const clock = new FakeClock();
  const store = await tempStore(t);
  const driver = new FakeDriver(driverOpts);
  const readiness = new FakeReadiness();
  const failedStarts: string[] = [];
  let swept: ReadonlySet<string> | undefined;
  const drivers = { get: (n: string) => (n === driver.name ? driver : undefined), sweep: async (keep: ReadonlySet<string>) => void (swept = keep) };
  const sup = new Supervisor({
    store, drivers, logs: nullLogs, clock, readiness, drainGraceMs: 30_000, onChange: (_p, failed) => void (failed && failedStarts.push(failed)),
    runtimeApi: () => "127.0.0.1:9001", // where a function instance's runtime would find the daemon's Runtime API
    ...(extra.readyTimeoutMs !== undefined && { readyTimeoutMs: extra.readyTimeoutMs }),
  });
  const v = readyVersion(store, "app", driver.name, extra.spec);
  const pool = new VersionPool(v, policyOf(v));
  const events = (type?: string) => store.listEvents({ app: "app" }).filter((e) => !type || e.type === type);
  return { clock, store, driver, readiness, sup, pool, failedStarts, events, drivers, swept: () => swept };
}

type H = Awaited<ReturnType<typeof harness>>;

/** Version v1 of function "fn" on the harness's driver. */
function functionVersion({ store, driver }: H) {
  const base = readyVersion(store, "fn", driver.name);
  const v = { ...base, spec: storedSpec(functionVersionSpec(parseFunctionYaml("runtime: nodejs20.x\nhandler: index.handler\n"))) };
  store.putVersion(v);
  return v;
}

/** functionVersion(), with a stored instance `id` of it. */
function functionWithInstance(h: H, id: string) {
  const { store, driver } = h;
  const v = functionVersion(h);
  store.putInstance({ id, app: "fn", version: "v1", driver: driver.name, endpoint: { host: "10.0.0.9", port: 8080 }, handle: { id, driver: driver.name, data: {} }, createdAt: new Date().toISOString() });
  return v;
}

const cases: Array<{ name: string; driver?: FakeDriverOptions; spec?: Record<string, unknown>; readyTimeoutMs?: number; run: (h: H) => Promise<void> }> = [
  {
    name: "start budget: an app without readiness_check gets its driver's cold-start class, and the hint says how to change it",
    async run({ sup, pool, readiness }) {
      await sup.start(pool);
      assert.equal(readiness.budgets[0]?.timeoutMs, 30_000);
      assert.match(readiness.budgets[0]?.hint ?? "", /^30 s, the runc default; an app that needs longer sets readiness_check: \{ app_start_timeout_sec: N \} in app\.yaml/);
    },
  },
  {
    name: "start budget: the daemon's default (config.yaml) replaces the class",
    readyTimeoutMs: 2_000,
    async run({ sup, pool, readiness }) {
      await sup.start(pool);
      assert.equal(readiness.budgets[0]?.timeoutMs, 2_000);
    },
  },
  {
    name: "start budget: app.yaml readiness_check.app_start_timeout_sec wins over the daemon's default, for every start of the app",
    spec: { readiness_check: { app_start_timeout_sec: 900 } },
    readyTimeoutMs: 2_000,
    async run({ sup, pool, readiness }) {
      await sup.start(pool);
      await sup.start(pool);
      assert.deepEqual(readiness.budgets.map((b) => b.timeoutMs), [900_000, 900_000]);
      assert.match(readiness.budgets[0]?.hint ?? "", /^900 s, app\.yaml readiness_check\.app_start_timeout_sec/);
    },
  },
  {
    name: "a start the driver refuses leaves no slot, records the crash and tells the reconciler why",
    driver: { startError: "no such image" },
    async run({ sup, pool, failedStarts, events }) {
      await assert.rejects(sup.start(pool), /failed to start: no such image/);
      assert.equal(pool.slots.size, 0);
      assert.equal(pool.crashes.length, 1);
      assert.match(failedStarts[0] ?? "", /no such image/);
      assert.equal(events("instance.failed").length, 1);
    },
  },
  {
    name: "a start that never gets ready is stopped, and its record removed",
    async run({ sup, pool, driver, readiness, store }) {
      readiness.fail = "the app did not listen on its port within 30000 ms";
      await assert.rejects(sup.start(pool), /did not listen/);
      assert.equal(driver.stopped.length, 1);
      assert.deepEqual(store.listInstances(), []);
      assert.equal(pool.slots.size, 0);
    },
  },
  {
    name: "crash backoff: 0, 0.5 s, 1 s, 2 s … doubling to a 30 s cap within the crash window",
    async run({ sup, pool, clock, driver }) {
      const waits: number[] = [];
      for (let i = 0; i < 9; i++) {
        const slot = await sup.start(pool);
        driver.exit(slot.id, { status: "exited", code: 1, reason: "exited" });
        await settle();
        waits.push(pool.nextRestartAt - clock.now());
      }
      assert.deepEqual(waits, [0, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
    },
  },
  {
    name: "crash loop: three crashes within a minute are one; three spread over more than a minute are not",
    async run({ sup, pool, clock, driver }) {
      for (const gap of [40_000, 40_000]) {
        const slot = await sup.start(pool);
        driver.exit(slot.id, { status: "exited", code: 1, reason: "exited" });
        await clock.advance(gap);
      }
      const third = await sup.start(pool);
      driver.exit(third.id, { status: "exited", code: 1, reason: "exited" });
      await settle();
      assert.equal(pool.crashLooping(clock.now()), false, "the first crash is 80 s old");
      const fourth = await sup.start(pool);
      driver.exit(fourth.id, { status: "exited", code: 1, reason: "exited" });
      await settle();
      assert.equal(pool.crashLooping(clock.now()), true);
    },
  },
  {
    name: "a function's runtime that ends during an invocation is no crash (that invocation fails, as on Lambda); one that ends idle is, and so is an app's",
    async run(h) {
      const { sup, driver, clock, pool: appPool } = h;
      const v = functionVersion(h);
      const pool = new VersionPool(v, policyOf(v));
      for (let i = 0; i < 3; i++) {
        const slot = await sup.start(pool);
        slot.inflight = 1; // an invocation holds it
        driver.exit(slot.id, { status: "exited", code: 137, reason: "oom-killed" });
        await settle();
        slot.inflight = 0; // the invocation fails once the endpoint is gone (onEndpointGone), which ends the drain
        pool.changed.notify();
        await settle();
        assert.equal(pool.slots.size, 0, "the ended instance is retired");
      }
      assert.deepEqual(pool.crashes, []);
      assert.equal(pool.crashLooping(clock.now()), false, "three invocations that killed their runtime do not refuse the next");
      assert.ok(pool.nextRestartAt <= clock.now(), "the next invocation's instance starts without backoff");
      const idle = await sup.start(pool);
      driver.exit(idle.id, { status: "exited", code: 1, reason: "exited" });
      await settle();
      assert.equal(pool.crashes.length, 1, "a runtime that ends between invocations crashed");
      const app = await sup.start(appPool);
      app.inflight = 1;
      driver.exit(app.id, { status: "exited", code: 1, reason: "exited" });
      await settle();
      app.inflight = 0;
      appPool.changed.notify();
      await settle();
      assert.equal(appPool.crashes.length, 1, "an app that ends while serving a request crashed");
    },
  },
  {
    name: "an exit the driver pushes retires the instance at once, without a health check",
    async run({ sup, pool, driver, events }) {
      const slot = await sup.start(pool);
      driver.exit(slot.id, { status: "exited", code: 137, reason: "oom-killed" });
      await settle();
      assert.equal(pool.slots.size, 0);
      assert.deepEqual(driver.stopped, [slot.id]);
      assert.match(events("instance.failed")[0]?.message ?? "", /oom-killed \(code 137\); reported by its driver/);
    },
  },
  {
    name: "drain during scale-down: the stop waits for the in-flight request, then stops",
    async run({ sup, pool, driver, clock }) {
      const slot = await sup.start(pool);
      slot.inflight = 1;
      const stopping = sup.stop(pool, slot, "idle for 20 s");
      await clock.advance(5_000);
      assert.equal(slot.state, "draining");
      assert.deepEqual(driver.stopped, [], "not stopped while a request is in flight");
      slot.inflight = 0;
      pool.changed.notify();
      await stopping;
      assert.deepEqual(driver.stopped, [slot.id]);
    },
  },
  {
    name: "drain during scale-down gives up on a request still in flight at the grace",
    async run({ sup, pool, driver, clock }) {
      const slot = await sup.start(pool);
      slot.inflight = 1;
      const stopping = sup.stop(pool, slot, "idle for 20 s");
      await clock.advance(30_000);
      await stopping;
      assert.deepEqual(driver.stopped, [slot.id]);
    },
  },
  {
    name: "stopsSettled waits for a stop whose instance already left its pool (an idle stop under way at shutdown)",
    async run({ sup, pool, driver, clock }) {
      const slot = await sup.start(pool);
      slot.inflight = 1;
      void sup.stop(pool, slot, "idle for 20 s");
      let settled = false;
      const waiting = sup.stopsSettled().then(() => (settled = true));
      await clock.advance(5_000);
      assert.equal(settled, false, "still draining its in-flight request");
      slot.inflight = 0;
      pool.changed.notify();
      await waiting;
      assert.deepEqual(driver.stopped, [slot.id], "settled only once the driver has stopped it");
    },
  },
  {
    name: "the health check retires an instance whose exit was not pushed",
    async run({ sup, pool, driver, events }) {
      const slot = await sup.start(pool);
      driver.exit(slot.id, { status: "gone" }, false);
      sup.checkHealth(pool, slot);
      await settle();
      assert.equal(pool.slots.size, 0);
      assert.match(events("instance.failed")[0]?.message ?? "", /gone$/);
    },
  },
  {
    name: "the health check leaves a hanging inspect() after its budget and starts no second one meanwhile",
    driver: { inspectDelayMs: 60_000 },
    async run({ sup, pool, clock }) {
      const slot = await sup.start(pool);
      sup.checkHealth(pool, slot);
      await clock.advance(INSPECT_BUDGET_MS + 1);
      assert.equal(slot.state, "ready");
      assert.equal(slot.checking, true, "the hanging inspect is still the one under way");
    },
  },
  {
    name: "recovery re-adopts a survivor of a recoverable driver and sweeps the rest",
    driver: { alive: ["ialive"] },
    async run({ store, sup, driver, drivers, readiness, clock, swept, events }) {
      for (const id of ["ialive", "idead"]) store.putInstance({ id, app: "app", version: "v1", driver: driver.name, endpoint: { host: "10.0.0.1", port: 8080 }, handle: { id, driver: driver.name, data: {} }, createdAt: new Date().toISOString() });
      const pools = new Map<string, VersionPool>();
      await recoverInstances({ store, drivers, supervisor: sup, readiness, clock, poolFor: (v) => pools.get(v.version) ?? pools.set(v.version, new VersionPool(v, policyOf(v))).get(v.version)! });
      assert.deepEqual(driver.recovered.sort(), ["ialive", "idead"]);
      assert.deepEqual([...pools.get("v1")!.slots.keys()], ["ialive"]);
      assert.deepEqual(store.listInstances().map((r) => r.id), ["ialive"]);
      assert.deepEqual([...swept()!], ["ialive"]);
      assert.equal(events("instance.recovered").length, 1);
    },
  },
  {
    name: "recovery does not ask a driver that is not recoverable, and forgets its instances",
    driver: { recoverable: false, alive: ["ialive"] },
    async run({ store, sup, driver, drivers, readiness, clock, swept }) {
      store.putInstance({ id: "ialive", app: "app", version: "v1", driver: driver.name, endpoint: { socket: "/x.sock" }, handle: { id: "ialive", driver: driver.name, data: {} }, createdAt: new Date().toISOString() });
      await recoverInstances({ store, drivers, supervisor: sup, readiness, clock, poolFor: (v) => new VersionPool(v, policyOf(v)) });
      assert.deepEqual(driver.recovered, []);
      assert.deepEqual(store.listInstances(), []);
      assert.deepEqual([...swept()!], []);
    },
  },
  {
    name: "recovery stops a re-adopted instance that does not answer",
    driver: { alive: ["ialive"] },
    async run({ store, sup, driver, drivers, readiness, clock }) {
      readiness.answering = false;
      store.putInstance({ id: "ialive", app: "app", version: "v1", driver: driver.name, endpoint: { host: "10.0.0.1", port: 8080 }, handle: { id: "ialive", driver: driver.name, data: {} }, createdAt: new Date().toISOString() });
      await recoverInstances({ store, drivers, supervisor: sup, readiness, clock, poolFor: (v) => new VersionPool(v, policyOf(v)) });
      assert.deepEqual(driver.stopped, ["ialive"]);
      assert.deepEqual(store.listInstances(), []);
    },
  },
  {
    name: "the driver is told an instance is ready (ready()) before it serves",
    async run({ sup, pool, driver }) {
      const states: string[] = [];
      driver.onReady = (id) => states.push(pool.slots.get(id)?.state ?? "none");
      const slot = await sup.start(pool);
      assert.deepEqual(driver.readied, [slot.id]);
      assert.deepEqual(states, ["starting"], "nothing is handed to it until ready() has returned (a snapshot is taken there)");
      assert.equal(slot.state, "ready");
    },
  },
  {
    name: "recovery re-adopts a function instance once its runtime asks the Runtime API, though it answers no GET /",
    driver: { alive: ["ifn"] },
    async run(h) {
      const { store, sup, drivers, readiness, clock, driver } = h;
      readiness.answering = false;
      const v = functionWithInstance(h, "ifn");
      const pool = new VersionPool(v, policyOf(v));
      await recoverInstances({ store, drivers, supervisor: sup, readiness, clock, poolFor: () => pool });
      assert.deepEqual(readiness.asked, ["runtime-api"]);
      assert.deepEqual([...pool.slots.keys()], ["ifn"]);
      assert.deepEqual(driver.stopped, []);
    },
  },
  {
    name: "recovery stops a re-adopted function instance whose runtime does not ask the Runtime API again",
    driver: { alive: ["ifn"] },
    async run(h) {
      const { store, sup, drivers, readiness, clock, driver } = h;
      readiness.fail = "the function's runtime did not ask the Runtime API for an invocation";
      const v = functionWithInstance(h, "ifn");
      await recoverInstances({ store, drivers, supervisor: sup, readiness, clock, poolFor: () => new VersionPool(v, policyOf(v)) });
      assert.deepEqual(driver.stopped, ["ifn"]);
      assert.deepEqual(store.listInstances().filter((r) => r.app === "fn"), []);
    },
  },
  {
    name: "forget releases what the version's starts prepared, once, and a later start prepares again",
    async run({ sup, pool, driver }) {
      const a = await sup.start(pool);
      await sup.start(pool);
      assert.deepEqual(driver.preparedKeys, ["app/v1"], "one prepare per version, shared by its starts");
      await Promise.all([...pool.slots.values()].map((s) => sup.stop(pool, s, "drained")));
      assert.ok(!pool.slots.has(a.id));
      await sup.forget(pool);
      await sup.forget(pool);
      assert.deepEqual(driver.releasedKeys, ["app/v1"]);
      await sup.start(pool);
      assert.deepEqual(driver.preparedKeys, ["app/v1", "app/v1"]);
    },
  },
  {
    name: "forget waits for a start still under way before it releases",
    async run({ sup, pool, driver, readiness }) {
      let open!: () => void;
      readiness.gate = new Promise<void>((r) => (open = r));
      const starting = sup.start(pool).catch((e: Error) => e);
      await settle();
      const slot = [...pool.slots.values()][0]!;
      assert.equal(slot.state, "starting");
      const stopping = sup.stop(pool, slot, "drained");
      const forgotten = sup.forget(pool);
      await settle();
      assert.deepEqual(driver.releasedKeys, [], "not released while the start still holds the preparation");
      open();
      assert.match(String(await starting), /stopped serving/);
      await Promise.all([stopping, forgotten]);
      assert.deepEqual(driver.releasedKeys, ["app/v1"]);
      assert.deepEqual(driver.stopped, [slot.id]);
    },
  },
  {
    name: "a prepare that failed leaves nothing to release",
    driver: { prepareError: "no space left on device" },
    async run({ sup, pool, driver }) {
      await assert.rejects(sup.start(pool), /no space left on device/);
      await sup.forget(pool);
      assert.deepEqual(driver.releasedKeys, []);
    },
  },
];

for (const c of cases) {
  test(`supervisor: ${c.name}`, async (t) => c.run(await harness(t, c.driver, { ...(c.spec && { spec: c.spec }), ...(c.readyTimeoutMs !== undefined && { readyTimeoutMs: c.readyTimeoutMs }) })));
}
