/** Schema migrations, applied in order; PRAGMA user_version records how many have run. Append only. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE apps (
    name TEXT PRIMARY KEY,
    created_at TEXT NOT NULL
  );
  CREATE TABLE versions (
    app TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
    version TEXT NOT NULL,
    status TEXT NOT NULL,
    runtime TEXT NOT NULL,
    driver TEXT,
    artifact TEXT,
    spec TEXT NOT NULL,
    source_digest TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    error TEXT,
    PRIMARY KEY (app, version)
  );
  CREATE TABLE traffic (
    app TEXT PRIMARY KEY REFERENCES apps(name) ON DELETE CASCADE,
    split_by TEXT NOT NULL,
    allocations TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time TEXT NOT NULL,
    type TEXT NOT NULL,
    app TEXT,
    version TEXT,
    message TEXT NOT NULL,
    data TEXT
  );
  CREATE INDEX events_app ON events(app, id);
  CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    app TEXT NOT NULL,
    version TEXT NOT NULL,
    driver TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    handle TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  `,
  `ALTER TABLE versions ADD COLUMN static_tree TEXT;`,
  `ALTER TABLE versions ADD COLUMN runs TEXT;`,
];
