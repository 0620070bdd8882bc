import { asStrataError } from "../errors.js";
import { functionOf } from "../config/index.js";
import type { Instance } from "../sandbox/index.js";
import type { Store, VersionRecord } from "../store/index.js";
import type { Clock } from "./clock.js";
import type { VersionPool } from "./pool.js";
import type { Readiness } from "./readiness.js";
import type { DriverLookup, Supervisor } from "./supervisor.js";

export interface RecoveryDeps {
  store: Store;
  drivers: DriverLookup;
  supervisor: Supervisor;
  readiness: Readiness;
  clock: Clock;
  poolFor(v: VersionRecord): VersionPool;
}

/** How long a re-adopted instance has to answer GET / before it is stopped. */
const RECOVERED_ANSWER_MS = 2_000;
/**
 * How long a re-adopted function instance has to ask the new daemon's Runtime API for work: its runtime
 * (or, in a microVM, the guest's relay) finds the old connection closed and asks again, backing off to 1 s.
 */
const RECOVERED_FUNCTION_MS = 10_000;

/**
 * After a daemon restart: re-adopts the instances that survived it, on drivers whose capabilities say
 * they can (`recoverable`), as ready slots of their versions; forgets the rest; then has every driver
 * sweep what no kept instance owns.
 */
export async function recoverInstances(deps: RecoveryDeps): Promise<void> {
  const { store, drivers, clock } = deps;
  const keep = new Set<string>();
  for (const rec of store.listInstances()) {
    const v = store.getVersion(rec.app, rec.version);
    const driver = drivers.get(rec.driver);
    // A driver that cannot re-adopt is not asked; the sweep below clears its leftovers.
    if (!v || v.status !== "ready" || !driver?.capabilities.recoverable) {
      store.deleteInstance(rec.id);
      continue;
    }
    const pool = deps.poolFor(v);
    const instance: Instance | null = await driver.recover({ id: rec.handle.id, driver: driver.name, data: rec.handle.data }, deps.supervisor.ioFor(pool, rec.id)).catch((err: unknown) => {
      store.addEvent({ type: "instance.failed", app: rec.app, version: rec.version, message: `instance ${rec.id} could not be re-adopted: ${asStrataError(err).message}` });
      return null;
    });
    if (!instance) {
      store.deleteInstance(rec.id);
      continue;
    }
    // A function listens on no port: it serves again when its runtime waits for an invocation.
    const serves = functionOf(v.spec)
      ? await deps.readiness
          .ready(instance.endpoint, { via: "runtime-api", timeoutMs: RECOVERED_FUNCTION_MS, stillRunning: async () => (await driver.inspect(instance)).status === "running" })
          .then(() => true, () => false) // not back in time, or exited: stopped below like an app that does not answer
      : await deps.readiness.answers(instance.endpoint, RECOVERED_ANSWER_MS);
    if (!serves) {
      await driver.stop(instance, 1000);
      store.deleteInstance(rec.id);
      continue;
    }
    keep.add(rec.id);
    pool.slots.set(rec.id, { id: rec.id, state: "ready", instance, inflight: 0, lastActive: clock.now(), startedAt: clock.now(), oomKills: 0 });
    store.addEvent({ type: "instance.recovered", app: v.app, version: v.version, message: `instance ${rec.id} re-adopted after a daemon restart` });
  }
  await drivers.sweep(keep);
}
