import { StrataError, asStrataError } from "../errors.js";
import type { SplitBy, Store, TrafficRecord } from "../store/index.js";
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
    // The switch is done: a version that fails to drain is reported, and does not undo or fail the change.
    for (const version of Object.keys(before)) {
      if (version in allocations) continue;
      await this.runtime.drain(app, version).catch((err: unknown) => {
        const message = `version ${version} lost its traffic but did not stop cleanly: ${asStrataError(err).message}`;
        log(`warning: ${message}`);
        this.store.addEvent({ type: "instance.failed", app, version, message });
      });
    }
    return rec;
  }

  /**
   * Moves traffic back to the split in force before the last change (from the traffic history kept in
   * events), without a rebuild. Versions deleted since are skipped over.
   */
  async rollback(app: string): Promise<TrafficRecord> {
    const current = this.store.getTraffic(app);
    if (!current) throw new StrataError("CONFLICT", `app "${app}" has never had traffic: nothing to roll back to`);
    const changes = this.store.listEvents({ app, limit: 1000 }).filter((e) => e.type === "traffic.changed").reverse();
    const same = (a: Record<string, number>, b: Record<string, number>) =>
      Object.keys(a).length === Object.keys(b).length && Object.entries(a).every(([k, v]) => Math.abs((b[k] ?? -1) - v) < 1e-9);
    for (const e of changes) {
      const allocations = e.data?.allocations as Record<string, number> | undefined;
      if (!allocations || same(allocations, current.allocations)) continue;
      const usable = Object.keys(allocations).every((v) => this.store.getVersion(app, v)?.status === "ready");
      if (!usable) continue;
      return this.set(app, allocations, (e.data?.splitBy as SplitBy | undefined) ?? current.splitBy);
    }
    throw new StrataError("CONFLICT", `app "${app}" has no earlier traffic split to roll back to`);
  }

  async migrate(app: string, version: string, log?: (line: string) => void): Promise<TrafficRecord> {
    const splitBy = this.store.getTraffic(app)?.splitBy ?? "random";
    return this.set(app, { [version]: 1 }, splitBy, log);
  }
}
