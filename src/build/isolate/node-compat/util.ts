/**
 * node:util under nodejs_compat, bundled into a worker by the isolate builder. inspect and format are
 * Node's own (node-inspect-extracted: Node's lib/internal/util/inspect.js for other engines), so `%i`, `%o`
 * and every object print as Node and workerd print them; promisify, callbackify, inherits, deprecate,
 * debuglog and types are the npm `util` package's (Node's, for bundlers).
 */
import * as npm from "util/util.js";
import { format, formatWithOptions, inspect, stripVTControlCharacters } from "node-inspect-extracted";
import comparisons from "assert/build/internal/util/comparisons.js";

export const { callbackify, debuglog, deprecate, inherits, promisify, types, _extend } = npm;
export { format, formatWithOptions, inspect, stripVTControlCharacters };
export const debug = npm.debuglog;
export const TextEncoder = globalThis.TextEncoder;
export const TextDecoder = globalThis.TextDecoder;

export function isDeepStrictEqual(a: unknown, b: unknown): boolean {
  return comparisons.isDeepStrictEqual(a, b);
}

export default {
  callbackify: npm.callbackify, debuglog: npm.debuglog, debug, deprecate: npm.deprecate, inherits: npm.inherits, promisify: npm.promisify,
  types: npm.types, _extend: npm._extend, format, formatWithOptions, inspect, stripVTControlCharacters, TextEncoder, TextDecoder, isDeepStrictEqual,
};
