import { randomBytes } from "node:crypto";
import { stat } from "node:fs/promises";
import { request } from "node:http";
import { createConnection } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { StrataError } from "../../errors.js";
import type { InstanceIO, InstanceSpec, SnapshotOutcome } from "../driver.js";
import { encodeControl } from "./protocol.js";
import type { GuestNet } from "./run-file.js";

/** One stored snapshot: the VMM's migration stream and the run disk the snapshotted guest booted with. */
export interface SnapshotFiles {
  readonly state: string;
  readonly runDisk: string;
}

/** Where a driver keeps its snapshots (sandbox/microvm SnapshotStore), by version and key. */
export interface SnapshotShelf {
  get(version: string, key: string): Promise<SnapshotFiles | undefined>;
  put(version: string, key: string, runDisk: string, write: (stateFile: string) => Promise<void>): Promise<void>;
  remove(version: string, key: string): Promise<void>;
  removeVersion(version: string): Promise<void>;
}

/**
 * How long a snapshot waits for the first instance to answer: past the longest start budget an app may ask
 * for (app.yaml readiness_check.app_start_timeout_sec, up to 1800 s) on purpose. An instance the scheduler
 * gives up on is stopped, and its cleanup ends this wait sooner.
 */
const SNAPSHOT_READY_MS = 1_900_000;
const RESTORE_ACK_MS = 10_000;

/**
 * The snapshot lifecycle every VM-class driver on QEMU shares (microvm, kata through it, vm): a start
 * restores from the version's snapshot when there is one (and boots when that fails, dropping it); the
 * version's first booted instance is snapshotted in the background once it has answered a first request
 * (as Lambda SnapStart and CRaC snapshot after warm-up: a JVM has then loaded the request path's classes,
 * which Spring's dispatcher servlet initialises only at the first request). The driver supplies
 * how its VMM launches, takes a snapshot and resumes one; this keeps the tasks, one per instance, that
 * cleanup() and close() abort and wait for, so no socket or timer outlives a stopped instance.
 */
export class GuestSnapshots {
  /** Snapshot keys being taken now. */
  private readonly taking = new Set<string>();
  private readonly tasks = new Map<string, { abort: AbortController; done: Promise<SnapshotOutcome> }>();
  /** Each snapshotted instance's outcome, kept until the instance ends (end()), for SandboxDriver.snapshotted. */
  private readonly outcomes = new Map<string, Promise<SnapshotOutcome>>();
  /** Set by close(): no background snapshot starts after it (a start() still in flight may finish). */
  private closed = false;

  constructor(
    private readonly shelf: SnapshotShelf,
    /** Off: every start boots, and nothing is snapshotted. */
    readonly enabled: boolean,
    private readonly onProgress?: (line: string) => void,
  ) {}

  /**
   * Runs `launch` with the version's snapshot for `key` when one exists (and snapshots are on); if that
   * fails, the snapshot is dropped and `launch` runs again without one: a snapshot this QEMU or kernel
   * cannot resume costs the start its speed, not the start itself.
   */
  async start<T>(version: string, key: string, spec: InstanceSpec, io: InstanceIO, launch: (snapshot: SnapshotFiles | undefined) => Promise<T>): Promise<T> {
    const snapshot = this.enabled ? await this.shelf.get(version, key) : undefined;
    if (snapshot) {
      try {
        return await launch(snapshot);
      } catch (err) {
        io.log("stderr", `strata: restoring ${spec.instanceId} from its version's snapshot failed (${(err as Error).message}); booting it instead`);
        await this.shelf.remove(version, key);
      }
    }
    return launch(undefined);
  }

  /**
   * In the background: once `warmedUp` says instance `id` is ready to be copied (an app: `firstAnswer()`;
   * a function: its runtime waiting for work), snapshot it through `take` (a pause of about a second) so
   * later starts restore. One snapshot per key at a time; none when one exists or `running()` says the
   * VMM is gone. A failure only costs later starts their speed, so it is reported, not thrown.
   */
  whenReady(
    id: string, version: string, key: string, warmedUp: (signal: AbortSignal) => Promise<boolean>, runDisk: string,
    take: (stateFile: string, signal: AbortSignal) => Promise<void>, running: () => Promise<boolean>,
  ): void {
    if (!this.enabled || this.taking.has(key) || this.closed) return;
    this.taking.add(key);
    const abort = new AbortController();
    const began = Date.now();
    const done = (async (): Promise<SnapshotOutcome> => {
      if (!(await warmedUp(abort.signal))) {
        return { kind: "none", reason: abort.signal.aborted ? "the instance stopped before it answered a first request" : `it did not answer GET / within ${SNAPSHOT_READY_MS / 1000} s` };
      }
      const answeredMs = Date.now() - began;
      if (await this.shelf.get(version, key)) return { kind: "exists" };
      if (!(await running())) return { kind: "none", reason: "its VM ended before the snapshot" };
      const taking = Date.now();
      await this.shelf.put(version, key, runDisk, (file) => take(file, abort.signal));
      const tookMs = Date.now() - taking;
      const files = await this.shelf.get(version, key);
      if (!files) return { kind: "none", reason: "it was written but did not fit the snapshots' disk budget (config.yaml microvm.snapshot-disk-mb)" };
      return { kind: "taken", answeredMs, tookMs, bytes: (await stat(files.state)).size };
    })()
      .catch((err: Error): SnapshotOutcome => {
        if (!abort.signal.aborted) this.onProgress?.(`no snapshot of ${id}: ${err.message}`);
        return { kind: "none", reason: err.message };
      })
      .finally(() => {
        this.taking.delete(key);
        this.tasks.delete(id);
      });
    this.tasks.set(id, { abort, done });
    this.outcomes.set(id, done);
  }

  /** What became of instance `id`'s snapshot once settled; undefined when none is being taken of it. */
  outcome(id: string): Promise<SnapshotOutcome> | undefined {
    return this.outcomes.get(id);
  }

  /** Resolves once instance `id`'s snapshot task (if any) has written its snapshot or given up. */
  async settled(id: string): Promise<void> {
    await this.tasks.get(id)?.done;
  }

  /** Cancels an instance's snapshot in progress (its VM is going away) and waits until it has let go of everything. */
  async end(id: string): Promise<void> {
    this.outcomes.delete(id);
    const task = this.tasks.get(id);
    if (!task) return;
    task.abort.abort(new StrataError("INSTANCE_FAILED", `VM ${id} is stopping`));
    await task.done;
  }

  /** Removes every snapshot of a version (its release). */
  removeVersion(version: string): Promise<void> {
    return this.shelf.removeVersion(version);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const id of [...this.tasks.keys()]) await this.end(id);
  }
}

/** An app's warm-up: it has answered an HTTP request for / at `endpoint` (within SNAPSHOT_READY_MS). */
export function firstAnswer(endpoint: { host: string; port: number }): (signal: AbortSignal) => Promise<boolean> {
  return (signal) => waitAnswered(endpoint, SNAPSHOT_READY_MS, signal);
}

/**
 * Tells a restored guest, over its control port's unix socket, its new clock, a fresh 32-byte entropy seed,
 * its hostname and its network, and waits for the init's acknowledgement: only then may requests reach the app.
 */
export async function tellRestored(controlSocket: string, id: string, net: GuestNet): Promise<void> {
  const sock = createConnection(controlSocket);
  try {
    await new Promise<void>((res, rej) => sock.once("connect", res).once("error", rej));
    let timer: NodeJS.Timeout | undefined;
    const acked = new Promise<void>((resolve, reject) => {
      let buf = "";
      timer = setTimeout(() => reject(new StrataError("INSTANCE_FAILED", `the restored guest ${id} did not acknowledge within ${RESTORE_ACK_MS} ms`)), RESTORE_ACK_MS);
      sock.on("data", (chunk: Buffer) => {
        buf += chunk.toString("utf8");
        if (buf.includes('"of":"restored"')) resolve();
      });
      sock.once("error", reject);
    });
    sock.write(encodeControl({ t: "restored", unixNano: Date.now() * 1e6, seed: randomBytes(32).toString("base64"), hostname: id, net: { ...net } }));
    await acked.finally(() => clearTimeout(timer));
  } finally {
    sock.destroy();
  }
}

/**
 * The environment a snapshot is taken with, which its restores keep: the version's, that is without the
 * variables naming the instance (GAE_INSTANCE and the like hold the instance id), which a restored
 * process cannot be given again (as with Lambda SnapStart, the app sees its first instance's there).
 */
export function versionEnv(spec: InstanceSpec): Array<[string, string]> {
  return Object.entries(spec.env).filter(([, v]) => !v.includes(spec.instanceId)).sort(([a], [b]) => a.localeCompare(b));
}

/**
 * Polls `GET /` until the app answers with any HTTP status (true), the deadline passes or `signal` aborts
 * (false). The answer is the app's first request: what it warms up belongs in the snapshot.
 */
async function waitAnswered(endpoint: { host: string; port: number }, ms: number, signal: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !signal.aborted) {
    const answered = await new Promise<boolean>((resolve) => {
      const req = request({ host: endpoint.host, port: endpoint.port, path: "/", timeout: 30_000, signal, headers: { connection: "close" } }, (res) => {
        res.resume();
        res.once("end", () => resolve(true));
        res.once("error", () => resolve(true)); // it answered; the body's end does not matter
      });
      req.once("timeout", () => req.destroy());
      req.once("error", () => resolve(false)); // not listening yet, or aborted
      req.end();
    });
    if (answered) return true;
    await sleep(100);
  }
  return false;
}
