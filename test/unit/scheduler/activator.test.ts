import assert from "node:assert/strict";
import { test, type TestContext } from "node:test";
import { Activator } from "../../../src/scheduler/activator.js";
import { policyOf } from "../../../src/scheduler/instance-spec.js";
import { VersionPool, type Slot } from "../../../src/scheduler/pool.js";
import { StrataError } from "../../../src/errors.js";
import { FakeClock, readyVersion, settle, tempStore } from "./fakes.js";

async function harness(t: TestContext, maxQueue = 3) {
  const clock = new FakeClock();
  const store = await tempStore(t);
  // max_concurrent_requests 2: an instance takes two requests before others queue.
  const v = readyVersion(store, "app", "runc", { automatic_scaling: { max_concurrent_requests: 2 } });
  const pool = new VersionPool(v, policyOf(v));
  const activator = new Activator({ clock, maxQueue, maxWaitMs: 30_000 });
  /** The outcome of each held request so far: the slot id it got, or the error message. */
  const outcomes: string[] = [];
  const hold = () => activator.hold(pool).then((s) => void outcomes.push(`slot ${s.id}`), (e: Error) => void outcomes.push(e.message));
  const ready = (id: string): Slot => {
    const slot: Slot = { id, state: "ready", instance: { id, driver: "runc", endpoint: { host: "10.0.0.1", port: 8080 }, handle: { id, driver: "runc", data: {} } }, inflight: 0, lastActive: 0, startedAt: 0, oomKills: 0 };
    pool.slots.set(id, slot);
    return slot;
  };
  return { clock, pool, activator, outcomes, hold, ready };
}

type H = Awaited<ReturnType<typeof harness>>;

const cases: Array<{ name: string; run: (h: H) => Promise<void> }> = [
  {
    name: "a request beyond the queue's bound is refused at once; those within it wait",
    async run({ hold, outcomes, pool }) {
      for (let i = 0; i < 4; i++) void hold();
      await settle();
      assert.deepEqual(outcomes, ["too many requests waiting for app/v1"]);
      assert.equal(pool.waiters.length, 3);
    },
  },
  {
    name: "a request that waits past maxWait is turned away with the version's last error",
    async run({ hold, outcomes, pool, clock }) {
      pool.lastError = "instance i1 exited (code 1)";
      void hold();
      await clock.advance(29_999);
      assert.deepEqual(outcomes, []);
      await clock.advance(1);
      assert.deepEqual(outcomes, ["no instance of app/v1 became ready within 30000 ms: instance i1 exited (code 1)"]);
      assert.equal(pool.waiters.length, 0);
    },
  },
  {
    name: "a request that waits past maxWait while an instance is still starting (a slow starter) is told so",
    async run({ hold, outcomes, pool, clock }) {
      pool.slots.set("i2", { id: "i2", state: "starting", instance: undefined, inflight: 0, lastActive: 0, startedAt: 0, oomKills: 0 });
      void hold();
      await clock.advance(30_000);
      assert.deepEqual(outcomes, ["no instance of app/v1 became ready within 30000 ms; an instance is still starting, try again shortly"]);
    },
  },
  {
    name: "dispatch hands queued requests out oldest first, up to each instance's concurrency",
    async run({ hold, outcomes, pool, activator, ready }) {
      for (let i = 0; i < 3; i++) void hold();
      const slot = ready("i1");
      activator.dispatch(pool);
      await settle();
      assert.deepEqual(outcomes, ["slot i1", "slot i1"]);
      assert.equal(slot.inflight, 2);
      assert.equal(pool.waiters.length, 1);
      slot.inflight--;
      activator.dispatch(pool);
      await settle();
      assert.deepEqual(outcomes, ["slot i1", "slot i1", "slot i1"]);
    },
  },
  {
    name: "a crash-looping version with nothing running refuses at once",
    async run({ hold, outcomes, pool, clock }) {
      pool.crashes = [clock.now() - 3000, clock.now() - 2000, clock.now() - 1000];
      pool.lastError = "instance i3 exited (code 2)";
      void hold();
      await settle();
      assert.deepEqual(outcomes, ["app/v1 is crash-looping: instance i3 exited (code 2) (see: strata logs app)"]);
    },
  },
  {
    name: "refuseAll turns every queued request away and cancels their deadlines",
    async run({ hold, outcomes, pool, activator, clock }) {
      void hold();
      void hold();
      activator.refuseAll(pool, new StrataError("INSTANCE_FAILED", "app/v1 stopped serving"));
      await clock.advance(60_000);
      assert.deepEqual(outcomes, ["app/v1 stopped serving", "app/v1 stopped serving"]);
    },
  },
];

for (const c of cases) {
  test(`activator: ${c.name}`, async (t) => c.run(await harness(t)));
}
