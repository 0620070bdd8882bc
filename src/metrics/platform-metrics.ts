import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** What the scheduler reports on demand, for gauges read at scrape time. */
export interface PoolSnapshot {
  app: string;
  version: string;
  instances: Record<"starting" | "ready" | "draining", number>;
  queued: number;
  inflight: number;
  /** The autoscaler's last decision: how many instances it wants, and in which mode (stable, panic, demand). */
  desired?: number;
  mode?: string;
}

/**
 * The platform's Prometheus metrics, on their own registry (no global state): request counts and
 * latency from the router, instance counts, cold starts and the activator's queue from the scheduler.
 */
export class PlatformMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<"app" | "version" | "status">;
  private readonly latency: Histogram<"app" | "version">;
  private readonly coldStarts: Histogram<"app" | "version" | "driver">;

  constructor(snapshot: () => PoolSnapshot[]) {
    collectDefaultMetrics({ register: this.registry, prefix: "strata_daemon_" });
    this.requests = new Counter({
      name: "strata_requests_total",
      help: "Requests through the router, by app, version and status code",
      labelNames: ["app", "version", "status"],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: "strata_request_duration_seconds",
      help: "Time from request to response end, through the router",
      labelNames: ["app", "version"],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [this.registry],
    });
    this.coldStarts = new Histogram({
      name: "strata_cold_start_seconds",
      help: "Instance start to ready (listening, warmed up), by driver",
      labelNames: ["app", "version", "driver"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [this.registry],
    });
    new Gauge({
      name: "strata_instances",
      help: "Instances by app, version and state",
      labelNames: ["app", "version", "state"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of snapshot()) for (const [state, n] of Object.entries(p.instances)) this.set({ app: p.app, version: p.version, state }, n);
      },
    });
    new Gauge({
      name: "strata_activator_queue_depth",
      help: "Requests held by the activator waiting for an instance",
      labelNames: ["app", "version"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of snapshot()) this.set({ app: p.app, version: p.version }, p.queued);
      },
    });
    new Gauge({
      name: "strata_autoscaler_desired_instances",
      help: "Instances the autoscaler wants, by app, version and the mode that decided (stable, panic, demand)",
      labelNames: ["app", "version", "mode"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of snapshot()) if (p.desired !== undefined) this.set({ app: p.app, version: p.version, mode: p.mode ?? "stable" }, p.desired);
      },
    });
    new Gauge({
      name: "strata_inflight_requests",
      help: "Requests being served by instances",
      labelNames: ["app", "version"],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const p of snapshot()) this.set({ app: p.app, version: p.version }, p.inflight);
      },
    });
  }

  request(info: { app: string; version: string; status: number; latencyMs: number }): void {
    this.requests.inc({ app: info.app, version: info.version, status: String(info.status) });
    this.latency.observe({ app: info.app, version: info.version }, info.latencyMs / 1000);
  }

  coldStart(app: string, version: string, driver: string, ms: number): void {
    this.coldStarts.observe({ app, version, driver }, ms / 1000);
  }

  async text(): Promise<string> {
    return this.registry.metrics();
  }
}
