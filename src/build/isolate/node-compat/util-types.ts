/** node:util/types under nodejs_compat: node:util's `types`. */
import { types } from "node:util";

export default types;
export const {
  isAnyArrayBuffer, isArrayBuffer, isArrayBufferView, isAsyncFunction, isBigInt64Array, isBigUint64Array, isBooleanObject, isBoxedPrimitive,
  isDataView, isDate, isFloat32Array, isFloat64Array, isGeneratorFunction, isGeneratorObject, isInt16Array, isInt32Array, isInt8Array, isMap,
  isMapIterator, isNumberObject, isPromise, isRegExp, isSet, isSetIterator, isSharedArrayBuffer, isStringObject, isSymbolObject, isTypedArray,
  isUint16Array, isUint32Array, isUint8Array, isUint8ClampedArray, isWeakMap, isWeakSet,
} = types;
