/**
 * node:string_decoder under nodejs_compat, bundled into a worker by the isolate builder: the npm
 * `string_decoder` package (Node's own, for bundlers), taking any Uint8Array as Node's does (the package
 * expects a Buffer). For some encodings the package sets `write` and `end` on the instance, so they are
 * wrapped there rather than overridden on the prototype.
 */
import { Buffer } from "node:buffer";
import * as npm from "string_decoder/lib/string_decoder.js";

type Input = Uint8Array | string;
const asBuffer = (b: Input): Input => (typeof b === "string" || Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

export class StringDecoder extends npm.StringDecoder {
  constructor(encoding?: string) {
    super(encoding);
    const write = this.write;
    const end = this.end;
    this.write = (b: Input): string => write.call(this, asBuffer(b));
    this.end = (b?: Input): string => (b === undefined ? end.call(this) : end.call(this, asBuffer(b)));
  }
}

export default { StringDecoder };
