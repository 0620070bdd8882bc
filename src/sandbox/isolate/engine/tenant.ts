import ivm from "isolated-vm";
import type { BundleManifest } from "../bundle-manifest.js";
import type { TenantConfig, TenantStats } from "../protocol.js";
import type { DispatchRequest } from "../prelude/dispatch.js";
import type { IsolatePool, PreludeEntry } from "./isolate-pool.js";
import { cacheCall, type CacheStore } from "./cache-store.js";
import { kvCall, type KvStore } from "./kv-store.js";
import { BODY_CLOSED, type RequestBody } from "./request-body.js";

/** A version's bundle, read once per engine and shared by every tenant (and every reset) of it. */
export interface LoadedBundle {
  readonly manifest: BundleManifest;
  readonly code: string;
  readonly wasm: ReadonlyMap<string, Uint8Array>;
  /** V8 code cache of `code`, produced by the first isolate that compiles it. */
  codeCache?: ivm.ExternalCopy<ArrayBuffer>;
}

/** The wire form of a response from the prelude's dispatch() (its request form is prelude/dispatch.ts's). */
interface DispatchResponse {
  status: number;
  statusText: string;
  headers: Array<[string, string]>;
  body: ArrayBuffer | null;
  stream: number | null;
  pending: boolean;
  webSocket: number | null;
}
type ReadResult = ArrayBuffer | { done: true; pending: boolean } | { error: string };

/** A worker's response as the engine sends it: a whole body, or a stream read as the client takes it. */
export interface TenantResponse {
  readonly status: number;
  readonly statusText: string;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly body: Uint8Array | null;
  readonly stream: BodyStream | null;
  /** A 101 handing over a WebSocket: the isolate's connection id, for connectWebSocket(). */
  readonly webSocket?: number;
}

/** The client side of a WebSocket the worker accepted, as the engine's server holds it. */
export interface WebSocketPeer {
  send(data: string | Buffer): void;
  close(code: number, reason: string): void;
}

/** A streamed response body, read one chunk at a time from the worker's ReadableStream. */
export interface BodyStream {
  /** The next chunk, or null at its end; rejects (with a reason already logged) when the body fails. */
  read(): Promise<Uint8Array | null>;
  /** The client went away: the worker's stream is cancelled. */
  cancel(reason: string): void;
}

/** One isolate of a tenant; a reset disposes it and a fresh one takes its place. */
interface Generation {
  readonly isolate: ivm.Isolate;
  readonly entry: PreludeEntry;
  readonly timers: Map<number, NodeJS.Timeout>;
  resetReason: string | null;
  /** An idle() call is awaiting this isolate's ctx.waitUntil work. */
  waiting: boolean;
  /** Request URLs whose parts this isolate was sent lately (fewer than its own cache of parsed URLs holds). */
  readonly sentUrls: Set<string>;
  /** WebSocket connections joined to this isolate's WebSocketPair ends, by the isolate's connection id. */
  readonly sockets: Map<number, WebSocketPeer>;
}

/** CPU accounting of one isolate over the current window (see checkCpu). */
interface CpuWindow { readonly gen: Generation; mark: bigint; since: bigint; credits: number }

const STARTUP_TIMEOUT_MS = 2_000;
/** Below the prelude's cache of parsed URLs (prelude/url.ts, 256), so a URL sent once is still there. */
const SENT_URLS_MAX = 128;
/** The specifier by which the boot module imports the worker's module. */
const BOOT_IMPORT = "strata:worker";
const ENV_IMPORT = "strata:env";

/** CPU accounting window: credit from requests does not carry over further than this. */
const CPU_WINDOW_NS = 1_000_000_000n;

/**
 * The boot module: takes the prelude's install() off the global object and installs the worker with its
 * env and the names of its KV bindings (binding i is KV store i of the tenant).
 */
function bootSource(env: Readonly<Record<string, unknown>>, kv: readonly string[], nodeCompat: boolean): string {
  return [
    // nodejs_compat's process.env is filled from the env before the worker's modules run (ENV_IMPORT).
    ...(nodeCompat ? [`import ${JSON.stringify(ENV_IMPORT)};`] : []),
    `import * as worker from ${JSON.stringify(BOOT_IMPORT)};`,
    "const install = globalThis.__strataInstall;",
    "delete globalThis.__strataInstall;",
    // JSON.parse, not an object literal: a "__proto__" key stays an own property.
    `install(worker, JSON.parse(${JSON.stringify(JSON.stringify(env))}), ${JSON.stringify(kv)});`,
  ].join("\n");
}

/** The env as text (a JSON var as its JSON, as workerd gives it), where build/isolate/node-compat/process.ts reads it for process.env. */
function envSource(env: Readonly<Record<string, unknown>>): string {
  const text = Object.fromEntries(Object.entries(env).map(([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  return `Object.defineProperty(globalThis, Symbol.for("strata.env"), { value: Object.freeze(JSON.parse(${JSON.stringify(JSON.stringify(text))})) });`;
}

/**
 * A tenant instance inside the engine: owns its isolate, runs requests in it, and enforces the CPU
 * budget (checkCpu, called by the engine's watchdog) and the memory limit (isolated-vm disposes an
 * isolate past its limit). A reset answers the affected requests with 503 and loads a fresh isolate.
 */
export class Tenant {
  private gen: Generation | null = null;
  private loading: Promise<Generation> | null = null;
  /** The first isolate loaded: later loads are recreations after a reset. */
  private started = false;
  /** Calls into the isolate (requests, timers, waitUntil) that have not finished. */
  private inFlight = 0;
  private cpuOfDisposed = 0n;
  private cpu: CpuWindow | null = null;
  private stopped = false;
  /** Request bodies the isolate reads as the worker pulls them, by the id its dispatch was given. */
  private readonly bodies = new Map<number, RequestBody>();
  private nextBodyId = 1;

  constructor(
    readonly config: TenantConfig,
    private readonly bundle: LoadedBundle,
    private readonly pool: IsolatePool,
    private readonly log: (stream: "stdout" | "stderr", line: string) => void,
    /** Tells the engine this tenant is running code, so the watchdog looks at it. */
    private readonly onBusy: (tenant: Tenant) => void,
    /** The app's Cache API store, shared by its instances in this engine. */
    private readonly cache: CacheStore,
    /** The stores of config.kv, in its order. */
    private readonly kvStores: readonly KvStore[] = [],
  ) {}

  /** Loads the first isolate; throws (with the worker's error) when the module cannot start. */
  async start(): Promise<void> {
    await this.current();
  }

  private async current(): Promise<Generation> {
    if (this.stopped) throw new Error("instance is stopping");
    if (this.gen) return this.gen;
    this.loading ??= this.createGeneration().then(
      (g) => {
        this.loading = null;
        if (this.stopped) {
          g.isolate.dispose();
          throw new Error("instance is stopping");
        }
        this.gen = g;
        return g;
      },
      (err: unknown) => {
        this.loading = null;
        if (this.started) this.log("stderr", `the isolate could not be recreated: ${err instanceof Error ? err.message : String(err)}`);
        throw err;
      },
    );
    const g = await this.loading;
    this.started = true;
    return g;
  }

  private async createGeneration(): Promise<Generation> {
    const { isolate, context, entry, hooks } = this.pool.take(this.config.memoryMb) ?? (await this.pool.create(this.config.memoryMb));
    const timers = new Map<number, NodeJS.Timeout>();
    let gen: Generation | null = null;
    hooks.current = {
      log: this.log,
      timer: (id, ms) => {
        if (gen) this.timer(gen, id, ms);
        else if (ms >= 0) this.log("stderr", "a timer set while the module loads is not run (timers run while handling requests)");
      },
      readBody: (id) => {
        const body = this.bodies.get(id);
        return body ? body.read() : Promise.reject(new Error(BODY_CLOSED));
      },
      cancelBody: (id) => this.bodies.get(id)?.close(),
      kv: (ns, op, args) => kvCall(this.kvStores[ns], op, args),
      websocket: (op, id, a, b) => {
        const peer = gen?.sockets.get(id);
        if (!peer) return;
        if (op === "send") peer.send(a instanceof ArrayBuffer ? Buffer.from(a) : String(a));
        else {
          gen!.sockets.delete(id);
          peer.close(Number(a), String(b ?? ""));
        }
      },
      cache: (op, args) => cacheCall(this.cache, op, args),
    };
    try {
      await this.loadWorker(isolate, context);
      gen = { isolate, entry, timers, resetReason: null, waiting: false, sentUrls: new Set(), sockets: new Map() };
      return gen;
    } catch (err) {
      for (const t of timers.values()) clearTimeout(t);
      if (!isolate.isDisposed) isolate.dispose();
      throw err;
    }
  }

  /**
   * Evaluates the worker through a small boot module that imports it and hands it (and `env`) to the
   * prelude's install(), so loading costs one trip to the isolate's thread. With a code cache (every
   * load after a version's first) compiling is a quick deserialisation done here; the first compile,
   * a full parse of a possibly large bundle, runs on the isolate's thread.
   */
  private async loadWorker(isolate: ivm.Isolate, context: ivm.Context): Promise<void> {
    const b = this.bundle;
    if (b.wasm.size) {
      await context.eval("globalThis.__strataWasm = Object.create(null)");
      for (const [name, bytes] of b.wasm) {
        const copy = new ivm.ExternalCopy(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        await context.evalClosure("globalThis.__strataWasm[$0] = new WebAssembly.Module($1)", [name, copy.copyInto({ release: true })], { timeout: STARTUP_TIMEOUT_MS });
      }
    }
    const filename = `file:///${b.manifest.entry}`;
    let worker: ivm.Module;
    if (b.codeCache) {
      worker = isolate.compileModuleSync(b.code, { filename, cachedData: b.codeCache });
    } else {
      worker = await isolate.compileModule(b.code, { filename, produceCachedData: true });
      b.codeCache = (worker as ivm.Module & ivm.CachedDataResult).cachedData;
    }
    const nodeCompat = b.manifest.compatibilityFlags.some((f) => f.startsWith("nodejs_compat"));
    const boot = isolate.compileModuleSync(bootSource(this.config.env, this.config.kv.map((k) => k.binding), nodeCompat), { filename: "strata:boot" });
    boot.instantiateSync(context, (specifier) => {
      if (specifier === BOOT_IMPORT) return worker;
      if (specifier === ENV_IMPORT) return isolate.compileModuleSync(envSource(this.config.env), { filename: ENV_IMPORT });
      const name = specifier.replace(/^\.\//, "");
      if (!b.wasm.has(name)) throw new Error(`the worker imports "${specifier}", which is not in its bundle`);
      return isolate.compileModuleSync(`export default globalThis.__strataWasm[${JSON.stringify(name)}];`);
    });
    await boot.evaluate({ timeout: STARTUP_TIMEOUT_MS });
    if (b.wasm.size) await context.eval("delete globalThis.__strataWasm");
  }

  /**
   * Runs one request in the isolate; never throws (failures become 5xx responses). The request stays
   * in flight (counted for the CPU budget, waited for by stop()) until its response body stream, if
   * any, ends. Its body goes in whole when the client has sent all of it already, else as a stream
   * the worker pulls from `body`.
   */
  async handle(req: DispatchRequest, body: RequestBody | null): Promise<TenantResponse> {
    let gen: Generation;
    try {
      gen = await this.current();
    } catch {
      // A stopping instance, or a reload that failed (current() logged the worker's error, which may
      // quote its secrets, so the client is not shown it).
      return plain(503, "the worker is unavailable");
    }
    const whole = body?.takeWhole();
    let done = this.begin(gen, true);
    if (whole !== undefined) req.body = whole;
    else if (body) {
      const id = this.nextBodyId++;
      this.bodies.set(id, body);
      req.bodyStream = id;
      const finish = done;
      done = () => {
        this.bodies.delete(id);
        finish();
      };
    }
    if (req.urlParts) {
      // Sending a URL's parts costs a few µs on every request; sending them once per URL saves that.
      if (gen.sentUrls.has(req.url)) req.urlParts = null;
      else {
        if (gen.sentUrls.size >= SENT_URLS_MAX) gen.sentUrls.clear();
        gen.sentUrls.add(req.url);
      }
    }
    let res: DispatchResponse;
    try {
      res = (await gen.entry.dispatch.apply(undefined, [new ivm.ExternalCopy(req).copyInto({ release: true })], {
        result: { promise: true, copy: true },
      })) as DispatchResponse;
    } catch (err) {
      done();
      return plain(503, this.failure(gen, err));
    }
    if (res.pending) this.awaitWaitUntil(gen);
    const head = { status: res.status, statusText: res.statusText, headers: res.headers };
    if (res.webSocket !== null) {
      done();
      return { ...head, body: null, stream: null, webSocket: res.webSocket };
    }
    if (res.stream === null) {
      done();
      return { ...head, body: res.body ? new Uint8Array(res.body) : null, stream: null };
    }
    return { ...head, body: null, stream: this.bodyStream(gen, res.stream, done) };
  }

  /**
   * Joins the client's WebSocket to the isolate's connection `id` (from a 101 response): what the client
   * sends arrives as message events, its close as a close event. Returns what the server calls as the
   * client's frames come; null when the isolate is gone.
   */
  connectWebSocket(id: number, peer: WebSocketPeer): { message(data: string | ArrayBuffer): void; closed(code: number, reason: string): void } | null {
    const gen = this.gen;
    if (!gen || gen.resetReason !== null) return null;
    gen.sockets.set(id, peer);
    const event = (type: "open" | "message" | "close", data: unknown, code?: number, reason?: string): void => this.webSocketEvent(gen, id, type, data, code, reason);
    event("open", null); // what the worker sent before the handshake goes out now
    return {
      message: (data) => event("message", data),
      closed: (code, reason) => {
        if (!gen.sockets.delete(id)) return; // the worker closed it first
        event("close", null, code, reason);
      },
    };
  }

  /** The handshake for connection `id` did not happen: the worker's end gets a close event. */
  webSocketFailed(id: number, code: number, reason: string): void {
    const gen = this.gen;
    if (gen && gen.resetReason === null) this.webSocketEvent(gen, id, "close", null, code, reason);
  }

  private webSocketEvent(gen: Generation, id: number, type: "open" | "message" | "close", data: unknown, code?: number, reason?: string): void {
    if (gen.resetReason !== null) return;
    const done = this.begin(gen, true);
    const arg = data instanceof ArrayBuffer ? new ivm.ExternalCopy(data, { transferOut: true }).copyInto({ release: true, transferIn: true }) : data;
    gen.entry.websocketEvent.apply(undefined, [id, type, arg, code, reason]).catch((err: unknown) => this.failure(gen, err)).finally(done);
  }

  private bodyStream(gen: Generation, id: number, done: () => void): BodyStream {
    let ended = false;
    const end = (): void => {
      ended = true;
      done();
    };
    return {
      read: async () => {
        if (ended) return null;
        this.onBusy(this);
        let r: ReadResult;
        try {
          r = (await gen.entry.read.apply(undefined, [id], { result: { promise: true, copy: true } })) as ReadResult;
        } catch (err) {
          end();
          throw new Error(this.failure(gen, err));
        }
        if (r instanceof ArrayBuffer) return new Uint8Array(r);
        end();
        if ("done" in r) {
          if (r.pending) this.awaitWaitUntil(gen);
          return null;
        }
        this.log("stderr", `the response body stream failed: ${r.error}; the response was cut off`);
        throw new Error(r.error);
      },
      cancel: (reason) => {
        if (ended) return;
        end();
        if (gen.isolate.isDisposed) return;
        gen.entry.cancel.apply(undefined, [id, reason]).catch((err: unknown) => this.failure(gen, err));
      },
    };
  }

  /**
   * Keeps the request's waitUntil work counted as running (the CPU watchdog sees it, stop() waits for
   * it) until it settles or, as on Workers, waitUntilMs after the response: then the prelude forgets
   * it, so it neither holds up a stop nor counts as running, and the worker's log says so.
   */
  private awaitWaitUntil(gen: Generation): void {
    if (gen.waiting) return;
    gen.waiting = true;
    // waitUntil work earns no credit of its own: it spends what its request left over.
    const done = this.begin(gen, false);
    const finish = (): void => {
      clearTimeout(limit);
      gen.waiting = false;
      done();
    };
    const limit = setTimeout(() => {
      if (gen.isolate.isDisposed) return finish();
      this.log("stderr", `ctx.waitUntil() work was still running ${this.config.waitUntilMs} ms after the response; it is no longer waited for (Workers cancels it then)`);
      gen.entry.abandonWaits.apply(undefined, []).catch((err: unknown) => this.failure(gen, err)).finally(finish);
    }, this.config.waitUntilMs);
    gen.entry.idle.apply(undefined, [], { result: { promise: true } })
      .catch((err: unknown) => this.failure(gen, err))
      .finally(finish);
  }

  private timer(gen: Generation, id: number, ms: number): void {
    const prev = gen.timers.get(id);
    if (prev) clearTimeout(prev);
    gen.timers.delete(id);
    if (ms < 0 || gen.resetReason) return;
    gen.timers.set(id, setTimeout(() => {
      gen.timers.delete(id);
      if (gen.resetReason || this.stopped) return;
      const done = this.begin(gen, true);
      gen.entry.fireTimer.apply(undefined, [id]).catch((err: unknown) => this.failure(gen, err)).finally(done);
    }, ms));
  }

  /** Marks work in the isolate as begun (watched by the CPU watchdog); the returned function ends it, once. */
  private begin(gen: Generation, credit: boolean): () => void {
    const w = this.window(gen);
    if (credit) w.credits++;
    this.inFlight++;
    this.onBusy(this);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight--;
    };
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
    // Every disposal of ours sets resetReason first; any other is isolated-vm's, at the memory limit,
    // whatever the failed call says (one waiting on the engine, as a request body read does, fails
    // with "Promise was abandoned").
    const reason = gen.resetReason ?? `request exceeded the memory limit of ${this.config.memoryMb} MiB; the isolate was reset`;
    this.reset(gen, reason);
    return reason;
  }

  private reset(gen: Generation, reason: string): void {
    if (gen.resetReason !== null) return;
    gen.resetReason = reason;
    this.log("stderr", reason);
    for (const t of gen.timers.values()) clearTimeout(t);
    gen.timers.clear();
    for (const peer of gen.sockets.values()) peer.close(1011, "the worker's isolate was reset");
    gen.sockets.clear();
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
      for (const peer of gen.sockets.values()) peer.close(1001, "the instance is stopping");
      gen.sockets.clear();
      if (!gen.isolate.isDisposed) gen.isolate.dispose();
    }
  }
}

function plain(status: number, text: string): TenantResponse {
  return { status, statusText: "", headers: [["content-type", "text/plain;charset=UTF-8"]], body: Buffer.from(text + "\n"), stream: null };
}
