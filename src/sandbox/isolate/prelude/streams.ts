/**
 * WHATWG streams, the subset workers use: ReadableStream (default, not byte streams) with readers,
 * async iteration, tee, pipeTo/pipeThrough; WritableStream; TransformStream. Queues are counted in
 * chunks (highWaterMark default 1).
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

  constructor(source: UnderlyingSource<R> = {}, strategy: Strategy = {}) {
    if ((source as { type?: unknown }).type !== undefined && (source as { type?: unknown }).type !== "default") {
      throw new RangeError("ReadableStream: byte streams (type: 'bytes') are not supported");
    }
    this.#source = source;
    this.#hwm = strategy.highWaterMark ?? 1;
    const self = this;
    const controller: ReadableStreamDefaultController<R> = {
      enqueue: (chunk) => self._enqueue(chunk),
      close: () => self._close(),
      error: (e) => self._fail(e),
      get desiredSize() { return self.#state === "errored" ? null : self.#state === "closed" ? 0 : self.#hwm - self.#queue.length; },
    };
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

  getReader(options?: { mode?: string }): ReadableStreamDefaultReader<R> {
    if (options?.mode !== undefined) throw new TypeError("ReadableStream: BYOB readers are not supported");
    return new ReadableStreamDefaultReader(this);
  }

  tee(): [ReadableStream<R>, ReadableStream<R>] {
    const reader = this.getReader();
    const branches: Array<ReadableStreamDefaultController<R>> = [];
    let reading: Promise<void> | null = null;
    const pull = (): Promise<void> =>
      (reading ??= reader.read().then(
        (r) => {
          reading = null;
          for (const c of branches) r.done ? c.close() : c.enqueue(r.value);
        },
        (e) => { for (const c of branches) c.error(e); },
      ));
    const make = () => new ReadableStream<R>({ start: (c) => { branches.push(c); }, pull });
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
    this.#stream?._lock(false);
    this.#stream = null;
  }
}

interface UnderlyingSink<W> {
  start?(c: { error(e: unknown): void }): unknown;
  write?(chunk: W, c: { error(e: unknown): void }): unknown;
  close?(): unknown;
  abort?(reason: unknown): unknown;
}

export class WritableStream<W = unknown> {
  #sink: UnderlyingSink<W>;
  #chain: Promise<void>;
  #error: unknown = undefined;
  #errored = false;
  #locked = false;
  #controller = { error: (e: unknown) => { this.#errored = true; this.#error = e; } };

  constructor(sink: UnderlyingSink<W> = {}) {
    this.#sink = sink;
    this.#chain = Promise.resolve(sink.start?.(this.#controller)).then(() => undefined);
  }
  get locked(): boolean { return this.#locked; }
  /** @internal */ _lock(on: boolean): void { this.#locked = on; }
  /** @internal */ _enqueue(op: () => unknown): Promise<void> {
    const next = this.#chain.then(async () => {
      if (this.#errored) throw this.#error;
      await op();
    });
    this.#chain = next.catch((e: unknown) => { this.#errored = true; this.#error = e; });
    return next;
  }
  /** @internal */ _write(chunk: W): Promise<void> { return this._enqueue(() => this.#sink.write?.(chunk, this.#controller)); }
  /** @internal */ _close(): Promise<void> { return this._enqueue(() => this.#sink.close?.()); }
  /** @internal */ async _abort(reason: unknown): Promise<void> {
    this.#errored = true;
    this.#error = reason;
    await this.#sink.abort?.(reason);
  }
  getWriter(): WritableStreamDefaultWriter<W> { return new WritableStreamDefaultWriter(this); }
  abort(reason?: unknown): Promise<void> { return this._abort(reason); }
  close(): Promise<void> { return this._close(); }
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
  get ready(): Promise<void> { return Promise.resolve(); }
  get desiredSize(): number { return 1; }
  write(chunk: W): Promise<void> { return this.#s()._write(chunk); }
  close(): Promise<void> { return this.#s()._close(); }
  abort(reason?: unknown): Promise<void> { return this.#s()._abort(reason); }
  releaseLock(): void {
    this.#stream?._lock(false);
    this.#stream = null;
  }
}

interface Transformer<I, O> {
  start?(c: ReadableStreamDefaultController<O>): unknown;
  transform?(chunk: I, c: ReadableStreamDefaultController<O>): unknown;
  flush?(c: ReadableStreamDefaultController<O>): unknown;
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
    const started = Promise.resolve(transformer.start?.(controller));
    this.writable = new WritableStream<I>({
      start: (c) => { sinkController = c; },
      write: async (chunk) => {
        await started;
        await wanted.promise;
        if (cancelled) throw cancelled.reason;
        try {
          if (transformer.transform) await transformer.transform(chunk, controller);
          else controller.enqueue(chunk as unknown as O);
        } catch (e) {
          controller.error(e); // a failed transform fails the readable side too, so its reader learns why
          throw e;
        }
        if (controller.desiredSize !== null && controller.desiredSize <= 0) wanted = demand();
      },
      close: async () => {
        await started;
        await transformer.flush?.(controller);
        controller.close();
      },
      abort: (reason) => controller.error(reason),
    });
  }
}

function demand(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}
