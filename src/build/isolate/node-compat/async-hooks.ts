/**
 * node:async_hooks under nodejs_compat, bundled into a worker by the isolate builder: AsyncLocalStorage and
 * AsyncResource, as Workers has them. V8 gives an embedder's JavaScript no hook for async context, so the
 * context is carried the way zone.js carries it: the current frame (each storage's value) is captured when
 * a continuation is registered — Promise.prototype.then (which catch, finally and the builder's lowered
 * `await` go through), setTimeout, setInterval, queueMicrotask — and restored while it runs. A bundle that
 * imports this module is built with async functions lowered to generators (build/isolate/node-compat.ts),
 * since a native `await` resumes without calling `then`.
 */
type Frame = ReadonlyMap<AsyncLocalStorage<unknown>, unknown>;
type Fn = (...args: unknown[]) => unknown;

let current: Frame = new Map();

/** `fn`, run with `frame` as the current frame. */
function inFrame<F extends Fn>(fn: F, frame: Frame): F {
  return function (this: unknown, ...args: unknown[]) {
    const before = current;
    current = frame;
    try {
      return fn.apply(this, args);
    } finally {
      current = before;
    }
  } as F;
}

function withFrame<R>(frame: Frame, fn: () => R): R {
  const before = current;
  current = frame;
  try {
    return fn();
  } finally {
    current = before;
  }
}

const PATCHED = Symbol.for("strata.async-context");
const g = globalThis as unknown as Record<string | symbol, unknown>;
if (!g[PATCHED]) {
  g[PATCHED] = true;
  const then = Promise.prototype.then as (this: Promise<unknown>, f?: unknown, r?: unknown) => Promise<unknown>;
  Object.defineProperty(Promise.prototype, "then", {
    value: function (this: Promise<unknown>, onFulfilled?: unknown, onRejected?: unknown) {
      const frame = current;
      return then.call(this, typeof onFulfilled === "function" ? inFrame(onFulfilled as Fn, frame) : onFulfilled, typeof onRejected === "function" ? inFrame(onRejected as Fn, frame) : onRejected);
    },
    writable: true,
    configurable: true,
  });
  for (const name of ["setTimeout", "setInterval", "queueMicrotask"] as const) {
    const original = g[name] as Fn;
    Object.defineProperty(globalThis, name, {
      value: function (callback: unknown, ...rest: unknown[]) {
        return original.call(globalThis, typeof callback === "function" ? inFrame(callback as Fn, current) : callback, ...rest);
      },
      writable: true,
      configurable: true,
    });
  }
}

export class AsyncLocalStorage<T> {
  getStore(): T | undefined {
    return current.get(this as AsyncLocalStorage<unknown>) as T | undefined;
  }

  run<R, A extends unknown[]>(store: T, callback: (...args: A) => R, ...args: A): R {
    const next = new Map(current);
    next.set(this as AsyncLocalStorage<unknown>, store);
    return withFrame(next, () => callback(...args));
  }

  exit<R, A extends unknown[]>(callback: (...args: A) => R, ...args: A): R {
    const next = new Map(current);
    next.delete(this as AsyncLocalStorage<unknown>);
    return withFrame(next, () => callback(...args));
  }

  disable(): void {
    const next = new Map(current);
    next.delete(this as AsyncLocalStorage<unknown>);
    current = next;
  }

  /** `fn` bound to the current context: it sees the stores of now wherever it is called. */
  static bind<F extends Fn>(fn: F): F {
    return inFrame(fn, current);
  }

  /** A function that runs its argument in the context of now. */
  static snapshot(): <R, A extends unknown[]>(fn: (...args: A) => R, ...args: A) => R {
    const frame = current;
    return (fn, ...args) => withFrame(frame, () => fn(...args));
  }
}

export class AsyncResource {
  readonly #frame: Frame = current;
  // `type` names the resource for async_hooks' hooks, which workers do not have: nothing reads it.
  constructor(_type: string) {}

  runInAsyncScope<R, A extends unknown[]>(fn: (this: unknown, ...args: A) => R, thisArg?: unknown, ...args: A): R {
    return withFrame(this.#frame, () => fn.apply(thisArg, args));
  }

  bind<F extends Fn>(fn: F): F {
    return inFrame(fn, this.#frame);
  }

  static bind<F extends Fn>(fn: F, type = "bound-anonymous-fn"): F {
    return new AsyncResource(type).bind(fn);
  }
}

export default { AsyncLocalStorage, AsyncResource };
