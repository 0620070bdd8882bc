import ivm from "isolated-vm";
import type { BundleManifest } from "../bundle-manifest.js";
import type { TenantConfig, TenantStats } from "../protocol.js";
import type { IsolatePool } from "./isolate-pool.js";

/** A version's bundle, read once per engine and shared by every tenant (and every reset) of it. */
export interface LoadedBundle {
  readonly manifest: BundleManifest;
  readonly code: string;
  readonly wasm: ReadonlyMap<string, Uint8Array>;
  /** V8 code cache of `code`, produced by the first isolate that compiles it. */
  codeCache?: ivm.ExternalCopy<ArrayBuffer>;
}

/** The wire form of a request and response between the engine and the prelude's dispatch(). */
export interface DispatchRequest { method: string; url: string; headers: Array<[string, string]>; body: ArrayBuffer | null }
export interface DispatchResponse {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: ArrayBuffer | null;
  pending?: boolean;
}

/** One isolate of a tenant; a reset disposes it and a fresh one takes its place. */
interface Generation {
  readonly isolate: ivm.Isolate;
  readonly dispatch: ivm.Reference;
  readonly idle: ivm.Reference;
  readonly fireTimer: ivm.Reference;
  readonly timers: Map<number, NodeJS.Timeout>;
  resetReason: string | null;
}

/** CPU accounting of one isolate over the current window (see checkCpu). */
interface CpuWindow { readonly gen: Generation; mark: bigint; since: bigint; credits: number }

const STARTUP_TIMEOUT_MS = 2_000;
/** CPU accounting window: credit from requests does not carry over further than this. */
const CPU_WINDOW_NS = 1_000_000_000n;

/**
 * A tenant instance inside the engine: owns its isolate, runs requests in it, and enforces the CPU
 * budget (checkCpu, called by the engine's watchdog) and the memory limit (isolated-vm disposes an
 * isolate past its limit). A reset answers the affected requests with 503 and loads a fresh isolate.
 */
export class Tenant {
  private gen: Generation | null = null;
  private loading: Promise<Generation> | null = null;
  /** Calls into the isolate (requests, timers, waitUntil) that have not finished. */
  private inFlight = 0;
  private cpuOfDisposed = 0n;
  private cpu: CpuWindow | null = null;
  private stopped = false;

  constructor(
    readonly config: TenantConfig,
    private readonly bundle: LoadedBundle,
    private readonly pool: IsolatePool,
    private readonly log: (stream: "stdout" | "stderr", line: string) => void,
    /** Tells the engine this tenant is running code, so the watchdog looks at it. */
    private readonly onBusy: (tenant: Tenant) => void,
  ) {}

  /** Loads the first isolate; throws (with the worker's error) when the module cannot start. */
  async start(): Promise<void> {
    this.gen = await this.createGeneration();
  }

  private async current(): Promise<Generation> {
    if (this.stopped) throw new Error("instance is stopping");
    if (this.gen) return this.gen;
    this.loading ??= this.createGeneration().then(
      (g) => {
        if (this.stopped) {
          g.isolate.dispose();
          throw new Error("instance is stopping");
        }
        this.gen = g;
        this.loading = null;
        return g;
      },
      (err: unknown) => {
        this.loading = null;
        this.log("stderr", `the isolate could not be recreated: ${err instanceof Error ? err.message : String(err)}`);
        throw err;
      },
    );
    return await this.loading;
  }

  private async createGeneration(): Promise<Generation> {
    const { isolate, context, hooks } = await this.pool.take(this.config.memoryMb);
    const timers = new Map<number, NodeJS.Timeout>();
    let gen: Generation | null = null;
    hooks.current = {
      log: this.log,
      timer: (id, ms) => {
        if (gen) this.timer(gen, id, ms);
        else if (ms >= 0) this.log("stderr", "a timer set while the module loads is not run (timers run while handling requests)");
      },
    };
    try {
      const ns = await this.loadWorker(isolate, context);
      const g = context.global;
      const install = g.getSync("__strataInstall", { reference: true }) as ivm.Reference;
      await install.apply(undefined, [ns.derefInto(), new ivm.ExternalCopy(this.config.env).copyInto()], { timeout: STARTUP_TIMEOUT_MS });
      gen = {
        isolate,
        dispatch: g.getSync("__strataDispatch", { reference: true }) as ivm.Reference,
        idle: g.getSync("__strataIdle", { reference: true }) as ivm.Reference,
        fireTimer: g.getSync("__strataFireTimer", { reference: true }) as ivm.Reference,
        timers,
        resetReason: null,
      };
      for (const name of ["__strataInstall", "__strataDispatch", "__strataIdle", "__strataFireTimer"]) g.deleteSync(name);
      return gen;
    } catch (err) {
      for (const t of timers.values()) clearTimeout(t);
      if (!isolate.isDisposed) isolate.dispose();
      throw err;
    }
  }

  private async loadWorker(isolate: ivm.Isolate, context: ivm.Context): Promise<ivm.Reference> {
    const b = this.bundle;
    if (b.wasm.size) {
      await context.eval("globalThis.__strataWasm = Object.create(null)");
      for (const [name, bytes] of b.wasm) {
        const copy = new ivm.ExternalCopy(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        await context.evalClosure("globalThis.__strataWasm[$0] = new WebAssembly.Module($1)", [name, copy.copyInto({ release: true })], { timeout: STARTUP_TIMEOUT_MS });
      }
    }
    const filename = `file:///${b.manifest.entry}`;
    const mod = isolate.compileModuleSync(b.code, b.codeCache ? { filename, cachedData: b.codeCache } : { filename, produceCachedData: true });
    const produced = (mod as ivm.Module & ivm.CachedDataResult).cachedData;
    if (!b.codeCache && produced) b.codeCache = produced;
    mod.instantiateSync(context, (specifier) => {
      const name = specifier.replace(/^\.\//, "");
      if (!b.wasm.has(name)) throw new Error(`the worker imports "${specifier}", which is not in its bundle`);
      return isolate.compileModuleSync(`export default globalThis.__strataWasm[${JSON.stringify(name)}];`);
    });
    await mod.evaluate({ timeout: STARTUP_TIMEOUT_MS });
    if (b.wasm.size) await context.eval("delete globalThis.__strataWasm");
    return mod.namespace;
  }

  /** Runs one request in the isolate; never throws (failures become 5xx responses). */
  async handle(req: DispatchRequest): Promise<DispatchResponse> {
    let gen: Generation;
    try {
      gen = await this.current();
    } catch (err) {
      return plain(503, `the worker is unavailable: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      const res = (await this.asWork(gen, () =>
        gen.dispatch.apply(undefined, [new ivm.ExternalCopy(req).copyInto({ release: true })], { result: { promise: true, copy: true } }),
      true)) as DispatchResponse;
      if (res.pending) void this.awaitWaitUntil(gen);
      return res;
    } catch (err) {
      return plain(503, this.failure(gen, err));
    }
  }

  private async awaitWaitUntil(gen: Generation): Promise<void> {
    try {
      // waitUntil work earns no credit of its own: it spends what its request left over.
      await this.asWork(gen, () => gen.idle.apply(undefined, [], { result: { promise: true } }), false);
    } catch (err) {
      this.failure(gen, err);
    }
  }

  private timer(gen: Generation, id: number, ms: number): void {
    const prev = gen.timers.get(id);
    if (prev) clearTimeout(prev);
    gen.timers.delete(id);
    if (ms < 0 || gen.resetReason) return;
    gen.timers.set(id, setTimeout(() => {
      gen.timers.delete(id);
      if (gen.resetReason || this.stopped) return;
      this.asWork(gen, () => gen.fireTimer.apply(undefined, [id]), true).catch((err: unknown) => this.failure(gen, err));
    }, ms));
  }

  private async asWork<T>(gen: Generation, run: () => Promise<T>, credit: boolean): Promise<T> {
    const w = this.window(gen);
    if (credit) w.credits++;
    this.inFlight++;
    this.onBusy(this);
    try {
      return await run();
    } finally {
      this.inFlight--;
    }
  }

  private window(gen: Generation): CpuWindow {
    if (this.cpu?.gen !== gen) this.cpu = { gen, mark: gen.isolate.cpuTime, since: process.hrtime.bigint(), credits: 0 };
    return this.cpu;
  }

  /** Why a call into the isolate failed, resetting the isolate when it is gone; the reason is logged once. */
  private failure(gen: Generation, err: unknown): string {
    const message = err instanceof Error ? err.message : String(err);
    if (!gen.isolate.isDisposed && gen.resetReason === null) {
      this.log("stderr", `isolate call failed: ${message}`);
      return "Internal Server Error";
    }
    const reason = gen.resetReason ?? (/memory limit/i.test(message)
      ? `request exceeded the memory limit of ${this.config.memoryMb} MiB; the isolate was reset`
      : `the isolate was disposed (${message}); it was reset`);
    this.reset(gen, reason);
    return reason;
  }

  private reset(gen: Generation, reason: string): void {
    if (gen.resetReason !== null) return;
    gen.resetReason = reason;
    this.log("stderr", reason);
    for (const t of gen.timers.values()) clearTimeout(t);
    gen.timers.clear();
    if (!gen.isolate.isDisposed) {
      this.cpuOfDisposed += gen.isolate.cpuTime;
      gen.isolate.dispose();
    }
    if (this.gen === gen) this.gen = null;
  }

  /**
   * The watchdog's check. Each request (or timer) gives the isolate `cpuMsPerRequest` of CPU credit
   * for the current one-second window; an isolate that spends more than its credit is reset. One
   * runaway request is cut after about its own budget, many light requests never are, and CPU
   * outside any request (waitUntil, stray continuations) lives on one request's worth per window.
   * Returns whether the tenant still needs watching.
   */
  checkCpu(): boolean {
    const gen = this.gen;
    if (!gen || gen.resetReason !== null || gen.isolate.isDisposed) return this.inFlight > 0;
    const w = this.window(gen);
    const cpu = gen.isolate.cpuTime;
    const limitNs = BigInt(this.config.cpuMsPerRequest) * 1_000_000n;
    if (cpu - w.mark > limitNs * BigInt(Math.max(w.credits, 1))) {
      this.reset(gen, this.inFlight > 0
        ? `request exceeded its CPU limit of ${this.config.cpuMsPerRequest} ms; the isolate was reset`
        : `background work (waitUntil, timers, promise continuations) exceeded the CPU limit of ${this.config.cpuMsPerRequest} ms; the isolate was reset`);
      return this.inFlight > 0;
    }
    const now = process.hrtime.bigint();
    if (now - w.since < CPU_WINDOW_NS) return true;
    const active = cpu > w.mark || this.inFlight > 0;
    // A new window: requests still running keep one credit each, finished ones are forgotten.
    Object.assign(w, { mark: cpu, since: now, credits: this.inFlight });
    return active;
  }

  async stats(): Promise<TenantStats> {
    const gen = this.gen;
    if (!gen || gen.isolate.isDisposed) return { cpuMs: Number(this.cpuOfDisposed / 1000n) / 1000, memoryBytes: 0 };
    const heap = await gen.isolate.getHeapStatistics();
    return {
      cpuMs: Number((this.cpuOfDisposed + gen.isolate.cpuTime) / 1000n) / 1000,
      memoryBytes: heap.total_heap_size + heap.externally_allocated_size,
    };
  }

  /** Waits up to graceMs for running requests, then disposes the isolate. */
  async stop(graceMs: number): Promise<void> {
    this.stopped = true;
    const deadline = Date.now() + graceMs;
    while (this.inFlight && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    const gen = this.gen;
    this.gen = null;
    if (gen) {
      for (const t of gen.timers.values()) clearTimeout(t);
      gen.timers.clear();
      gen.resetReason ??= "instance stopped";
      if (!gen.isolate.isDisposed) gen.isolate.dispose();
    }
  }
}

function plain(status: number, text: string): DispatchResponse {
  const b = Buffer.from(text + "\n");
  return {
    status,
    statusText: "",
    headers: [["content-type", "text/plain;charset=UTF-8"]],
    body: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength),
  };
}
