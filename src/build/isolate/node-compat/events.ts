/**
 * node:events under nodejs_compat, bundled into a worker by the isolate builder: the npm `events` package
 * (Node's EventEmitter for bundlers, as of Node 14), with what Node added since that code leans on and the
 * package lacks: errorMonitor, getEventListeners, the on() async iterator, once() with an AbortSignal,
 * setMaxListeners for several emitters, and addAbortListener.
 */
import EventEmitter from "events/events.js";

type Listener = (...args: unknown[]) => void;
interface Emitter {
  on(name: string | symbol, fn: Listener): unknown;
  once(name: string | symbol, fn: Listener): unknown;
  removeListener(name: string | symbol, fn: Listener): unknown;
  listeners(name: string | symbol): Listener[];
  emit(name: string | symbol, ...args: unknown[]): boolean;
  setMaxListeners(n: number): unknown;
}

export const errorMonitor = Symbol("events.errorMonitor");
export const captureRejectionSymbol = Symbol.for("nodejs.rejection");

// 'error' listeners on errorMonitor see an error before the 'error' handlers (or the throw without one).
const emit = EventEmitter.prototype.emit;
EventEmitter.prototype.emit = function (this: Emitter, type: string | symbol, ...args: unknown[]): boolean {
  if (type === "error") emit.call(this, errorMonitor, ...args);
  return emit.call(this, type, ...args);
};
Object.assign(EventEmitter, { errorMonitor, captureRejectionSymbol });

function abortError(signal: AbortSignal): Error {
  return Object.assign(new DOMException("The operation was aborted", "AbortError"), { cause: signal.reason });
}

export function getEventListeners(target: Emitter | EventTarget, name: string | symbol): Listener[] {
  if (typeof (target as Emitter).listeners === "function") return (target as Emitter).listeners(name);
  throw new TypeError('The "emitter" argument must be an instance of EventEmitter');
}

export function once(emitter: Emitter, name: string | symbol, options: { signal?: AbortSignal } = {}): Promise<unknown[]> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise((resolve, reject) => {
    const onError = (err: unknown) => { cleanup(); reject(err); };
    const onEvent = (...args: unknown[]) => { cleanup(); resolve(args); };
    const onAbort = () => { cleanup(); reject(abortError(signal!)); };
    const cleanup = () => {
      emitter.removeListener(name, onEvent);
      if (name !== "error") emitter.removeListener("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    emitter.once(name, onEvent);
    if (name !== "error") emitter.once("error", onError);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Events `name` of `emitter` as an async iterator of their argument lists; an 'error' event throws from it. */
export function on(emitter: Emitter, name: string | symbol, options: { signal?: AbortSignal } = {}): AsyncIterableIterator<unknown[]> {
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal);
  const queued: unknown[][] = [];
  const waiting: Array<{ resolve(r: IteratorResult<unknown[]>): void; reject(e: unknown): void }> = [];
  let failure: unknown = null;
  let done = false;
  const onEvent = (...args: unknown[]) => (waiting.length ? waiting.shift()!.resolve({ value: args, done: false }) : queued.push(args));
  const onError = (err: unknown) => {
    if (waiting.length) waiting.shift()!.reject(err);
    else failure = err;
    close();
  };
  const onAbort = () => onError(abortError(signal!));
  const close = () => {
    done = true;
    emitter.removeListener(name, onEvent);
    emitter.removeListener("error", onError);
    signal?.removeEventListener("abort", onAbort);
    for (const w of waiting.splice(0)) w.resolve({ value: undefined, done: true });
  };
  emitter.on(name, onEvent);
  if (name !== "error") emitter.on("error", onError);
  signal?.addEventListener("abort", onAbort, { once: true });
  const iterator: AsyncIterableIterator<unknown[]> = {
    next() {
      if (queued.length) return Promise.resolve({ value: queued.shift()!, done: false });
      if (failure !== null) {
        const err = failure;
        failure = null;
        return Promise.reject(err);
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    return() {
      close();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(err: unknown) {
      onError(err);
      return Promise.reject(err);
    },
    [Symbol.asyncIterator]() {
      return this;
    },
  };
  return iterator;
}

export function setMaxListeners(n: number, ...targets: Emitter[]): void {
  if (targets.length === 0) EventEmitter.defaultMaxListeners = n;
  for (const t of targets) t.setMaxListeners(n);
}

export function addAbortListener(signal: AbortSignal, listener: () => void): { [Symbol.dispose](): void } {
  if (signal.aborted) queueMicrotask(listener);
  else signal.addEventListener("abort", listener, { once: true });
  return { [Symbol.dispose]: () => signal.removeEventListener("abort", listener) };
}

export const listenerCount = EventEmitter.listenerCount;
export const defaultMaxListeners = EventEmitter.defaultMaxListeners;
Object.assign(EventEmitter, { once, on, getEventListeners, setMaxListeners, addAbortListener });
export { EventEmitter };
export default EventEmitter;
