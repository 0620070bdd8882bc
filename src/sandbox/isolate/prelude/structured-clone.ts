import { DOMException } from "./encoding.js";

/** structuredClone for the value types workers pass around (no transfer list). */
export function structuredClone<T>(value: T): T {
  return clone(value, new Map()) as T;
}

function clone(v: unknown, seen: Map<object, unknown>): unknown {
  if (v === null || typeof v !== "object") {
    if (typeof v === "function" || typeof v === "symbol") {
      throw new DOMException(`${String(v)} could not be cloned`, "DataCloneError");
    }
    return v;
  }
  const done = seen.get(v);
  if (done !== undefined) return done;
  if (v instanceof Date) return new Date(v.getTime());
  if (v instanceof RegExp) return new RegExp(v.source, v.flags);
  if (v instanceof ArrayBuffer) { const c = v.slice(0); seen.set(v, c); return c; }
  if (ArrayBuffer.isView(v)) {
    const buf = clone(v.buffer, seen) as ArrayBuffer;
    const Ctor = v.constructor as new (b: ArrayBuffer, o: number, l: number) => ArrayBufferView;
    const len = v instanceof DataView ? v.byteLength : (v as unknown as { length: number }).length;
    return new Ctor(buf, v.byteOffset, len);
  }
  if (v instanceof Map) {
    const m = new Map();
    seen.set(v, m);
    for (const [k, x] of v) m.set(clone(k, seen), clone(x, seen));
    return m;
  }
  if (v instanceof Set) {
    const s = new Set();
    seen.set(v, s);
    for (const x of v) s.add(clone(x, seen));
    return s;
  }
  if (v instanceof Error) {
    const e = new (v.constructor as ErrorConstructor)(v.message);
    seen.set(v, e);
    if (v.stack) e.stack = v.stack;
    return e;
  }
  if (v instanceof Boolean || v instanceof Number || v instanceof String) return Object(v.valueOf());
  const proto = Object.getPrototypeOf(v);
  if (Array.isArray(v)) {
    const a: unknown[] = [];
    seen.set(v, a);
    for (const [k, x] of Object.entries(v)) (a as unknown as Record<string, unknown>)[k] = clone(x, seen);
    a.length = v.length;
    return a;
  }
  if (proto !== Object.prototype && proto !== null) {
    throw new DOMException(`${proto?.constructor?.name ?? "object"} could not be cloned`, "DataCloneError");
  }
  const o: Record<string, unknown> = {};
  seen.set(v, o);
  for (const [k, x] of Object.entries(v)) o[k] = clone(x, seen);
  return o;
}
