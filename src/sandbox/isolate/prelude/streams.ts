/**
 * WHATWG streams, the subset workers use: ReadableStream with readers, async iteration, tee,
 * pipeTo/pipeThrough; WritableStream; TransformStream. Queues are counted in chunks (highWaterMark
 * default 1). A byte stream (type: "bytes") is a stream of Uint8Arrays whose BYOB reader copies
 * them into the reader's buffer (its source gets no byobRequest).
 */
type Result<R> = { value: R; done: false } | { value: undefined; done: true };
interface UnderlyingSource<R> {
  start?(c: ReadableStreamDefaultController<R>): unknown;
  pull?(c: ReadableStreamDefaultController<R>): unknown;
  cancel?(reason: unknown): unknown;
}
interface Strategy { highWaterMark?: number }

export interface ReadableStreamDefaultController<R> {
  enqueue(chunk: R): void;
  close(): void;
  error(e: unknown): void;
  readonly desiredSize: number | null;
}

export class ReadableStream<R = unknown> {
  #queue: R[] = [];
  #state: "readable" | "closed" | "errored" = "readable";
  #closeRequested = false;
  #error: unknown;
  #reads: Array<{ resolve(r: Result<R>): void; reject(e: unknown): void }> = [];
  #source: UnderlyingSource<R>;
  #hwm: number;
  #started = false;
  #pulling = false;
  #pullAgain = false;
  #locked = false;
  #closedWaiters: Array<{ resolve(): void; reject(e: unknown): void }> = [];
  readonly #bytes: boolean;

  constructor(source: UnderlyingSource<R> = {}, strategy: Strategy = {}) {
    const type = (source as { type?: unknown }).type;
    if (type !== undefined && type !== "bytes") throw new TypeError(`ReadableStream: unknown type ${String(type)}`);
    this.#bytes = type === "bytes";
    this.#source = source;
    this.#hwm = strategy.highWaterMark ?? 1;
    const self = this;
    const controller: ReadableStreamDefaultController<R> = {
      enqueue: (chunk) => self._enqueue(chunk),
      close: () => self._close(),
      error: (e) => self._fail(e),
      get desiredSize() {
        return self.#state === "errored" ? null : self.#state === "closed" || self.#closeRequested ? 0 : self.#hwm - self.#queue.length;
      },
    };
    if (this.#bytes) Object.defineProperty(controller, "byobRequest", { value: null });
    this.#controller = controller;
    let started: unknown;
    try {
      started = source.start?.(controller); // synchronous, as the spec says: callers keep the controller
    } catch (e) {
      started = Promise.reject(e);
    }
    Promise.resolve(started)
      .then(
        () => { this.#started = true; this._pullIfNeeded(); },
        (e) => this._fail(e),
      );
  }
  #controller: ReadableStreamDefaultController<R>;

  static from<T>(iterable: Iterable<T> | AsyncIterable<T>): ReadableStream<T> {
    const it = (Symbol.asyncIterator in iterable ? iterable[Symbol.asyncIterator]() : (iterable as Iterable<T>)[Symbol.iterator]()) as
      AsyncIterator<T> | Iterator<T>;
    return new ReadableStream<T>({
      async pull(c) {
        const r = await it.next();
        if (r.done) c.close();
        else c.enqueue(r.value);
      },
      async cancel(reason) { await it.return?.(reason); },
    });
  }

  get locked(): boolean { return this.#locked; }

  /** @internal */ _enqueue(chunk: R): void {
    if (this.#state !== "readable" || this.#closeRequested) throw new TypeError("ReadableStream: enqueue after close");
    const read = this.#reads.shift();
    if (read) read.resolve({ value: chunk, done: false });
    else this.#queue.push(chunk);
    this._pullIfNeeded();
  }
  /** @internal */ _close(): void {
    if (this.#state !== "readable" || this.#closeRequested) return;
    this.#closeRequested = true;
    if (this.#queue.length === 0) this.#finish();
  }
  #finish(): void {
    this.#state = "closed";
    for (const r of this.#reads.splice(0)) r.resolve({ value: undefined, done: true });
    for (const w of this.#closedWaiters.splice(0)) w.resolve();
  }
  /** @internal */ _fail(e: unknown): void {
    if (this.#state !== "readable") return;
    this.#state = "errored";
    this.#error = e;
    this.#queue = [];
    for (const r of this.#reads.splice(0)) r.reject(e);
    for (const w of this.#closedWaiters.splice(0)) w.reject(e);
  }
  /** @internal */ _pullIfNeeded(): void {
    if (!this.#started || this.#state !== "readable" || this.#closeRequested || !this.#source.pull) return;
    if (this.#reads.length === 0 && this.#queue.length >= this.#hwm) return;
    if (this.#pulling) { this.#pullAgain = true; return; }
    this.#pulling = true;
    Promise.resolve()
      .then(() => this.#source.pull!(this.#controller))
      .then(
        () => {
          this.#pulling = false;
          if (this.#pullAgain) { this.#pullAgain = false; this._pullIfNeeded(); }
        },
        (e) => this._fail(e),
      );
  }
  /** @internal */ _read(): Promise<Result<R>> {
    if (this.#queue.length) {
      const value = this.#queue.shift()!;
      if (this.#closeRequested && this.#queue.length === 0) this.#finish();
      else this._pullIfNeeded();
      return Promise.resolve({ value, done: false });
    }
    if (this.#state === "closed") return Promise.resolve({ value: undefined, done: true });
    if (this.#state === "errored") return Promise.reject(this.#error);
    return new Promise((resolve, reject) => {
      this.#reads.push({ resolve, reject });
      this._pullIfNeeded();
    });
  }
  /** @internal */ _closed(): Promise<void> {
    if (this.#state === "closed") return Promise.resolve();
    if (this.#state === "errored") return Promise.reject(this.#error);
    return new Promise((resolve, reject) => this.#closedWaiters.push({ resolve, reject }));
  }
  /** @internal */ _lock(on: boolean): void { this.#locked = on; }
  /** @internal A released reader's reads that had not settled fail. */
  _release(): void {
    const e = new TypeError("the reader was released");
    for (const r of this.#reads.splice(0)) r.reject(e);
    this.#locked = false;
  }
  /** @internal */ _isBytes(): boolean { return this.#bytes; }
  /** @internal */ async _cancel(reason: unknown): Promise<void> {
    if (this.#state === "closed") return;
    if (this.#state === "errored") throw this.#error;
    this.#queue = [];
    this.#finish();
    await this.#source.cancel?.(reason);
  }

  cancel(reason?: unknown): Promise<void> {
    if (this.#locked) return Promise.reject(new TypeError("ReadableStream: cannot cancel a locked stream"));
    return this._cancel(reason);
  }

  getReader(options?: { mode?: string }): ReadableStreamDefaultReader<R>;
  getReader(options: { mode: "byob" }): ReadableStreamBYOBReader;
  getReader(options?: { mode?: string }): ReadableStreamDefaultReader<R> | ReadableStreamBYOBReader {
    if (options?.mode === "byob") return new ReadableStreamBYOBReader(this as unknown as ReadableStream<Uint8Array>);
    if (options?.mode !== undefined) throw new TypeError(`ReadableStream: unknown reader mode ${String(options.mode)}`);
    return new ReadableStreamDefaultReader(this);
  }

  tee(): [ReadableStream<R>, ReadableStream<R>] {
    const reader = this.getReader();
    const branches: Array<ReadableStreamDefaultController<R>> = [];
    let reading: Promise<void> | null = null;
    let cancelled = 0;
    // The source is cancelled once both branches are, with the last reason (as workerd does).
    const cancel = (reason: unknown): Promise<void> | undefined => (++cancelled === 2 ? reader.cancel(reason) : undefined);
    const pull = (): Promise<void> =>
      (reading ??= reader.read().then(
        (r) => {
          reading = null;
          for (const c of branches) r.done ? c.close() : c.enqueue(r.value);
        },
        (e) => { for (const c of branches) c.error(e); },
      ));
    const make = () => new ReadableStream<R>({ start: (c) => { branches.push(c); }, pull, cancel });
    return [make(), make()];
  }

  async pipeTo(dest: WritableStream<R>, options: { preventClose?: boolean; preventAbort?: boolean; preventCancel?: boolean } = {}): Promise<void> {
    const reader = this.getReader();
    const writer = dest.getWriter();
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) break;
        await writer.write(r.value);
      }
      if (!options.preventClose) await writer.close();
    } catch (e) {
      if (!options.preventAbort) await writer.abort(e);
      if (!options.preventCancel) await reader.cancel(e);
      throw e;
    } finally {
      reader.releaseLock();
      writer.releaseLock();
    }
  }

  pipeThrough<T>(pair: { writable: WritableStream<R>; readable: ReadableStream<T> }, options?: { preventClose?: boolean }): ReadableStream<T> {
    this.pipeTo(pair.writable, options).catch(() => undefined); // errors surface on pair.readable
    return pair.readable;
  }

  values(options: { preventCancel?: boolean } = {}): AsyncIterableIterator<R> {
    const reader = this.getReader();
    return {
      next: async () => {
        const r = await reader.read();
        if (r.done) reader.releaseLock();
        return r as IteratorResult<R>;
      },
      return: async (value?: unknown) => {
        if (!options.preventCancel) await reader.cancel(value);
        reader.releaseLock();
        return { value: undefined, done: true } as IteratorResult<R>;
      },
      [Symbol.asyncIterator]() { return this; },
    };
  }
  [Symbol.asyncIterator](): AsyncIterableIterator<R> { return this.values(); }
}

export class ReadableStreamDefaultReader<R = unknown> {
  #stream: ReadableStream<R> | null;
  constructor(stream: ReadableStream<R>) {
    if (stream.locked) throw new TypeError("ReadableStream is locked to another reader");
    stream._lock(true);
    this.#stream = stream;
  }
  get closed(): Promise<void> { return this.#stream ? this.#stream._closed() : Promise.reject(new TypeError("reader released")); }
  read(): Promise<Result<R>> {
    return this.#stream ? this.#stream._read() : Promise.reject(new TypeError("ReadableStream reader was released"));
  }
  cancel(reason?: unknown): Promise<void> { return this.#stream ? this.#stream._cancel(reason) : Promise.resolve(); }
  releaseLock(): void {
    this.#stream?._release();
    this.#stream = null;
  }
}

/** A BYOB reader: each read fills (part of) the caller's view from the stream's chunks. */
export class ReadableStreamBYOBReader {
  #stream: ReadableStream<Uint8Array> | null;
  #rest: Uint8Array | null = null;
  constructor(stream: ReadableStream<Uint8Array>) {
    if (!stream._isBytes()) throw new TypeError("ReadableStreamBYOBReader needs a byte stream (type: 'bytes')");
    if (stream.locked) throw new TypeError("ReadableStream is locked to another reader");
    stream._lock(true);
    this.#stream = stream;
  }
  get closed(): Promise<void> { return this.#stream ? this.#stream._closed() : Promise.reject(new TypeError("reader released")); }
  async read<T extends ArrayBufferView>(view: T): Promise<{ value: T | undefined; done: boolean }> {
    if (!this.#stream) throw new TypeError("ReadableStream reader was released");
    if (!ArrayBuffer.isView(view) || view.byteLength === 0) throw new TypeError("read() needs a non-empty ArrayBufferView");
    let chunk = this.#rest;
    this.#rest = null;
    if (!chunk) {
      const r = await this.#stream._read();
      if (r.done) return { value: new (view.constructor as new (b: ArrayBufferLike, o: number, l: number) => T)(view.buffer, view.byteOffset, 0), done: true };
      chunk = r.value;
    }
    const size = (view as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    const n = Math.min(chunk.byteLength, view.byteLength - (view.byteLength % size));
    new Uint8Array(view.buffer, view.byteOffset, n).set(chunk.subarray(0, n));
    if (n < chunk.byteLength) this.#rest = chunk.subarray(n);
    const Ctor = view.constructor as new (b: ArrayBufferLike, o: number, l: number) => T;
    return { value: new Ctor(view.buffer, view.byteOffset, view instanceof DataView ? n : n / size), done: false };
  }
  cancel(reason?: unknown): Promise<void> { return this.#stream ? this.#stream._cancel(reason) : Promise.resolve(); }
  releaseLock(): void {
    this.#stream?._release();
    this.#stream = null;
  }
}

export class CountQueuingStrategy {
  readonly highWaterMark: number;
  constructor(init: { highWaterMark: number }) { this.highWaterMark = Number(init.highWaterMark); }
  size(): number { return 1; }
}

export class ByteLengthQueuingStrategy {
  readonly highWaterMark: number;
  constructor(init: { highWaterMark: number }) { this.highWaterMark = Number(init.highWaterMark); }
  size(chunk: ArrayBufferView): number { return chunk.byteLength; }
}

interface UnderlyingSink<W> {
  start?(c: { error(e: unknown): void }): unknown;
  write?(chunk: W, c: { error(e: unknown): void }): unknown;
  close?(): unknown;
  abort?(reason: unknown): unknown;
}

/**
 * A WritableStream: writes reach the sink one at a time, in order. desiredSize is the high-water mark
 * less the writes not yet done, and `ready` waits while it is not positive.
 */
export class WritableStream<W = unknown> {
  #sink: UnderlyingSink<W>;
  #chain: Promise<void>;
  #error: unknown = undefined;
  #errored = false;
  #closed = false;
  #locked = false;
  #hwm: number;
  #queued = 0;
  #readyWaiters: Array<() => void> = [];
  #closedPromise: Promise<void>;
  #settleClosed!: { resolve(): void; reject(e: unknown): void };
  #controller = { error: (e: unknown) => this.#fail(e) };

  constructor(sink: UnderlyingSink<W> = {}, strategy: Strategy = {}) {
    this.#sink = sink;
    this.#hwm = strategy.highWaterMark ?? 1;
    this.#closedPromise = new Promise((resolve, reject) => { this.#settleClosed = { resolve, reject }; });
    this.#closedPromise.catch(() => undefined); // a failure is reported to whoever awaits closed; none may
    this.#chain = Promise.resolve(sink.start?.(this.#controller)).then(() => undefined);
  }
  get locked(): boolean { return this.#locked; }
  /** @internal */ _lock(on: boolean): void { this.#locked = on; }
  #fail(e: unknown): void {
    if (this.#errored || this.#closed) return;
    this.#errored = true;
    this.#error = e;
    this.#settleClosed.reject(e);
    for (const w of this.#readyWaiters.splice(0)) w();
  }
  /** @internal */ _desiredSize(): number | null { return this.#errored ? null : this.#closed ? 0 : this.#hwm - this.#queued; }
  /** @internal */ _ready(): Promise<void> {
    if (this.#errored) return Promise.reject(this.#error);
    if ((this._desiredSize() ?? 0) > 0 || this.#closed) return Promise.resolve();
    return new Promise((resolve, reject) => this.#readyWaiters.push(() => (this.#errored ? reject(this.#error) : resolve())));
  }
  /** @internal */ _closedPromise(): Promise<void> { return this.#closedPromise; }
  #enqueue(op: () => unknown): Promise<void> {
    this.#queued++;
    const next = this.#chain.then(async () => {
      if (this.#errored) throw this.#error;
      await op();
    });
    this.#chain = next.then(
      () => {
        this.#queued--;
        if ((this._desiredSize() ?? 0) > 0) for (const w of this.#readyWaiters.splice(0)) w();
      },
      (e: unknown) => { this.#queued--; this.#fail(e); },
    );
    return next;
  }
  /** @internal */ _write(chunk: W): Promise<void> {
    if (this.#closed) return Promise.reject(new TypeError("WritableStream is closed"));
    return this.#enqueue(() => this.#sink.write?.(chunk, this.#controller));
  }
  /** @internal */ _close(): Promise<void> {
    if (this.#closed) return Promise.reject(new TypeError("WritableStream is closed"));
    return this.#enqueue(async () => {
      await this.#sink.close?.();
      this.#closed = true;
      this.#settleClosed.resolve();
    });
  }
  /** @internal */ async _abort(reason: unknown): Promise<void> {
    if (this.#errored || this.#closed) return;
    this.#fail(reason);
    await this.#sink.abort?.(reason);
  }
  getWriter(): WritableStreamDefaultWriter<W> { return new WritableStreamDefaultWriter(this); }
  abort(reason?: unknown): Promise<void> {
    if (this.#locked) return Promise.reject(new TypeError("WritableStream: cannot abort a locked stream"));
    return this._abort(reason);
  }
  close(): Promise<void> {
    if (this.#locked) return Promise.reject(new TypeError("WritableStream: cannot close a locked stream"));
    return this._close();
  }
}

export class WritableStreamDefaultWriter<W = unknown> {
  #stream: WritableStream<W> | null;
  constructor(stream: WritableStream<W>) {
    if (stream.locked) throw new TypeError("WritableStream is locked to another writer");
    stream._lock(true);
    this.#stream = stream;
  }
  #s(): WritableStream<W> {
    if (!this.#stream) throw new TypeError("WritableStream writer was released");
    return this.#stream;
  }
  get ready(): Promise<void> { return this.#stream ? this.#stream._ready() : Promise.reject(new TypeError("writer released")); }
  get closed(): Promise<void> { return this.#stream ? this.#stream._closedPromise() : Promise.reject(new TypeError("writer released")); }
  get desiredSize(): number | null { return this.#s()._desiredSize(); }
  write(chunk: W): Promise<void> { return this.#stream ? this.#stream._write(chunk) : Promise.reject(new TypeError("writer released")); }
  close(): Promise<void> { return this.#stream ? this.#stream._close() : Promise.reject(new TypeError("writer released")); }
  abort(reason?: unknown): Promise<void> { return this.#s()._abort(reason); }
  releaseLock(): void {
    this.#stream?._lock(false);
    this.#stream = null;
  }
}

export interface TransformStreamDefaultController<O> {
  enqueue(chunk: O): void;
  error(e: unknown): void;
  terminate(): void;
  readonly desiredSize: number | null;
}

interface Transformer<I, O> {
  start?(c: TransformStreamDefaultController<O>): unknown;
  transform?(chunk: I, c: TransformStreamDefaultController<O>): unknown;
  flush?(c: TransformStreamDefaultController<O>): unknown;
}

/**
 * A TransformStream with the standard's backpressure: a chunk is transformed only once the readable
 * side asks for one (its queue is below its highWaterMark, 0 by default), so a writer that awaits
 * its writes runs no further ahead of the reader than that; cancelling the readable side errors the
 * writable side.
 */
export class TransformStream<I = unknown, O = unknown> {
  readonly readable: ReadableStream<O>;
  readonly writable: WritableStream<I>;
  constructor(transformer: Transformer<I, O> = {}, _writableStrategy?: Strategy, readableStrategy: Strategy = {}) {
    let controller!: ReadableStreamDefaultController<O>;
    let sinkController!: { error(e: unknown): void };
    let wanted = demand();
    let cancelled: { reason: unknown } | null = null;
    this.readable = new ReadableStream<O>({
      start: (c) => { controller = c; },
      pull: () => wanted.resolve(),
      cancel: (reason) => {
        cancelled = { reason: reason ?? new TypeError("the TransformStream's readable side was cancelled") };
        sinkController.error(cancelled.reason);
        wanted.resolve();
      },
    }, { highWaterMark: readableStrategy.highWaterMark ?? 0 });
    // Only an enqueue that fills the readable side holds the next write back: a transform that
    // enqueues nothing (a partial character, say) leaves the reader's demand standing.
    const tc: TransformStreamDefaultController<O> = {
      enqueue: (chunk) => {
        controller.enqueue(chunk);
        if (wanted.done && controller.desiredSize !== null && controller.desiredSize <= 0) wanted = demand();
      },
      error: (e) => { controller.error(e); sinkController.error(e); },
      terminate: () => { controller.close(); sinkController.error(new TypeError("the TransformStream was terminated")); },
      get desiredSize() { return controller.desiredSize; },
    };
    const started = Promise.resolve(transformer.start?.(tc));
    // A start() that fails errors both sides (the spec's TransformStreamDefaultControllerError).
    started.catch((e: unknown) => tc.error(e));
    this.writable = new WritableStream<I>({
      start: (c) => { sinkController = c; },
      write: async (chunk) => {
        await started;
        await wanted.promise;
        if (cancelled) throw cancelled.reason;
        try {
          if (transformer.transform) await transformer.transform(chunk, tc);
          else tc.enqueue(chunk as unknown as O);
        } catch (e) {
          controller.error(e); // a failed transform fails the readable side too, so its reader learns why
          throw e;
        }
      },
      close: async () => {
        await started;
        try {
          await transformer.flush?.(tc);
        } catch (e) {
          controller.error(e); // as for a failed transform: the reader learns why
          throw e;
        }
        controller.close();
      },
      abort: (reason) => controller.error(reason),
    });
  }
}

function demand(): { promise: Promise<void>; resolve(): void; done: boolean } {
  let settle!: () => void;
  const d = {
    promise: new Promise<void>((r) => { settle = r; }),
    done: false,
    resolve: () => { d.done = true; settle(); },
  };
  return d;
}
