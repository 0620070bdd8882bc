import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { MIGRATIONS } from "./migrations.js";
import type { Store } from "./store.js";
import type {
  AppRecord,
  Artifact,
  EventRecord,
  EventType,
  InstanceRecord,
  NewEvent,
  SplitBy,
  TrafficRecord,
  VersionRecord,
  VersionStatus,
} from "./types.js";

interface VersionRow {
  app: string;
  version: string;
  status: string;
  runtime: string;
  driver: string | null;
  artifact: string | null;
  spec: string;
  source_digest: string;
  size_bytes: number;
  created_at: string;
  error: string | null;
  static_tree: string | null;
  runs: string | null;
}

interface EventRow {
  id: number;
  time: string;
  type: string;
  app: string | null;
  version: string | null;
  message: string;
  data: string | null;
}

/** SQLite in WAL mode: readers never block the writer, and a kill -9 loses no committed write. */
export class SqliteStore implements Store {
  private readonly db: Database.Database;
  private readonly listeners = new Set<(e: EventRecord) => void>();

  constructor(file: string) {
    if (file !== ":memory:") mkdirSync(dirname(file), { recursive: true });
    this.db = new Database(file);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma("synchronous = NORMAL");
    this.db.pragma("foreign_keys = ON");
    this.db.pragma("busy_timeout = 5000");
    this.migrate();
  }

  private migrate(): void {
    const current = this.db.pragma("user_version", { simple: true }) as number;
    for (let i = current; i < MIGRATIONS.length; i++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[i]!);
        this.db.pragma(`user_version = ${i + 1}`);
      })();
    }
  }

  createApp(name: string): AppRecord {
    const rec = { name, createdAt: new Date().toISOString() };
    this.db.prepare("INSERT INTO apps (name, created_at) VALUES (?, ?) ON CONFLICT(name) DO NOTHING").run(name, rec.createdAt);
    return this.getApp(name)!;
  }

  getApp(name: string): AppRecord | undefined {
    const row = this.db.prepare("SELECT name, created_at FROM apps WHERE name = ?").get(name) as
      | { name: string; created_at: string }
      | undefined;
    return row && { name: row.name, createdAt: row.created_at };
  }

  listApps(): AppRecord[] {
    const rows = this.db.prepare("SELECT name, created_at FROM apps ORDER BY name").all() as Array<{ name: string; created_at: string }>;
    return rows.map((r) => ({ name: r.name, createdAt: r.created_at }));
  }

  deleteApp(name: string): void {
    this.db.transaction(() => {
      this.db.prepare("DELETE FROM instances WHERE app = ?").run(name);
      this.db.prepare("DELETE FROM apps WHERE name = ?").run(name);
    })();
  }

  putVersion(v: VersionRecord): void {
    this.db
      .prepare(
        `INSERT INTO versions (app, version, status, runtime, runs, driver, artifact, static_tree, spec, source_digest, size_bytes, created_at, error)
         VALUES (@app, @version, @status, @runtime, @runs, @driver, @artifact, @static_tree, @spec, @source_digest, @size_bytes, @created_at, @error)
         ON CONFLICT(app, version) DO UPDATE SET status = excluded.status, runtime = excluded.runtime, runs = excluded.runs, driver = excluded.driver,
           artifact = excluded.artifact, static_tree = excluded.static_tree, spec = excluded.spec, source_digest = excluded.source_digest,
           size_bytes = excluded.size_bytes, error = excluded.error`,
      )
      .run({
        app: v.app,
        version: v.version,
        status: v.status,
        runtime: v.runtime,
        runs: v.runs ?? null,
        driver: v.driver ?? null,
        artifact: v.artifact ? JSON.stringify(v.artifact) : null,
        static_tree: v.staticTree ?? null,
        spec: JSON.stringify(v.spec),
        source_digest: v.sourceDigest,
        size_bytes: v.sizeBytes,
        created_at: v.createdAt,
        error: v.error ?? null,
      });
  }

  getVersion(app: string, version: string): VersionRecord | undefined {
    const row = this.db.prepare("SELECT * FROM versions WHERE app = ? AND version = ?").get(app, version) as VersionRow | undefined;
    return row && toVersion(row);
  }

  listVersions(app?: string): VersionRecord[] {
    const rows = (
      app === undefined
        ? this.db.prepare("SELECT * FROM versions ORDER BY app, created_at").all()
        : this.db.prepare("SELECT * FROM versions WHERE app = ? ORDER BY created_at").all(app)
    ) as VersionRow[];
    return rows.map(toVersion);
  }

  deleteVersion(app: string, version: string): void {
    this.db.prepare("DELETE FROM versions WHERE app = ? AND version = ?").run(app, version);
  }

  getTraffic(app: string): TrafficRecord | undefined {
    const row = this.db.prepare("SELECT * FROM traffic WHERE app = ?").get(app) as
      | { app: string; split_by: string; allocations: string; updated_at: string }
      | undefined;
    return (
      row && {
        app: row.app,
        splitBy: row.split_by as SplitBy,
        allocations: JSON.parse(row.allocations) as Record<string, number>,
        updatedAt: row.updated_at,
      }
    );
  }

  setTraffic(t: Omit<TrafficRecord, "updatedAt">): TrafficRecord {
    const rec: TrafficRecord = { ...t, updatedAt: new Date().toISOString() };
    this.db
      .prepare(
        `INSERT INTO traffic (app, split_by, allocations, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(app) DO UPDATE SET split_by = excluded.split_by, allocations = excluded.allocations, updated_at = excluded.updated_at`,
      )
      .run(rec.app, rec.splitBy, JSON.stringify(rec.allocations), rec.updatedAt);
    return rec;
  }

  addEvent(e: NewEvent): EventRecord {
    const time = new Date().toISOString();
    const info = this.db
      .prepare("INSERT INTO events (time, type, app, version, message, data) VALUES (?, ?, ?, ?, ?, ?)")
      .run(time, e.type, e.app ?? null, e.version ?? null, e.message, e.data ? JSON.stringify(e.data) : null);
    const rec: EventRecord = { ...e, id: Number(info.lastInsertRowid), time };
    for (const l of this.listeners) l(rec);
    return rec;
  }

  listEvents(opts: { afterId?: number; app?: string; limit?: number } = {}): EventRecord[] {
    const limit = opts.limit ?? 100;
    const after = opts.afterId ?? 0;
    const rows = (
      opts.app === undefined
        ? this.db.prepare("SELECT * FROM (SELECT * FROM events WHERE id > ? ORDER BY id DESC LIMIT ?) ORDER BY id").all(after, limit)
        : this.db
            .prepare("SELECT * FROM (SELECT * FROM events WHERE id > ? AND app = ? ORDER BY id DESC LIMIT ?) ORDER BY id")
            .all(after, opts.app, limit)
    ) as EventRow[];
    return rows.map((r) => ({
      id: r.id,
      time: r.time,
      type: r.type as EventType,
      ...(r.app !== null && { app: r.app }),
      ...(r.version !== null && { version: r.version }),
      message: r.message,
      ...(r.data !== null && { data: JSON.parse(r.data) as Record<string, unknown> }),
    }));
  }

  onEvent(listener: (e: EventRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  putInstance(i: InstanceRecord): void {
    this.db
      .prepare(
        `INSERT INTO instances (id, app, version, driver, endpoint, handle, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET endpoint = excluded.endpoint, handle = excluded.handle`,
      )
      .run(i.id, i.app, i.version, i.driver, JSON.stringify(i.endpoint), JSON.stringify(i.handle), i.createdAt);
  }

  deleteInstance(id: string): void {
    this.db.prepare("DELETE FROM instances WHERE id = ?").run(id);
  }

  listInstances(app?: string): InstanceRecord[] {
    const rows = (
      app === undefined
        ? this.db.prepare("SELECT * FROM instances ORDER BY created_at").all()
        : this.db.prepare("SELECT * FROM instances WHERE app = ? ORDER BY created_at").all(app)
    ) as Array<{ id: string; app: string; version: string; driver: string; endpoint: string; handle: string; created_at: string }>;
    return rows.map((r) => ({
      id: r.id,
      app: r.app,
      version: r.version,
      driver: r.driver,
      endpoint: JSON.parse(r.endpoint) as InstanceRecord["endpoint"],
      handle: JSON.parse(r.handle) as InstanceRecord["handle"],
      createdAt: r.created_at,
    }));
  }

  close(): void {
    this.db.close();
  }
}

function toVersion(r: VersionRow): VersionRecord {
  return {
    app: r.app,
    version: r.version,
    status: r.status as VersionStatus,
    runtime: r.runtime,
    ...(r.runs !== null && { runs: r.runs }),
    ...(r.driver !== null && { driver: r.driver }),
    ...(r.artifact !== null && { artifact: JSON.parse(r.artifact) as Artifact }),
    ...(r.static_tree !== null && { staticTree: r.static_tree }),
    spec: JSON.parse(r.spec) as Record<string, unknown>,
    sourceDigest: r.source_digest,
    sizeBytes: r.size_bytes,
    createdAt: r.created_at,
    ...(r.error !== null && { error: r.error }),
  };
}
