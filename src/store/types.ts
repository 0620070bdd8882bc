/** Durable records. Timestamps are ISO-8601 strings; ids are stable. */
export interface AppRecord {
  name: string;
  createdAt: string;
}

export type VersionStatus = "building" | "ready" | "failed" | "deleted";

/** What a build produced: a static tree served by the router, or an image a sandbox driver runs. */
export type Artifact =
  | { kind: "static-tree"; digest: string }
  /** `port`: the one port the image EXPOSEs, when it does; else the app gets PORT=8080. */
  | { kind: "oci"; digest: string; path: string; ref: string; port?: number }
  | { kind: "isolate-bundle"; digest: string; path: string };

export interface VersionRecord {
  app: string;
  version: string;
  status: VersionStatus;
  runtime: string;
  /** The language version it runs ("Python 3.13.5"), saying so when it is not the one the runtime names. */
  runs?: string;
  /** The sandbox driver that runs it (a config DriverName, kept as text); absent for static sites. */
  driver?: string;
  artifact?: Artifact;
  /** For apps with code whose app.yaml has static handlers: the tree the router serves them from. */
  staticTree?: string;
  /** The app.yaml it was deployed with, versioned; written and read back by config/stored-spec.ts. */
  spec: Record<string, unknown>;
  sourceDigest: string;
  sizeBytes: number;
  createdAt: string;
  error?: string;
}

export type SplitBy = "random" | "cookie" | "ip";

export interface TrafficRecord {
  app: string;
  splitBy: SplitBy;
  /** version → share; shares sum to 1. Empty when nothing serves. */
  allocations: Record<string, number>;
  updatedAt: string;
}

export type EventType =
  | "app.created"
  | "app.deleted"
  | "version.building"
  | "version.deployed"
  | "version.failed"
  | "version.deleted"
  | "traffic.changed"
  | "instance.started"
  | "instance.ready"
  | "instance.stopped"
  | "instance.failed"
  | "instance.oom-killed"
  | "instance.recovered"
  | "daemon.started"
  | "daemon.stopped"
  | "daemon.warning"
  | "images.pruned"
  | "images.prune-failed"
  | "function.async-succeeded"
  | "function.async-failed";

export interface EventRecord {
  id: number;
  time: string;
  type: EventType;
  app?: string;
  version?: string;
  message: string;
  data?: Record<string, unknown>;
}

export type NewEvent = Omit<EventRecord, "id" | "time">;

/**
 * Where the router reaches an instance, as stored. The store imports no other layer, so this repeats the
 * shape of sandbox/driver.ts Endpoint (the two are structurally the same type).
 */
export type StoredEndpoint = { readonly host: string; readonly port: number } | { readonly socket: string };

/** A driver's instance handle, as stored: the driver that made it narrows it again in recover(). */
export interface StoredHandle {
  readonly id: string;
  readonly driver: string;
  readonly data: Readonly<Record<string, unknown>>;
}

export interface InstanceRecord {
  id: string;
  app: string;
  version: string;
  driver: string;
  endpoint: StoredEndpoint;
  handle: StoredHandle;
  createdAt: string;
}
