import { StrataError } from "../errors.js";
import type { Clock } from "./clock.js";
import type { Slot, VersionPool } from "./pool.js";

export interface ActivatorOptions {
  clock: Clock;
  /** How many requests one version may hold waiting before new ones get 503. */
  maxQueue: number;
  /** How long a request may wait for an instance (App Engine's pending latency cap). */
  maxWaitMs: number;
}

/**
 * Holds requests for a version with no free instance (Knative's activator): a bounded queue per version,
 * each request with a deadline, handed to instances in arrival order as they get free capacity. It never
 * starts instances itself; the reconciler does, from the autoscaler's decision.
 */
export class Activator {
  constructor(private readonly opts: ActivatorOptions) {}

  /** A place in the queue, or a refusal at once when the queue is full or the version crash-loops with nothing running. */
  hold(pool: VersionPool): Promise<Slot> {
    if (pool.waiters.length >= this.opts.maxQueue) {
      return Promise.reject(new StrataError("INSTANCE_FAILED", `too many requests waiting for ${pool.key}`, { retryAfterS: 1 }));
    }
    if (pool.crashLooping(this.opts.clock.now()) && pool.count() === 0) {
      return Promise.reject(
        new StrataError("INSTANCE_FAILED", `${pool.key} is crash-looping: ${pool.lastError ?? "its instances keep exiting"} (see: strata logs ${pool.version.app})`, { retryAfterS: 10 }),
      );
    }
    const waitMs = this.opts.maxWaitMs;
    return new Promise<Slot>((resolve, reject) => {
      const waiter = {
        resolve,
        reject,
        cancel: this.opts.clock.timer(waitMs, () => {
          const i = pool.waiters.indexOf(waiter);
          if (i >= 0) pool.waiters.splice(i, 1);
          pool.changed.notify();
          // A slow starter (app.yaml readiness_check.app_start_timeout_sec past this wait) goes on starting: say so.
          const why = pool.count("starting") > 0 ? "; an instance is still starting, try again shortly" : pool.lastError ? `: ${pool.lastError}` : "";
          reject(new StrataError("INSTANCE_FAILED", `no instance of ${pool.key} became ready within ${waitMs} ms${why}`, { retryAfterS: 2 }));
        }),
      };
      pool.waiters.push(waiter);
    });
  }

  /** Hands queued requests, oldest first, to ready instances with free capacity. */
  dispatch(pool: VersionPool): void {
    let moved = false;
    while (pool.waiters.length > 0) {
      const slot = pool.pickReady();
      if (!slot) break;
      const w = pool.waiters.shift()!;
      w.cancel();
      slot.inflight++; // reserved now, so the next waiter sees this instance's true load
      moved = true;
      w.resolve(slot);
    }
    if (moved) pool.changed.notify();
  }

  /** Turns every queued request away with `err` (the version stopped serving, or its instances keep failing). */
  refuseAll(pool: VersionPool, err: StrataError): void {
    for (const w of pool.waiters.splice(0)) {
      w.cancel();
      w.reject(err);
    }
    pool.changed.notify();
  }
}
