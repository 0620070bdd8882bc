import { StrataError, asStrataError } from "../errors.js";
import type { LogStore } from "../logs/log-store.js";
import type { DriverCatalog } from "../sandbox/catalog.js";
import type { Instance, InstanceIO, InstanceState, Prepared, SandboxDriver } from "../sandbox/driver.js";
import type { Store } from "../store/store.js";
import type { VersionRecord } from "../store/types.js";
import type { InstanceSource, Lease } from "../router/backend.js";
import type { VersionRuntime } from "../deploy/version-runtime.js";
import { imageOf, instanceSpecOf, newInstanceId, policyOf } from "./instance-spec.js";
import { limitsForClass } from "../config/index.js";
import { VersionPool, type Slot } from "./pool.js";
import { httpGet, waitReady } from "./readiness.js";
import { decide } from "./autoscaler.js";
import type { PoolSnapshot } from "../metrics/platform-metrics.js";

export interface SchedulerOptions {
  store: Store;
  drivers: DriverCatalog;
  logs: LogStore;
  /** How long a request may wait in the activator for an instance (App Engine's pending latency cap). */
  maxWaitMs?: number;
  /** How many requests one version may hold waiting before new ones get 503. */
  maxQueue?: number;
  /** How long an instance has to listen on its port. */
  readyTimeoutMs?: number;
  /** How long a draining instance may finish in-flight requests. */
  drainGraceMs?: number;
  /** Tells the router to drop pooled connections to a stopped instance. */
  onEndpointGone?: (instance: Instance) => void;
  /** Told of each instance's cold start (start → ready), for metrics. */
  onColdStart?: (app: string, version: string, driver: string, ms: number) => void;
  now?: () => number;
}

const TICK_MS = 500;
/** An instance above the autoscaler's count stops after this long without a request. */
const SCALE_DOWN_DELAY_MS = 10_000;

/**
 * Desired (versions × scaling × traffic) → actual instances. Holds requests while instances start (the
 * activator's queue), replaces instances that exit, stops idle ones, and re-adopts survivors after a
 * daemon restart.
 */
export class Scheduler implements InstanceSource, VersionRuntime {
  private readonly pools = new Map<string, VersionPool>();
  private readonly prepared = new Map<string, Promise<Prepared>>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private closing = false;
  /** Starts under way, so shutdown can wait for them (each cleans up after itself once closing). */
  private readonly starting = new Set<Promise<unknown>>();
  private readonly now: () => number;

  constructor(private readonly opts: SchedulerOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
  }

  // ---- the activator's side ----

  async acquire(app: string, version: string): Promise<Lease> {
    const pool = this.poolFor(app, version);
    let slot = pool.pickReady();
    if (slot) slot.inflight++;
    else slot = await this.hold(pool); // dispatch() reserved its place
    slot.lastActive = this.now();
    let released = false;
    return {
      instanceId: slot.id,
      endpoint: slot.instance!.endpoint,
      release: (problem) => {
        if (released) return;
        released = true;
        slot.inflight--;
        slot.lastActive = this.now();
        if (problem) this.unreachable(pool, slot, problem.unreachable);
        this.dispatch(pool);
      },
    };
  }

  private hold(pool: VersionPool): Promise<Slot> {
    if (pool.waiters.length >= (this.opts.maxQueue ?? 1000)) {
      return Promise.reject(new StrataError("INSTANCE_FAILED", `too many requests waiting for ${pool.key}`, { retryAfterS: 1 }));
    }
    if (pool.crashLooping(this.now()) && pool.count() === 0) {
      return Promise.reject(
        new StrataError("INSTANCE_FAILED", `${pool.key} is crash-looping: ${pool.lastError ?? "its instances keep exiting"} (see: strata logs ${pool.version.app})`, { retryAfterS: 10 }),
      );
    }
    const waitMs = this.opts.maxWaitMs ?? 30_000;
    const p = new Promise<Slot>((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = pool.waiters.findIndex((w) => w.timer === timer);
        if (i >= 0) pool.waiters.splice(i, 1);
        reject(new StrataError("INSTANCE_FAILED", `no instance of ${pool.key} became ready within ${waitMs} ms${pool.lastError ? `: ${pool.lastError}` : ""}`, { retryAfterS: 2 }));
      }, waitMs);
      pool.waiters.push({ resolve, reject, timer });
    });
    this.scale(pool);
    return p;
  }

  /** Hands queued requests to instances with free capacity. */
  private dispatch(pool: VersionPool): void {
    while (pool.waiters.length > 0) {
      const slot = pool.pickReady();
      if (!slot) break;
      const w = pool.waiters.shift()!;
      clearTimeout(w.timer);
      slot.inflight++; // reserved now, so the next waiter sees this instance's true load
      w.resolve(slot);
    }
  }

  /** Starts as many instances as in-flight plus queued requests imply, within max_instances. */
  private scale(pool: VersionPool, atLeast = 0): void {
    const now = this.now();
    if (this.closing || pool.draining || now < pool.nextRestartAt) return;
    const missing = Math.max(pool.wanted(), atLeast) - pool.count();
    for (let i = 0; i < missing; i++) void this.startInstance(pool).catch(() => undefined /* recorded in pool.lastError and events */);
  }

  // ---- the deploy path's side ----

  async warm(v: VersionRecord, log: (line: string) => void): Promise<void> {
    const pool = this.poolFor(v.app, v.version, v);
    if (pool.count("ready") > 0) return;
    const n = Math.max(1, pool.targets.minInstances);
    log(`starting ${n} instance${n > 1 ? "s" : ""} of ${pool.key}`);
    const started = this.now();
    try {
      await Promise.all(Array.from({ length: n - pool.count() }, () => this.startInstance(pool)));
    } catch (err) {
      // A version that cannot start takes no traffic and must not be restarted by the tick.
      await this.drain(v.app, v.version);
      throw err;
    }
    log(`ready in ${this.now() - started} ms`);
  }

  async drain(app: string, version: string): Promise<void> {
    const pool = this.pools.get(`${app}/${version}`);
    if (!pool || pool.draining) return;
    // Requests that chose this version before the route table moved on may be queued for it: its
    // ready instances serve them first (a rollout must not turn them into 503s), within the grace.
    pool.draining = true;
    const graceEnd = this.now() + (this.opts.drainGraceMs ?? 30_000);
    while (pool.waiters.length > 0 && pool.count("ready") > 0 && this.now() < graceEnd) await new Promise((r) => setTimeout(r, 20));
    this.pools.delete(pool.key);
    for (const w of pool.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new StrataError("INSTANCE_FAILED", `${pool.key} stopped serving`, { retryAfterS: 1 }));
    }
    // Every instance gets its stop even when one fails; the first failure is then reported.
    const stops = await Promise.allSettled([...pool.slots.values()].map((s) => this.stopSlot(pool, s, "drained")));
    this.prepared.delete(pool.key);
    const failed = stops.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
  }

  async removeApp(app: string): Promise<void> {
    await Promise.all([...this.pools.values()].filter((p) => p.version.app === app).map((p) => this.drain(app, p.version.version)));
  }

  // ---- instances ----

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

  private driverOf(v: VersionRecord): SandboxDriver {
    const d = v.driver && this.opts.drivers.get(v.driver);
    if (!d) throw new StrataError("SANDBOX_UNAVAILABLE", `sandbox "${v.driver}" of ${v.app}/${v.version} is not available in this daemon`);
    return d;
  }

  private ioFor(v: VersionRecord, instanceId: string): InstanceIO {
    return {
      log: (stream, line) =>
        this.opts.logs.append({ kind: "app", time: new Date().toISOString(), app: v.app, version: v.version, instance: instanceId, stream, line }),
    };
  }

  private startInstance(pool: VersionPool): Promise<Slot> {
    if (this.closing) return Promise.reject(new StrataError("INSTANCE_FAILED", "the daemon is shutting down", { retryAfterS: 5 }));
    const p = this.doStartInstance(pool);
    this.starting.add(p);
    void p.then(
      () => this.starting.delete(p),
      () => this.starting.delete(p),
    );
    return p;
  }

  private async doStartInstance(pool: VersionPool): Promise<Slot> {
    const v = pool.version;
    const driver = this.driverOf(v);
    const id = newInstanceId();
    const slot: Slot = { id, state: "starting", instance: undefined, inflight: 0, lastActive: this.now(), startedAt: this.now(), oomKills: 0 };
    pool.slots.set(id, slot);
    const spec = instanceSpecOf(v, id, pool.policy);
    try {
      let prep = this.prepared.get(pool.key);
      if (!prep) {
        prep = driver.prepare(imageOf(v), spec);
        this.prepared.set(pool.key, prep);
        prep.catch(() => this.prepared.delete(pool.key)); // a failed prepare is retried by the next start
      }
      const instance = await driver.start(await prep, spec, this.ioFor(v, id));
      slot.instance = instance;
      this.opts.store.putInstance({ id, app: v.app, version: v.version, driver: driver.name, endpoint: instance.endpoint, handle: instance.handle, createdAt: new Date().toISOString() });
      this.opts.store.addEvent({ type: "instance.started", app: v.app, version: v.version, message: `instance ${id} started (${driver.name})` });
      const warmup = ((v.spec.inbound_services as string[] | undefined) ?? []).includes("warmup");
      await waitReady(instance.endpoint, {
        timeoutMs: this.opts.readyTimeoutMs ?? 30_000,
        ...(warmup && { httpPath: "/_ah/warmup" }),
        stillRunning: async () => (await driver.inspect(instance)).status === "running",
      });
      if (slot.state === "draining") throw new StrataError("INSTANCE_FAILED", "the version stopped serving while the instance started");
      slot.state = "ready";
      slot.lastActive = this.now();
      this.opts.onColdStart?.(v.app, v.version, driver.name, this.now() - slot.startedAt);
      this.opts.store.addEvent({ type: "instance.ready", app: v.app, version: v.version, message: `instance ${id} ready in ${this.now() - slot.startedAt} ms`, data: { coldStartMs: this.now() - slot.startedAt } });
      this.dispatch(pool);
      return slot;
    } catch (err) {
      const e = asStrataError(err);
      // Stop first: the driver drains the instance's output on stop, so its last lines are in the log.
      await this.stopSlot(pool, slot, "failed");
      const tail = (await this.opts.logs.recent(v.app, 200)).flatMap((l) => (l.kind === "app" && l.instance === id ? [l.line] : [])).slice(-20);
      const message = `instance ${id} failed to start: ${e.message}${tail.length ? `\nlast lines:\n  ${tail.join("\n  ")}` : ""}`;
      pool.lastError = e.message;
      this.recordCrash(pool);
      this.opts.store.addEvent({ type: "instance.failed", app: v.app, version: v.version, message });
      if (pool.count() === 0 && pool.waiters.length > 0 && pool.crashLooping(this.now())) {
        for (const w of pool.waiters.splice(0)) {
          clearTimeout(w.timer);
          w.reject(new StrataError("INSTANCE_FAILED", message, { retryAfterS: 10 }));
        }
      }
      throw new StrataError("INSTANCE_FAILED", message, e.details);
    }
  }

  private recordCrash(pool: VersionPool): void {
    const now = this.now();
    pool.crashes = [...pool.crashes.filter((t) => now - t < 60_000), now];
    // Exponential backoff between restarts: 0.5 s, 1 s, 2 s … capped at 30 s.
    const n = pool.crashes.length;
    pool.nextRestartAt = n > 1 ? now + Math.min(30_000, 500 * 2 ** (n - 2)) : now;
  }

  private stopSlot(pool: VersionPool, slot: Slot, why: string): Promise<void> {
    if (!slot.instance) {
      // Still starting: its start sees "draining" and stops the instance itself once it exists.
      slot.state = "draining";
      pool.slots.delete(slot.id);
      return Promise.resolve();
    }
    slot.stopped ??= this.stopSlotOnce(pool, slot, slot.instance, why);
    return slot.stopped;
  }

  private async stopSlotOnce(pool: VersionPool, slot: Slot, instance: Instance, why: string): Promise<void> {
    slot.state = "draining";
    const graceEnd = this.now() + (this.opts.drainGraceMs ?? 30_000);
    while (slot.inflight > 0 && this.now() < graceEnd) await new Promise((r) => setTimeout(r, 50));
    pool.slots.delete(slot.id);
    try {
      await this.driverOf(pool.version).stop(instance, 5_000);
    } finally {
      this.opts.onEndpointGone?.(instance);
      this.opts.store.deleteInstance(slot.id);
      this.opts.store.addEvent({ type: "instance.stopped", app: pool.version.app, version: pool.version.version, message: `instance ${slot.id} stopped (${why})` });
    }
  }

  /**
   * The router could not connect to this instance. It leaves service now, not at the next health tick,
   * so the request's retry and those after it go elsewhere; it is replaced if it has exited, and comes
   * back if it still runs (a refusal while it restarts its listener).
   */
  private unreachable(pool: VersionPool, slot: Slot, err: Error): void {
    const instance = slot.instance;
    if (slot.state !== "ready" || !instance) return;
    slot.state = "draining";
    void (async () => {
      const state = await this.driverOf(pool.version).inspect(instance);
      if (state.status !== "running") return this.retire(pool, slot, state, "; found when it refused a connection");
      if (slot.stopped === undefined && pool.slots.has(slot.id)) {
        slot.state = "ready";
        this.dispatch(pool);
      }
    })().catch((e: unknown) => {
      this.opts.store.addEvent({ type: "instance.failed", app: pool.version.app, version: pool.version.version, message: `instance ${slot.id} refused a connection (${err.message}) and could not be checked: ${asStrataError(e).message}` });
    });
  }

  /** An instance found exited or gone: recorded as a crash (for backoff), then stopped and cleared. */
  private async retire(pool: VersionPool, slot: Slot, state: Exclude<InstanceState, { status: "running" }>, found = ""): Promise<void> {
    if (slot.stopped) return slot.stopped; // the health tick and a refused connection found the same crash
    const why = state.status === "exited" ? `${state.reason} (code ${state.code})` : "gone";
    pool.lastError = `instance ${slot.id} ${why}`;
    this.recordCrash(pool);
    this.opts.store.addEvent({ type: "instance.failed", app: pool.version.app, version: pool.version.version, message: `instance ${slot.id} ${why}${found}` });
    await this.stopSlot(pool, slot, why);
  }

  /** Health and idleness, every tick: replace exited instances, stop idle ones, keep the minimum. */
  private async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = this.now();
      for (const pool of this.pools.values()) {
        const driver = this.driverOf(pool.version);
        for (const slot of [...pool.slots.values()]) {
          if (slot.state !== "ready" || !slot.instance) continue;
          const state = await driver.inspect(slot.instance);
          if (state.status !== "running") {
            await this.retire(pool, slot, state);
            continue;
          }
          if ((state.oomKills ?? 0) > slot.oomKills) {
            const mb = limitsForClass(pool.policy.instanceClass).memoryMb;
            slot.oomKills = state.oomKills!;
            this.opts.store.addEvent({
              type: "instance.oom-killed",
              app: pool.version.app,
              version: pool.version.version,
              message: `instance ${slot.id}: a process was killed (oom-killed) for exceeding the ${pool.policy.instanceClass} memory limit of ${mb} MB; choose a larger instance_class or use less memory`,
            });
          }
        }
        pool.samples.push({ at: now, concurrency: pool.inflightAndQueued() });
        while (pool.samples.length && pool.samples[0]!.at <= now - pool.targets.stableWindowMs) pool.samples.shift();
        const decision = decide({ samples: pool.samples, current: pool.count(), ...(pool.panicSince !== undefined && { panicSince: pool.panicSince }) }, now, pool.targets);
        pool.panicSince = decision.panicSince;
        if (decision.desired > pool.count()) this.scale(pool, decision.desired);
        else await this.scaleDown(pool, decision.desired, now);
      }
    } catch (err) {
      this.opts.store.addEvent({ type: "instance.failed", message: `scheduler tick failed: ${asStrataError(err).message}` });
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Stops idle instances: one idle past the version's idle timeout goes while more than min_instances
   * run (so an idle version reaches zero); one above the autoscaler's count goes after a short delay.
   */
  private async scaleDown(pool: VersionPool, desired: number, now: number): Promise<void> {
    const idle = [...pool.slots.values()].filter((s) => s.state === "ready" && s.inflight === 0).sort((a, b) => a.lastActive - b.lastActive);
    for (const slot of idle) {
      const idleFor = now - slot.lastActive;
      const pastTimeout = pool.policy.idleTimeoutMs !== null && idleFor > pool.policy.idleTimeoutMs && pool.count() > pool.targets.minInstances;
      const surplus = pool.count() > Math.max(desired, pool.targets.minInstances) && idleFor > SCALE_DOWN_DELAY_MS;
      // The list is from before the awaits in this loop: a drain may have taken the slot since.
      if (slot.state !== "ready") continue;
      if (pastTimeout || surplus) await this.stopSlot(pool, slot, `idle for ${Math.round(idleFor / 1000)} s`);
    }
  }

  /** After a daemon restart: re-adopt instances that survived, clear what is left of the rest. */
  async recover(): Promise<void> {
    const keep = new Set<string>();
    for (const rec of this.opts.store.listInstances()) {
      const v = this.opts.store.getVersion(rec.app, rec.version);
      const driver = this.opts.drivers.get(rec.driver);
      let instance: Instance | null = null;
      if (v && v.status === "ready" && driver) {
        instance = await driver.recover(rec.handle, this.ioFor(v, rec.id)).catch((err: unknown) => {
          this.opts.store.addEvent({ type: "instance.failed", app: rec.app, version: rec.version, message: `instance ${rec.id} could not be re-adopted: ${asStrataError(err).message}` });
          return null;
        });
      }
      if (!instance || !v) {
        this.opts.store.deleteInstance(rec.id);
        continue;
      }
      const pool = this.poolFor(v.app, v.version, v);
      const ok = await httpGet(instance.endpoint, "/", 2000).then(
        () => true,
        () => false,
      );
      if (!ok) {
        await driver!.stop(instance, 1000);
        this.opts.store.deleteInstance(rec.id);
        continue;
      }
      keep.add(rec.id);
      pool.slots.set(rec.id, { id: rec.id, state: "ready", instance, inflight: 0, lastActive: this.now(), startedAt: this.now(), oomKills: 0 });
      this.opts.store.addEvent({ type: "instance.recovered", app: v.app, version: v.version, message: `instance ${rec.id} re-adopted after a daemon restart` });
    }
    await this.opts.drivers.sweep(keep);
    // Serving versions with min_instances get them back now, not at their first request.
    for (const app of this.opts.store.listApps()) {
      for (const version of Object.keys(this.opts.store.getTraffic(app.name)?.allocations ?? {})) {
        const v = this.opts.store.getVersion(app.name, version);
        if (!v?.driver || v.status !== "ready") continue;
        const pool = this.poolFor(v.app, v.version, v);
        if (pool.count() < pool.targets.minInstances) this.scale(pool);
      }
    }
  }

  /** Instances of one app, for `strata instances`. */
  async describe(app: string): Promise<Array<{ id: string; version: string; driver: string; detail?: string; state: string; endpoint: string; inflight: number; cpuMs?: number; memoryBytes?: number; startedAt: number }>> {
    const out = [];
    for (const pool of this.pools.values()) {
      if (pool.version.app !== app) continue;
      const driver = this.driverOf(pool.version);
      for (const s of pool.slots.values()) {
        const st = s.instance ? await driver.inspect(s.instance) : undefined;
        const ep = s.instance?.endpoint;
        out.push({
          id: s.id,
          version: pool.version.version,
          driver: driver.name,
          ...(s.instance?.detail !== undefined && { detail: s.instance.detail }),
          state: pool.crashLooping(this.now()) ? `${s.state} (crash-looping)` : s.state,
          endpoint: !ep ? "-" : "socket" in ep ? ep.socket : `${ep.host}:${ep.port}`,
          inflight: s.inflight,
          ...(st?.status === "running" && st.cpuMs !== undefined && { cpuMs: st.cpuMs }),
          ...(st?.status === "running" && st.memoryBytes !== undefined && { memoryBytes: st.memoryBytes }),
          startedAt: s.startedAt,
        });
      }
    }
    return out;
  }

  snapshot(): PoolSnapshot[] {
    return [...this.pools.values()].map((p) => {
      const instances = { starting: 0, ready: 0, draining: 0 };
      let inflight = 0;
      for (const s of p.slots.values()) {
        instances[s.state]++;
        inflight += s.inflight;
      }
      return { app: p.version.app, version: p.version.version, instances, queued: p.waiters.length, inflight };
    });
  }

  /** Graceful shutdown: finish in-flight requests, stop every instance. */
  async shutdown(): Promise<void> {
    this.closing = true;
    if (this.timer) clearInterval(this.timer);
    for (const pool of this.pools.values()) for (const slot of pool.slots.values()) if (slot.state === "starting") slot.state = "draining";
    await Promise.allSettled([...this.starting]);
    await Promise.all([...this.pools.values()].map((p) => this.drain(p.version.app, p.version.version)));
  }
}
