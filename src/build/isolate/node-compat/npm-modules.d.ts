/** The npm string_decoder package (Node's string_decoder for bundlers) ships no types. */
declare module "string_decoder/lib/string_decoder.js" {
  export class StringDecoder {
    constructor(encoding?: string);
    readonly encoding: string;
    write(buffer: Uint8Array | string): string;
    end(buffer?: Uint8Array | string): string;
  }
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

/** npm events (Node's EventEmitter for bundlers): its types are Node's own. */
declare module "events/events.js" {
  import { EventEmitter } from "node:events";
  export default EventEmitter;
}
