/** The npm string_decoder package (Node's string_decoder for bundlers) ships no types. */
declare module "string_decoder/lib/string_decoder.js" {
  export class StringDecoder {
    constructor(encoding?: string);
    readonly encoding: string;
    write(buffer: Uint8Array | string): string;
    end(buffer?: Uint8Array | string): string;
  }
}

/** The npm util package (Node's util for bundlers) ships no types: the parts node-compat/util.ts takes. */
declare module "util/util.js" {
  export function promisify<F extends (...args: never[]) => unknown>(fn: F): (...args: unknown[]) => Promise<unknown>;
  export function callbackify(fn: (...args: never[]) => Promise<unknown>): (...args: unknown[]) => void;
  export function inherits(ctor: unknown, superCtor: unknown): void;
  export function deprecate<F>(fn: F, msg: string, code?: string): F;
  export function debuglog(section: string): (...args: unknown[]) => void;
  export function _extend(target: object, source: object): object;
  export const types: Record<string, (value: unknown) => boolean>;
}

/** npm assert's deep equality (Node's lib/internal/util/comparisons.js for bundlers). */
declare module "assert/build/internal/util/comparisons.js" {
  const comparisons: { isDeepEqual(a: unknown, b: unknown): boolean; isDeepStrictEqual(a: unknown, b: unknown): boolean };
  export default comparisons;
}

/** Node's path module for bundlers (POSIX). */
declare module "path-browserify" {
  import type { PlatformPath } from "node:path";
  const path: PlatformPath;
  export default path;
}

/** npm assert (Node's assert for bundlers): its types are Node's own. */
declare module "assert/build/assert.js" {
  import assert from "node:assert";
  export default assert;
}
