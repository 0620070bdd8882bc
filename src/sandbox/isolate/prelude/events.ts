import { DOMException } from "./encoding.js";
import { setTimeout } from "./timers.js";

/** Event, EventTarget and AbortController/AbortSignal, enough for fetch cancellation idioms. */
export class Event {
  readonly type: string;
  defaultPrevented = false;
  readonly timeStamp = Date.now();
  constructor(type: string) { this.type = String(type); }
  preventDefault(): void { this.defaultPrevented = true; }
}

type Listener = ((e: Event) => void) | { handleEvent(e: Event): void };

export class EventTarget {
  #listeners = new Map<string, Array<{ fn: Listener; once: boolean }>>();
  addEventListener(type: string, fn: Listener | null, options?: { once?: boolean } | boolean): void {
    if (!fn) return;
    const list = this.#listeners.get(type) ?? [];
    if (!list.some((l) => l.fn === fn)) list.push({ fn, once: typeof options === "object" && Boolean(options.once) });
    this.#listeners.set(type, list);
  }
  removeEventListener(type: string, fn: Listener | null): void {
    this.#listeners.set(type, (this.#listeners.get(type) ?? []).filter((l) => l.fn !== fn));
  }
  dispatchEvent(event: Event): boolean {
    for (const l of [...(this.#listeners.get(event.type) ?? [])]) {
      if (l.once) this.removeEventListener(event.type, l.fn);
      if (typeof l.fn === "function") l.fn.call(this, event);
      else l.fn.handleEvent(event);
    }
    return !event.defaultPrevented;
  }
}

export class AbortSignal extends EventTarget {
  aborted = false;
  reason: unknown = undefined;
  onabort: ((e: Event) => void) | null = null;

  static abort(reason?: unknown): AbortSignal {
    const s = new AbortSignal();
    s._abort(reason);
    return s;
  }
  static timeout(ms: number): AbortSignal {
    const s = new AbortSignal();
    setTimeout(() => s._abort(new DOMException("The operation timed out", "TimeoutError")), ms);
    return s;
  }
  /** Aborts with the first of `signals` to abort (at once when one already has). */
  static any(signals: Iterable<AbortSignal>): AbortSignal {
    const s = new AbortSignal();
    const list = [...signals];
    const first = list.find((x) => x.aborted);
    if (first) s._abort(first.reason);
    else for (const x of list) x.addEventListener("abort", () => s._abort(x.reason), { once: true });
    return s;
  }
  throwIfAborted(): void { if (this.aborted) throw this.reason; }
  /** @internal */ _abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason ?? new DOMException("This operation was aborted", "AbortError");
    const e = new Event("abort");
    this.onabort?.(e);
    this.dispatchEvent(e);
  }
}

export class AbortController {
  readonly signal = new AbortSignal();
  abort(reason?: unknown): void { this.signal._abort(reason); }
}
