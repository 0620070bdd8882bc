import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { StrataError } from "../../errors.js";
import type { StrataHome } from "../../home.js";
import type {
  Capabilities, DriverName, ImageRef, Instance, InstanceHandle, InstanceIO, InstanceSpec, InstanceState, Prepared, Probe,
  SandboxDriver,
} from "../driver.js";
import { readBundleManifest } from "./bundle-manifest.js";
import { EngineClient } from "./engine-client.js";
import type { EngineEvent, TenantConfig, TenantStats } from "./protocol.js";

export interface IsolateDriverOptions {
  readonly home: StrataHome;
  /** CPU time one request may use before its isolate is reset (default 50 ms). */
  readonly cpuMsPerRequest?: number;
  /** How long ctx.waitUntil work may run after the response, as on Workers (default 30 000 ms). */
  readonly waitUntilMs?: number;
  /** Per-isolate memory cap, MiB: an instance gets min(limits.memoryMb, this) (default 128). */
  readonly maxMemoryMb?: number;
  /** Bytes a request body may have in all; past it the request gets 413 (default 32 MiB). */
  readonly maxRequestBodyBytes?: number;
  /** Lines the engine process itself writes to stderr (crashes, V8 errors). */
  readonly onEngineOutput?: (line: string) => void;
  /** Engine processes the tenants are spread over, by app (default 2): one engine's abort ends only its share. */
  readonly engines?: number;
}

/** The engine an app's instances run in: a stable hash of the app's name (FNV-1a), so an app stays in one. */
export function engineIndexOf(app: string, engines: number): number {
  let h = 0x811c9dc5;
  for (const c of Buffer.from(app)) h = Math.imul(h ^ c, 0x01000193) >>> 0;
  return h % engines;
}

/** isolated-vm refuses memory limits under 8 MiB. */
const MIN_MEMORY_MB = 8;
/** Unix socket paths are limited to 107 bytes on Linux. */
const MAX_SOCKET_PATH = 107;

/**
 * Runs Workers-style JS/TS/WASM tenants in V8 isolates (isolated-vm) inside engine processes that this
 * driver spawns, so a runaway tenant never blocks the daemon's event loop. Tenants are spread over several
 * engines by app: isolated-vm can abort a whole process when an isolate hits its memory limit inside a host
 * call (isolated-vm #293), and such an abort then ends one engine's apps, not every app. Each instance is
 * served on its own unix socket under home.runtime("isolate").
 *
 * Not recoverable: the engine ends with the daemon (its IPC channel closes), and restarting a
 * tenant takes milliseconds, so recover() clears leftovers and returns null.
 */
/** What prepare() makes for a version: the bundle's directory and its wrangler vars. */
export interface IsolatePrepared {
  readonly bundleDir: string;
  readonly vars: Readonly<Record<string, unknown>> | undefined;
  /** wrangler kv_namespaces (absent in a bundle prepared before KV). */
  readonly kvNamespaces?: ReadonlyArray<{ readonly binding: string; readonly id: string }>;
}

export class IsolateDriver implements SandboxDriver<IsolatePrepared> {
  readonly name: DriverName = "isolate";
  readonly capabilities: Capabilities = Object.freeze({
    isolation: "v8-isolate",
    imageKinds: Object.freeze(["isolate-bundle"] as const),
    ownNetns: false,
    sharedProcess: true,
    limits: Object.freeze({ memory: true, cpu: true, pids: false }),
    recoverable: false,
    coldStart: "ms",
  });

  /** One slot per engine process, started when its first tenant starts. */
  private readonly engines: Array<Promise<EngineClient> | null>;
  /** Which engine each live instance is in. */
  private readonly engineOf = new Map<string, number>();
  private runDirReady: Promise<void> | null = null;
  private readonly io = new Map<string, InstanceIO>();
  /** Instances that were in an engine that exited, with how it ended (for inspect()). */
  private readonly lost = new Map<string, { code: number; signal: NodeJS.Signals | null }>();
  private readonly cpuMs: number;
  private readonly maxMemoryMb: number;
  private readonly maxRequestBodyBytes: number;

  constructor(private readonly opts: IsolateDriverOptions) {
    this.cpuMs = opts.cpuMsPerRequest ?? 50;
    this.maxMemoryMb = opts.maxMemoryMb ?? 128;
    this.maxRequestBodyBytes = opts.maxRequestBodyBytes ?? 32 * 1024 * 1024;
    const engines = opts.engines ?? 2;
    if (!Number.isInteger(engines) || engines < 1) throw new StrataError("INVALID_CONFIG", `isolate engines must be a whole number of at least 1, not ${engines}`);
    this.engines = new Array<Promise<EngineClient> | null>(engines).fill(null);
  }

  private get runDir(): string { return this.opts.home.runtime("isolate"); }

  /**
   * Starts an engine of its own, pings it and ends it: a probe leaves no process behind (one would keep
   * `strata doctor` from exiting), and instances get theirs from startEngine() when they need it.
   */
  async probe(): Promise<Probe> {
    let engine: EngineClient | undefined;
    try {
      engine = await EngineClient.spawn({
        onLog: () => undefined, // the probe starts no tenant, so no tenant logs
        onExit: () => undefined, // closed below; a crash fails the ping instead
        onEngineOutput: (line) => this.engineOutput(line),
      });
      await engine.request({ op: "ping" });
      return { available: true, details: { engine: "starts and answers", runtime: "isolated-vm", node: process.version } };
    } catch (err) {
      return {
        available: false,
        reason: `the isolate engine cannot start: ${err instanceof Error ? err.message : String(err)}`,
        install: ["isolated-vm native module: cd <strata> && npm rebuild isolated-vm (needs python3, make, g++)"],
      };
    } finally {
      await engine?.close();
    }
  }

  private engineOutput(line: string): void {
    if (this.opts.onEngineOutput) this.opts.onEngineOutput(line);
    else process.stderr.write(`isolate engine: ${line}\n`);
  }

  private startEngine(slot: number): Promise<EngineClient> {
    const running = this.engines[slot];
    if (running) return running;
    const engine = EngineClient.spawn({
      onLog: (e: EngineEvent) => this.io.get(e.instanceId)?.log(e.stream, e.line),
      onExit: (code, signal) => {
        if (this.engines[slot] === engine) this.engines[slot] = null;
        // Every tenant of this engine ended with it: each one's scheduler is told now, not at its next health check.
        for (const [id, io] of this.io) {
          if (this.engineOf.get(id) !== slot) continue;
          const lost = { code: code ?? 137, signal };
          this.lost.set(id, lost);
          io.exited?.({ status: "exited", code: lost.code, reason: lost.signal ? "killed" : "exited" });
        }
      },
      onEngineOutput: (line) => this.engineOutput(line),
    });
    this.engines[slot] = engine;
    engine.catch(() => {
      if (this.engines[slot] === engine) this.engines[slot] = null; // the next call tries a fresh engine
    });
    return engine;
  }

  /** The engine `instanceId` runs in, if it is up. */
  private async liveEngine(instanceId: string): Promise<EngineClient | null> {
    const slot = this.engineOf.get(instanceId);
    const engine = slot === undefined ? null : this.engines[slot];
    const client = engine ? await engine.catch(() => null) : null;
    return client?.alive ? client : null;
  }

  /** Every engine that is up. */
  private async liveEngines(): Promise<EngineClient[]> {
    const clients = await Promise.all(this.engines.map((e) => (e ? e.catch(() => null) : null)));
    return clients.filter((c): c is EngineClient => c !== null && c.alive);
  }

  async prepare(image: ImageRef, _spec: InstanceSpec): Promise<Prepared<IsolatePrepared>> {
    if (image.kind !== "isolate-bundle") {
      throw new StrataError("UNSUPPORTED_RUNTIME", `the isolate driver runs isolate-bundle artifacts, not ${image.kind}`);
    }
    const manifest = await readBundleManifest(image.path);
    return { driver: this.name, key: image.digest, data: { bundleDir: image.path, vars: manifest.vars, kvNamespaces: manifest.kvNamespaces } };
  }

  async start(prepared: Prepared<IsolatePrepared>, spec: InstanceSpec, io: InstanceIO): Promise<Instance> {
    const { bundleDir, vars, kvNamespaces = [] } = prepared.data;
    this.runDirReady ??= mkdir(this.runDir, { recursive: true }).then(() => undefined);
    await this.runDirReady;
    const socketPath = join(this.runDir, `${spec.instanceId}.sock`);
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) {
      throw new StrataError("DRIVER_FAILED", `socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter STRATA_HOME`);
    }
    const tenant: TenantConfig = {
      instanceId: spec.instanceId,
      app: spec.app,
      bundleDir,
      socketPath,
      env: { ...vars, ...spec.env },
      memoryMb: Math.max(MIN_MEMORY_MB, Math.min(spec.limits.memoryMb, this.maxMemoryMb)),
      cpuMsPerRequest: this.cpuMs,
      waitUntilMs: this.opts.waitUntilMs ?? 30_000,
      maxRequestBodyBytes: this.maxRequestBodyBytes,
      // KV outlives versions and instances: it is the app's, as a namespace is a Workers account's.
      kv: kvNamespaces.map((k) => ({ binding: k.binding, dir: join(this.opts.home.appData(spec.app), "kv", k.id) })),
    };
    const slot = engineIndexOf(spec.app, this.engines.length);
    const engine = await this.startEngine(slot);
    this.io.set(spec.instanceId, io);
    this.engineOf.set(spec.instanceId, slot);
    this.lost.delete(spec.instanceId);
    try {
      await engine.request({ op: "start", tenant });
    } catch (err) {
      this.io.delete(spec.instanceId);
      this.engineOf.delete(spec.instanceId);
      throw err;
    }
    return {
      id: spec.instanceId,
      driver: this.name,
      endpoint: { socket: socketPath },
      handle: { id: spec.instanceId, driver: this.name, data: { socket: socketPath, enginePid: engine.pid } },
    };
  }

  async stop(instance: Instance, graceMs: number): Promise<void> {
    const engine = await this.liveEngine(instance.id);
    if (engine) await engine.request({ op: "stop", instanceId: instance.id, graceMs });
    this.io.delete(instance.id);
    this.engineOf.delete(instance.id);
    this.lost.delete(instance.id);
    await rm(join(this.runDir, `${instance.id}.sock`), { force: true });
  }

  async inspect(instance: Instance): Promise<InstanceState> {
    const lost = this.lost.get(instance.id);
    if (lost) return { status: "exited", code: lost.code, reason: lost.signal ? "killed" : "exited" };
    const engine = await this.liveEngine(instance.id);
    if (!engine) return { status: "gone" };
    const stats = (await engine.request({ op: "inspect", instanceId: instance.id })) as TenantStats | null;
    return stats ? { status: "running", cpuMs: stats.cpuMs, memoryBytes: stats.memoryBytes } : { status: "gone" };
  }

  /** The engine does not outlive the daemon, so there is nothing to re-adopt; clears the socket. */
  async recover(handle: InstanceHandle, _io: InstanceIO): Promise<Instance | null> {
    await rm(join(this.runDir, `${handle.id}.sock`), { force: true });
    return null;
  }

  async sweep(keep: ReadonlySet<string>): Promise<void> {
    for (const engine of await this.liveEngines()) {
      for (const id of (await engine.request({ op: "list" })) as string[]) {
        if (keep.has(id)) continue;
        await engine.request({ op: "stop", instanceId: id, graceMs: 0 });
        this.io.delete(id);
        this.engineOf.delete(id);
      }
    }
    const files = await readdir(this.runDir).catch((err: NodeJS.ErrnoException) => {
      if (err.code === "ENOENT") return [] as string[];
      throw err;
    });
    for (const f of files) {
      const id = f.endsWith(".sock") ? f.slice(0, -5) : null;
      if (id && !keep.has(id)) await rm(join(this.runDir, f), { force: true });
    }
  }

  /** Stops the engine processes and every tenant in them (daemon shutdown). */
  async close(): Promise<void> {
    const engines = await this.liveEngines();
    this.engines.fill(null);
    await Promise.all(engines.map((e) => e.close()));
    this.io.clear();
    this.engineOf.clear();
  }
}
