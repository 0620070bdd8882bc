import type {
  AppRecord,
  EventRecord,
  InstanceRecord,
  NewEvent,
  TrafficRecord,
  VersionRecord,
} from "./types.js";

/**
 * Durable state behind one interface: SQLite embedded by default; a PostgreSQL implementation can take
 * its place when several hosts share it. Calls are synchronous on purpose: SQLite answers in microseconds
 * and the callers (API handlers, the reconciler) are simpler without interleaving.
 */
export interface Store {
  createApp(name: string): AppRecord;
  getApp(name: string): AppRecord | undefined;
  listApps(): AppRecord[];
  /** Deletes the app with its versions, traffic and instance records. */
  deleteApp(name: string): void;

  putVersion(v: VersionRecord): void;
  getVersion(app: string, version: string): VersionRecord | undefined;
  listVersions(app?: string): VersionRecord[];
  deleteVersion(app: string, version: string): void;

  getTraffic(app: string): TrafficRecord | undefined;
  setTraffic(t: Omit<TrafficRecord, "updatedAt">): TrafficRecord;

  addEvent(e: NewEvent): EventRecord;
  listEvents(opts?: { afterId?: number; app?: string; limit?: number }): EventRecord[];
  /** In-process notification of new events (for streaming); returns an unsubscribe function. */
  onEvent(listener: (e: EventRecord) => void): () => void;

  putInstance(i: InstanceRecord): void;
  deleteInstance(id: string): void;
  listInstances(app?: string): InstanceRecord[];

  close(): void;
}
