/** node:assert/strict under nodejs_compat: node:assert's strict mode (node-compat/assert.ts). */
import assert from "node:assert";

const strict = assert.strict;
export default strict;
export const {
  AssertionError, deepEqual, deepStrictEqual, doesNotMatch, doesNotReject, doesNotThrow, equal, fail, ifError, match, notDeepEqual,
  notDeepStrictEqual, notEqual, notStrictEqual, ok, rejects, strictEqual, throws,
} = strict;
export { strict };
