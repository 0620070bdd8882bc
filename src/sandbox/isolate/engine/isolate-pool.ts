import ivm from "isolated-vm";
import { installBridge, type BridgeHooks } from "./host-bridge.js";

export interface PreludeScript {
  readonly code: string;
  /** V8 code cache of the prelude, produced by the first isolate that compiles it. */
  cache?: ivm.ExternalCopy<ArrayBuffer>;
}

/** An isolate with the bridge and the prelude loaded, not yet given to a tenant. */
export interface WarmIsolate {
  readonly isolate: ivm.Isolate;
  readonly context: ivm.Context;
  /** Where the bridge sends log lines and timers: set when a tenant takes the isolate. */
  readonly hooks: { current: BridgeHooks | null };
}

const PRELUDE_TIMEOUT_MS = 2_000;
const FACTORY_MEMORY_MB = 16;
/** Spare isolates kept per memory limit in use. */
const SPARES = 2;
/** Refills wait a little so that creating the next isolate does not delay the first request. */
const REFILL_DELAY_MS = 25;

/**
 * Creating a V8 isolate costs 3-30 ms here, far above a cold-start budget of a few ms, so the
 * engine keeps a few isolates ready (prelude evaluated) for each memory limit tenants ask for.
 * Isolates are made by a small factory isolate (given the isolated-vm module, running no tenant
 * code), so their creation runs on isolated-vm's threads instead of blocking the engine's event
 * loop, which serves every tenant. A V8 out-of-memory catastrophe in any isolate aborts the engine
 * (isolated-vm's default); the driver then reports its instances exited and they are restarted.
 */
export class IsolatePool {
  private readonly spares = new Map<number, WarmIsolate[]>();
  private readonly refilling = new Set<number>();
  private closed = false;
  private readonly factory: ivm.Isolate;
  private readonly make: ivm.Reference<(memoryMb: number) => ivm.Isolate>;

  constructor(private readonly prelude: PreludeScript) {
    this.factory = new ivm.Isolate({ memoryLimit: FACTORY_MEMORY_MB });
    const context = this.factory.createContextSync();
    context.global.setSync("ivm", ivm);
    this.make = context.evalSync("(memoryLimit) => new ivm.Isolate({ memoryLimit })", { reference: true }) as ivm.Reference<(memoryMb: number) => ivm.Isolate>;
  }

  async take(memoryMb: number): Promise<WarmIsolate> {
    const list = this.spares.get(memoryMb) ?? [];
    this.spares.set(memoryMb, list);
    const warm = list.shift();
    this.scheduleRefill(memoryMb);
    return warm ?? (await this.create(memoryMb));
  }

  private scheduleRefill(memoryMb: number): void {
    if (this.refilling.has(memoryMb) || this.closed) return;
    this.refilling.add(memoryMb);
    setTimeout(() => {
      this.refill(memoryMb)
        .catch((err: unknown) => process.stderr.write(`isolate pool refill failed: ${err instanceof Error ? err.message : String(err)}\n`))
        .finally(() => this.refilling.delete(memoryMb));
    }, REFILL_DELAY_MS);
  }

  private async refill(memoryMb: number): Promise<void> {
    const list = this.spares.get(memoryMb)!;
    while (list.length < SPARES && !this.closed) list.push(await this.create(memoryMb));
  }

  private async create(memoryMb: number): Promise<WarmIsolate> {
    const isolate = (await this.make.apply(undefined, [memoryMb])) as ivm.Isolate;
    try {
      const context = await isolate.createContext();
      const hooks: WarmIsolate["hooks"] = { current: null };
      await installBridge(context, {
        log: (stream, line) => hooks.current?.log(stream, line),
        timer: (id, ms) => hooks.current?.timer(id, ms),
      });
      const p = this.prelude;
      const script = await isolate.compileScript(p.code, p.cache ? { cachedData: p.cache, filename: "strata:prelude" } : { produceCachedData: true, filename: "strata:prelude" });
      const produced = (script as ivm.Script & ivm.CachedDataResult).cachedData;
      if (!p.cache && produced) p.cache = produced;
      await script.run(context, { timeout: PRELUDE_TIMEOUT_MS });
      const warmUp = context.global.getSync("__strataWarmUp", { reference: true }) as ivm.Reference;
      await warmUp.apply(undefined, [], { result: { promise: true }, timeout: PRELUDE_TIMEOUT_MS });
      context.global.deleteSync("__strataWarmUp");
      return { isolate, context, hooks };
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
