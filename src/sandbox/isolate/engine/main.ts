/**
 * The isolate engine process: holds many tenants, each in its own V8 isolate, and serves each on its
 * own unix socket. The driver spawns it and speaks to it over Node's IPC channel (protocol.ts); it
 * ends when that channel closes, so it never outlives the daemon.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Server } from "node:http";
import { rm } from "node:fs/promises";
import { readBundleManifest } from "../bundle-manifest.js";
import type { EngineEvent, EngineReply, EngineRequest, TenantConfig } from "../protocol.js";
import { bundlePrelude } from "./prelude-source.js";
import { IsolatePool } from "./isolate-pool.js";
import { Tenant, type LoadedBundle } from "./tenant.js";
import { serveTenant } from "./tenant-server.js";
import { KvStore } from "./kv-store.js";
import { CacheStore } from "./cache-store.js";

const WATCHDOG_INTERVAL_MS = 5;

class Engine {
  private readonly tenants = new Map<string, { tenant: Tenant; server: Server; socketPath: string }>();
  private readonly bundles = new Map<string, Promise<LoadedBundle>>();
  private readonly watched = new Set<Tenant>();
  /** Each app's Cache API store (kept while the engine runs; not dropped when the app's last instance stops, as a redeploy follows). */
  private readonly caches = new Map<string, CacheStore>();
  private watchdog: NodeJS.Timeout | null = null;

  constructor(private readonly pool: IsolatePool) {}

  /**
   * Isolates run on isolated-vm's threads, so this timer fires even while a tenant spins. It runs
   * only while some tenant is running code.
   */
  private watch(tenant: Tenant): void {
    this.watched.add(tenant);
    this.watchdog ??= setInterval(() => {
      for (const t of this.watched) if (!t.checkCpu()) this.watched.delete(t);
      if (this.watched.size === 0 && this.watchdog) {
        clearInterval(this.watchdog);
        this.watchdog = null;
      }
    }, WATCHDOG_INTERVAL_MS);
  }

  async handle(msg: EngineRequest): Promise<unknown> {
    switch (msg.op) {
      case "ping":
        return { pid: process.pid, tenants: this.tenants.size };
      case "start":
        return await this.start(msg.tenant);
      case "stop":
        return await this.stop(msg.instanceId, msg.graceMs);
      case "inspect": {
        const t = this.tenants.get(msg.instanceId);
        return t ? await t.tenant.stats() : null;
      }
      case "list":
        return [...this.tenants.keys()];
    }
  }

  private bundle(dir: string): Promise<LoadedBundle> {
    let b = this.bundles.get(dir);
    if (!b) {
      b = (async () => {
        const manifest = await readBundleManifest(dir);
        const code = await readFile(join(dir, manifest.entry), "utf8");
        const wasm = new Map<string, Uint8Array>();
        for (const name of manifest.wasmModules) wasm.set(name, await readFile(join(dir, name)));
        return { manifest, code, wasm };
      })();
      b.catch(() => this.bundles.delete(dir)); // a failed read is reported by start(); retry next time
      this.bundles.set(dir, b);
    }
    return b;
  }

  private async start(config: TenantConfig): Promise<{ socket: string }> {
    if (this.tenants.has(config.instanceId)) throw new Error(`instance ${config.instanceId} is already running`);
    const log = (stream: "stdout" | "stderr", line: string): void => send({ event: "log", instanceId: config.instanceId, stream, line });
    const kv = config.kv.map((k) => new KvStore(k.dir));
    let cache = this.caches.get(config.app);
    if (!cache) this.caches.set(config.app, (cache = new CacheStore()));
    const tenant = new Tenant(config, await this.bundle(config.bundleDir), this.pool, log, (t) => this.watch(t), cache, kv);
    // The socket is opened while the isolate loads (on its own thread): nothing connects before this
    // start is answered, and a request that did would wait for the load.
    const [loaded, listening] = await Promise.allSettled([tenant.start(), serveTenant(tenant, config.socketPath)]);
    if (loaded.status === "rejected" || listening.status === "rejected") {
      await tenant.stop(0);
      if (listening.status === "fulfilled") await closeServer(listening.value, config.socketPath);
      if (loaded.status === "fulfilled") throw (listening as PromiseRejectedResult).reason;
      const err: unknown = loaded.reason;
      const message = err instanceof Error ? err.message : String(err);
      log("stderr", `the worker failed to start: ${message}`);
      throw new Error(`the worker failed to start: ${message}`);
    }
    const server = listening.value;
    this.tenants.set(config.instanceId, { tenant, server, socketPath: config.socketPath });
    return { socket: config.socketPath };
  }

  private async stop(instanceId: string, graceMs: number): Promise<void> {
    const t = this.tenants.get(instanceId);
    if (!t) return;
    this.tenants.delete(instanceId);
    const closed = new Promise<void>((resolve) => t.server.close(() => resolve()));
    t.server.closeIdleConnections();
    await t.tenant.stop(graceMs);
    t.server.closeAllConnections();
    await closed;
    this.watched.delete(t.tenant);
    await rm(t.socketPath, { force: true });
  }

  async shutdown(): Promise<void> {
    if (this.watchdog) clearInterval(this.watchdog);
    this.pool.close();
    await Promise.all([...this.tenants.keys()].map((id) => this.stop(id, 0)));
  }
}

async function closeServer(server: Server, socketPath: string): Promise<void> {
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(socketPath, { force: true });
}

function send(msg: EngineReply | EngineEvent): void {
  if (process.connected) process.send!(msg);
}

async function main(): Promise<void> {
  if (!process.send) throw new Error("the isolate engine must be started by the isolate driver (no IPC channel)");
  const engine = new Engine(new IsolatePool({ code: await bundlePrelude() }));
  process.on("message", (msg: EngineRequest) => {
    engine.handle(msg).then(
      (result) => send({ id: msg.id, ok: true, result }),
      (err: unknown) => send({ id: msg.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  // One engine holds many tenants: a stray host-side rejection is logged, never fatal to all of them.
  process.on("unhandledRejection", (reason) => {
    process.stderr.write(`unhandled rejection in the isolate engine: ${reason instanceof Error ? reason.stack : String(reason)}\n`);
  });
  process.on("disconnect", () => {
    engine.shutdown().finally(() => process.exit(0));
  });
  send({ id: 0, ok: true, result: { ready: true, pid: process.pid } });
}

main().catch((err: unknown) => {
  process.stderr.write(`isolate engine failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
