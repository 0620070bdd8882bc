import { StrataError, asStrataError } from "../errors.js";
import { functionOf, limitsForClass } from "../config/index.js";
import type { LogStore } from "../logs/index.js";
import type { EndedState, Instance, InstanceIO, InstanceState, Prepared, SandboxDriver } from "../sandbox/index.js";
import type { Store, VersionRecord } from "../store/index.js";
import { within, type Clock } from "./clock.js";
import { appYamlOf, imageOf, instanceSpecOf, newInstanceId } from "./instance-spec.js";
import type { Slot, VersionPool } from "./pool.js";
import { budgetHint, startBudget, type Readiness, type StartBudget } from "./readiness.js";

/** The drivers by name, and the clean-up of what no instance owns (DriverCatalog, or a fake in tests). */
export interface DriverLookup {
  get(name: string): SandboxDriver | undefined;
  sweep(keep: ReadonlySet<string>): Promise<void>;
}

export type LogSink = Pick<LogStore, "append" | "recent">;

export interface SupervisorOptions {
  store: Store;
  drivers: DriverLookup;
  logs: LogSink;
  clock: Clock;
  readiness: Readiness;
  /** How long an instance has to listen unless its app.yaml says; by default its driver's coldStart decides (READY_BUDGET_MS). */
  readyTimeoutMs?: number;
  /** How long a draining instance may finish in-flight requests. */
  drainGraceMs: number;
  /** Tells the router to drop pooled connections to a stopped instance. */
  onEndpointGone?: (instance: Instance) => void;
  /** Told of each instance's cold start (start → ready), for metrics. */
  onColdStart?: (app: string, version: string, driver: string, ms: number) => void;
  /**
   * A slot became ready, or one left: the reconciler hands out queued requests and looks at the count
   * again. `failedStart` is the message of a start that just failed (queued requests may be told it).
   */
  onChange(pool: VersionPool, failedStart?: string): void;
  /** host:port of Lambda's Runtime API, given to function instances as AWS_LAMBDA_RUNTIME_API. */
  runtimeApi?: () => string | undefined;
}

/** How long a health check waits for one inspect() before it leaves the instance as it is until the next tick. */
export const INSPECT_BUDGET_MS = 2_000;
const STOP_GRACE_MS = 5_000;
const CRASH_WINDOW_MS = 60_000;

/**
 * Applies what the reconciler decides to one version's instances: starts them (prepare, start, readiness),
 * stops them (drain, then the driver's stop), replaces none itself but records crashes for the backoff,
 * and retires an instance whose exit its driver reports, a health check finds, or the router's refused
 * connection reveals.
 */
export class Supervisor {
  /** Per pool, not per version key: a pool that replaces a drained one prepares (and releases) its own. */
  private readonly prepared = new Map<VersionPool, Promise<Prepared>>();
  /** Starts under way and their pools, so shutdown and release can wait for them (each cleans up after itself once draining). */
  private readonly starting = new Map<Promise<unknown>, VersionPool>();
  /** Stops under way: an instance leaves its pool before its driver has stopped it, so shutdown waits here. */
  private readonly stops = new Set<Promise<void>>();
  private closing = false;

  constructor(private readonly opts: SupervisorOptions) {}

  driverOf(v: VersionRecord): SandboxDriver {
    const d = v.driver === undefined ? undefined : this.opts.drivers.get(v.driver);
    if (!d) throw new StrataError("SANDBOX_UNAVAILABLE", `sandbox "${v.driver}" of ${v.app}/${v.version} is not available in this daemon`);
    return d;
  }

  /** The instance's output goes to the app's log; its exit, when the driver reports one, retires it at once. */
  ioFor(pool: VersionPool, instanceId: string): InstanceIO {
    const v = pool.version;
    return {
      log: (stream, line) => this.opts.logs.append({ kind: "app", time: new Date().toISOString(), app: v.app, version: v.version, instance: instanceId, stream, line }),
      exited: (state) => {
        const slot = pool.slots.get(instanceId);
        if (slot?.state === "ready") this.retireLater(pool, slot, state, "; reported by its driver");
      },
    };
  }

  /** How long an instance of `v` has to listen (see startBudget). */
  startBudgetOf(v: VersionRecord): StartBudget {
    return startBudget(appYamlOf(v), this.driverOf(v), this.opts.readyTimeoutMs);
  }

  start(pool: VersionPool): Promise<Slot> {
    if (this.closing) return Promise.reject(new StrataError("INSTANCE_FAILED", "the daemon is shutting down", { retryAfterS: 5 }));
    const p = this.startOnce(pool);
    this.starting.set(p, pool);
    const done = () => this.starting.delete(p);
    p.then(done, done);
    return p;
  }

  private async startOnce(pool: VersionPool): Promise<Slot> {
    const { clock, store } = this.opts;
    const v = pool.version;
    const driver = this.driverOf(v);
    const id = newInstanceId();
    const slot: Slot = { id, state: "starting", instance: undefined, inflight: 0, lastActive: clock.now(), startedAt: clock.now(), oomKills: 0 };
    pool.slots.set(id, slot);
    try {
      const spec = instanceSpecOf(v, id, pool.policy, this.opts.runtimeApi?.());
      let prep = this.prepared.get(pool);
      if (!prep) {
        prep = driver.prepare(imageOf(v), spec);
        this.prepared.set(pool, prep);
        prep.catch(() => this.prepared.delete(pool)); // a failed prepare is retried by the next start
      }
      const instance = await driver.start(await prep, spec, this.ioFor(pool, id));
      slot.instance = instance;
      store.putInstance({ id, app: v.app, version: v.version, driver: driver.name, endpoint: instance.endpoint, handle: instance.handle, createdAt: new Date().toISOString() });
      store.addEvent({ type: "instance.started", app: v.app, version: v.version, message: `instance ${id} started (${driver.name})` });
      const warmup = (appYamlOf(v).inbound_services ?? []).includes("warmup");
      const budget = this.startBudgetOf(v);
      await this.opts.readiness.ready(instance.endpoint, {
        timeoutMs: budget.ms,
        timeoutHint: budgetHint(budget),
        ...(warmup && { httpPath: "/_ah/warmup" }),
        ...(functionOf(v.spec) && { via: "runtime-api" as const }),
        stillRunning: async () => (await driver.inspect(instance)).status === "running",
      });
      await driver.ready?.(instance);
      if (slot.state === "draining") throw new StrataError("INSTANCE_FAILED", "the version stopped serving while the instance started");
      const ms = clock.now() - slot.startedAt;
      slot.state = "ready";
      slot.lastActive = clock.now();
      this.opts.onColdStart?.(v.app, v.version, driver.name, ms);
      if (instance.restored) slot.restoreMs = ms;
      store.addEvent({ type: "instance.ready", app: v.app, version: v.version, message: `instance ${id} ready in ${ms} ms${instance.restored ? " (restored from a snapshot)" : ""}`, data: { coldStartMs: ms, ...(instance.restored && { restored: true }) } });
      this.opts.onChange(pool);
      return slot;
    } catch (err) {
      const e = asStrataError(err);
      // Stop first: the driver drains the instance's output on stop, so its last lines are in the log.
      await this.stop(pool, slot, "failed");
      const tail = (await this.opts.logs.recent(v.app, 200)).flatMap((l) => (l.kind === "app" && l.instance === id ? [l.line] : [])).slice(-20);
      const message = `instance ${id} failed to start: ${e.message}${tail.length ? `\nlast lines:\n  ${tail.join("\n  ")}` : ""}`;
      pool.lastError = e.message;
      this.recordCrash(pool);
      store.addEvent({ type: "instance.failed", app: v.app, version: v.version, message });
      this.opts.onChange(pool, message);
      throw new StrataError("INSTANCE_FAILED", message, e.details);
    }
  }

  /** Exponential backoff between restarts of a version whose instances fail: 0.5 s, 1 s, 2 s … capped at 30 s. */
  private recordCrash(pool: VersionPool): void {
    const now = this.opts.clock.now();
    pool.crashes = [...pool.crashes.filter((t) => now - t < CRASH_WINDOW_MS), now];
    const n = pool.crashes.length;
    pool.nextRestartAt = n > 1 ? now + Math.min(30_000, 500 * 2 ** (n - 2)) : now;
  }

  /** Drains the instance (its in-flight requests, within the grace), then stops it. One stop per slot. */
  stop(pool: VersionPool, slot: Slot, why: string): Promise<void> {
    if (!slot.instance) {
      // Still starting: its start sees "draining" and stops the instance itself once it exists.
      slot.state = "draining";
      pool.slots.delete(slot.id);
      pool.changed.notify();
      return Promise.resolve();
    }
    if (!slot.stopped) {
      const stopping = this.stopOnce(pool, slot, slot.instance, why);
      this.stops.add(stopping);
      void stopping.finally(() => this.stops.delete(stopping)).catch(() => undefined /* the caller of stop() is told */);
      slot.stopped = stopping;
    }
    return slot.stopped;
  }

  private async stopOnce(pool: VersionPool, slot: Slot, instance: Instance, why: string): Promise<void> {
    const { clock, store } = this.opts;
    slot.state = "draining";
    pool.changed.notify();
    await pool.changed.until(() => slot.inflight === 0, clock.now() + this.opts.drainGraceMs, clock);
    pool.slots.delete(slot.id);
    try {
      await this.driverOf(pool.version).stop(instance, STOP_GRACE_MS);
    } finally {
      this.opts.onEndpointGone?.(instance);
      store.deleteInstance(slot.id);
      store.addEvent({ type: "instance.stopped", app: pool.version.app, version: pool.version.version, message: `instance ${slot.id} stopped (${why})` });
      pool.changed.notify();
    }
  }

  /** An instance found exited or gone: recorded as a crash (for backoff), then stopped and cleared. */
  async retire(pool: VersionPool, slot: Slot, state: EndedState, found = ""): Promise<void> {
    if (slot.stopped) return slot.stopped; // a push, a health check and a refused connection found the same exit
    const why = state.status === "exited" ? `${state.reason} (code ${state.code})` : "gone";
    pool.lastError = `instance ${slot.id} ${why}`;
    // A function's runtime that ends during an invocation fails that invocation (its caller gets Unhandled,
    // Runtime.ExitError), and the next one gets a new instance at once, as from Lambda: no backoff, and no
    // crash loop that would refuse every invocation for a minute. An app's crash, or a function's failed
    // start (an init that dies), still counts.
    if (!(functionOf(pool.version.spec) && slot.inflight > 0)) this.recordCrash(pool);
    this.opts.store.addEvent({ type: "instance.failed", app: pool.version.app, version: pool.version.version, message: `instance ${slot.id} ${why}${found}` });
    // Its endpoint is gone now, not after the drain: what waits on it (a function's invocation) fails at once.
    if (slot.instance) this.opts.onEndpointGone?.(slot.instance);
    await this.stop(pool, slot, why);
    this.opts.onChange(pool);
  }

  private retireLater(pool: VersionPool, slot: Slot, state: EndedState, found: string): void {
    this.retire(pool, slot, state, found).catch((err: unknown) => this.report(pool, `instance ${slot.id} could not be cleared after it ended`, err));
  }

  /**
   * The router could not connect to this instance. It leaves service now, not at the next health check,
   * so the retry and later requests go elsewhere; it is retired if it has ended, and comes back if it
   * still runs (a refusal while it restarts its listener).
   */
  unreachable(pool: VersionPool, slot: Slot, err: Error): void {
    const instance = slot.instance;
    if (slot.state !== "ready" || !instance) return;
    slot.state = "draining";
    void (async () => {
      const state = await this.driverOf(pool.version).inspect(instance);
      if (state.status !== "running") return this.retire(pool, slot, state, "; found when it refused a connection");
      if (slot.stopped === undefined && pool.slots.has(slot.id)) {
        slot.state = "ready";
        this.opts.onChange(pool);
      }
    })().catch((e: unknown) => this.report(pool, `instance ${slot.id} refused a connection (${err.message}) and could not be checked`, e));
  }

  /**
   * The safety net under pushed exits: one inspect() per ready instance at a time, never awaited by the
   * caller, and given INSPECT_BUDGET_MS before it is left for the next round. Also records OOM kills.
   */
  checkHealth(pool: VersionPool, slot: Slot): void {
    const instance = slot.instance;
    if (slot.state !== "ready" || !instance || slot.checking) return;
    slot.checking = true;
    const inspected = this.driverOf(pool.version).inspect(instance);
    const settled = () => (slot.checking = false);
    inspected.then(settled, settled);
    within<InstanceState | undefined>(this.opts.clock, INSPECT_BUDGET_MS, inspected, () => undefined)
      .then((state) => {
        if (!state || slot.state !== "ready") return;
        if (state.status !== "running") return this.retire(pool, slot, state);
        if (state.peakMemoryBytes !== undefined) slot.peakMemoryBytes = state.peakMemoryBytes;
        slot.sampledAt = this.opts.clock.now();
        if ((state.oomKills ?? 0) > slot.oomKills) this.oomKilled(pool, slot, state.oomKills!);
      })
      .catch((err: unknown) => this.report(pool, `instance ${slot.id} could not be checked`, err));
  }

  private oomKilled(pool: VersionPool, slot: Slot, kills: number): void {
    const mb = limitsForClass(pool.policy.instanceClass).memoryMb;
    slot.oomKills = kills;
    this.opts.store.addEvent({
      type: "instance.oom-killed",
      app: pool.version.app,
      version: pool.version.version,
      message: `instance ${slot.id}: a process was killed (oom-killed) for exceeding the ${pool.policy.instanceClass} memory limit of ${mb} MB; choose a larger instance_class or use less memory`,
    });
  }

  private report(pool: VersionPool, what: string, err: unknown): void {
    this.opts.store.addEvent({ type: "instance.failed", app: pool.version.app, version: pool.version.version, message: `${what}: ${asStrataError(err).message}` });
  }

  /**
   * The version stopped serving and its last instance is gone: once the starts still under way for it have
   * ended (a start drained mid-way stops its own instance), its driver may drop what prepare() made for it
   * (SandboxDriver.release). Never throws: a failed release is recorded as a warning.
   */
  async forget(pool: VersionPool): Promise<void> {
    await Promise.allSettled([...this.starting].filter(([, p]) => p === pool).map(([start]) => start));
    const prep = this.prepared.get(pool);
    this.prepared.delete(pool);
    const prepared = await prep?.catch(() => undefined); // a prepare that failed made nothing to release
    if (!prepared) return;
    const v = pool.version;
    try {
      await this.driverOf(v).release?.(prepared);
    } catch (err) {
      this.opts.store.addEvent({ type: "daemon.warning", app: v.app, version: v.version, message: `releasing what ${v.driver} prepared for ${pool.key} failed: ${asStrataError(err).message}` });
    }
  }

  /** Waits for every stop under way, including those of instances already out of their pool (scale-down, idle). */
  async stopsSettled(): Promise<void> {
    await Promise.allSettled([...this.stops]);
  }

  /** No new start from now on; waits for the starts under way (each stops its instance once it sees "draining"). */
  async close(pools: Iterable<VersionPool>): Promise<void> {
    this.closing = true;
    for (const pool of pools) for (const slot of pool.slots.values()) if (slot.state === "starting") slot.state = "draining";
    await Promise.allSettled([...this.starting.keys()]);
  }
}
