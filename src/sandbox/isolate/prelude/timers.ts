import { host } from "./host.js";
import { reportError } from "./console.js";

/**
 * Timers run by the engine: the isolate asks for timer `id` after `ms`; the engine calls
 * fireTimer(id) then. Bounded: at most MAX_PENDING pending timers and MAX_DELAY_MS of delay.
 */
const MAX_PENDING = 1000;
const MAX_DELAY_MS = 60_000;
const pending = new Map<number, { fn: (...a: unknown[]) => unknown; args: unknown[]; repeat: number | null }>();
let nextId = 1;

function schedule(fn: unknown, ms: unknown, args: unknown[], repeat: boolean): number {
  if (typeof fn !== "function") throw new TypeError("setTimeout/setInterval needs a function (strings are not evaluated)");
  if (pending.size >= MAX_PENDING) throw new RangeError(`too many pending timers (limit ${MAX_PENDING})`);
  const delay = Math.min(Math.max(Number(ms) || 0, 0), MAX_DELAY_MS);
  const id = nextId++;
  pending.set(id, { fn: fn as (...a: unknown[]) => unknown, args, repeat: repeat ? Math.max(delay, 1) : null });
  host.timer(id, delay);
  return id;
}

export function setTimeout(fn: unknown, ms?: unknown, ...args: unknown[]): number { return schedule(fn, ms, args, false); }
export function setInterval(fn: unknown, ms?: unknown, ...args: unknown[]): number { return schedule(fn, ms, args, true); }
export function clearTimeout(id: unknown): void {
  if (typeof id === "number" && pending.delete(id)) host.timer(id, -1);
}
export const clearInterval = clearTimeout;

export function queueMicrotask(fn: () => void): void {
  Promise.resolve().then(fn).catch(reportError);
}

/** Called by the engine when timer `id` is due. */
export function fireTimer(id: number): void {
  const t = pending.get(id);
  if (!t) return;
  if (t.repeat === null) pending.delete(id);
  else host.timer(id, t.repeat);
  try {
    const r = t.fn(...t.args);
    if (r instanceof Promise) r.catch(reportError);
  } catch (e) {
    reportError(e);
  }
}
