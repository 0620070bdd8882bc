import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TestContext } from "node:test";
import { AppYamlSchema, storedSpec } from "../../../src/config/index.js";
import type { Clock } from "../../../src/scheduler/clock.js";
import type { Readiness, ReadinessOptions } from "../../../src/scheduler/readiness.js";
import type { LogSink } from "../../../src/scheduler/supervisor.js";
import type {
  Capabilities,
  DriverName,
  EndedState,
  Endpoint,
  ImageRef,
  Instance,
  InstanceHandle,
  InstanceIO,
  InstanceSpec,
  InstanceState,
  Prepared,
  Probe,
  SandboxDriver,
  SnapshotOutcome,
} from "../../../src/sandbox/driver.js";
import { SqliteStore } from "../../../src/store/sqlite-store.js";
import type { VersionRecord } from "../../../src/store/types.js";

/** A clock the test moves: timers fire in order as advance() passes them, with promise callbacks run between. */
export class FakeClock implements Clock {
  private timers: Array<{ at: number; fn: () => void; seq: number }> = [];
  private seq = 0;
  constructor(private t = 1_000_000) {}

  now(): number {
    return this.t;
  }

  timer(ms: number, fn: () => void): () => void {
    const entry = { at: this.t + ms, fn, seq: this.seq++ };
    this.timers.push(entry);
    return () => {
      this.timers = this.timers.filter((x) => x !== entry);
    };
  }

  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      const next = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = next.at;
      next.fn();
    }
    this.t = end;
    await settle();
  }
}

/** Lets pending promise callbacks (and the I/O they wait on, such as SQLite writes) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

export interface FakeDriverOptions {
  name?: DriverName;
  recoverable?: boolean;
  /** prepare() throws this message. */
  prepareError?: string;
  /** start() throws this message. */
  startError?: string;
  /** inspect() answers only after this many real milliseconds (a driver that hangs). */
  inspectDelayMs?: number;
  /** recover() re-adopts these instance ids. */
  alive?: readonly string[];
  /** The driver snapshots its first started instance (as microvm with snapshots on); the test settles it with snapshot(). */
  snapshots?: boolean;
}

/** A driver with no sandbox: instances are records; the test ends them with exit(). */
export class FakeDriver implements SandboxDriver {
  readonly name: DriverName;
  readonly capabilities: Capabilities;
  readonly states = new Map<string, InstanceState>();
  readonly ios = new Map<string, InstanceIO>();
  readonly stopped: string[] = [];
  readonly recovered: string[] = [];
  /** The key of each prepare() and release(), in order ("app/version"). */
  readonly preparedKeys: string[] = [];
  readonly releasedKeys: string[] = [];
  /** Each ready() call: the instance id (the scheduler found it ready). */
  readonly readied: string[] = [];
  /** Called by ready(), before it returns (what a test looks at while the driver is told). */
  onReady: ((id: string) => void) | undefined;
  /** The first instance's snapshot under way (with `snapshots`), and how the test settles it. */
  private snapshotting: { id: string; outcome: Promise<SnapshotOutcome>; settle: (o: SnapshotOutcome) => void } | undefined;

  constructor(private readonly opts: FakeDriverOptions = {}) {
    this.name = opts.name ?? "runc";
    this.capabilities = Object.freeze({
      isolation: "container",
      imageKinds: Object.freeze(["oci"] as const),
      ownNetns: false,
      sharedProcess: false,
      limits: Object.freeze({ memory: false, cpu: false, pids: false }),
      recoverable: opts.recoverable ?? true,
      coldStart: "sub-second",
    });
  }

  async probe(): Promise<Probe> {
    return { available: true };
  }

  async prepare(_image: ImageRef, spec: InstanceSpec): Promise<Prepared> {
    const key = `${spec.app}/${spec.version}`;
    this.preparedKeys.push(key);
    if (this.opts.prepareError) throw new Error(this.opts.prepareError);
    return { driver: this.name, key, data: {} };
  }

  async release(prepared: Prepared): Promise<void> {
    this.releasedKeys.push(prepared.key);
  }

  async start(_p: Prepared, spec: InstanceSpec, io: InstanceIO): Promise<Instance> {
    if (this.opts.startError) throw new Error(this.opts.startError);
    if (this.opts.snapshots && !this.snapshotting) {
      let settle!: (o: SnapshotOutcome) => void;
      const outcome = new Promise<SnapshotOutcome>((r) => (settle = r));
      this.snapshotting = { id: spec.instanceId, outcome, settle };
    }
    this.states.set(spec.instanceId, { status: "running" });
    this.ios.set(spec.instanceId, io);
    return this.instance(spec.instanceId);
  }

  async stop(instance: Instance): Promise<void> {
    this.stopped.push(instance.id);
    this.states.set(instance.id, { status: "gone" });
  }

  async inspect(instance: Instance): Promise<InstanceState> {
    if (this.opts.inspectDelayMs) await new Promise((r) => setTimeout(r, this.opts.inspectDelayMs).unref());
    return this.states.get(instance.id) ?? { status: "gone" };
  }

  async recover(handle: InstanceHandle, io: InstanceIO): Promise<Instance | null> {
    this.recovered.push(handle.id);
    if (!this.opts.alive?.includes(handle.id)) return null;
    this.states.set(handle.id, { status: "running" });
    this.ios.set(handle.id, io);
    return this.instance(handle.id);
  }

  async sweep(): Promise<void> {}

  async ready(instance: Instance): Promise<void> {
    this.readied.push(instance.id);
    this.onReady?.(instance.id);
  }

  snapshotted(instance: Instance): Promise<SnapshotOutcome> | undefined {
    return this.snapshotting?.id === instance.id ? this.snapshotting.outcome : undefined;
  }

  /** What became of the first instance's snapshot (with `snapshots`). */
  snapshot(outcome: SnapshotOutcome): void {
    this.snapshotting?.settle(outcome);
  }

  /** The instance ends on its own; `push`: the driver reports it (InstanceIO.exited), else only inspect() shows it. */
  exit(id: string, state: EndedState, push = true): void {
    this.states.set(id, state);
    if (push) this.ios.get(id)?.exited?.(state);
  }

  private instance(id: string): Instance {
    return { id, driver: this.name, endpoint: { host: "10.0.0.1", port: 8080 }, handle: { id, driver: this.name, data: {} } };
  }
}

/** Readiness without a network: ready at once, unless the test says otherwise. */
export class FakeReadiness implements Readiness {
  fail: string | undefined;
  answering = true;
  /** While set, ready() waits for it: a start held between the driver's start() and readiness. */
  gate: Promise<void> | undefined;
  /** How each ready() was asked to learn readiness (`via`: port or runtime-api). */
  readonly asked: Array<string | undefined> = [];
  /** Each ready()'s budget and the hint it would give on a timeout. */
  readonly budgets: Array<{ timeoutMs: number; hint?: string }> = [];
  async ready(_endpoint: Endpoint, opts: ReadinessOptions): Promise<void> {
    this.asked.push(opts.via);
    this.budgets.push({ timeoutMs: opts.timeoutMs, ...(opts.timeoutHint !== undefined && { hint: opts.timeoutHint }) });
    await this.gate;
    if (this.fail) throw new Error(this.fail);
  }
  async answers(): Promise<boolean> {
    return this.answering;
  }
}

export const nullLogs: LogSink = { append: () => undefined, recent: async () => [] };

/** A real SQLite store in a temp dir, removed after the test. */
export async function tempStore(t: TestContext): Promise<SqliteStore> {
  const dir = await mkdtemp(join(tmpdir(), "strata-sched-"));
  const store = new SqliteStore(join(dir, "strata.db"));
  t.after(async () => {
    store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}

/** A ready version of `app` on `driver`, stored (instances reference it). */
export function readyVersion(store: SqliteStore, app: string, driver: DriverName, spec: Record<string, unknown> = {}): VersionRecord {
  if (!store.getApp(app)) store.createApp(app);
  const v: VersionRecord = {
    app,
    version: "v1",
    status: "ready",
    runtime: "python311",
    driver,
    artifact: { kind: "oci", digest: "sha256:" + "0".repeat(64), path: "/nonexistent", ref: "apps/x:v1" },
    spec: storedSpec(AppYamlSchema.parse({ runtime: "python311", ...spec })),
    sourceDigest: "sha256:" + "1".repeat(64),
    sizeBytes: 0,
    createdAt: new Date().toISOString(),
  };
  store.putVersion(v);
  return v;
}
