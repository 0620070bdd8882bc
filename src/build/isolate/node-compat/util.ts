/**
 * node:util under nodejs_compat, bundled into a worker by the isolate builder. inspect and format are
 * Node's own (node-inspect-extracted: Node's lib/internal/util/inspect.js for other engines), so `%i`, `%o`
 * and every object print as Node and workerd print them; promisify, inherits, deprecate, debuglog
 * and types are the npm `util` package's (Node's, for bundlers); isDeepStrictEqual is npm
 * assert's. Each is loaded on first use (esbuild keeps a required CommonJS module unevaluated until then):
 * evaluating them all costs a new isolate tens of milliseconds, and most workers that import node:util call
 * one or two of its functions, if any.
 */
import type * as Inspect from "node-inspect-extracted";

type Fn = (...args: never[]) => unknown;
interface NpmUtil {
  promisify(fn: Fn): Fn;
  inherits(ctor: unknown, superCtor: unknown): void;
  deprecate<F>(fn: F, msg: string, code?: string): F;
  debuglog(section: string): (...args: unknown[]) => void;
  _extend(target: object, source: object): object;
  types: Record<string, (value: unknown) => boolean>;
}

function lazy<T>(load: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= load());
}

const inspectLib = lazy(() => require("node-inspect-extracted") as typeof Inspect);
const npm = lazy(() => require("util/util.js") as NpmUtil);
const comparisons = lazy(() => require("assert/build/internal/util/comparisons.js") as { isDeepStrictEqual(a: unknown, b: unknown): boolean });

export function format(...args: unknown[]): string {
  return inspectLib().format(...args);
}

export function formatWithOptions(options: Inspect.InspectOptions, ...args: unknown[]): string {
  return inspectLib().formatWithOptions(options, ...args);
}

export function stripVTControlCharacters(s: string): string {
  return inspectLib().stripVTControlCharacters(s);
}

/** util.inspect, with its symbol set at once and its options, colours and styles read from Node's when asked for. */
export const inspect = Object.defineProperties(
  function inspect(value: unknown, ...rest: unknown[]): string {
    return (inspectLib().inspect as (v: unknown, ...r: unknown[]) => string)(value, ...rest);
  },
  {
    custom: { value: Symbol.for("nodejs.util.inspect.custom") },
    defaultOptions: { get: () => inspectLib().inspect.defaultOptions, set: (o: Inspect.InspectOptions) => (inspectLib().inspect.defaultOptions = o) },
    colors: { get: () => inspectLib().inspect.colors },
    styles: { get: () => inspectLib().inspect.styles },
  },
);

const PROMISIFY_CUSTOM = Symbol.for("nodejs.util.promisify.custom");

/** Node's promisify.custom is a registered symbol (npm util's is its own): a function carrying it is its own promise form. */
export const promisify = Object.defineProperty(
  function promisify(fn: Fn): Fn {
    const custom = (fn as unknown as Record<symbol, unknown>)?.[PROMISIFY_CUSTOM];
    if (typeof custom === "function") return custom as Fn;
    return npm().promisify(fn);
  },
  "custom",
  { value: PROMISIFY_CUSTOM },
);

/**
 * Node's callbackify (npm util's words its falsy-rejection error differently): the callback gets the
 * rejection, or for a falsy one Node's ERR_FALSY_VALUE_REJECTION carrying it as `reason`.
 */
export function callbackify(original: (...args: unknown[]) => Promise<unknown>): (...args: unknown[]) => void {
  if (typeof original !== "function") throw new TypeError('The "original" argument must be of type function');
  function callbackified(this: unknown, ...args: unknown[]): void {
    const cb = args.pop();
    if (typeof cb !== "function") throw new TypeError('The last argument must be of type function');
    const later = (f: () => void) => queueMicrotask(f);
    original.apply(this, args).then(
      (value) => later(() => cb(null, value)),
      (reason: unknown) => later(() => cb(reason || Object.assign(new Error("Promise was rejected with falsy value"), { code: "ERR_FALSY_VALUE_REJECTION", reason }))),
    );
  }
  // As Node's: the original's own properties, one more argument, the name marked.
  const descriptors = Object.getOwnPropertyDescriptors(original) as Record<string, PropertyDescriptor>;
  if (typeof descriptors["length"]?.value === "number") descriptors["length"].value++;
  if (typeof descriptors["name"]?.value === "string") descriptors["name"].value += "Callbackified";
  Object.defineProperties(callbackified, descriptors);
  return callbackified;
}
export const inherits = (ctor: unknown, superCtor: unknown): void => npm().inherits(ctor, superCtor);
export const deprecate = <F>(fn: F, msg: string, code?: string): F => npm().deprecate(fn, msg, code);
export const debuglog = (section: string): ((...args: unknown[]) => void) => npm().debuglog(section);
export const debug = debuglog;
export const _extend = (target: object, source: object): object => npm()._extend(target, source);

const TYPE_CHECKS = [
  "isAnyArrayBuffer", "isArgumentsObject", "isArrayBuffer", "isArrayBufferView", "isAsyncFunction", "isBigInt64Array", "isBigIntObject",
  "isBigUint64Array", "isBooleanObject", "isBoxedPrimitive", "isDataView", "isDate", "isFloat32Array", "isFloat64Array", "isGeneratorFunction",
  "isGeneratorObject", "isInt16Array", "isInt32Array", "isInt8Array", "isMap", "isMapIterator", "isNativeError", "isNumberObject", "isPromise",
  "isRegExp", "isSet", "isSetIterator", "isSharedArrayBuffer", "isStringObject", "isSymbolObject", "isTypedArray", "isUint16Array",
  "isUint32Array", "isUint8Array", "isUint8ClampedArray", "isWeakMap", "isWeakSet",
] as const;

/** util.types: each check npm util's, loaded when one is first called. */
export const types = Object.fromEntries(TYPE_CHECKS.map((name) => [name, (value: unknown): boolean => npm().types[name]!(value)])) as Record<(typeof TYPE_CHECKS)[number], (value: unknown) => boolean>;

export function isDeepStrictEqual(a: unknown, b: unknown): boolean {
  return comparisons().isDeepStrictEqual(a, b);
}

export const TextEncoder = globalThis.TextEncoder;
export const TextDecoder = globalThis.TextDecoder;

export default {
  callbackify, debuglog, debug, deprecate, inherits, promisify, types, _extend, format, formatWithOptions, inspect, stripVTControlCharacters,
  TextEncoder, TextDecoder, isDeepStrictEqual,
};
