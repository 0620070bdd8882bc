import { host } from "./host.js";
import { reportError } from "./console.js";

/**
 * Timers run by the engine: the isolate asks for timer `id` after `ms`; the engine calls
 * fireTimer(id) then. The engine's timers may expire out of order (each is set when its call
 * reaches the engine), so a firing runs every pending timer due by then, by due time and then by
 * the order they were set. At most MAX_PENDING pending timers; delays beyond what the engine's
 * timers take (about 24.8 days) are cut to it.
 */
const MAX_PENDING = 1000;
const MAX_DELAY_MS = 2 ** 31 - 1;
interface Timer { id: number; due: number; fn: (...a: unknown[]) => unknown; args: unknown[]; repeat: number | null }
const pending = new Map<number, Timer>();
let nextId = 1;

/**
 * The time timers count from, read once per run of synchronous code: timers set together share it (as
 * in workerd, where time stands still while code runs), so a clock tick between two setTimeout calls
 * cannot put a longer delay first.
 */
let now: number | null = null;
function clock(): number {
  if (now === null) {
    now = Date.now();
    Promise.resolve().then(() => { now = null; });
  }
  return now;
}

function arm(t: Timer, delay: number): void {
  t.due = clock() + delay;
  host.timer(t.id, delay);
}

function schedule(fn: unknown, ms: unknown, args: unknown[], repeat: boolean): number {
  if (typeof fn !== "function") throw new TypeError("setTimeout/setInterval needs a function (strings are not evaluated)");
  if (pending.size >= MAX_PENDING) throw new RangeError(`too many pending timers (limit ${MAX_PENDING})`);
  const delay = Math.min(Math.max(Number(ms) || 0, 0), MAX_DELAY_MS);
  const t: Timer = { id: nextId++, due: 0, fn: fn as (...a: unknown[]) => unknown, args, repeat: repeat ? Math.max(delay, 1) : null };
  pending.set(t.id, t);
  arm(t, delay);
  return t.id;
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

/** Called by the engine when timer `id` is due: runs it and every timer due before it. */
export function fireTimer(id: number): void {
  const fired = pending.get(id);
  if (!fired) return;
  // Map order is the order timers were set: a stable sort keeps it among equal due times.
  const due = [...pending.values()].filter((t) => t.due <= fired.due).sort((a, b) => a.due - b.due);
  for (const t of due) {
    if (pending.get(t.id) !== t) continue; // cleared by a timer that ran before it
    if (t.repeat === null) {
      pending.delete(t.id);
      if (t !== fired) host.timer(t.id, -1); // ran ahead of its engine timer
    } else arm(t, t.repeat);
    try {
      const r = t.fn(...t.args);
      if (r instanceof Promise) r.catch(reportError);
    } catch (e) {
      reportError(e);
    }
  }
}
