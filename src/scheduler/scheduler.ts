import { StrataError, asStrataError } from "../errors.js";
import { functionOf } from "../config/index.js";
import type { Instance } from "../sandbox/index.js";
import type { Store, VersionRecord } from "../store/index.js";
import type { InstanceSource, Lease } from "../router/index.js";
import type { VersionRuntime } from "../deploy/index.js";
import type { PoolSnapshot } from "../metrics/index.js";
import { policyOf } from "./instance-spec.js";
import { VersionPool, type Slot } from "./pool.js";
import { Activator } from "./activator.js";
import { decide } from "./autoscaler.js";
import { systemClock, type Clock } from "./clock.js";
import { networkReadiness, type Readiness } from "./readiness.js";
import { recoverInstances } from "./recovery.js";
import { awaitSnapshot, PROGRESS_EVERY_MS, sayEvery } from "./warm-up.js";
import { Supervisor, type DriverLookup, type LogSink } from "./supervisor.js";
import { findExecTarget, type ExecTarget } from "./exec-target.js";
import { describeInstances, peakMemoryAfter, scalingOf, snapshotOf, type InstanceView, type ScalingView } from "./views.js";

export interface SchedulerOptions {
  store: Store;
  drivers: DriverLookup;
  logs: LogSink;
  /** How long a request may wait in the activator for an instance (App Engine's pending latency cap). */
  maxWaitMs?: number;
  /** How many requests one version may hold waiting before new ones get 503. */
  maxQueue?: number;
  /** How long an instance has to listen on its port; by default its driver's coldStart decides. */
  readyTimeoutMs?: number;
  /** How long a draining instance may finish in-flight requests. */
  drainGraceMs?: number;
  /** Tells the router to drop pooled connections to a stopped instance. */
  onEndpointGone?: (instance: Instance) => void;
  /** Told of each instance's cold start (start → ready), for metrics. */
  onColdStart?: (app: string, version: string, driver: string, ms: number) => void;
  clock?: Clock;
  readiness?: Readiness;
  /** host:port of Lambda's Runtime API for function instances (AWS_LAMBDA_RUNTIME_API), once it listens. */
  runtimeApi?: () => string | undefined;
}

/** A lease that can also take its instance out of service for good (a function invocation that timed out). */
export interface RetirableLease extends Lease {
  /** Releases the lease and stops the instance (drained of nothing: the lease was its one request). */
  retire(reason: string): void;
  /** Start → ready of the instance, ms, when it was restored from a snapshot rather than booted. */
  readonly restoreMs?: number;
}

const TICK_MS = 500;
/** An instance above the autoscaler's count stops after this long without a request. */
const SCALE_DOWN_DELAY_MS = 10_000;

/**
 * The reconciler: versions × scaling × traffic → instances. The activator holds requests, the pure
 * autoscaler decides each version's count, the supervisor applies it. It is the router's InstanceSource
 * and the deploy path's VersionRuntime. Each tick looks at every version without waiting on any driver.
 */
export class Scheduler implements InstanceSource, VersionRuntime {
  private readonly pools = new Map<string, VersionPool>();
  private readonly clock: Clock;
  private readonly activator: Activator;
  private readonly supervisor: Supervisor;
  private readonly readiness: Readiness;
  private timer: NodeJS.Timeout | undefined;
  private closing = false;

  constructor(private readonly opts: SchedulerOptions) {
    this.clock = opts.clock ?? systemClock;
    this.readiness = opts.readiness ?? networkReadiness;
    this.activator = new Activator({ clock: this.clock, maxQueue: opts.maxQueue ?? 1000, maxWaitMs: opts.maxWaitMs ?? 30_000 });
    this.supervisor = new Supervisor({
      store: opts.store,
      drivers: opts.drivers,
      logs: opts.logs,
      clock: this.clock,
      readiness: this.readiness,
      drainGraceMs: opts.drainGraceMs ?? 30_000,
      ...(opts.readyTimeoutMs !== undefined && { readyTimeoutMs: opts.readyTimeoutMs }),
      ...(opts.onEndpointGone && { onEndpointGone: opts.onEndpointGone }),
      ...(opts.onColdStart && { onColdStart: opts.onColdStart }),
      onChange: (pool, failedStart) => this.changed(pool, failedStart),
      ...(opts.runtimeApi && { runtimeApi: opts.runtimeApi }),
    });
  }

  start(): void {
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.timer.unref();
  }

  // ---- the router's port ----

  async acquire(app: string, version: string): Promise<RetirableLease> {
    const pool = this.poolFor(app, version);
    let slot = pool.pickReady();
    if (slot) slot.inflight++;
    else {
      const held = this.activator.hold(pool);
      this.scale(pool, this.clock.now());
      slot = await held; // dispatch() reserved its place
    }
    const s = slot;
    s.lastActive = this.clock.now();
    let released = false;
    const end = () => {
      if (released) return false;
      released = true;
      s.inflight--;
      s.lastActive = this.clock.now();
      pool.changed.notify();
      return true;
    };
    return {
      instanceId: s.id,
      endpoint: s.instance!.endpoint,
      ...(s.restoreMs !== undefined && { restoreMs: s.restoreMs }),
      release: (problem) => {
        if (!end()) return;
        if (problem) this.supervisor.unreachable(pool, s, problem.unreachable);
        this.activator.dispatch(pool);
      },
      retire: (reason) => {
        if (!end()) return;
        this.supervisor.stop(pool, s, reason).catch((err: unknown) => {
          this.opts.store.addEvent({ type: "instance.failed", app, version, message: `instance ${s.id} could not be stopped (${reason}): ${asStrataError(err).message}` });
        });
        this.activator.dispatch(pool);
      },
    };
  }

  // ---- the deploy path's port ----

  /**
   * Brings the version to serving strength before traffic moves: its min_instances (at least one), each
   * within its start budget (app.yaml readiness_check.app_start_timeout_sec), saying so while it waits.
   * On a driver that snapshots, waits for the first instance's snapshot too (awaitSnapshot).
   */
  async warm(v: VersionRecord, log: (line: string) => void): Promise<void> {
    const pool = this.poolFor(v.app, v.version, v);
    if (pool.count("ready") > 0) return;
    const n = Math.max(1, pool.targets.minInstances);
    const driver = this.supervisor.driverOf(v);
    const budget = this.supervisor.startBudgetOf(v);
    log(`starting ${n} instance${n > 1 ? "s" : ""} of ${pool.key} (${driver.name}; up to ${budget.ms / 1000} s to listen: ${budget.from})`);
    const started = this.clock.now();
    const quiet = sayEvery(this.clock, PROGRESS_EVERY_MS, (ms) => log(`still starting (${Math.round(ms / 1000)} s of ${budget.ms / 1000} s)`));
    let slots: Slot[];
    try {
      await Promise.all(Array.from({ length: n - pool.count() }, () => this.supervisor.start(pool)));
      // A start already under way (a request at the version's own URL) counts: wait for it too, within the budget.
      await pool.changed.until(() => pool.count("ready") > 0 || pool.count("starting") === 0, started + budget.ms, this.clock);
      slots = [...pool.slots.values()].filter((s) => s.state === "ready");
      if (slots.length === 0) throw new StrataError("INSTANCE_FAILED", `no instance of ${pool.key} became ready${pool.lastError ? `: ${pool.lastError}` : ""}`);
    } catch (err) {
      // A version that cannot start takes no traffic and must not be restarted by the tick.
      await this.drain(v.app, v.version);
      throw err;
    } finally {
      quiet();
    }
    log(`ready in ${this.clock.now() - started} ms`);
    const hold = (instance: Instance): (() => void) => {
      const slot = slots.find((s) => s.instance === instance)!;
      slot.inflight++;
      return () => {
        slot.inflight--;
        slot.lastActive = this.clock.now();
        pool.changed.notify();
        this.activator.dispatch(pool);
      };
    };
    await awaitSnapshot(driver, slots.flatMap((s) => (s.instance ? [s.instance] : [])), budget, this.clock, log, functionOf(v.spec) ? "function" : "app", hold);
  }

  async drain(app: string, version: string): Promise<void> {
    const pool = this.pools.get(`${app}/${version}`);
    if (!pool || pool.draining) return;
    // Requests that chose this version before the route table moved on may be queued for it: its
    // ready instances serve them first (a rollout must not turn them into 503s), within the grace.
    pool.draining = true;
    const graceEnd = this.clock.now() + (this.opts.drainGraceMs ?? 30_000);
    await pool.changed.until(() => pool.waiters.length === 0 || pool.count("ready") === 0, graceEnd, this.clock);
    this.pools.delete(pool.key);
    this.activator.refuseAll(pool, new StrataError("INSTANCE_FAILED", `${pool.key} stopped serving`, { retryAfterS: 1 }));
    // Every instance gets its stop even when one fails; the first failure is then reported.
    const stops = await Promise.allSettled([...pool.slots.values()].map((s) => this.supervisor.stop(pool, s, "drained")));
    await this.supervisor.forget(pool);
    const failed = stops.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  async removeApp(app: string): Promise<void> {
    await Promise.all([...this.pools.values()].filter((p) => p.version.app === app).map((p) => this.drain(app, p.version.version)));
  }

  // ---- reconciling ----

  private poolFor(app: string, version: string, record?: VersionRecord): VersionPool {
    const key = `${app}/${version}`;
    let pool = this.pools.get(key);
    if (!pool) {
      const v = record ?? this.opts.store.getVersion(app, version);
      if (!v || v.status !== "ready") throw new StrataError("VERSION_NOT_FOUND", `version ${key} is not ready`);
      pool = new VersionPool(v, policyOf(v));
      this.pools.set(key, pool);
    }
    return pool;
  }

  /** The supervisor's news: queued requests go to a newly ready slot; a failing version's queue is told why. */
  private changed(pool: VersionPool, failedStart?: string): void {
    pool.changed.notify(); // a slot became ready or failed: a deploy's warm() may be waiting on it
    this.activator.dispatch(pool);
    if (failedStart && pool.count() === 0 && pool.waiters.length > 0 && pool.crashLooping(this.clock.now())) {
      this.activator.refuseAll(pool, new StrataError("INSTANCE_FAILED", failedStart, { retryAfterS: 10 }));
    }
  }

  /** Asks the autoscaler (with the demand of requests waiting now) and starts what it wants beyond what runs. */
  private scale(pool: VersionPool, now: number): void {
    const decision = decide(
      { samples: pool.samples, current: pool.count(), ...(pool.panicSince !== undefined && { panicSince: pool.panicSince }), demand: { waiting: pool.waiters.length, inflight: pool.inflightAndQueued() - pool.waiters.length } },
      now,
      pool.targets,
    );
    pool.panicSince = decision.panicSince;
    pool.decision = decision;
    this.startUpTo(pool, decision.desired, now);
  }

  private startUpTo(pool: VersionPool, desired: number, now: number): void {
    if (this.closing || pool.draining || now < pool.nextRestartAt) return;
    for (let i = pool.count(); i < desired; i++) void this.supervisor.start(pool).catch(() => undefined /* recorded in pool.lastError and events */);
  }

  /** Every TICK_MS: health checks go out (not awaited), then each version is sampled, decided and applied. */
  private tick(): void {
    const now = this.clock.now();
    for (const pool of this.pools.values()) {
      try {
        for (const slot of pool.slots.values()) this.supervisor.checkHealth(pool, slot);
        pool.samples.push({ at: now, concurrency: pool.inflightAndQueued() });
        while (pool.samples.length && pool.samples[0]!.at <= now - pool.targets.stableWindowMs) pool.samples.shift();
        const running = pool.count();
        this.scale(pool, now);
        if (pool.decision!.desired <= running) this.scaleDown(pool, pool.decision!.desired, now);
        this.releaseIfUnused(pool);
      } catch (err) {
        this.opts.store.addEvent({ type: "instance.failed", app: pool.version.app, version: pool.version.version, message: `scheduler tick failed: ${asStrataError(err).message}` });
      }
    }
  }

  /**
   * Stops idle instances: one idle past the version's idle timeout goes while more than min_instances
   * run (so an idle version reaches zero); one above the autoscaler's count goes after a short delay, but
   * never the last: the autoscaler wants none once its window holds no load (an invocation shorter than a
   * tick leaves none), and going to zero is the idle timeout's decision, not that window's.
   */
  private scaleDown(pool: VersionPool, desired: number, now: number): void {
    const idle = [...pool.slots.values()].filter((s) => s.state === "ready" && s.inflight === 0).sort((a, b) => a.lastActive - b.lastActive);
    for (const slot of idle) {
      const idleFor = now - slot.lastActive;
      const pastTimeout = pool.policy.idleTimeoutMs !== null && idleFor > pool.policy.idleTimeoutMs && pool.count() > pool.targets.minInstances;
      const surplus = pool.count() > Math.max(desired, pool.targets.minInstances, 1) && idleFor > SCALE_DOWN_DELAY_MS;
      if (!pastTimeout && !surplus) continue;
      this.supervisor.stop(pool, slot, `idle for ${Math.round(idleFor / 1000)} s`).catch((err: unknown) => {
        this.opts.store.addEvent({ type: "instance.failed", app: pool.version.app, version: pool.version.version, message: `instance ${slot.id} could not be stopped: ${asStrataError(err).message}` });
      });
    }
  }

  /**
   * A version without traffic (reached only at its own URL, as App Engine allows) whose last instance has
   * gone and that the autoscaler wants none of: its pool goes, and its driver may drop what it prepared. A
   * version with traffic keeps its preparation at zero instances: its next cold start needs it.
   */
  private releaseIfUnused(pool: VersionPool): void {
    if (pool.slots.size > 0 || pool.waiters.length > 0 || pool.decision?.desired !== 0) return;
    if ((this.opts.store.getTraffic(pool.version.app)?.allocations[pool.version.version] ?? 0) > 0) return;
    this.pools.delete(pool.key);
    void this.supervisor.forget(pool); // never throws: a failed release is recorded
  }

  /** After a daemon restart: re-adopt survivors, then give serving versions their min_instances back. */
  async recover(): Promise<void> {
    const { store } = this.opts;
    await recoverInstances({ store, drivers: this.opts.drivers, supervisor: this.supervisor, readiness: this.readiness, clock: this.clock, poolFor: (v) => this.poolFor(v.app, v.version, v) });
    for (const app of store.listApps()) {
      for (const version of Object.keys(store.getTraffic(app.name)?.allocations ?? {})) {
        const v = store.getVersion(app.name, version);
        if (!v?.driver || v.status !== "ready") continue;
        const pool = this.poolFor(v.app, v.version, v);
        this.startUpTo(pool, pool.targets.minInstances, this.clock.now());
      }
    }
  }

  // ---- exec ----

  /** The instance `strata exec` goes into, and how to run a command there (see findExecTarget). */
  execTarget(app: string, instanceId?: string): ExecTarget {
    return findExecTarget(this.poolsOf(app), app, instanceId, (v) => this.supervisor.driverOf(v));
  }

  // ---- views ----

  /** Instances of one app, for `strata instances`. */
  describe(app: string): Promise<InstanceView[]> {
    return describeInstances(this.poolsOf(app), (v) => this.supervisor.driverOf(v), this.clock);
  }

  /** The autoscaler's last decision per version of one app. */
  scaling(app: string): ScalingView[] {
    return scalingOf(this.poolsOf(app));
  }

  /** An instance's memory high-water mark from the first health check at or after `since` (see peakMemoryAfter). */
  peakMemoryOf(app: string, instanceId: string, since: number): Promise<number | undefined> {
    const slot = this.poolsOf(app).map((p) => p.slots.get(instanceId)).find((s) => s !== undefined);
    return slot ? peakMemoryAfter(slot, since, TICK_MS, this.clock) : Promise.resolve(undefined);
  }

  snapshot(): PoolSnapshot[] {
    return snapshotOf(this.pools.values());
  }

  private poolsOf(app: string): VersionPool[] {
    return [...this.pools.values()].filter((p) => p.version.app === app);
  }

  /** Graceful shutdown: finish in-flight requests, stop every instance. */
  async shutdown(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    await this.supervisor.close(this.pools.values());
    await Promise.all([...this.pools.values()].map((p) => this.drain(p.version.app, p.version.version)));
    await this.supervisor.stopsSettled(); // an idle instance's stop began before the shutdown and is not in a pool
  }
}
