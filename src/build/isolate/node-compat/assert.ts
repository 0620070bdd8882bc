/**
 * node:assert under nodejs_compat, bundled into a worker by the isolate builder: npm assert (Node's assert
 * for bundlers, with node:util's inspect in its messages). As workerd's node:assert does, the module's
 * functions are the strict ones (equal is strictEqual, deepEqual is deepStrictEqual); `strict` is there too.
 */
import npm from "assert/build/assert.js";

const assert = npm.strict;
export default assert;
export const {
  AssertionError, deepEqual, deepStrictEqual, doesNotMatch, doesNotReject, doesNotThrow, equal, fail, ifError, match, notDeepEqual,
  notDeepStrictEqual, notEqual, notStrictEqual, ok, rejects, strict, strictEqual, throws,
} = assert;
