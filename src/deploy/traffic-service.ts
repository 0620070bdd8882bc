import { StrataError } from "../errors.js";
import type { Store } from "../store/store.js";
import type { SplitBy, TrafficRecord } from "../store/types.js";
import type { VersionRuntime } from "./version-runtime.js";

/**
 * The one path every traffic change takes (deploy, deploy --no-promote, traffic set, migrate,
 * rollback): warm the versions that will receive traffic, switch the route table atomically, then drain
 * the versions that lost theirs.
 */
export class TrafficService {
  constructor(
    private readonly store: Store,
    private readonly runtime: VersionRuntime,
    /** Rebuilds the router's table from the store and swaps it in. */
    readonly refreshRoutes: () => Promise<void>,
  ) {}

  async set(app: string, splits: Record<string, number>, splitBy: SplitBy, log: (line: string) => void = () => {}): Promise<TrafficRecord> {
    if (!this.store.getApp(app)) throw new StrataError("APP_NOT_FOUND", `no app named "${app}" (see: strata apps)`);
    const before = this.store.getTraffic(app)?.allocations ?? {};
    for (const [version, share] of Object.entries(splits)) {
      const v = this.store.getVersion(app, version);
      if (!v) throw new StrataError("VERSION_NOT_FOUND", `app "${app}" has no version "${version}" (see: strata versions ${app})`);
      if (v.status !== "ready") throw new StrataError("CONFLICT", `version "${version}" is ${v.status}, not ready: it cannot take traffic`);
      if (share > 0 && v.driver) await this.runtime.warm(v, log);
    }
    const allocations = Object.fromEntries(Object.entries(splits).filter(([, s]) => s > 0));
    const rec = this.store.setTraffic({ app, splitBy, allocations });
    await this.refreshRoutes();
    const text = Object.entries(allocations).map(([v, s]) => `${v}=${Math.round(s * 1000) / 10}%`).join(", ");
    this.store.addEvent({ type: "traffic.changed", app, message: `traffic: ${text} (split by ${splitBy})`, data: { allocations, splitBy } });
    for (const version of Object.keys(before)) {
      if (!(version in allocations)) await this.runtime.drain(app, version);
    }
    return rec;
  }

  async migrate(app: string, version: string, log?: (line: string) => void): Promise<TrafficRecord> {
    const splitBy = this.store.getTraffic(app)?.splitBy ?? "random";
    return this.set(app, { [version]: 1 }, splitBy, log);
  }
}
