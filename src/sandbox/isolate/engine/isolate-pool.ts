import ivm from "isolated-vm";
import { installBridge, type BridgeHooks } from "./host-bridge.js";

export interface PreludeScript {
  readonly code: string;
  /** V8 code cache of the prelude, produced by the first isolate that compiles it. */
  cache?: ivm.ExternalCopy<ArrayBuffer>;
}

/**
 * The prelude's entry points (prelude/dispatch.ts), taken off the global object when the isolate is
 * made. `__strataInstall` stays on it until the tenant's boot module (tenant.ts) takes it.
 */
export interface PreludeEntry {
  readonly dispatch: ivm.Reference;
  readonly read: ivm.Reference;
  readonly cancel: ivm.Reference;
  readonly idle: ivm.Reference;
  readonly abandonWaits: ivm.Reference;
  readonly websocketEvent: ivm.Reference;
  readonly fireTimer: ivm.Reference;
}

const ENTRY_GLOBALS: Record<keyof PreludeEntry, string> = {
  dispatch: "__strataDispatch",
  read: "__strataRead",
  cancel: "__strataCancel",
  idle: "__strataIdle",
  abandonWaits: "__strataAbandonWaits",
  websocketEvent: "__strataWebSocketEvent",
  fireTimer: "__strataFireTimer",
};

/** An isolate with the bridge and the prelude loaded, not yet given to a tenant. */
export interface WarmIsolate {
  readonly isolate: ivm.Isolate;
  readonly context: ivm.Context;
  readonly entry: PreludeEntry;
  /** Where the bridge sends log lines and timers: set when a tenant takes the isolate. */
  readonly hooks: { current: BridgeHooks | null };
}

const PRELUDE_TIMEOUT_MS = 2_000;
const FACTORY_MEMORY_MB = 16;
/** Spare isolates kept in all (each holds ~1-2 MiB while idle), for the memory limits asked for last. */
const SPARES = 2;
/** Refills wait a little so that creating the next isolate does not delay the first request. */
const REFILL_DELAY_MS = 25;

/**
 * Creating a V8 isolate and running the prelude in it costs ~10 ms here, far above a cold-start
 * budget of a few ms, so the engine keeps a few isolates ready (prelude evaluated, no tenant code)
 * for the memory limits tenants ask for. A spare is handed to one tenant and never back: a tenant's
 * isolate is disposed when it stops or resets. Isolates are made by a small factory isolate (given
 * the isolated-vm module, running no tenant code), so their creation runs on isolated-vm's threads
 * instead of blocking the engine's event loop, which serves every tenant. A V8 out-of-memory
 * catastrophe in any isolate aborts the engine (isolated-vm's default); the driver then reports its
 * instances exited and they are restarted.
 */
export class IsolatePool {
  /** Spares by memory limit; Map order is least recently asked for first. */
  private readonly spares = new Map<number, WarmIsolate[]>();
  private refilling = false;
  private closed = false;
  private readonly factory: ivm.Isolate;
  private readonly make: ivm.Reference<(memoryMb: number) => ivm.Isolate>;

  constructor(private readonly prelude: PreludeScript) {
    this.factory = new ivm.Isolate({ memoryLimit: FACTORY_MEMORY_MB });
    const context = this.factory.createContextSync();
    context.global.setSync("ivm", ivm);
    this.make = context.evalSync("(memoryLimit) => new ivm.Isolate({ memoryLimit })", { reference: true }) as ivm.Reference<(memoryMb: number) => ivm.Isolate>;
  }

  /**
   * A spare isolate for `memoryMb`, or null when there is none ready (then create() one, unwarmed).
   * Synchronous, so that a cold start goes straight on to loading the tenant's code.
   */
  take(memoryMb: number): WarmIsolate | null {
    const list = this.spares.get(memoryMb) ?? [];
    this.spares.delete(memoryMb);
    this.spares.set(memoryMb, list); // now the most recently asked for
    this.scheduleRefill();
    return list.shift() ?? null;
  }

  private scheduleRefill(): void {
    if (this.refilling || this.closed) return;
    this.refilling = true;
    setTimeout(() => {
      this.refill()
        .catch((err: unknown) => {
          if (!this.closed) process.stderr.write(`isolate pool refill failed: ${err instanceof Error ? err.message : String(err)}\n`);
        })
        .finally(() => (this.refilling = false));
    }, REFILL_DELAY_MS);
  }

  /** Fills the pool for the memory limit asked for last, dropping spares of older limits past SPARES. */
  private async refill(): Promise<void> {
    for (;;) {
      if (this.closed) return;
      const limits = [...this.spares.keys()];
      const newest = limits.at(-1);
      if (newest === undefined) return;
      let total = limits.reduce((n, l) => n + this.spares.get(l)!.length, 0);
      for (const l of limits) {
        const list = this.spares.get(l)!;
        while (total > SPARES && l !== newest && list.length) {
          list.pop()!.isolate.dispose();
          total--;
        }
      }
      const list = this.spares.get(newest)!;
      if (list.length >= SPARES) return;
      const warm = await this.create(newest, true);
      if (this.closed) {
        warm.isolate.dispose();
        return;
      }
      list.push(warm);
    }
  }

  /**
   * A new isolate with the prelude run in it. `warmUp` also runs the request path once (3-4 ms here):
   * worth it for a spare, made in idle time, not for an isolate a cold start is waiting for.
   */
  async create(memoryMb: number, warmUp = false): Promise<WarmIsolate> {
    const isolate = (await this.make.apply(undefined, [memoryMb])) as ivm.Isolate;
    try {
      const context = await isolate.createContext();
      const hooks: WarmIsolate["hooks"] = { current: null };
      await installBridge(context, {
        log: (stream, line) => hooks.current?.log(stream, line),
        timer: (id, ms) => hooks.current?.timer(id, ms),
        readBody: (id) => hooks.current?.readBody(id) ?? Promise.reject(new Error("no request is being handled")),
        cancelBody: (id) => hooks.current?.cancelBody(id),
        kv: (ns, op, args) => hooks.current?.kv(ns, op, args) ?? Promise.reject(new Error("no worker is installed")),
        websocket: (op, id, a, b) => hooks.current?.websocket(op, id, a, b),
        cache: (op, args) => {
          if (!hooks.current) throw new Error("no worker is installed");
          return hooks.current.cache(op, args);
        },
      });
      const p = this.prelude;
      const script = await isolate.compileScript(p.code, p.cache ? { cachedData: p.cache, filename: "strata:prelude" } : { produceCachedData: true, filename: "strata:prelude" });
      const produced = (script as ivm.Script & ivm.CachedDataResult).cachedData;
      if (!p.cache && produced) p.cache = produced;
      await script.run(context, { timeout: PRELUDE_TIMEOUT_MS });
      const g = context.global;
      if (warmUp) {
        const run = (await g.get("__strataWarmUp", { reference: true })) as ivm.Reference;
        await run.apply(undefined, [], { result: { promise: true }, timeout: PRELUDE_TIMEOUT_MS });
      }
      const entry = {} as Record<keyof PreludeEntry, ivm.Reference>;
      for (const [key, name] of Object.entries(ENTRY_GLOBALS) as Array<[keyof PreludeEntry, string]>) {
        entry[key] = (await g.get(name, { reference: true })) as ivm.Reference;
      }
      // Tenant code reaches the prelude only through the Web APIs, never through these entry points.
      await context.eval(`for (const n of ${JSON.stringify(["__strataWarmUp", ...Object.values(ENTRY_GLOBALS)])}) delete globalThis[n];`);
      return { isolate, context, entry, hooks };
    } catch (err) {
      isolate.dispose();
      throw err;
    }
  }

  close(): void {
    this.closed = true;
    for (const list of this.spares.values()) for (const w of list.splice(0)) w.isolate.dispose();
    this.factory.dispose();
  }
}
